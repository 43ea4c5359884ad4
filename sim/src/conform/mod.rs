//! `conform`: judges any implementation of the protocol, in any language, over real sockets, by the
//! simulator's own oracle.
//!
//! The checker runs the program under test as a child process ([`child`]), plays the other side itself
//! ([`play`] for a server under test, [`client_cases`] as the server of a client under test), records
//! what happens as the simulator's [`events`](crate::events), and hands the run to
//! [`check_with`](crate::oracle::check_with) with a timing tolerance: the rules are the simulator's,
//! not a copy. Each case ([`server_cases`], [`client_cases`]) names a requirement, quotes the
//! assignment's sentence it checks, and is judged on the rules that requirement is about, so one defect
//! fails its own cases and no others.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use connid::Transport;

use crate::oracle::{Judge, Programs, Tolerance};

/// [`Case`] for a suite's case type from its `id`, `quote` and `long` fields and its `run_case`.
macro_rules! impl_case {
    ($case:ty, $run:path) => {
        impl $crate::conform::Case for $case {
            fn id(&self) -> &'static str {
                self.id
            }

            fn quote(&self) -> &'static str {
                self.quote
            }

            fn long(&self) -> bool {
                self.long
            }

            fn level(&self) -> $crate::conform::Level {
                self.level
            }

            fn run(
                &self,
                program: &$crate::conform::Program,
                transport: connid::Transport,
                timing: $crate::conform::Timing,
            ) -> impl std::future::Future<Output = $crate::conform::CaseResult> + Send {
                $run(self, program, transport, timing)
            }
        }
    };
}

pub mod child;
pub mod client_cases;
pub mod play;
pub mod report;
pub mod server_cases;

/// How much a case's requirement weighs. A run fails (exit 1) when a `required` case fails; with
/// `--strict` a `robustness` one fails it too; a `convention` never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// What a sentence of the assignment demands.
    Required,
    /// What real networks and users do that the assignment does not mention (junk, split writes,
    /// replies from elsewhere): a careful program handles it.
    Robustness,
    /// One of connid's own choices, shown for information.
    Convention,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Required, Level::Robustness, Level::Convention];

    pub fn name(self) -> &'static str {
        match self {
            Level::Required => "required",
            Level::Robustness => "robustness",
            Level::Convention => "convention",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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
            // (up to a few hundred milliseconds while the rest of the suite runs) stays inside the
            // margins.
            Timing::Scaled => Times {
                ttl: Duration::from_secs(4),
                idle: Duration::from_secs(5),
                timeout: Duration::from_secs(3),
                tries: connid::defaults::TRIES,
                tolerance: Tolerance {
                    early: Duration::from_millis(500),
                    late: Duration::from_millis(900),
                    idle_late: Duration::from_secs(2),
                },
            },
        }
    }

    /// How a run of a foreign program is judged.
    pub fn judge(self) -> Judge {
        Judge {
            tolerance: self.times().tolerance,
            programs: Programs::Foreign,
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

    /// Whether the program takes the shortened timers: a server `{ttl}` and `{idle}`, a client
    /// `{timeout}`.
    pub fn takes_timers(&self, server: bool) -> bool {
        let names = |p: &str| self.argv.iter().any(|a| a.contains(p));
        if server {
            names("{ttl}") && names("{idle}")
        } else {
            names("{timeout}")
        }
    }
}

/// How one case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// The first finding in one line, then every finding.
    Fail {
        reason: String,
        details: Vec<Finding>,
    },
    /// The program does not do what the case needs (e.g. it has no TCP).
    Unsupported(String),
}

/// A case's own check over its run, for what no oracle rule covers: `Err` says in one line what failed.
pub type OwnCheck = fn(&crate::events::Run, &Times) -> Result<(), String>;

/// One thing a failed case found: a broken oracle rule, or (`rule: None`) a failure of the case's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: Option<&'static str>,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rule {
            Some(rule) => write!(f, "{rule}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl Verdict {
    /// A failure with one finding of the case's own.
    pub fn failed(message: String) -> Verdict {
        Verdict::Fail {
            reason: message.clone(),
            details: vec![Finding {
                rule: None,
                message,
            }],
        }
    }
}

