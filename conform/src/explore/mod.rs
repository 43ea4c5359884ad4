//! `conform explore server|client`: seeded random sessions against anyone's server or client, each
//! judged by the oracle's rules for a foreign program; the first session that breaks each rule is
//! shrunk to a small one that still breaks it, rerun to confirm, and saved as a TOML file `conform
//! replay` plays again.
//!
//! A session per seed and transport ([`generate`]), played against a fresh start of the program under
//! the same clock as the cases ([`session`], [`client_session`]); sessions run `jobs` at once, and are
//! reported in seed order so that the same seeds give the same report. What the sessions reached is
//! counted as situations ([`coverage`]), so a clean run says what it tried.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use connid::Transport;
use connid_sim::oracle;
use serde::Serialize;

use crate::{Level, Pace, Program};

pub mod client_plan;
pub mod client_session;
pub mod coverage;
pub mod generate;
pub mod html;
pub mod plan;
pub mod session;
pub mod shrink;
pub mod timeline;

use plan::{Plan, Role};
use session::{play_plan, Played};

/// What an exploration is asked to do.
#[derive(Debug, Clone)]
pub struct Explore {
    /// Which side the program plays.
    pub role: Role,
    pub seeds: u64,
    pub from: u64,
    pub transports: Vec<Transport>,
    pub jobs: usize,
    pub pace: Pace,
    /// Where failing sessions are saved.
    pub save: PathBuf,
    /// The program's command line as typed, for the replay command a finding prints.
    pub command: String,
}

/// One rule an explored program broke: the first session that broke it, shrunk.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub level: Level,
    /// The assignment's sentence the rule reads.
    pub quote: &'static str,
    /// What the rule requires.
    pub expected: &'static str,
    /// What the shrunk session showed.
    pub observed: String,
    pub seed: u64,
    pub transport: Transport,
    /// How many sessions broke the rule first.
    pub sessions: u64,
    /// Requests in the session as generated, and once shrunk.
    pub requests_before: usize,
    pub requests_after: usize,
    /// Plays the shrinking took.
    pub shrink_plays: usize,
    /// Whether the shrunk session broke the rule again when rerun; a finding that did not is
    /// reported as such, neither a pass nor a fail.
    pub reproduced: bool,
    /// The saved session, and the command that replays it.
    pub file: PathBuf,
    pub replay: String,
    /// The shrunk session's transcript.
    pub transcript: String,
    /// The shrunk session as a sequence diagram (inline SVG), for the HTML page.
    #[serde(skip)]
    pub diagram: String,
}

/// A session that could not be played (the server did not start or listen, the client never reached
/// the checker's server).
#[derive(Debug, Clone, Serialize)]
pub struct Unplayable {
    pub seed: u64,
    pub transport: Transport,
    pub why: String,
}

/// What an exploration found.
#[derive(Debug, Clone, Serialize)]
pub struct Exploration {
    pub role: Role,
    pub seeds: u64,
    pub from: u64,
    pub transports: Vec<Transport>,
    pub sessions: u64,
    pub virtual_clock: bool,
    pub findings: Vec<Finding>,
    pub unplayable: Vec<Unplayable>,
    /// Sessions that reached each situation.
    pub situations: BTreeMap<&'static str, u64>,
    pub wall_secs: f64,
}

impl Exploration {
    /// Whether a required rule was broken by a session that broke it again when rerun, or a session
    /// could not be played (a server that does not listen where it is told passes nothing).
    pub fn failed(&self) -> bool {
        !self.unplayable.is_empty()
            || self
                .findings
                .iter()
                .any(|f| f.reproduced && f.level == Level::Required)
    }

    /// Whether some finding did not reproduce (and none failed).
    pub fn unsettled(&self) -> bool {
        !self.failed() && self.findings.iter().any(|f| !f.reproduced)
    }
}

