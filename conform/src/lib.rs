//! `conform`: judges any implementation of the protocol, in any language, over real sockets, by the
//! simulator's own oracle.
//!
//! The checker runs the program under test as a child process ([`child`]), plays the other side itself
//! ([`play`] for a server under test, [`client_cases`] as the server of a client under test), records
//! what happens as the simulator's [`events`](connid_sim::events), and hands the run to
//! [`check_with`](connid_sim::oracle::check_with) with a timing tolerance: the rules are the simulator's,
//! not a copy. Each case ([`server_cases`], [`client_cases`]) names a requirement and its [`Level`],
//! quotes the assignment's sentence it checks (its reading of it apart), says what it expects in
//! words, names what it must see to judge at all, and is judged on the rules that requirement is
//! about, so one defect fails its own cases and no others. Client lines are judged by what they mean
//! ([`classify`]), their exact form by the format cases only. A run is on real time or on conform's
//! own virtual clock ([`Pace`], [`clock`]), where idle time jumps and every timer is exact.
//!
//! The crate (`connid-conform`) is a tool of its own, for graders and students: it depends on
//! `connid-sim` for the oracle, the events a run records and the diagrams (so a real program is judged by
//! exactly the rules the simulator keeps), and on `connid` for the wire format and the printed lines.
//! Neither of them depends on it.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use connid::Transport;

use connid_sim::oracle::{Judge, Programs, Tolerance};

/// [`Case`] for a suite's case type from its fields (`id`, `quote`, `reading`, `expect`, `level`,
/// `long`), its `result_count` and `wall_estimate`, and its `run_case`.
macro_rules! impl_case {
    ($case:ty, $run:path) => {
        impl $crate::Case for $case {
            fn id(&self) -> &'static str {
                self.id
            }

            fn long(&self) -> bool {
                self.long
            }

            fn results(&self) -> usize {
                self.result_count()
            }

            fn estimate(&self, times: &$crate::Times) -> std::time::Duration {
                self.wall_estimate(times)
            }

            fn blank(&self, transport: connid::Transport) -> $crate::CaseResult {
                $crate::CaseResult::new(self.id, self.quote, self.level, transport)
                    .described(self.reading, self.expect)
                    .sending(self.sends())
            }

            fn blanks(&self, transport: connid::Transport) -> Vec<$crate::CaseResult> {
                self.blank_results($crate::Case::blank(self, transport))
            }

            fn run(
                &self,
                program: &$crate::Program,
                transport: connid::Transport,
                pace: $crate::Pace,
            ) -> impl std::future::Future<Output = Vec<$crate::CaseResult>> + Send {
                $run(self, program, transport, pace)
            }
        }
    };
}

pub mod answering;
pub mod asking;
pub mod child;
pub mod classify;
pub mod client_cases;
pub mod clock;
pub mod explore;
pub mod graded;
pub mod html;
pub mod listing;
pub mod matrix;
pub mod play;
pub mod report;
pub mod server_cases;
pub mod sockets;

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

/// The margins on the virtual clock. Idle time costs nothing there and timers fire exactly, so a
/// margin only covers the real time that passes while a program and the checker act (a request
/// handled, a process started, a thread scheduled on a loaded machine): a timer 1 s off is always
/// outside them (the TTL cases ask 0.5 s either side of the TTL).
pub const VIRTUAL_TOLERANCE: Tolerance = Tolerance {
    early: Duration::from_millis(250),
    late: Duration::from_millis(400),
    idle_late: Duration::from_secs(1),
};

/// About how long a case takes on the virtual clock, whatever its timers (measured: a full server
/// suite of 38 cases, 4 at a time, takes 3 to 5 s; BENCHMARKS.md).
const VIRTUAL_CASE: Duration = Duration::from_millis(400);

/// The clock a run is on and the timers it expects: real time, or the virtual clock ([`clock`]), on
/// which the program's time and the checker's are one and idle time jumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub timing: Timing,
    pub virtual_clock: bool,
}

impl Pace {
    /// At real time.
    pub fn real(timing: Timing) -> Self {
        Pace {
            timing,
            virtual_clock: false,
        }
    }

    /// On the virtual clock.
    pub fn virtual_clock(timing: Timing) -> Self {
        Pace {
            timing,
            virtual_clock: true,
        }
    }