impl CaseResult {
    /// The result of a case not yet run: a pass with nothing recorded.
    pub fn new(id: &'static str, quote: &'static str, level: Level, transport: Transport) -> Self {
        Self {
            id,
            quote,
            level,
            transport,
            verdict: Verdict::Pass,
            transcript: String::new(),
            mermaid: String::new(),
            stderr: String::new(),
            wall: Duration::ZERO,
        }
    }
}

/// One case on one transport, judged, with what it recorded.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub id: &'static str,
    pub quote: &'static str,
    pub level: Level,
    pub transport: Transport,
    pub verdict: Verdict,
    /// The run as the simulator's text transcript.
    pub transcript: String,
    /// The run as a Mermaid sequence diagram.
    pub mermaid: String,
    /// What the program printed on standard error.
    pub stderr: String,
    pub wall: Duration,
}

/// The scenario a case is judged against: the timers the run expects (both servers' and clients'),
/// on a network that adds nothing (real time has its own noise, which the tolerance covers).
fn judged_scenario(case: &str, port: u16, timing: Timing) -> crate::scenario::Scenario {
    use crate::scenario::{Dur, Scenario};
    let times = timing.times();
    let mut s = Scenario::parse("", std::path::Path::new(case)).expect("the empty scenario");
    s.server.port = port;
    s.server.id_ttl = Dur(times.ttl);
    s.server.idle_timeout = Dur(times.idle);
    s.network.tick = Dur(Duration::ZERO);
    s
}

/// What a case recorded since `start` (when the wall clock read `epoch`) as a run of `hosts`, all on
/// loopback; its transcript, diagram and wall time go into `result`.
fn told_run(
    result: &mut CaseResult,
    recorder: &crate::events::Recorder,
    hosts: &[&str],
    start: tokio::time::Instant,
    epoch: chrono::NaiveDateTime,
) -> crate::events::Run {
    let run = crate::events::Run {
        transport: result.transport,
        hosts: hosts.iter().map(|h| (h.to_string(), LOOPBACK)).collect(),
        events: recorder.take().into_events(),
        epoch,
        simulated: start.elapsed(),
        hit_limit: false,
        steps: 0,
    };
    result.transcript = crate::transcript::text(result.id, result.quote, &run);
    result.mermaid = crate::transcript::mermaid(result.id, &run);
    result.wall = start.elapsed();
    run
}

/// A case's verdict: the oracle's violations of the rules the case is judged on, then the case's own
/// failure, if any; the first is the reason.
fn verdict(
    scenario: &crate::scenario::Scenario,
    run: &crate::events::Run,
    timing: Timing,
    rules: &[&str],
    own: Result<(), String>,
) -> Verdict {
    let mut details: Vec<Finding> = crate::oracle::check_with(scenario, run, &timing.judge())
        .into_iter()
        .filter(|v| rules.contains(&v.rule))
        .map(|v| Finding {
            rule: Some(v.rule),
            message: v.message,
        })
        .collect();
    details.extend(own.err().map(|message| Finding {
        rule: None,
        message,
    }));
    match details.first() {
        None => Verdict::Pass,
        Some(first) => Verdict::Fail {
            reason: first.to_string(),
            details,
        },
    }
}