/// What an exploration tells its caller as it goes.
pub enum ExploreProgress {
    /// `done` of `total` sessions played, `findings` rules broken so far.
    Played {
        done: u64,
        total: u64,
        findings: usize,
    },
    /// A finding is being shrunk.
    Shrinking { rule: &'static str },
}

/// The level a broken rule is reported at: a server's, by the rule; a client's, by the session too,
/// since the assignment speaks only of plain answers ([`client_plan::ClientTimeline::plain`]).
pub fn level(rule: &str, plan: &Plan) -> Level {
    match (rule, plan) {
        (oracle::KEEPS_SERVING | oracle::REPLY_SOURCE, _) => Level::Robustness,
        (_, Plan::Client(t)) if !t.plain() => Level::Robustness,
        _ => Level::Required,
    }
}

/// The assignment's sentence a rule reads.
pub fn quote(rule: &str) -> &'static str {
    use crate::client_cases::{
        ESTABLISHED_QUOTE, FAILURE_QUOTE, RECEIVES_QUOTE, RETRY_QUOTE, TIMEOUT_QUOTE,
    };
    use crate::server_cases::{FREE_QUOTE, OK_QUOTE, RESET_QUOTE, ROBUST_QUOTE};
    match rule {
        oracle::RESET_IN_USE => RESET_QUOTE,
        oracle::OK_SOURCE => OK_QUOTE,
        oracle::KEEPS_SERVING => ROBUST_QUOTE,
        oracle::CURRENT_TRY => ESTABLISHED_QUOTE,
        oracle::REPLY_SOURCE => RECEIVES_QUOTE,
        oracle::ERROR_WHEN_DUE => TIMEOUT_QUOTE,
        oracle::TRIES | oracle::ONE_ENDING | oracle::IN_TIME => FAILURE_QUOTE,
        oracle::ERROR_PER_TRY | oracle::PROMPT | oracle::TYPED_ID | oracle::NEW_SOCKET => {
            RETRY_QUOTE
        }
        _ => FREE_QUOTE,
    }
}

/// The rules a session of `role` is judged by.
pub fn rules(role: Role) -> &'static [&'static str] {
    match role {
        Role::Server => session::RULES,
        Role::Client => client_session::RULES,
    }
}