    /// The timers at this pace, what the checker waits for and what a run is judged by: on the
    /// virtual clock the margins are only the real time a program and the checker take to act (see
    /// [`VIRTUAL_TOLERANCE`]).
    pub fn times(self) -> Times {
        let t = self.timing.times();
        match self.virtual_clock {
            true => Times {
                tolerance: VIRTUAL_TOLERANCE,
                ..t
            },
            false => t,
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
    /// The directory it runs in (the checker's own when `None`).
    pub dir: Option<std::path::PathBuf>,
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
    /// The program `argv`, run in the checker's directory.
    pub fn new(argv: Vec<String>) -> Self {
        Self { argv, dir: None }
    }

    /// How it is started in one case: the command line filled in, its directory and environment.
    pub fn launch<'a>(&'a self, argv: &'a [String]) -> child::Launch<'a> {
        child::Launch {
            argv,
            dir: self.dir.as_deref(),
        }
    }

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

    /// Whether the command can be started at all: its program found (a path, from the directory it
    /// runs in, or a name on `PATH`) and executable. Said once, before any case, instead of a "cannot
    /// start" in every case.
    pub fn startable(&self) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let Some(name) = self.argv.first() else {
            return Err("the command line is empty".into());
        };
        let executable = |p: &std::path::Path| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        };
        if name.contains('/') {
            let path = match &self.dir {
                Some(dir) => dir.join(name),
                None => std::path::PathBuf::from(name),
            };
            return match std::fs::metadata(&path) {
                Err(_) => Err(format!("cannot start {name}: no such file")),
                Ok(_) if !executable(&path) => {
                    Err(format!("cannot start {name}: not an executable file"))
                }
                Ok(_) => Ok(()),
            };
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        match std::env::split_paths(&path).any(|dir| executable(&dir.join(name))) {
            true => Ok(()),
            false => Err(format!("cannot start {name}: no such program on PATH")),
        }
    }
}

/// The hint given with a program never seen on a transport at all.
pub const ONE_TRANSPORT: &str =
    "a program that serves one transport only is checked with --transport udp or --transport tcp, or given that command alone in a manifest";

/// Why a program that never used the address it was given is failed, from where it was seen to
/// listen or send instead (`found`, each with its transport and port, in words): `None` if it was seen nowhere
/// (then it may simply not use this transport). `seen` is the sentence's start and its preposition:
/// ("the server listens on", "on"), ("the client sent to", "to").
fn elsewhere(
    (seen, prep): (&str, &str),
    found: &[(Transport, u16, String)],
    program: &Program,
    transport: Transport,
    given: std::net::SocketAddr,
) -> Option<String> {
    if found.is_empty() {
        return None;
    }
    let list = found
        .iter()
        .map(|(_, _, f)| f.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let port = given.port();
    let same = |t: Transport, p: Option<u16>| {
        found
            .iter()
            .any(|&(ft, fp, _)| ft == t && p.is_none_or(|p| fp != p))
    };
    Some(if same(transport, Some(port)) {
        format!("{seen} {list}, not {prep} the port it was given, {port}")
    } else if same(transport, None) {
        // The right port on another address.
        format!("{seen} {list}, not {prep} {transport} {given}")
    } else if !program.argv.iter().any(|a| a.contains("{transport}")) {
        format!(
            "{seen} {list}, not {prep} {transport} {given}: its command line has no {{transport}} to tell it which"
        )
    } else {
        format!("{seen} {list}, not {prep} {transport} {given}")
    })
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
    /// What the case needed to see is the shortfall of an earlier case `on`, which failed for it:
    /// that one defect fails once, there, and this case says why it is not judged instead of failing
    /// again. `why`: what this case did not see.
    NotJudged {
        on: &'static str,
        why: String,
    },
}

/// A case's own check over its run, for what no oracle rule covers: `Err` says in one line what failed.
pub type OwnCheck = fn(&connid_sim::events::Run, &Times) -> Result<(), String>;

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

/// Marks `r` not judged when it failed for want of what an earlier case of the same transport
/// (in `earlier`) owns and failed for (or was itself not judged for): one defect fails once, in the
/// case that owns it. A case whose owner passed, or did not run, keeps its failure.
pub fn depends(earlier: &[CaseResult], r: &mut CaseResult) {
    let (Verdict::Fail { reason, .. }, Some(owner)) = (&r.verdict, r.shortfall) else {
        return;
    };
    if owner == r.id {
        return;
    }
    let root = earlier
        .iter()
        .filter(|e| e.id == owner && e.transport == r.transport)
        .find_map(|e| match &e.verdict {
            Verdict::Fail { .. } if e.shortfall.is_some() => Some(owner),
            Verdict::NotJudged { on, .. } => Some(*on),
            _ => None,
        });
    if let Some(on) = root {
        r.verdict = Verdict::NotJudged {
            on,
            why: reason.clone(),
        };
    }
}

/// [`depends`] over a whole run, in its order.
pub fn all_depends(results: &mut [CaseResult]) {
    for i in 0..results.len() {
        let (earlier, rest) = results.split_at_mut(i);
        depends(earlier, &mut rest[0]);
    }
}

impl Verdict {
    /// Why a case was not judged, in one line: `depends on <case> (<what it did not see>)`.
    pub fn not_judged(on: &str, why: &str) -> String {
        format!("depends on {on} ({why})")
    }

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
            reading: "",
            expect: "",
            sends: String::new(),
            level,
            transport,
            verdict: Verdict::Pass,
            transcript: String::new(),
            diagram: connid_sim::diagram::Diagram::default(),
            stderr: String::new(),
            wall: Duration::ZERO,
            clock: None,
            shortfall: None,
            absent: false,
        }
    }

