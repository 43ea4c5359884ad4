//! `conform`: judges any implementation of the protocol, in any language, over real sockets, by the
//! simulator's own oracle.
//!
//! The checker runs the program under test as a child process ([`child`]), plays the other side itself
//! ([`play`]), records what happens as the simulator's [`events`](crate::events), and hands the run to
//! [`oracle::check_with`] with a timing tolerance: the rules are the simulator's, not a copy. Each case
//! ([`server_cases`]) names a requirement, quotes the assignment's sentence it checks, and is judged on
//! the rules that requirement is about, so one defect fails its own cases and no others.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use connid::Transport;

use crate::oracle::{Judge, ServerKind, Tolerance};

pub mod child;
pub mod play;
pub mod report;
pub mod server_cases;

/// How the protocol's timers are run: at the assignment's lengths, or shortened for programs that take
/// them as arguments (`{ttl}`, `{idle}`, `{timeout}`, `{tries}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timing {
    #[default]
    Exact,
    Scaled,
}

/// The timers a run expects, and how loosely it compares times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub ttl: Duration,
    pub idle: Duration,
    pub timeout: Duration,
    pub tries: u32,
    pub tolerance: Tolerance,
}

impl Timing {
    pub fn times(self) -> Times {
        match self {
            // The assignment's timers; the TTL case asks 1 s either side of the TTL, so the margins
            // stay under that, and the idle exit may come up to 5 s late.
            Timing::Exact => Times {
                ttl: connid::defaults::ID_TTL,
                idle: connid::defaults::IDLE_TIMEOUT,
                timeout: connid::defaults::CLIENT_TIMEOUT,
                tries: connid::defaults::TRIES,
                tolerance: Tolerance {
                    early: Duration::from_millis(500),
                    late: Duration::from_millis(900),
                    idle_late: Duration::from_secs(5),
                },
            },
            // Short enough for `cargo test`, long enough that a loaded machine's scheduling noise
            // (tens of milliseconds) stays well inside the margins.
            Timing::Scaled => Times {
                ttl: Duration::from_secs(3),
                idle: Duration::from_secs(4),
                timeout: Duration::from_secs(2),
                tries: connid::defaults::TRIES,
                tolerance: Tolerance {
                    early: Duration::from_millis(400),
                    late: Duration::from_millis(600),
                    idle_late: Duration::from_millis(900),
                },
            },
        }
    }

    /// How a run of a foreign program is judged.
    pub fn judge(self) -> Judge {
        Judge {
            tolerance: self.times().tolerance,
            server: ServerKind::Foreign,
        }
    }
}

/// The address every case serves and connects on.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The program under test, its arguments holding placeholders: `{ip}`, `{port}`, `{transport}`,
/// `{ttl}`, `{idle}`, `{timeout}`, `{tries}`, `{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub argv: Vec<String>,
}

/// The values the placeholders stand for in one case.
#[derive(Debug, Clone)]
pub struct Fill {
    pub ip: IpAddr,
    pub port: u16,
    pub transport: Transport,
    pub times: Times,
    pub id: String,
}

impl Program {
    /// The command line with every placeholder filled in.
    pub fn command(&self, fill: &Fill) -> Vec<String> {
        let secs = |d: Duration| d.as_secs_f64().to_string();
        self.argv
            .iter()
            .map(|a| {
                a.replace("{ip}", &fill.ip.to_string())
                    .replace("{port}", &fill.port.to_string())
                    .replace("{transport}", &fill.transport.to_string())
                    .replace("{ttl}", &secs(fill.times.ttl))
                    .replace("{idle}", &secs(fill.times.idle))
                    .replace("{timeout}", &secs(fill.times.timeout))
                    .replace("{tries}", &fill.times.tries.to_string())
                    .replace("{id}", &fill.id)
            })
            .collect()
    }

    /// Whether the program takes the shortened timers (it names `{ttl}` or `{idle}` or `{timeout}`).
    pub fn takes_timers(&self) -> bool {
        self.argv
            .iter()
            .any(|a| a.contains("{ttl}") || a.contains("{idle}") || a.contains("{timeout}"))
    }
}

/// How one case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// The first broken rule in one line, then each violation in full.
    Fail {
        reason: String,
        details: Vec<String>,
    },
    /// The program does not do what the case needs (e.g. it has no TCP).
    Unsupported(String),
}

/// One case on one transport, judged, with what it recorded.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub id: &'static str,
    pub quote: &'static str,
    pub transport: Transport,
    pub verdict: Verdict,
    /// The run as the simulator's text transcript.
    pub transcript: String,
    /// What the program printed on standard error.
    pub stderr: String,
    pub wall: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_the_rest_left_alone() {
        let p = Program {
            argv: [
                "srv",
                "{ip}",
                "{port}",
                "--ttl={ttl}",
                "--idle",
                "{idle}",
                "{transport}",
                "{x}",
            ]
            .map(String::from)
            .to_vec(),
        };
        let fill = Fill {
            ip: LOOPBACK,
            port: 4242,
            transport: Transport::Tcp,
            times: Timing::Scaled.times(),
            id: "7".into(),
        };
        assert_eq!(
            p.command(&fill),
            [
                "srv",
                "127.0.0.1",
                "4242",
                "--ttl=3",
                "--idle",
                "4",
                "tcp",
                "{x}"
            ]
        );
        assert!(p.takes_timers());
        assert!(!Program {
            argv: vec!["srv".into(), "{port}".into()]
        }
        .takes_timers());
    }
}

/// What to run, from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub transports: Vec<Transport>,
    pub quick: bool,
    pub only: Option<String>,
    pub jobs: usize,
    pub timing: Timing,
}

/// Runs the server suite against `program`, `jobs` cases at a time (each with its own child and port),
/// calling `done` as each case ends; the results come back in report order.
pub async fn run_server_suite(
    program: &Program,
    options: &Options,
    mut done: impl FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let chosen =
        server_cases::selected(&options.transports, options.quick, options.only.as_deref());
    let total = chosen.len();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(options.jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (case, transport)) in chosen.into_iter().enumerate() {
        let (gate, program, timing) = (gate.clone(), program.clone(), options.timing);
        tasks.spawn(async move {
            let _turn = gate.acquire_owned().await;
            (
                index,
                server_cases::run_case(&case, &program, transport, timing).await,
            )
        });
    }
    let mut results: Vec<Option<CaseResult>> = vec![None; total];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, result)) = joined {
            done(&result);
            results[index] = Some(result);
        }
    }
    results.into_iter().flatten().collect()
}
