//! The explorer: many seeds, each a generated scenario run against the oracle; failures are shrunk to a
//! small scenario file that replays them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::coverage::{self, Situation};
use crate::events::EventKind;
use crate::generate;
use crate::oracle::{self, Violation};
use crate::runner::{self, Run};
use crate::scenario::Scenario;
use connid::Transport;

/// The simulation itself failed (a host returned an error or panicked).
pub const SIMULATION: &str = "simulation-completes";
/// A generated scenario ran into its limit: something never ended (generated ones all end long before).
pub const ENDS: &str = "simulation-ends";

/// Most simulations one shrink may spend.
const SHRINK_BUDGET: usize = 400;

/// What to explore.
#[derive(Debug, Clone)]
pub struct Config {
    /// First seed.
    pub from: u64,
    /// How many seeds, from `from` on (before sharding).
    pub seeds: u64,
    pub transports: Vec<Transport>,
    /// Worker threads.
    pub jobs: usize,
    /// `(i, n)`: only every n-th seed, starting with the i-th (1-based).
    pub shard: (u64, u64),
    /// Also rerun every this-many-th seed to check determinism (failing seeds are always rerun).
    pub determinism_every: u64,
    /// Where shrunk failures are written; `None` writes nothing.
    pub save: Option<PathBuf>,
}

/// What one seed on one transport gave.
#[derive(Debug, Clone)]
pub struct SeedResult {
    pub seed: u64,
    pub transport: Transport,
    pub simulated: Duration,
    /// Simulation steps the run took.
    pub steps: u64,
    /// Faults applied, by kind.
    pub faults: BTreeMap<String, usize>,
    /// Messages sent and never received.
    pub lost: usize,
    /// The named situations the run reached.
    pub situations: BTreeSet<Situation>,
    /// Faults that start trouble, by kind: how many, and how many of them touched nothing.
    pub effect: BTreeMap<&'static str, (usize, usize)>,
    pub violations: Vec<Violation>,
}

/// A failing seed, shrunk.
#[derive(Debug, Clone)]
pub struct Failure {
    pub seed: u64,
    pub transport: Transport,
    /// Every violation of the original run.
    pub violations: Vec<Violation>,
    /// The smallest scenario found that still breaks the first violation's rule.
    pub shrunk: Scenario,
    /// The violation in the shrunk scenario.
    pub shrunk_violation: Violation,
    pub size_before: usize,
    pub size_after: usize,
    pub saved: Option<PathBuf>,
}

/// The whole exploration.
#[derive(Debug, Default)]
pub struct Summary {
    pub seeds: u64,
    pub runs: usize,
    pub transports: Vec<Transport>,
    pub simulated: Duration,
    pub steps: u64,
    pub faults: BTreeMap<String, usize>,
    pub lost: usize,
    /// How many runs reached each named situation.
    pub situations: BTreeMap<Situation, usize>,
    /// Faults that start trouble, by kind: how many, and how many of them touched nothing.
    pub effect: BTreeMap<String, (usize, usize)>,
    pub failures: Vec<FailureRecord>,
    pub wall: Duration,
}

/// A failure as reports and shard files hold it: everything [`report`] prints, in plain values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailureRecord {
    pub seed: u64,
    pub transport: Transport,
    /// Every violation of the original run, with its events as transcript lines.
    pub violations: Vec<ViolationRecord>,
    pub size_before: usize,
    pub size_after: usize,
    /// The rule the shrunk scenario breaks, and how.
    pub shrunk_rule: String,
    pub shrunk_message: String,
    /// Where the shrunk scenario was saved, if it was.
    pub saved: Option<PathBuf>,
    /// The shrunk scenario, as the scenario file it is saved as.
    pub scenario: String,
}

/// One broken rule of a failure.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ViolationRecord {
    pub rule: String,
    pub message: String,
    pub events: Vec<String>,
}