    /// With what the checker sends the program in this case, in words.
    pub fn sending(self, sends: String) -> Self {
        Self { sends, ..self }
    }

    /// With the case's reading of its sentence and what it expects, in words.
    pub fn described(self, reading: &'static str, expect: &'static str) -> Self {
        Self {
            reading,
            expect,
            ..self
        }
    }
}

/// One case on one transport, judged, with what it recorded.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub id: &'static str,
    /// The assignment's sentence, in its exact words.
    pub quote: &'static str,
    /// How the case reads it, where it goes beyond its words; empty when it does not.
    pub reading: &'static str,
    /// What a conforming program does in this case, in words.
    pub expect: &'static str,
    /// What the checker sends the program in this case, in words.
    pub sends: String,
    pub level: Level,
    pub transport: Transport,
    pub verdict: Verdict,
    /// The run as the simulator's text transcript.
    pub transcript: String,
    /// The run as a sequence diagram.
    pub diagram: connid_sim::diagram::Diagram,
    /// What the program printed on standard error.
    pub stderr: String,
    pub wall: Duration,
    /// What the virtual clock reports of the run, when it ran on one.
    pub clock: Option<clock::Report>,
    /// The case whose requirement covers what this run lacked (a second try, a Connection Failure,
    /// ...), when it failed for want of it: this case's own ID, or another's it depends on.
    pub shortfall: Option<&'static str>,
    /// The program was never seen where it was told to be: a server not listening on the port it
    /// was given, a client not reaching the checker's server. The first case of a transport that
    /// finds so stands for every case of it, which then do not run.
    pub absent: bool,
}

/// The scenario a case is judged against: the timers the run expects (both servers' and clients'),
/// on a network that adds nothing (real time has its own noise, which the tolerance covers).
pub(crate) fn judged_scenario(case: &str, port: u16, pace: Pace) -> connid_sim::scenario::Scenario {
    use connid_sim::scenario::{Dur, Scenario};
    let times = pace.times();
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
    recorder: &connid_sim::events::Recorder,
    hosts: &[&str],
    start: crate::clock::Instant,
    epoch: chrono::NaiveDateTime,
) -> connid_sim::events::Run {
    let run = recorded_run(result.transport, recorder, hosts, start, epoch);
    result.transcript = connid_sim::transcript::text(result.id, result.quote, &run);
    result.diagram = connid_sim::diagram::of(result.id, &run);
    result.wall = start.elapsed();
    run
}

/// What `recorder` holds since `start` (when the wall clock read `epoch`) as a run of `hosts`, all on
/// loopback: what the oracle, the transcript and the diagram read.
pub(crate) fn recorded_run(
    transport: Transport,
    recorder: &connid_sim::events::Recorder,
    hosts: &[&str],
    start: crate::clock::Instant,
    epoch: chrono::NaiveDateTime,
) -> connid_sim::events::Run {
    connid_sim::events::Run {
        transport,
        hosts: hosts.iter().map(|h| (h.to_string(), LOOPBACK)).collect(),
        events: recorder.take().into_events(),
        epoch,
        simulated: start.elapsed(),
        hit_limit: false,
        steps: 0,
    }
}

/// The rules of `rules` that `run` breaks against `scenario`, judged as `pace` says: what a case
/// and an explored session are both judged by.
pub(crate) fn broken_rules(
    scenario: &connid_sim::scenario::Scenario,
    run: &connid_sim::events::Run,
    pace: Pace,
    rules: &[&str],
) -> Vec<connid_sim::oracle::Violation> {
    connid_sim::oracle::check_with(scenario, run, &pace.judge())
        .into_iter()
        .filter(|v| rules.contains(&v.rule))
        .collect()
}

