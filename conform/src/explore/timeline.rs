//! A server session as data: who sends what, from where, and when. Generated from a seed, shrunk,
//! saved as TOML and replayed byte for byte.

use connid::Transport;
use serde::{Deserialize, Serialize};

/// The names of the hosts the checker plays in a session (at most this many).
pub const HOSTS: [&str; 6] = ["c1", "c2", "c3", "c4", "c5", "c6"];

/// One session against a fresh start of the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeline {
    /// The seed it was generated from.
    pub seed: u64,
    pub transport: Transport,
    /// The server's ID lifetime it was generated for, in milliseconds (its TTL steps depend on it).
    pub ttl_ms: u64,
    pub steps: Vec<Step>,
}

/// One thing a host does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// When, in milliseconds after the server listens (later if the step before ends after it).
    pub at_ms: u64,
    /// Which host ([`HOSTS`]): a UDP host keeps one socket, so one port, for all its steps.
    pub host: usize,
    /// The last byte of the loopback address it sends from: 1 is 127.0.0.1.
    pub source: u8,
    pub send: Sends,
}

/// What a step sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Sends {
    /// `HELLO <id>`, newline-ended if `newline` (over TCP: one write, then a half-close unless
    /// `half_close` is false: the connection is then left open for the reply, as the assignment's
    /// client leaves it).
    Hello {
        id: String,
        newline: bool,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        half_close: bool,
    },
    /// A request in no valid form (over TCP: one write, then a half-close).
    Malformed { text: String },
    /// TCP: `HELLO <id>\n` in `pieces` writes, `gap_ms` apart, then a half-close.
    Split {
        id: String,
        pieces: usize,
        gap_ms: u64,
    },
    /// TCP: a connection that is opened and never used until the session ends.
    Silent,
    /// TCP: a connection that is opened and closed at once, nothing sent.
    Closed,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Sends {
    /// The ID asked for, if it asks for one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Sends::Hello { id, .. } | Sends::Split { id, .. } => Some(id),
            Sends::Malformed { .. } | Sends::Silent | Sends::Closed => None,
        }
    }

    /// The same step asking for `id` instead.
    pub fn with_id(&self, new: &str) -> Sends {
        match self.clone() {
            Sends::Hello {
                newline,
                half_close,
                ..
            } => Sends::Hello {
                id: new.to_string(),
                newline,
                half_close,
            },
            Sends::Split { pieces, gap_ms, .. } => Sends::Split {
                id: new.to_string(),
                pieces,
                gap_ms,
            },
            other => other,
        }
    }
}

impl Timeline {
    /// How many requests it sends (a silent or closed connection sends none).
    pub fn requests(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| !matches!(s.send, Sends::Silent | Sends::Closed))
            .count()
    }

    /// Its size for shrinking: steps, plus the length of every ID asked for.
    pub fn size(&self) -> usize {
        self.steps.len()
            + self
                .steps
                .iter()
                .filter_map(|s| s.send.id())
                .map(str::len)
                .sum::<usize>()
    }

    /// What makes a timeline unplayable: a host or source out of range, a TCP-only step over UDP.
    pub fn check(&self) -> Result<(), String> {
        for (i, step) in self.steps.iter().enumerate() {
            if step.host >= HOSTS.len() {
                return Err(format!(
                    "steps[{i}].host: {} is not below {}",
                    step.host,
                    HOSTS.len()
                ));
            }
            if step.source == 0 || step.source == 255 {
                return Err(format!(
                    "steps[{i}].source: 127.0.0.{} is not a host address",
                    step.source
                ));
            }
            let tcp_only = matches!(
                step.send,
                Sends::Split { .. } | Sends::Silent | Sends::Closed
            );
            if tcp_only && self.transport == Transport::Udp {
                return Err(format!("steps[{i}].send: only over TCP"));
            }
            if let Sends::Split { pieces, .. } = step.send {
                if pieces < 2 {
                    return Err(format!("steps[{i}].send.pieces: at least 2"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Timeline {
        Timeline {
            seed: 7,
            transport: Transport::Tcp,
            ttl_ms: 30_000,
            steps: vec![
                Step {
                    at_ms: 100,
                    host: 0,
                    source: 1,
                    send: Sends::Hello {
                        id: "a#B".into(),
                        newline: true,
                        half_close: false,
                    },
                },
                Step {
                    at_ms: 200,
                    host: 1,
                    source: 2,
                    send: Sends::Split {
                        id: "x".into(),
                        pieces: 3,
                        gap_ms: 50,
                    },
                },
                Step {
                    at_ms: 300,
                    host: 2,
                    source: 1,
                    send: Sends::Malformed {
                        text: "HELO 1".into(),
                    },
                },
                Step {
                    at_ms: 300,
                    host: 3,
                    source: 1,
                    send: Sends::Silent,
                },
                Step {
                    at_ms: 400,
                    host: 4,
                    source: 1,
                    send: Sends::Closed,
                },
            ],
        }
    }

    #[test]
    fn a_timeline_saves_and_loads_back_the_same() {
        use crate::explore::plan::Plan;
        let t = sample();
        let dir = std::env::temp_dir().join(format!("conform-timeline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.toml");
        let plan = Plan::Server(t.clone());
        std::fs::write(&path, plan.to_toml("replay: conform replay t.toml -- CMD")).unwrap();
        assert_eq!(Plan::load(&path), Ok(plan));
        assert_eq!((t.requests(), t.size()), (3, 5 + 3 + 1));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unplayable_timeline_is_refused_with_where() {
        let mut t = sample();
        t.transport = Transport::Udp;
        assert_eq!(t.check(), Err("steps[1].send: only over TCP".to_string()));
        let mut t = sample();
        t.steps[0].host = 6;
        assert_eq!(
            t.check(),
            Err("steps[0].host: 6 is not below 6".to_string())
        );
        let mut t = sample();
        t.steps[2].source = 0;
        assert!(t.check().unwrap_err().starts_with("steps[2].source"));
        let err = toml::from_str::<Timeline>("seed = 1\ntransport = \"udp\"\nttl_ms = 1\nsteps = [{ at_ms = 1, host = 0, source = 1, send = { kind = \"shout\" } }]");
        assert!(err.is_err());
    }
}