impl From<&Failure> for FailureRecord {
    fn from(f: &Failure) -> Self {
        let path = f.saved.clone().unwrap_or_default();
        FailureRecord {
            seed: f.seed,
            transport: f.transport,
            violations: f
                .violations
                .iter()
                .map(|v| ViolationRecord {
                    rule: v.rule.to_string(),
                    message: v.message.clone(),
                    events: v.events.iter().map(crate::transcript::event_line).collect(),
                })
                .collect(),
            size_before: f.size_before,
            size_after: f.size_after,
            shrunk_rule: f.shrunk_violation.rule.to_string(),
            shrunk_message: f.shrunk_violation.message.clone(),
            saved: f.saved.clone(),
            scenario: failure_file(f, &path),
        }
    }
}

/// Scenario size, for shrinking: clients, peers, faults and typed lines.
pub fn size(s: &Scenario) -> usize {
    s.clients.len()
        + s.peers.len()
        + s.faults.len()
        + s.clients.iter().map(|c| c.typed.len()).sum::<usize>()
}

/// The seeds of a shard: `seeds` of them from `from` (fewer only where they would pass the last
/// seed, `u64::MAX`, which is one too), every `n`-th from the `i`-th.
pub fn shard_seeds(from: u64, seeds: u64, (i, n): (u64, u64)) -> impl Iterator<Item = u64> {
    let last = from.saturating_add(seeds.saturating_sub(1));
    (from..=last)
        .take(usize::try_from(seeds).unwrap_or(usize::MAX))
        .filter(move |s| (s - from) % n.max(1) == i.saturating_sub(1))
}

/// Runs a scenario and checks it: the run (if it completed) and the rules it broke.
pub fn run_and_check(scenario: &Scenario, transport: Transport) -> (Option<Run>, Vec<Violation>) {
    match runner::run(scenario, transport) {
        Ok(run) => {
            let mut found = oracle::check(scenario, &run);
            if run.hit_limit {
                found.push(Violation {
                    rule: ENDS,
                    at: run.simulated,
                    message: format!("still running at the limit {}", scenario.limit),
                    events: run.events.last().cloned().into_iter().collect(),
                });
            }
            (Some(run), found)
        }
        Err(e) => (
            None,
            vec![Violation {
                rule: SIMULATION,
                at: e.at,
                message: e.message,
                events: Vec::new(),
            }],
        ),
    }
}

/// One seed on one transport: generate, run, check, and rerun when determinism is to be checked.
pub fn check_seed(seed: u64, transport: Transport, rerun: bool) -> SeedResult {
    let scenario = generate::scenario(seed, transport);
    let (run, mut violations) = run_and_check(&scenario, transport);
    let mut result = SeedResult {
        seed,
        transport,
        simulated: Duration::ZERO,
        steps: 0,
        faults: BTreeMap::new(),
        lost: 0,
        situations: BTreeSet::new(),
        effect: BTreeMap::new(),
        violations: Vec::new(),
    };
    if let Some(run) = run {
        result.simulated = run.simulated;
        result.steps = run.steps;
        result.situations = coverage::situations(&scenario, &run);
        for (kind, touched) in coverage::faults_touched(&scenario, &run) {
            let (all, idle) = result.effect.entry(kind).or_default();
            *all += 1;
            *idle += usize::from(!touched);
        }
        for e in &run.events {
            match &e.kind {
                EventKind::Fault { text, .. } => {
                    let kind = text.split(':').next().unwrap_or_default().to_string();
                    *result.faults.entry(kind).or_default() += 1;
                }
                EventKind::Send {
                    delivered: None, ..
                } => result.lost += 1,
                _ => {}
            }
        }
        if rerun || !violations.is_empty() {
            if let Ok(again) = runner::run(&scenario, transport) {
                violations.extend(oracle::same_events(&run, &again));
            }
        }
    }
    result.violations = violations;
    result
}

fn breaks(scenario: &Scenario, transport: Transport, rule: &str) -> Option<Violation> {
    let (_, found) = run_and_check(scenario, transport);
    found.into_iter().find(|v| v.rule == rule)
}