/// A case's verdict: a server that stopped serving, what the case needed to see and did not
/// (`unseen`, each a finding of its own: they say what happened), the oracle's other violations of
/// the rules the case is judged on, then the case's own failure, if any; the first is the reason.
fn verdict(
    scenario: &connid_sim::scenario::Scenario,
    run: &connid_sim::events::Run,
    pace: Pace,
    rules: &[&str],
    unseen: Vec<String>,
    own: Result<(), String>,
) -> Verdict {
    let own_finding = |message| Finding {
        rule: None,
        message,
    };
    let broken: Vec<Finding> = broken_rules(scenario, run, pace, rules)
        .into_iter()
        .map(|v| Finding {
            rule: Some(v.rule),
            message: v.message,
        })
        .collect();
    // A server that stopped serving is the cause of what it then did not answer: said first.
    let (stopped, broken): (Vec<Finding>, Vec<Finding>) = broken
        .into_iter()
        .partition(|f| f.rule == Some(connid_sim::oracle::KEEPS_SERVING));
    let mut details = stopped;
    details.extend(unseen.into_iter().map(own_finding));
    details.extend(broken);
    details.extend(own.err().map(own_finding));
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
    /// Run each case on the virtual clock ([`clock`]); at real time if not.
    pub virtual_clock: bool,
}

/// One case on one transport, ready to run: its results (the case's, and any requirement judged on
/// the same run).
type Job = std::pin::Pin<Box<dyn std::future::Future<Output = Vec<CaseResult>> + Send>>;

/// `case` as a job whose failure inside the checker (a panic) is reported as the case failing, not lost.
fn guarded(
    blank: CaseResult,
    case: impl std::future::Future<Output = Vec<CaseResult>> + Send + 'static,
) -> Job {
    Box::pin(async move {
        match tokio::spawn(case).await {
            Ok(results) => results,
            Err(e) => vec![CaseResult {
                verdict: Verdict::failed(format!("the checker itself failed on this case: {e}")),
                ..blank
            }],
        }
    })
}

/// What a run tells its caller as it goes.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Before the first case: how many results will come, about how long the run will take, whether
    /// the program runs on the virtual clock, and why not where it was asked for.
    Plan {
        results: usize,
        expected: Duration,
        /// Whether the program runs on the virtual clock.
        virtual_clock: bool,
        note: Option<String>,
    },
    /// A case ended; `done` of the `total` cases have.
    Ended { done: usize, total: usize },
    /// The results of the next job in the run's order (they come once every job before it has ended
    /// too): a case's own, and any judged on the same run.
    Results(&'a [CaseResult]),
}

/// One case to run: whether it is long, about how long it takes, how many results it gives, and
/// the job.
struct Planned {
    long: bool,
    estimate: Duration,
    results: usize,
    job: Job,
    /// Which program's suite on which transport it belongs to: the first job of a group stands for
    /// the rest when it finds the program absent ([`run_first_first`]).
    group: u64,
    /// Its results before it has run, for when it does not run.
    blanks: Vec<CaseResult>,
}

/// About how long `planned` take `jobs` at a time, long ones first, each slot taking the next case.
fn expected_wall(planned: &[(bool, Duration)], jobs: usize) -> Duration {
    let mut order: Vec<(bool, Duration)> = planned.to_vec();
    order.sort_by_key(|(long, _)| !*long);
    let mut slots = vec![Duration::ZERO; jobs.max(1)];
    for (_, estimate) in order {
        if let Some(earliest) = slots.iter_mut().min() {
            *earliest += estimate;
        }
    }
    slots.into_iter().max().unwrap_or_default()
}

/// About how long `jobs` take `parallel` at a time.
fn jobs_wall(jobs: &[Planned], parallel: usize) -> Duration {
    let estimates: Vec<(bool, Duration)> = jobs.iter().map(|p| (p.long, p.estimate)).collect();
    expected_wall(&estimates, parallel)
}