/// Plays the seeds against `program` and shrinks the first session that breaks each rule.
pub async fn explore(
    program: &Program,
    options: &Explore,
    mut progress: impl FnMut(ExploreProgress),
) -> Exploration {
    let started = Instant::now();
    let times = options.pace.times();
    let (ttl_ms, timeout_ms) = (
        times.ttl.as_millis() as u64,
        times.timeout.as_millis() as u64,
    );
    let role = options.role;
    let timelines: Vec<Plan> = (0..options.seeds)
        .filter_map(|n| options.from.checked_add(n))
        .flat_map(|seed| {
            options.transports.iter().map(move |&t| match role {
                Role::Server => Plan::Server(generate::timeline(seed, t, ttl_ms)),
                Role::Client => Plan::Client(generate::client_timeline(seed, t, timeout_ms)),
            })
        })
        .collect();
    let total = timelines.len() as u64;
    let played = play_all(program, &timelines, options, &mut progress).await;
    let mut exploration = Exploration {
        role,
        seeds: options.seeds,
        from: options.from,
        transports: options.transports.clone(),
        sessions: total,
        virtual_clock: options.pace.virtual_clock,
        findings: Vec::new(),
        unplayable: Vec::new(),
        situations: coverage::none(role),
        wall_secs: 0.0,
    };
    let mut first_of: BTreeMap<&'static str, (usize, u64)> = BTreeMap::new();
    for (i, (timeline, played)) in timelines.iter().zip(&played).enumerate() {
        if let Some(why) = &played.unplayable {
            exploration.unplayable.push(Unplayable {
                seed: timeline.seed(),
                transport: timeline.transport(),
                why: why.clone(),
            });
            continue;
        }
        for situation in coverage::reached_by(timeline, &played.run) {
            *exploration.situations.entry(situation).or_default() += 1;
        }
        // Every rule a session broke counts, not only its first: a rule that some session breaks
        // only after another must still have its finding.
        let mut rules: Vec<&'static str> = played.broken.iter().map(|v| v.rule).collect();
        rules.sort_unstable();
        rules.dedup();
        for rule in rules {
            first_of.entry(rule).or_insert((i, 0)).1 += 1;
        }
    }
    let mut firsts: Vec<(&'static str, usize, u64)> =
        first_of.into_iter().map(|(r, (i, n))| (r, i, n)).collect();
    firsts.sort_by_key(|(_, i, _)| *i);
    for (rule, i, sessions) in firsts {
        progress(ExploreProgress::Shrinking { rule });
        let first = played[i].clone();
        let finding = finding(program, &timelines[i], first, rule, sessions, options).await;
        exploration.findings.push(finding);
    }
    exploration.wall_secs = started.elapsed().as_secs_f64();
    exploration
}

/// Plays every timeline, `jobs` at once; the results in the timelines' order.
async fn play_all(
    program: &Program,
    timelines: &[Plan],
    options: &Explore,
    progress: &mut impl FnMut(ExploreProgress),
) -> Vec<Played> {
    let total = timelines.len() as u64;
    let mut slots: Vec<Option<Played>> = (0..timelines.len()).map(|_| None).collect();
    let mut tasks = tokio::task::JoinSet::new();
    let (mut done, mut findings) = (0, 0);
    let mut next = timelines.iter().enumerate();
    loop {
        while tasks.len() < options.jobs.max(1) {
            let Some((i, timeline)) = next.next() else {
                break;
            };
            let (program, timeline, pace) = (program.clone(), timeline.clone(), options.pace);
            tasks.spawn(async move {
                let first = play_plan(&program, &timeline, pace).await;
                // A session that could not be played is tried once more before it is reported: a
                // loaded machine can keep a correct server from starting in time (seen once in
                // 10,000 sessions); a server that never listens where it is told fails twice.
                match first.unplayable {
                    Some(_) => (i, play_plan(&program, &timeline, pace).await),
                    None => (i, first),
                }
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (i, played) = joined.unwrap_or_else(|e| (usize::MAX, checker_failed(&e)));
        done += 1;
        findings += usize::from(played.first_rule().is_some());
        progress(ExploreProgress::Played {
            done,
            total,
            findings,
        });
        if let Some(slot) = slots.get_mut(i) {
            *slot = Some(played);
        }
    }
    slots
        .into_iter()
        .map(|p| p.unwrap_or_else(|| checker_failed(&"the session was lost")))
        .collect()
}

fn checker_failed(e: &dyn std::fmt::Display) -> Played {
    Played {
        run: session::empty_run(),
        broken: Vec::new(),
        unplayable: Some(format!("the checker itself failed on this session: {e}")),
    }
}

/// Shrinks the first session that broke `rule`, reruns it, saves it and reports it.
async fn finding(
    program: &Program,
    failing: &Plan,
    first: Played,
    rule: &'static str,
    sessions: u64,
    options: &Explore,
) -> Finding {
    let before = failing.requests();
    let (small, shown, plays) =
        shrink::shrink(program, failing.clone(), first, rule, options.pace).await;
    let again = play_plan(program, &small, options.pace).await;
    let reproduced = again.broken.iter().any(|v| v.rule == rule);
    let observed = shown
        .broken
        .iter()
        .find(|v| v.rule == rule)
        .map(|v| v.message.clone())
        .unwrap_or_default();
    let name = format!(
        "{}-seed-{}-{}.toml",
        small.role().name(),
        small.seed(),
        small.transport()
    );
    let file = options.save.join(name);
    let replay = format!("conform replay {} -- {}", file.display(), options.command);
    let saved = save(&file, &small.to_toml(&format!("replay: {replay}")));
    let title = format!("{rule}: seed {} over {}", small.seed(), small.transport());
    let diagram = connid_sim::diagram::of(&title, &shown.run).svg();
    let mut transcript = connid_sim::transcript::text(&title, "", &shown.run);
    if let Err(e) = saved {
        transcript.push_str(&format!("# not saved: {e}\n"));
    }
    Finding {
        rule,
        level: level(rule, &small),
        quote: quote(rule),
        expected: oracle::rule_statement(rule).unwrap_or(""),
        observed,
        seed: small.seed(),
        transport: small.transport(),
        sessions,
        requests_before: before,
        requests_after: small.requests(),
        shrink_plays: plays,
        reproduced,
        file,
        replay,
        transcript,
        diagram,
    }
}

fn save(file: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(file, text)
}

/// An exploration in one line: its findings (each rule, with its level) and the sessions played.
pub fn summary(e: &Exploration) -> String {
    let played = e.sessions - e.unplayable.len() as u64;
    let mut out = match e.findings.len() {
        0 => "no rule broken".to_string(),
        n => {
            let rules: Vec<String> = e
                .findings
                .iter()
                .map(|f| {
                    let again = if f.reproduced {
                        ""
                    } else {
                        ", did not reproduce"
                    };
                    format!("{} ({}{again})", f.rule, f.level.name())
                })
                .collect();
            format!(
                "{n} rule{} broken: {}",
                if n == 1 { "" } else { "s" },
                rules.join(", ")
            )
        }
    };
    out.push_str(&format!("; {played} of {} sessions played", e.sessions));
    out
}

/// The report for people: the situations reached, then each finding with its reason, its replay
/// command and its transcript.
pub fn text(e: &Exploration, command: &str) -> String {
    let mut out = String::new();
    let transports: Vec<String> = e.transports.iter().map(|t| t.to_string()).collect();
    let clock = if e.virtual_clock {
        "on the virtual clock"
    } else {
        "at real time"
    };
    out.push_str(&format!(
        "conform explore {}: seeds {} to {} over {} ({} sessions, {clock}) -- {command}\n",
        e.role.name(),
        e.from,
        e.from.saturating_add(e.seeds.saturating_sub(1)),
        transports.join(" and "),
        e.sessions,
    ));
    out.push_str(&coverage::text(&e.situations, e.role));
    for u in e.unplayable.iter().take(3) {
        out.push_str(&format!(
            "not played: seed {} over {}: {}\n",
            u.seed, u.transport, u.why
        ));
    }
    if e.unplayable.len() > 3 {
        out.push_str(&format!(
            "not played: {} more sessions\n",
            e.unplayable.len() - 3
        ));
    }
    for (n, f) in e.findings.iter().enumerate() {
        out.push_str(&finding_text(n + 1, f, e.role));
    }
    let required = e
        .findings
        .iter()
        .filter(|f| f.level == Level::Required)
        .count();
    let unreproduced = e.findings.iter().filter(|f| !f.reproduced).count();
    out.push_str(&format!(
        "findings: {} ({required} required{}), {} of {} sessions played\n",
        e.findings.len(),
        match unreproduced {
            0 => String::new(),
            n => format!(", {n} that did not reproduce"),
        },
        e.sessions - e.unplayable.len() as u64,
        e.sessions,
    ));
    out
}

fn finding_text(n: usize, f: &Finding, role: Role) -> String {
    let mut out = format!(
        "\nfinding {n} ({}): {}, seed {} over {}, first of {} sessions that broke it\n",
        f.level.name(),
        f.rule,
        f.seed,
        f.transport,
        f.sessions
    );
    out.push_str(&format!("  the assignment: \u{201c}{}\u{201d}\n", f.quote));
    out.push_str(&format!("  expected: {}\n", f.expected));
    out.push_str(&format!("  observed: {}\n", f.observed));
    let what = match role {
        Role::Server => "requests",
        Role::Client => "tries answered by plan",
    };
    out.push_str(&format!(
        "  shrunk: {} {what} to {} ({} plays); {}\n",
        f.requests_before,
        f.requests_after,
        f.shrink_plays,
        match f.reproduced {
            true => "it broke the rule again when rerun",
            false =>
                "it did NOT break the rule again when rerun: not a pass, not a fail; replay it",
        }
    ));
    out.push_str(&format!("  replay: {}\n", f.replay));
    for line in f.transcript.lines().filter(|l| !l.starts_with("# ")) {
        out.push_str(&format!("    {line}\n"));
    }
    out
}