/// Smaller variants of a scenario, most promising first.
fn candidates(s: &Scenario) -> Vec<Scenario> {
    let mut out = Vec::new();
    let without_host = |s: &Scenario, name: &str| {
        let mut c = s.clone();
        // A peer aimed at the host goes with it.
        let gone: Vec<String> = std::iter::once(name.to_string())
            .chain(
                s.peers
                    .iter()
                    .filter(|p| p.to.as_deref() == Some(name))
                    .map(|p| p.name.clone()),
            )
            .collect();
        // A client that asked a peer playing a server asks the server instead.
        for client in c.clients.iter_mut() {
            if client.server.as_deref() == Some(name) {
                client.server = None;
            }
        }
        c.clients.retain(|x| !gone.contains(&x.name));
        c.peers.retain(|x| !gone.contains(&x.name));
        c.faults.retain(|f| {
            f.between
                .as_ref()
                .is_none_or(|b| !b.iter().any(|h| gone.contains(h)))
        });
        c
    };
    for client in &s.clients {
        out.push(without_host(s, &client.name));
    }
    for peer in &s.peers {
        out.push(without_host(s, &peer.name));
    }
    for i in 0..s.faults.len() {
        let mut c = s.clone();
        c.faults.remove(i);
        out.push(c);
    }
    for (i, client) in s.clients.iter().enumerate() {
        for j in (0..client.typed.len()).rev() {
            let mut c = s.clone();
            c.clients[i].typed.remove(j);
            out.push(c);
        }
        if client.tries > 1 {
            let mut c = s.clone();
            c.clients[i].tries -= 1;
            out.push(c);
        }
        if !client.typing.0.is_zero() {
            let mut c = s.clone();
            c.clients[i].typing = Default::default();
            out.push(c);
        }
    }
    if s.network.loss > 0.0 {
        let mut c = s.clone();
        c.network.loss = 0.0;
        out.push(c);
    }
    if !s.network.latency.0.is_zero() || !s.network.jitter.0.is_zero() {
        let mut c = s.clone();
        c.network.latency = Default::default();
        c.network.jitter = Default::default();
        out.push(c);
    }
    // Earlier is shorter: move every start and fault earlier by half, on the tick grid.
    let tick = s.network.tick.0;
    let halve = |d: Duration| {
        let ticks = d.as_micros() / tick.as_micros().max(1) / 2;
        tick * u32::try_from(ticks).unwrap_or(u32::MAX)
    };
    let mut earlier = s.clone();
    for c in &mut earlier.clients {
        c.start.0 = halve(c.start.0);
    }
    for p in &mut earlier.peers {
        p.start.0 = halve(p.start.0);
    }
    for f in &mut earlier.faults {
        f.at.0 = halve(f.at.0);
    }
    if earlier != *s {
        out.push(earlier);
    }
    out
}

/// Greedily shrinks a failing scenario while `fails` still finds a violation (of the same rule).
pub fn shrink(
    scenario: &Scenario,
    first: Violation,
    fails: impl Fn(&Scenario, &'static str) -> Option<Violation>,
) -> (Scenario, Violation) {
    let mut current = scenario.clone();
    let mut violation = first;
    let mut budget = SHRINK_BUDGET;
    'outer: loop {
        for candidate in candidates(&current) {
            if budget == 0 {
                break 'outer;
            }
            budget -= 1;
            if let Some(v) = fails(&candidate, violation.rule) {
                current = candidate;
                violation = v;
                continue 'outer;
            }
        }
        break;
    }
    (current, violation)
}

/// The scenario file for a shrunk failure, with how to replay it in its header.
pub fn failure_file(failure: &Failure, path: &Path) -> String {
    let t = format!("{:?}", failure.transport).to_lowercase();
    let mut scenario = failure.shrunk.clone();
    scenario.description = format!(
        "Explorer seed {} over {t}, shrunk: breaks {}: {}",
        failure.seed, failure.shrunk_violation.rule, failure.shrunk_violation.message
    );
    let body = toml::to_string(&scenario)
        .unwrap_or_else(|e| format!("# the scenario could not be written out: {e}\n"));
    format!(
        "# Replay:         cargo run --release --bin sim -- run {}\n\
         # Rerun the seed: cargo run --release --bin sim -- explore --seeds 1 --from {} --transport {t}\n\
         {body}",
        path.display(),
        failure.seed,
    )
}