/// Runs `jobs`, `parallel` at a time (each with its own child and port), the long ones (those that
/// wait for the TTL, the idle timeout or the client's timeout) first, so the run takes about as long
/// as its longest case; tells `progress` each end, and each result in the jobs' order. The results
/// come back in the jobs' order, a list per job.
async fn run_jobs(
    jobs: Vec<Planned>,
    parallel: usize,
    mut progress: impl FnMut(Progress<'_>),
) -> Vec<Vec<CaseResult>> {
    let total = jobs.len();
    let mut order: Vec<(usize, Planned)> = jobs.into_iter().enumerate().collect();
    order.sort_by_key(|(index, p)| (!p.long, *index));
    let mut results: Vec<Option<Vec<CaseResult>>> = (0..total).map(|_| None).collect();
    let (mut shown, mut done) = (0, 0);
    let mut tasks = tokio::task::JoinSet::new();
    let mut finish = |joined: Option<Result<(usize, Vec<CaseResult>), _>>| {
        if let Some(Ok((index, result))) = joined {
            results[index] = Some(result);
            done += 1;
            progress(Progress::Ended { done, total });
            while let Some(Some(ready)) = results.get(shown) {
                progress(Progress::Results(ready));
                shown += 1;
            }
        }
    };
    for (index, planned) in order {
        while tasks.len() >= parallel.max(1) {
            finish(tasks.join_next().await);
        }
        let job = planned.job;
        tasks.spawn(async move { (index, job.await) });
    }
    while !tasks.is_empty() {
        finish(tasks.join_next().await);
    }
    results.into_iter().map(Option::unwrap_or_default).collect()
}

/// What the runner needs of a case, whichever suite it is in.
pub trait Case: Send + 'static {
    /// The requirement it checks.
    fn id(&self) -> &'static str;
    /// Whether it waits for the TTL, the idle timeout or the client's timeout (not run with `--quick`).
    fn long(&self) -> bool;
    /// Its result before it has run: a pass with nothing recorded.
    fn blank(&self, transport: Transport) -> CaseResult;
    /// Every result it gives, before it has run: its own and those judged on its run.
    fn blanks(&self, transport: Transport) -> Vec<CaseResult>;
    /// How many results it gives: its own, and those of requirements judged on its run.
    fn results(&self) -> usize;
    /// About how long it takes at these timers.
    fn estimate(&self, times: &Times) -> Duration;
    /// Runs it against a fresh child of `program`: its result, then those judged on the same run.
    fn run(
        &self,
        program: &Program,
        transport: Transport,
        pace: Pace,
    ) -> impl std::future::Future<Output = Vec<CaseResult>> + Send;
}

/// The `chosen` cases as jobs against `program` at `pace`.
fn planned<C: Case>(chosen: Vec<(C, Transport)>, program: &Program, pace: Pace) -> Vec<Planned> {
    let times = pace.times();
    chosen
        .into_iter()
        .map(|(case, transport)| {
            let program = program.clone();
            let blank = case.blank(transport);
            let blanks = case.blanks(transport);
            let blank_again = blank.clone();
            let (long, results) = (case.long(), case.results());
            let estimate = match pace.virtual_clock {
                true => VIRTUAL_CASE,
                false => case.estimate(&times),
            };
            let run = async move {
                if !pace.virtual_clock {
                    return case.run(&program, transport, pace).await;
                }
                let on_clock =
                    clock::run_virtual(
                        move || async move { case.run(&program, transport, pace).await },
                    );
                match on_clock.await {
                    Ok((mut results, report)) => {
                        for r in &mut results {
                            r.clock = Some(report.clone());
                        }
                        results
                    }
                    Err(e @ clock::RunError::Panicked) => vec![CaseResult {
                        verdict: Verdict::failed(e.to_string()),
                        ..blank_again
                    }],
                    Err(e @ clock::RunError::Start(_)) => vec![CaseResult {
                        verdict: Verdict::Unsupported(e.to_string()),
                        ..blank_again
                    }],
                }
            };
            Planned {
                long,
                estimate,
                results,
                job: guarded(blank, run),
                group: transport as u64,
                blanks,
            }
        })
        .collect()
}

/// Runs the `chosen` cases against `program`, telling `progress` the plan and then as it goes.
async fn run_suite<C: Case>(
    chosen: Vec<(C, Transport)>,
    program: &Program,
    options: &Options,
    mut progress: impl FnMut(Progress<'_>),
) -> Vec<CaseResult> {
    let (pace, note) = pace_of(options);
    let jobs = planned(chosen, program, pace);
    progress(Progress::Plan {
        results: jobs.iter().map(|p| p.results).sum(),
        expected: jobs_wall(&jobs, options.jobs),
        virtual_clock: pace.virtual_clock,
        note,
    });
    // Each case is told as judged after the cases before it, whose failures it may depend on.
    let mut told: Vec<CaseResult> = Vec::new();
    let mut tell = |p: Progress<'_>| match p {
        Progress::Results(rs) => {
            let start = told.len();
            for r in rs {
                let mut r = r.clone();
                depends(&told, &mut r);
                told.push(r);
            }
            progress(Progress::Results(&told[start..]));
        }
        other => progress(other),
    };
    let mut results: Vec<CaseResult> = run_first_first(jobs, options.jobs, &mut tell)
        .await
        .into_iter()
        .flatten()
        .collect();
    all_depends(&mut results);
    results
}

