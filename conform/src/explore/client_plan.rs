//! A client session as data: the ID on the client's command line, what the keyboard types, and how
//! the checker's server answers each try. Generated from a seed, shrunk, saved as TOML and replayed.

use connid::protocol::ConnId;
use connid::Transport;
use serde::{Deserialize, Serialize};

use crate::answering::{ReplyKind, TryPlan};
use crate::client_cases::ClientPlan;

/// One session against a fresh start of the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTimeline {
    /// The seed it was generated from.
    pub seed: u64,
    pub transport: Transport,
    /// The client's timeout it was generated for, in milliseconds (its delays keep clear of it).
    pub timeout_ms: u64,
    /// The ID on the client's command line.
    pub first_id: String,
    /// What is typed after each Connection Error, in turn.
    #[serde(default)]
    pub typed: Vec<String>,
    /// When the typed lines run out: input ends (else it stays open).
    #[serde(default)]
    pub end_input: bool,
    /// How each try is answered; tries beyond get an OK at once.
    #[serde(default)]
    pub tries: Vec<TryPlan>,
}

impl ClientTimeline {
    /// What the checker gives the client.
    pub fn plan(&self) -> ClientPlan {
        ClientPlan {
            first_id: self.first_id.clone(),
            typed: self.typed.clone(),
            end_input: self.end_input,
            tries: self.tries.clone(),
        }
    }

    /// How many tries it plans answers for.
    pub fn requests(&self) -> usize {
        self.tries.len()
    }

    /// Its size for shrinking: tries and replies, typed lines, and the length of every ID.
    pub fn size(&self) -> usize {
        self.tries.len()
            + self.tries.iter().map(|t| t.replies.len()).sum::<usize>()
            + self.typed.len()
            + self.first_id.len()
            + self.typed.iter().map(String::len).sum::<usize>()
    }

    /// Whether it holds only what the assignment speaks of: each try answered once at most, by its
    /// own OK or RESET before the timeout, or lost, or never; input that lasts. A rule broken in such
    /// a session is broken against the assignment's words; in any other, a matter of robustness.
    pub fn plain(&self) -> bool {
        !self.end_input
            && self.tries.iter().all(|t| {
                t.replies.len() <= 1
                    && t.replies.iter().all(|r| {
                        matches!(r.what, ReplyKind::Ok | ReplyKind::Reset)
                            && r.after_ms < self.timeout_ms
                    })
            })
    }

    /// What makes it unplayable: an ID that is no ID, a reply only UDP can send over TCP.
    pub fn check(&self) -> Result<(), String> {
        ConnId::new(&self.first_id).map_err(|e| format!("first_id: {e}"))?;
        for (i, id) in self.typed.iter().enumerate() {
            ConnId::new(id).map_err(|e| format!("typed[{i}]: {e}"))?;
        }
        for (i, t) in self.tries.iter().enumerate() {
            for (j, r) in t.replies.iter().enumerate() {
                let udp_only = matches!(r.what, ReplyKind::OtherPort | ReplyKind::OldSocket);
                if udp_only && self.transport == Transport::Tcp {
                    return Err(format!("tries[{i}].replies[{j}].what: only over UDP"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answering::{Garble, Reply, Twist};

    pub(crate) fn sample() -> ClientTimeline {
        let at = |after_ms, what| Reply { after_ms, what };
        ClientTimeline {
            seed: 3,
            transport: Transport::Udp,
            timeout_ms: 15_000,
            first_id: "aB#1".into(),
            typed: vec!["2".into(), "2".into()],
            end_input: true,
            tries: vec![
                TryPlan {
                    lost: true,
                    replies: Vec::new(),
                },
                TryPlan {
                    lost: false,
                    replies: vec![
                        at(0, ReplyKind::OkOther(Twist::OtherCase)),
                        at(100, ReplyKind::Malformed(Garble::NoPort)),
                        at(200, ReplyKind::OldSocket),
                        at(300, ReplyKind::Reset),
                    ],
                },
            ],
        }
    }

    #[test]
    fn a_client_session_saves_and_loads_back_the_same() {
        let t = sample();
        let text = toml::to_string(&t).unwrap();
        assert_eq!(toml::from_str::<ClientTimeline>(&text).unwrap(), t);
        assert_eq!(t.check(), Ok(()));
        assert_eq!((t.requests(), t.size()), (2, 2 + 4 + 2 + 4 + 2));
        assert!(!t.plain());
    }

    #[test]
    fn plain_is_what_the_assignment_speaks_of() {
        let mut t = sample();
        t.end_input = false;
        t.tries[1].replies.drain(..3);
        assert!(t.plain());
        t.tries[1].replies[0].after_ms = 16_000;
        assert!(!t.plain(), "a reply after the timeout");
        t.tries[1].replies[0].after_ms = 15_000;
        assert!(!t.plain(), "a reply at the timeout");
        t.tries[1].replies[0].after_ms = 14_999;
        assert!(t.plain());
        t.tries[1].replies[0].after_ms = 0;
        t.end_input = true;
        assert!(!t.plain(), "input that ends");
    }

    #[test]
    fn an_unplayable_client_session_is_refused_with_where() {
        let mut t = sample();
        t.transport = Transport::Tcp;
        assert_eq!(
            t.check(),
            Err("tries[1].replies[2].what: only over UDP".to_string())
        );
        let mut t = sample();
        t.typed[1] = "a b".into();
        assert!(t.check().unwrap_err().starts_with("typed[1]: "));
    }
}