/// Shrinks a failing seed and writes it under `save`.
fn investigate(result: &SeedResult, save: Option<&Path>) -> Failure {
    let scenario = generate::scenario(result.seed, result.transport);
    let first = result.violations[0].clone();
    let (shrunk, shrunk_violation) = if first.rule == oracle::DETERMINISM {
        (scenario.clone(), first)
    } else {
        shrink(&scenario, first, |s, rule| {
            breaks(s, result.transport, rule)
        })
    };
    let mut failure = Failure {
        seed: result.seed,
        transport: result.transport,
        violations: result.violations.clone(),
        size_before: size(&scenario),
        size_after: size(&shrunk),
        shrunk,
        shrunk_violation,
        saved: None,
    };
    if let Some(dir) = save {
        let t = format!("{:?}", result.transport).to_lowercase();
        let path = dir.join(format!("seed-{}-{t}.toml", result.seed));
        let written = std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(&path, failure_file(&failure, &path)));
        if written.is_ok() {
            failure.saved = Some(path);
        }
    }
    failure
}

/// Runs the exploration; `progress` is told each finished (seed, transport).
pub fn explore(cfg: &Config, progress: impl Fn(&SeedResult)) -> Summary {
    let started = Instant::now();
    let work: Vec<(u64, Transport)> = shard_seeds(cfg.from, cfg.seeds, cfg.shard)
        .flat_map(|s| cfg.transports.iter().map(move |&t| (s, t)))
        .collect();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(SeedResult, Option<Failure>)>();
    let mut results = Vec::with_capacity(work.len());
    std::thread::scope(|scope| {
        for _ in 0..cfg.jobs.max(1) {
            let tx = tx.clone();
            let (work, next) = (&work, &next);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(seed, transport)) = work.get(i) else {
                    break;
                };
                let rerun = cfg.determinism_every > 0 && seed % cfg.determinism_every == 0;
                let result = check_seed(seed, transport, rerun);
                let failure = (!result.violations.is_empty())
                    .then(|| investigate(&result, cfg.save.as_deref()));
                if tx.send((result, failure)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (result, failure) in rx {
            progress(&result);
            results.push((result, failure));
        }
    });
    results.sort_by_key(|(r, _)| (r.seed, r.transport));
    let mut summary = Summary {
        seeds: shard_seeds(cfg.from, cfg.seeds, cfg.shard).count() as u64,
        runs: results.len(),
        transports: cfg.transports.clone(),
        ..Summary::default()
    };
    for (result, failure) in results {
        summary.simulated += result.simulated;
        summary.steps += result.steps;
        summary.lost += result.lost;
        for situation in result.situations {
            *summary.situations.entry(situation).or_default() += 1;
        }
        for (kind, (all, idle)) in result.effect {
            let (sum_all, sum_idle) = summary.effect.entry(kind.to_string()).or_default();
            *sum_all += all;
            *sum_idle += idle;
        }
        for (kind, n) in result.faults {
            *summary.faults.entry(kind).or_default() += n;
        }
        summary
            .failures
            .extend(failure.as_ref().map(FailureRecord::from));
    }
    summary.wall = started.elapsed();
    summary
}

/// A failure for a reader: the rule, the events that break it, the shrunk case and how to replay it.
pub fn report(f: &FailureRecord) -> String {
    let t = f.transport.to_string();
    let mut out = format!("FAIL seed {} over {t}\n", f.seed);
    for v in &f.violations {
        out += &format!("  {}: {}\n", v.rule, v.message);
        for e in &v.events {
            out += &format!("      {e}\n");
        }
    }
    out += &format!(
        "  shrunk from size {} to {} (clients + peers + faults + typed lines); it breaks {}: {}\n",
        f.size_before, f.size_after, f.shrunk_rule, f.shrunk_message
    );
    match &f.saved {
        Some(path) => {
            out += &format!(
                "  replay:         cargo run --release --bin sim -- run {}\n",
                path.display()
            )
        }
        None => out += "  (not saved)\n",
    }
    out += &format!(
        "  rerun the seed: cargo run --release --bin sim -- explore --seeds 1 --from {} --transport {t}\n",
        f.seed
    );
    out
}

/// A shard's (or a whole run's) summary as a file, so shards run apart can be added into one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShardFile {
    /// The run's seeds before sharding: `seeds` from `from`.
    pub from: u64,
    pub seeds: u64,
    /// `[i, n]`: the i-th of n shards.
    pub shard: (u64, u64),
    pub transports: Vec<Transport>,
    /// The seeds this shard ran.
    pub shard_seeds: u64,
    pub runs: usize,
    pub simulated_us: u64,
    pub steps: u64,
    pub faults: BTreeMap<String, usize>,
    pub lost: usize,
    /// Runs that reached each named situation, by name.
    pub situations: BTreeMap<String, usize>,
    /// Faults that start trouble, by kind: how many, and how many touched nothing.
    pub effect: BTreeMap<String, (usize, usize)>,
    pub failures: Vec<FailureRecord>,
    pub wall_ms: u64,
}