/// What a transport's first case decides for the others: run them, or not (the program was not
/// where it was told to be: `Some` of the verdict they all get instead).
fn stand_in(first: &[CaseResult]) -> Option<Verdict> {
    let first = first.first().filter(|r| r.absent)?;
    Some(match &first.verdict {
        Verdict::Fail { reason, .. } => Verdict::NotJudged {
            on: first.id,
            why: reason.clone(),
        },
        other => other.clone(),
    })
}

/// Runs `jobs` ([`run_jobs`]) with the first job of each group (a program's suite on one transport)
/// first, alone: a program that is not where it was told to be (a server listening on a port of its
/// own, a client sending to one, one that does not serve the transport at all) is found once,
/// there, whatever `--jobs`, and no other case of that group runs: each is unsupported as the first
/// was, or not judged (it depends on the first). Tells `progress` every job's results in the jobs'
/// order, and gives them back in it.
async fn run_first_first(
    jobs: Vec<Planned>,
    parallel: usize,
    mut progress: impl FnMut(Progress<'_>),
) -> Vec<Vec<CaseResult>> {
    let total = jobs.len();
    let groups: Vec<u64> = jobs.iter().map(|j| j.group).collect();
    let (mut first, mut rest) = (Vec::new(), Vec::new());
    for (index, job) in jobs.into_iter().enumerate() {
        match groups[..index].contains(&job.group) {
            false => first.push((index, job)),
            true => rest.push((index, job)),
        }
    }
    let mut slots: Vec<Option<Vec<CaseResult>>> = (0..total).map(|_| None).collect();
    let mut ended = 0;
    let (indices, first): (Vec<usize>, Vec<Planned>) = first.into_iter().unzip();
    let ran = run_jobs(first, parallel, |p| {
        if let Progress::Ended { .. } = p {
            ended += 1;
            progress(Progress::Ended { done: ended, total });
        }
    })
    .await;
    let mut stand_ins = Vec::new();
    for (index, results) in indices.into_iter().zip(ran) {
        if let Some(instead) = stand_in(&results) {
            stand_ins.push((groups[index], instead));
        }
        slots[index] = Some(results);
    }
    let mut second = Vec::new();
    for (index, job) in rest {
        match stand_ins.iter().find(|(g, _)| *g == job.group) {
            Some((_, verdict)) => {
                let results = job.blanks.into_iter().map(|blank| CaseResult {
                    verdict: verdict.clone(),
                    ..blank
                });
                slots[index] = Some(results.collect());
                ended += 1;
            }
            None => second.push((index, job)),
        }
    }
    progress(Progress::Ended { done: ended, total });
    let mut shown = 0;
    let (indices, second): (Vec<usize>, Vec<Planned>) = second.into_iter().unzip();
    let mut next = indices.iter();
    let ran = run_jobs(second, parallel, |p| match p {
        Progress::Ended { .. } => {
            ended += 1;
            progress(Progress::Ended { done: ended, total });
        }
        Progress::Results(results) => {
            let index = next.next().copied().unwrap_or(total);
            tell_known(&slots, &mut shown, index, &mut progress);
            progress(Progress::Results(results));
            shown = index + 1;
        }
        Progress::Plan { .. } => {}
    })
    .await;
    for (index, results) in indices.into_iter().zip(ran) {
        slots[index] = Some(results);
    }
    tell_known(&slots, &mut shown, total, &mut progress);
    slots.into_iter().map(Option::unwrap_or_default).collect()
}

/// Tells `progress` the results already known of the jobs from `shown` up to `upto`.
fn tell_known(
    slots: &[Option<Vec<CaseResult>>],
    shown: &mut usize,
    upto: usize,
    progress: &mut impl FnMut(Progress<'_>),
) {
    while *shown < upto.min(slots.len()) {
        if let Some(results) = &slots[*shown] {
            progress(Progress::Results(results));
        }
        *shown += 1;
    }
}

/// The clock a run is on: the virtual clock where asked for and supported here, else real time, with
/// a note saying why where the virtual clock was asked for.
pub(crate) fn pace_of(options: &Options) -> (Pace, Option<String>) {
    pace_for(options.timing, options.virtual_clock)
}

/// The pace of a run with `timing`, on the virtual clock if asked and it can run here; if it cannot,
/// at real time, with a note that says so.
pub fn pace_for(timing: Timing, virtual_clock: bool) -> (Pace, Option<String>) {
    match (virtual_clock, clock::supported()) {
        (true, true) => (Pace::virtual_clock(timing), None),
        (true, false) => (
            Pace::real(timing),
            Some(
                "the virtual clock runs only on Linux (x86-64 and aarch64) and could not be set up here: running at real time"
                    .into(),
            ),
        ),
        (false, _) => (Pace::real(timing), None),
    }
}

/// Runs the server suite against `program` (a server), telling `progress` as it goes.
pub async fn run_server_suite(
    program: &Program,
    options: &Options,
    progress: impl FnMut(Progress<'_>),
) -> Vec<CaseResult> {
    let chosen =
        server_cases::selected(&options.transports, options.quick, options.only.as_deref());
    run_suite(chosen, program, options, progress).await
}

/// Runs the client suite against `program` (a client), telling `progress` as it goes.
pub async fn run_client_suite(
    program: &Program,
    options: &Options,
    progress: impl FnMut(Progress<'_>),
) -> Vec<CaseResult> {
    let chosen =
        client_cases::selected(&options.transports, options.quick, options.only.as_deref());
    run_suite(chosen, program, options, progress).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn conform_judges_exactly_the_rules_the_oracle_says_bind_every_program() {
        use connid_sim::oracle::{rule_level, RuleLevel, RULES};
        let cases = crate::server_cases::cases().into_iter().map(|c| c.rules);
        let clients = crate::client_cases::cases().into_iter().map(|c| c.rules);
        let explored = [
            crate::explore::session::RULES,
            crate::explore::client_session::RULES,
        ];
        let judged: Vec<&str> = cases
            .chain(clients)
            .chain(explored)
            .flatten()
            .copied()
            .collect();
        for (rule, _) in RULES {
            let binds = rule_level(rule) != RuleLevel::Connid;
            assert_eq!(
                judged.contains(rule),
                binds,
                "{rule} is {:?} in `sim rules` but conform {} it",
                rule_level(rule),
                if binds { "never judges" } else { "judges" }
            );
        }
    }

    use super::*;

    fn judged(
        id: &'static str,
        t: Transport,
        failed: bool,
        shortfall: Option<&'static str>,
    ) -> CaseResult {
        let mut r = CaseResult::new(id, "", Level::Required, t);
        if failed {
            r.verdict = Verdict::failed(format!("{id} lacked it"));
        }
        r.shortfall = shortfall;
        r
    }

    #[test]
    fn a_shortfall_fails_once_in_its_owner_and_later_cases_are_not_judged_for_it() {
        use Transport::{Tcp, Udp};
        let mut run = vec![
            judged("owner", Udp, true, Some("owner")),
            judged("second", Udp, true, Some("second")),
            judged("a", Udp, true, Some("owner")),
            // Its owner is not judged itself: it depends on what that depends on.
            judged("b", Udp, true, Some("a")),
            // The owner passed over TCP: what this lacked is its own failure.
            judged("owner", Tcp, false, None),
            judged("a", Tcp, true, Some("owner")),
            // An owner that failed for something else than a shortfall judges nothing away.
            judged("c", Udp, true, Some("second-was-fine")),
            judged("second-was-fine", Udp, true, None),
            judged("d", Udp, true, Some("second-was-fine")),
            // Its owner comes later: only earlier cases count (the order cases are told in).
            judged("e", Udp, true, Some("late")),
            judged("late", Udp, true, Some("late")),
            judged("passed", Udp, false, Some("owner")),
        ];
        all_depends(&mut run);
        let shown: Vec<String> = run
            .iter()
            .map(|r| match &r.verdict {
                Verdict::NotJudged { on, why } => {
                    format!("{} [{}] on {on}: {why}", r.id, r.transport)
                }
                Verdict::Fail { .. } => format!("{} [{}] fail", r.id, r.transport),
                Verdict::Pass => format!("{} [{}] pass", r.id, r.transport),
                Verdict::Unsupported(_) => unreachable!(),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "owner [udp] fail",
                "second [udp] fail",
                "a [udp] on owner: a lacked it",
                "b [udp] on owner: b lacked it",
                "owner [tcp] pass",
                "a [tcp] fail",
                "c [udp] fail",
                "second-was-fine [udp] fail",
                "d [udp] fail",
                "e [udp] fail",
                "late [udp] fail",
                "passed [udp] pass",
            ]
        );
    }

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
        let p = Program::new(
            [
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
        );
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
        let ttl_only = Program::new(vec!["srv".into(), "{port}".into(), "{ttl}".into()]);
        assert!(!ttl_only.takes_timers(true));
    }

    #[test]
    fn the_expected_wall_time_fills_the_slots_long_cases_first() {
        let s = Duration::from_secs;
        // Two slots: the two long cases take one each, the short ones fill the one that frees first.
        let planned = [(false, s(2)), (true, s(30)), (false, s(2)), (true, s(20))];
        assert_eq!(expected_wall(&planned, 2), s(30));
        assert_eq!(expected_wall(&planned, 1), s(54));
        assert_eq!(expected_wall(&planned, 0), s(54));
        // Short cases after the long ones: 20 + 2 + 2 + 2 = 26 < 30.
        let more = [
            (true, s(30)),
            (true, s(20)),
            (false, s(2)),
            (false, s(2)),
            (false, s(2)),
        ];
        assert_eq!(expected_wall(&more, 2), s(30));
        assert_eq!(expected_wall(&[], 4), s(0));
    }

    #[test]
    fn a_program_seen_elsewhere_is_told_where_and_what_its_command_lacks() {
        let given: std::net::SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let with = Program::new(vec!["srv".into(), "{port}".into(), "{transport}".into()]);
        let without = Program::new(vec!["srv".into(), "{port}".into()]);
        let seen = ("the server listens on", "on");
        let udp = |s: &str| {
            let port = s.rsplit_once(':').unwrap().1.parse().unwrap();
            (Transport::Udp, port, format!("udp {s}"))
        };
        assert_eq!(elsewhere(seen, &[], &with, Transport::Udp, given), None);
        assert_eq!(
            elsewhere(seen, &[udp("127.0.0.1:5599"), udp("127.0.0.1:5600")], &with, Transport::Udp, given).unwrap(),
            "the server listens on udp 127.0.0.1:5599, udp 127.0.0.1:5600, not on the port it was given, 4000"
        );
        assert_eq!(
            elsewhere(seen, &[udp("127.0.0.1:4000")], &without, Transport::Tcp, given).unwrap(),
            "the server listens on udp 127.0.0.1:4000, not on tcp 127.0.0.1:4000: its command line has no {transport} to tell it which"
        );
        assert_eq!(
            elsewhere(
                ("the client sent to", "to"),
                &[udp("127.0.0.1:4000")],
                &with,
                Transport::Tcp,
                given
            )
            .unwrap(),
            "the client sent to udp 127.0.0.1:4000, not to tcp 127.0.0.1:4000"
        );
        // The right port on another address is not "another port".
        assert_eq!(
            elsewhere(
                ("the client sent to", "to"),
                &[udp("127.0.1.1:4000")],
                &with,
                Transport::Udp,
                given
            )
            .unwrap(),
            "the client sent to udp 127.0.1.1:4000, not to udp 127.0.0.1:4000"
        );
    }

    #[test]
    fn a_command_is_startable_only_if_its_program_is_found_and_executable() {
        let argv = |a: &[&str]| Program::new(a.iter().map(|s| s.to_string()).collect());
        assert_eq!(argv(&["sh", "-c", "true"]).startable(), Ok(()));
        assert_eq!(
            argv(&["no-such-program-here"]).startable(),
            Err("cannot start no-such-program-here: no such program on PATH".into())
        );
        assert_eq!(
            argv(&[]).startable(),
            Err("the command line is empty".into())
        );
        // A path is taken from the directory the command runs in.
        let dir = std::env::temp_dir().join(format!("conform-startable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("plain.txt"), "").unwrap();
        let mut in_dir = argv(&["./plain.txt"]);
        in_dir.dir = Some(dir.clone());
        assert_eq!(
            in_dir.startable(),
            Err("cannot start ./plain.txt: not an executable file".into())
        );
        in_dir.argv = vec!["./gone".into()];
        assert_eq!(
            in_dir.startable(),
            Err("cannot start ./gone: no such file".into())
        );
        in_dir.argv = vec!["/bin/sh".into()];
        assert_eq!(in_dir.startable(), Ok(()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_virtual_clock_keeps_the_timers_and_narrows_only_the_margins() {
        let real = Pace::real(Timing::Exact);
        assert_eq!(real.times(), Timing::Exact.times());
        let on_clock = Pace::virtual_clock(Timing::Exact).times();
        assert_eq!(
            (on_clock.ttl, on_clock.idle, on_clock.timeout),
            (real.times().ttl, real.times().idle, real.times().timeout)
        );
        assert_eq!(on_clock.tolerance, VIRTUAL_TOLERANCE);
        assert_eq!(
            Pace::virtual_clock(Timing::Exact).judge().tolerance,
            VIRTUAL_TOLERANCE
        );
        let options = |virtual_clock| Options {
            transports: vec![Transport::Udp],
            quick: false,
            only: None,
            jobs: 1,
            timing: Timing::Exact,
            virtual_clock,
        };
        assert_eq!(pace_of(&options(false)), (real, None));
        let (pace, note) = pace_of(&options(true));
        assert_eq!(pace.virtual_clock, clock::supported());
        assert_eq!(note.is_some(), !clock::supported());
    }
}