/// Each case of `cases` on each transport, but no long one if `quick`, none on a transport `skip`
/// rules out, and none whose ID does not contain `only`.
fn select<C: Case>(
    transports: &[Transport],
    quick: bool,
    only: Option<&str>,
    cases: impl Fn() -> Vec<C>,
    skip: impl Fn(&C, Transport) -> bool,
) -> Vec<(C, Transport)> {
    let mut chosen = Vec::new();
    for &t in transports {
        for case in cases() {
            let skipped = (quick && case.long()) || skip(&case, t);
            if !skipped && only.is_none_or(|p| case.id().contains(p)) {
                chosen.push((case, t));
            }
        }
    }
    chosen
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

/// One case on one transport, ready to run.
type Job = std::pin::Pin<Box<dyn std::future::Future<Output = CaseResult> + Send>>;

/// `case` as a job whose failure inside the checker (a panic) is reported as the case failing, not lost.
fn guarded(
    blank: CaseResult,
    case: impl std::future::Future<Output = CaseResult> + Send + 'static,
) -> Job {
    Box::pin(async move {
        match tokio::spawn(case).await {
            Ok(result) => result,
            Err(e) => CaseResult {
                verdict: Verdict::failed(format!("the checker itself failed on this case: {e}")),
                ..blank
            },
        }
    })
}

/// Runs `jobs`, `options.jobs` at a time (each with its own child and port), the long ones (`true`:
/// those that wait for the TTL, the idle timeout or the client's timeout) first, so the run takes
/// about as long as its longest case; calls `done` as each ends. The results come back in the jobs'
/// order.
async fn run_jobs(
    jobs: Vec<(bool, Job)>,
    options: &Options,
    mut done: impl FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let total = jobs.len();
    let mut order: Vec<(usize, (bool, Job))> = jobs.into_iter().enumerate().collect();
    order.sort_by_key(|(index, (long, _))| (!*long, *index));
    let mut results: Vec<Option<CaseResult>> = vec![None; total];
    let mut tasks = tokio::task::JoinSet::new();
    let mut finish = |joined: Option<Result<(usize, CaseResult), _>>| {
        if let Some(Ok((index, result))) = joined {
            done(&result);
            results[index] = Some(result);
        }
    };
    for (index, (_, job)) in order {
        while tasks.len() >= options.jobs.max(1) {
            finish(tasks.join_next().await);
        }
        tasks.spawn(async move { (index, job.await) });
    }
    while !tasks.is_empty() {
        finish(tasks.join_next().await);
    }
    results.into_iter().flatten().collect()
}

/// What the runner needs of a case, whichever suite it is in.
pub trait Case: Send + 'static {
    /// The requirement it checks.
    fn id(&self) -> &'static str;
    /// The assignment's sentence it checks.
    fn quote(&self) -> &'static str;
    /// Whether it waits for the TTL, the idle timeout or the client's timeout (not run with `--quick`).
    fn long(&self) -> bool;
    /// How much its requirement weighs.
    fn level(&self) -> Level;
    /// Runs it against a fresh child of `program`.
    fn run(
        &self,
        program: &Program,
        transport: Transport,
        timing: Timing,
    ) -> impl std::future::Future<Output = CaseResult> + Send;
}

/// Runs the `chosen` cases against `program`, calling `done` as each case ends.
async fn run_suite<C: Case>(
    chosen: Vec<(C, Transport)>,
    program: &Program,
    options: &Options,
    done: impl FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let jobs = chosen
        .into_iter()
        .map(|(case, transport)| {
            let (program, timing) = (program.clone(), options.timing);
            let blank = CaseResult::new(case.id(), case.quote(), case.level(), transport);
            let long = case.long();
            let run = async move { case.run(&program, transport, timing).await };
            (long, guarded(blank, run))
        })
        .collect();
    run_jobs(jobs, options, done).await
}

/// Runs the server suite against `program` (a server), calling `done` as each case ends.
pub async fn run_server_suite(
    program: &Program,
    options: &Options,
    done: impl FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let chosen =
        server_cases::selected(&options.transports, options.quick, options.only.as_deref());
    run_suite(chosen, program, options, done).await
}

/// Runs the client suite against `program` (a client), calling `done` as each case ends.
pub async fn run_client_suite(
    program: &Program,
    options: &Options,
    done: impl FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let chosen =
        client_cases::selected(&options.transports, options.quick, options.only.as_deref());
    run_suite(chosen, program, options, done).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_ids_are_unique_named_for_their_suite_and_judged_on_some_rule() {
        let server = server_cases::cases();
        let client = client_cases::cases();
        let mut ids: Vec<&str> = Vec::new();
        for c in &server {
            assert!(
                c.id.starts_with("server.") && !c.rules.is_empty(),
                "{}",
                c.id
            );
            ids.push(c.id);
        }
        for c in &client {
            assert!(
                c.id.starts_with("client.") && !c.rules.is_empty(),
                "{}",
                c.id
            );
            ids.push(c.id);
        }
        let all = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all);
    }

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
                "--ttl=4",
                "--idle",
                "5",
                "tcp",
                "{x}"
            ]
        );
        assert!(p.takes_timers(true));
        assert!(!p.takes_timers(false));
        let ttl_only = Program {
            argv: vec!["srv".into(), "{port}".into(), "{ttl}".into()],
        };
        assert!(!ttl_only.takes_timers(true));
    }
}