impl ShardFile {
    /// The summary of a run of `cfg`.
    pub fn new(cfg: &Config, s: &Summary) -> Self {
        ShardFile {
            from: cfg.from,
            seeds: cfg.seeds,
            shard: cfg.shard,
            transports: cfg.transports.clone(),
            shard_seeds: s.seeds,
            runs: s.runs,
            simulated_us: u64::try_from(s.simulated.as_micros()).unwrap_or(u64::MAX),
            steps: s.steps,
            faults: s.faults.clone(),
            lost: s.lost,
            situations: s
                .situations
                .iter()
                .map(|(k, n)| (k.name().to_string(), *n))
                .collect(),
            effect: s.effect.clone(),
            failures: s.failures.clone(),
            wall_ms: u64::try_from(s.wall.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// Why shards do not add up to one run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("no shard files given")]
    Empty,
    #[error(
        "shard {0}/{1} is not of the same run as the first (seeds {2} from {3} over {4}): {5}"
    )]
    OtherRun(u64, u64, u64, u64, String, String),
    #[error("shard {0}/{1} is given twice")]
    Overlap(u64, u64),
    #[error("shard {0}/{1} is missing")]
    Gap(u64, u64),
    #[error("unknown situation {0:?} in shard {1}/{2}")]
    Situation(String, u64, u64),
}

/// Adds shards of one run into the summary a single process over the same seeds gives (its wall time
/// the longest shard's: they ran side by side). They must be every shard `1..=n` of the same run, once.
pub fn merge(shards: &[ShardFile]) -> Result<Summary, MergeError> {
    let first = shards.first().ok_or(MergeError::Empty)?;
    let n = first.shard.1;
    let mut seen = vec![false; usize::try_from(n).unwrap_or(0)];
    let names = |t: &[Transport]| {
        t.iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let mut summary = Summary {
        transports: first.transports.clone(),
        ..Summary::default()
    };
    for f in shards {
        let (i, m) = f.shard;
        let differs = if (f.from, f.seeds) != (first.from, first.seeds) {
            Some(format!("seeds {} from {}", f.seeds, f.from))
        } else if f.transports != first.transports {
            Some(format!("over {}", names(&f.transports)))
        } else if m != n {
            Some(format!("one of {m} shards, not {n}"))
        } else {
            None
        };
        if let Some(why) = differs {
            return Err(MergeError::OtherRun(
                i,
                m,
                first.seeds,
                first.from,
                names(&first.transports),
                why,
            ));
        }
        let slot = usize::try_from(i.saturating_sub(1)).unwrap_or(usize::MAX);
        match seen.get_mut(slot) {
            Some(true) => return Err(MergeError::Overlap(i, n)),
            Some(s) => *s = true,
            None => {
                return Err(MergeError::OtherRun(
                    i,
                    m,
                    first.seeds,
                    first.from,
                    names(&first.transports),
                    "no such shard".into(),
                ))
            }
        }
        summary.seeds += f.shard_seeds;
        summary.runs += f.runs;
        summary.simulated += Duration::from_micros(f.simulated_us);
        summary.steps += f.steps;
        summary.lost += f.lost;
        for (k, v) in &f.faults {
            *summary.faults.entry(k.clone()).or_default() += v;
        }
        for (name, v) in &f.situations {
            let situation = Situation::ALL
                .into_iter()
                .find(|x| x.name() == name)
                .ok_or_else(|| MergeError::Situation(name.clone(), i, n))?;
            *summary.situations.entry(situation).or_default() += v;
        }
        for (k, (all, idle)) in &f.effect {
            let (a, b) = summary.effect.entry(k.clone()).or_default();
            *a += all;
            *b += idle;
        }
        summary.failures.extend(f.failures.iter().cloned());
        summary.wall = summary.wall.max(Duration::from_millis(f.wall_ms));
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(MergeError::Gap(missing as u64 + 1, n));
    }
    summary.failures.sort_by_key(|f| (f.seed, f.transport));
    Ok(summary)
}

/// The closing summary.
pub fn summary_text(s: &Summary) -> String {
    let faults = if s.faults.is_empty() {
        "none".to_string()
    } else {
        s.faults
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let untouched = s
        .effect
        .iter()
        .map(|(k, (all, idle))| format!("{k} {idle} of {all}"))
        .collect::<Vec<_>>()
        .join(", ");
    let reachable: Vec<Situation> = Situation::ALL
        .into_iter()
        .filter(|x| x.only_over().is_none_or(|t| s.transports.contains(&t)))
        .collect();
    let reached = reachable
        .iter()
        .filter_map(|x| s.situations.get(x).map(|n| format!("{} {n}", x.name())))
        .collect::<Vec<_>>()
        .join(", ");
    let never: Vec<&str> = reachable
        .iter()
        .filter(|x| !s.situations.contains_key(x))
        .map(|x| x.name())
        .collect();
    let never = if never.is_empty() {
        "none".to_string()
    } else {
        never.join(", ")
    };
    let wall = s.wall.as_secs_f64().max(1e-9);
    format!(
        "seeds: {} ({} runs)\nsimulated time: {:.1} s ({:.1} h) in {} steps ({:.0} a run)\nfaults injected: {faults}\nfaults that touched nothing: {}\nmessages lost: {}\nsituations reached (runs): {}\nsituations never reached: {never}\nfailures: {}\nspeed: {:.0} seeds/s, {:.0} runs/s ({:.2} s wall)\n",
        s.seeds,
        s.runs,
        s.simulated.as_secs_f64(),
        s.simulated.as_secs_f64() / 3600.0,
        s.steps,
        s.steps as f64 / s.runs.max(1) as f64,
        if untouched.is_empty() { "none".to_string() } else { untouched },
        s.lost,
        if reached.is_empty() { "none".to_string() } else { reached },
        s.failures.len(),
        s.seeds as f64 / wall,
        s.runs as f64 / wall,
        wall
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_seeds_without_overlap() {
        let all: Vec<u64> = shard_seeds(10, 20, (1, 1)).collect();
        assert_eq!(all, (10..30).collect::<Vec<_>>());
        let mut parts: Vec<u64> = (1..=3).flat_map(|i| shard_seeds(10, 20, (i, 3))).collect();
        parts.sort();
        assert_eq!(parts, all);
        assert_eq!(shard_seeds(10, 20, (2, 3)).next(), Some(11));
        // The last seed is a seed like any other, and none is none.
        assert_eq!(
            shard_seeds(u64::MAX, 1, (1, 1)).collect::<Vec<_>>(),
            [u64::MAX]
        );
        assert_eq!(shard_seeds(u64::MAX - 1, 5, (1, 1)).count(), 2);
        assert_eq!(shard_seeds(7, 0, (1, 1)).count(), 0);
    }

    #[test]
    fn shrinking_drops_everything_the_failure_does_not_need() {
        use crate::scenario::Action;
        // Pretend the failure needs a client asking for "b" and a crash, and nothing else.
        let fails = |s: &Scenario, rule: &'static str| {
            let needed = s.clients.iter().any(|c| c.id == "b")
                && s.faults.iter().any(|f| f.action == Action::Crash);
            needed.then(|| Violation {
                rule,
                at: Duration::ZERO,
                message: String::new(),
                events: Vec::new(),
            })
        };
        let first = (0..500)
            .map(|seed| generate::scenario(seed, Transport::Udp))
            .find(|s| size(s) > 6 && fails(s, "test").is_some())
            .expect("a big enough generated scenario with the failure");
        let violation = fails(&first, "test").unwrap();
        let (small, kept) = shrink(&first, violation, fails);
        assert_eq!(kept.rule, "test");
        assert!(fails(&small, "test").is_some());
        assert_eq!(small.clients.len(), 1, "{small:#?}");
        assert!(small.clients[0].typed.is_empty());
        assert!(small.peers.is_empty());
        assert_eq!(small.faults.len(), 1);
        assert_eq!(size(&small), 2);
        assert!(small.faults[0].at.0 < small.network.tick.0 * 2);
    }

    fn shard(i: u64, n: u64, failing: &[u64]) -> ShardFile {
        ShardFile {
            from: 10,
            seeds: 6,
            shard: (i, n),
            transports: vec![Transport::Udp],
            shard_seeds: 2,
            runs: 2,
            simulated_us: 1_500_000,
            steps: 7,
            faults: [("loss".to_string(), i as usize)].into(),
            lost: 1,
            situations: [(Situation::ALL[0].name().to_string(), 1)].into(),
            effect: [("partition".to_string(), (2, 1))].into(),
            failures: failing
                .iter()
                .map(|&seed| FailureRecord {
                    seed,
                    transport: Transport::Udp,
                    violations: vec![ViolationRecord {
                        rule: "r".into(),
                        message: "m".into(),
                        events: vec!["e".into()],
                    }],
                    size_before: 5,
                    size_after: 1,
                    shrunk_rule: "r".into(),
                    shrunk_message: "m".into(),
                    saved: None,
                    scenario: String::new(),
                })
                .collect(),
            wall_ms: 100 * i,
        }
    }

    #[test]
    fn shards_add_up_and_their_failures_come_in_seed_order() {
        let s = merge(&[shard(2, 3, &[14]), shard(3, 3, &[]), shard(1, 3, &[15, 10])]).unwrap();
        assert_eq!((s.seeds, s.runs, s.steps, s.lost), (6, 6, 21, 3));
        assert_eq!(s.simulated, Duration::from_millis(4500));
        assert_eq!(s.faults["loss"], 6);
        assert_eq!(s.situations[&Situation::ALL[0]], 3);
        assert_eq!(s.effect["partition"], (6, 3));
        assert_eq!(s.wall, Duration::from_millis(300));
        let seeds: Vec<u64> = s.failures.iter().map(|f| f.seed).collect();
        assert_eq!(seeds, [10, 14, 15]);
        assert!(report(&s.failures[0]).starts_with("FAIL seed 10 over udp\n  r: m\n      e\n"));
    }

    #[test]
    fn shards_that_do_not_make_one_run_are_refused() {
        assert_eq!(merge(&[]).err(), Some(MergeError::Empty));
        assert_eq!(
            merge(&[shard(1, 2, &[])]).err(),
            Some(MergeError::Gap(2, 2))
        );
        assert_eq!(
            merge(&[shard(1, 2, &[]), shard(1, 2, &[]), shard(2, 2, &[])]).err(),
            Some(MergeError::Overlap(1, 2))
        );
        let mut other = shard(2, 2, &[]);
        other.seeds = 7;
        assert!(matches!(
            merge(&[shard(1, 2, &[]), other]),
            Err(MergeError::OtherRun(2, 2, ..))
        ));
        let mut tcp = shard(2, 2, &[]);
        tcp.transports = vec![Transport::Tcp];
        assert!(matches!(
            merge(&[shard(1, 2, &[]), tcp]),
            Err(MergeError::OtherRun(..))
        ));
        assert!(matches!(
            merge(&[shard(1, 2, &[]), shard(2, 3, &[])]),
            Err(MergeError::OtherRun(2, 3, ..))
        ));
        assert!(matches!(
            merge(&[shard(1, 2, &[]), shard(3, 2, &[])]),
            Err(MergeError::OtherRun(3, 2, ..))
        ));
        let mut unknown = shard(2, 2, &[]);
        unknown.situations = [("no-such".to_string(), 1)].into();
        assert_eq!(
            merge(&[shard(1, 2, &[]), unknown]).err(),
            Some(MergeError::Situation("no-such".into(), 2, 2))
        );
    }
}
