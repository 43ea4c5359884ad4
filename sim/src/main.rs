//! `sim`: plays scenario files with the real connid client and server in a simulated network.
//!
//! `sim run <file>` prints a transcript and the oracle's verdict on it; `sim explore` runs generated
//! scenarios against the oracle; `sim bench` measures replay speed.
//! Exit codes: 0 the scenario ran and kept every rule (explore: every seed passed), 1 the simulation
//! failed or broke a rule (explore: a seed failed), 2 bad arguments or a bad scenario file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use connid::Transport;
use connid_sim::scenario::{Scenario, TimeMode};
use connid_sim::transcript;
use connid_sim::{diagram, explore, oracle, runner};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

#[derive(Debug, Parser)]
#[command(
    name = "sim",
    version,
    about = "Replay connid scenarios in simulated time"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one scenario file and print its transcript and the oracle's verdict (one per transport it
    /// names); exit 1 if a rule is broken.
    Run {
        scenario: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Only this transport, even if the scenario names both (default: every one it names).
        #[arg(long, value_enum, default_value_t = Transports::Both)]
        transport: Transports,
    },
    /// Print the scenario a seed generates (as a scenario file) and its run, on each transport; exit 1
    /// if it broke a rule.
    Show {
        seed: u64,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[arg(long, value_enum, default_value_t = Transports::Both)]
        transport: Transports,
    },
    /// Print every rule of the oracle: its ID (as findings and `conform` name it) and what it checks.
    Rules {
        /// As the Markdown table the manual holds (`docs/src/rules.md`).
        #[arg(long)]
        markdown: bool,
    },
    /// Run generated scenarios from many seeds against the oracle; shrink and save any failure.
    Explore {
        /// How many seeds (at least one).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long, value_enum, default_value_t = Transports::Both)]
        transport: Transports,
        /// Worker threads (default: every core).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        jobs: Option<u64>,
        /// I/N: only every N-th seed, from the I-th (1-based), for splitting work over machines.
        #[arg(long, value_parser = parse_shard, default_value = "1/1")]
        shard: (u64, u64),
        /// K/N: the same as `--shard K+1/N`, counting from 0 as a Kubernetes Indexed Job's
        /// `JOB_COMPLETION_INDEX` does (deploy/explore-job.yaml passes it).
        #[arg(long, value_name = "K/N", value_parser = parse_index, conflicts_with = "shard")]
        index: Option<(u64, u64)>,
        /// Where shrunk failures are written as scenario files.
        #[arg(long, default_value = "target/explore-failures")]
        save: PathBuf,
        /// Also write the run's summary (and its failures, shrunk) as JSON, for `--merge`.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Add the JSON summaries of every shard of one run (`--shard I/N --json F` each) and print
        /// them as one run over all the seeds; nothing is run. Fails (exit 2) if a shard is missing,
        /// given twice, or of another run.
        #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["seeds", "from", "shard", "index", "jobs"])]
        merge: Vec<PathBuf>,
    },
    /// Measure how fast scenarios replay, in event and in fixed mode: steps, wall time, and simulated
    /// seconds per wall second, per scenario and in all.
    Bench {
        /// Scenario files or directories of them.
        #[arg(default_value = "sim/scenarios")]
        paths: Vec<PathBuf>,
        /// Runs per scenario and transport; the fastest is reported.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Mermaid,
}

/// `--transport`: one of the two, or both (the command line's choice; the library knows only one).
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Transports {
    Udp,
    Tcp,
    Both,
}

impl Transports {
    fn includes(self, t: Transport) -> bool {
        match self {
            Transports::Udp => t == Transport::Udp,
            Transports::Tcp => t == Transport::Tcp,
            Transports::Both => true,
        }
    }
}

fn parse_index(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{s:?} is not K/N with 0 <= K < N");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if k < n {
        Ok((k + 1, n))
    } else {
        Err(bad())
    }
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{s:?} is not I/N with 1 <= I <= N");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if i == 0 || n == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

fn main() -> ExitCode {
    // `sim ... | head`: a closed standard output ends the run quietly, as it ends `cat`.
    connid::stdout::end_quietly_when_closed();
    match Args::parse().command {
        Command::Run {
            scenario,
            format,
            transport,
        } => run(&scenario, format, transport),
        Command::Bench { paths, repeat } => bench(&paths, repeat),
        Command::Show {
            seed,
            format,
            transport,
        } => show(seed, format, transport),
        Command::Rules { markdown } => rules(markdown),
        Command::Explore {
            seeds,
            from,
            transport,
            jobs,
            shard,
            index,
            save,
            json,
            merge,
        } => {
            let shard = index.unwrap_or(shard);
            if !merge.is_empty() {
                return merge_cli(&merge, json.as_deref());
            }
            // A summary that cannot be written is found out before the run, not after it.
            if let Some(path) = &json {
                if let Err(e) = std::fs::File::create(path) {
                    eprintln!("sim: cannot write {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
            let transports = Transport::ALL
                .into_iter()
                .filter(|t| transport.includes(*t))
                .collect();
            let jobs = jobs.map_or_else(
                || std::thread::available_parallelism().map_or(1, |n| n.get()),
                |j| usize::try_from(j).unwrap_or(1),
            );
            let cfg = explore::Config {
                from,
                seeds,
                transports,
                jobs,
                shard,
                determinism_every: 16,
                save: Some(save),
            };
            explore_cli(&cfg, json.as_deref())
        }
    }
}

/// Writes `summary` of `cfg` as a shard file; `Err` is the one-line error.
fn write_json(path: &std::path::Path, file: &explore::ShardFile) -> Result<(), String> {
    let text = serde_json::to_string_pretty(file).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Prints a summary's failures and its closing lines; exit 1 if anything failed.
fn print_summary(summary: &explore::Summary) -> ExitCode {
    for failure in &summary.failures {
        println!("{}", explore::report(failure));
    }
    print!("{}", explore::summary_text(summary));
    if summary.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn merge_cli(paths: &[PathBuf], json: Option<&std::path::Path>) -> ExitCode {
    let mut shards = Vec::new();
    for path in paths {
        let read = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                serde_json::from_str::<explore::ShardFile>(&text).map_err(|e| e.to_string())
            });
        match read {
            Ok(shard) => shards.push(shard),
            Err(e) => {
                eprintln!("sim: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    let summary = match explore::merge(&shards) {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("sim: cannot merge: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = json {
        let first = &shards[0];
        let cfg = explore::Config {
            from: first.from,
            seeds: first.seeds,
            transports: first.transports.clone(),
            jobs: 1,
            shard: (1, 1),
            determinism_every: 0,
            save: None,
        };
        if let Err(e) = write_json(path, &explore::ShardFile::new(&cfg, &summary)) {
            eprintln!("sim: {e}");
            return ExitCode::from(2);
        }
    }
    print_summary(&summary)
}

fn explore_cli(cfg: &explore::Config, json: Option<&std::path::Path>) -> ExitCode {
    let total = explore::shard_seeds(cfg.from, cfg.seeds, cfg.shard).count() * cfg.transports.len();
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {per_sec}, eta {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let failed = std::sync::atomic::AtomicUsize::new(0);
    let summary = explore::explore(cfg, |result| {
        bar.inc(1);
        if !result.violations.is_empty() {
            let n = failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            bar.set_message(format!("{n} failing"));
        }
    });
    bar.finish_and_clear();
    if let Some(path) = json {
        if let Err(e) = write_json(path, &explore::ShardFile::new(cfg, &summary)) {
            eprintln!("sim: {e}");
            return ExitCode::from(2);
        }
    }
    print_summary(&summary)
}

/// Every `.toml` file named, or inside a directory named, in sorted order.
fn scenario_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            for entry in std::fs::read_dir(path)? {
                let file = entry?.path();
                if file.extension().is_some_and(|e| e == "toml") {
                    files.push(file);
                }
            }
        } else {
            files.push(path.clone());
        }
    }
    files.sort();
    Ok(files)
}

fn bench(paths: &[PathBuf], repeat: u32) -> ExitCode {
    let files = match scenario_files(paths) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("sim: cannot list scenarios: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "{:<36} {:>5} {:>10} | {:>7} {:>9} {:>9} | {:>7} {:>9} {:>9}",
        "scenario", "", "", "event", "", "", "fixed", "", ""
    );
    println!(
        "{:<36} {:>5} {:>10} | {:>7} {:>9} {:>9} | {:>7} {:>9} {:>9}",
        "", "", "simulated", "steps", "wall ms", "sim/wall", "steps", "wall ms", "sim/wall"
    );
    let mut total = [Measured::default(), Measured::default()];
    let mut simulated = Duration::ZERO;
    for path in &files {
        let mut scenario = match Scenario::load(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("sim: {e}");
                return ExitCode::from(2);
            }
        };
        let name = path.file_stem().unwrap_or_default().to_string_lossy();
        for transport in scenario.transports.clone() {
            let mut row = [Measured::default(), Measured::default()];
            for (mode, measured) in [TimeMode::Event, TimeMode::Fixed].into_iter().zip(&mut row) {
                scenario.network.mode = mode;
                match measure(&scenario, transport, repeat) {
                    Ok(m) => *measured = m,
                    Err(e) => {
                        eprintln!("sim: {}: {e}", path.display());
                        return ExitCode::from(1);
                    }
                }
            }
            simulated += row[0].simulated;
            println!(
                "{name:<36} {:>5} {:>10.3} | {} | {}",
                format!("{transport:?}").to_lowercase(),
                row[0].simulated.as_secs_f64(),
                row[0].columns(),
                row[1].columns()
            );
            for (t, m) in total.iter_mut().zip(&row) {
                t.add(m);
            }
        }
    }
    println!(
        "{:<36} {:>5} {:>10.3} | {} | {}",
        "total",
        "",
        simulated.as_secs_f64(),
        total[0].columns(),
        total[1].columns()
    );
    ExitCode::SUCCESS
}

/// One scenario on one transport: its simulated time, steps, and the fastest wall time of `repeat`
/// runs (building the simulation included).
#[derive(Debug, Default, Clone, Copy)]
struct Measured {
    simulated: Duration,
    steps: u64,
    wall: Duration,
}

impl Measured {
    fn add(&mut self, other: &Measured) {
        self.simulated += other.simulated;
        self.steps += other.steps;
        self.wall += other.wall;
    }

    fn columns(&self) -> String {
        format!(
            "{:>7} {:>9.3} {:>9.0}",
            self.steps,
            self.wall.as_secs_f64() * 1e3,
            self.simulated.as_secs_f64() / self.wall.as_secs_f64()
        )
    }
}

fn measure(
    scenario: &Scenario,
    transport: Transport,
    repeat: u32,
) -> Result<Measured, runner::RunError> {
    let mut best = Measured {
        wall: Duration::MAX,
        ..Measured::default()
    };
    for _ in 0..repeat {
        let started = Instant::now();
        let run = runner::run(scenario, transport)?;
        let wall = started.elapsed();
        if wall < best.wall {
            best = Measured {
                simulated: run.simulated,
                steps: run.steps,
                wall,
            };
        }
    }
    Ok(best)
}

fn run(path: &Path, format: Format, only: Transports) -> ExitCode {
    let scenario = match Scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sim: {e}");
            return ExitCode::from(2);
        }
    };
    let name = path
        .file_stem()
        .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    let transports = scenario
        .transports
        .iter()
        .copied()
        .filter(|t| only.includes(*t));
    let transports: Vec<Transport> = transports.collect();
    if transports.is_empty() {
        let has: Vec<String> = scenario.transports.iter().map(|t| t.to_string()).collect();
        eprintln!(
            "sim: {}: the scenario runs over {} only: --transport {} leaves nothing to run",
            path.display(),
            has.join(" and "),
            match only {
                Transports::Udp => "udp",
                Transports::Tcp => "tcp",
                Transports::Both => "both",
            }
        );
        return ExitCode::from(2);
    }
    let mut kept = true;
    for (i, &transport) in transports.iter().enumerate() {
        match tell(&scenario, &name, transport, format, i > 0) {
            Ok(k) => kept &= k,
            Err(e) => {
                eprintln!("sim: {}: {e}", path.display());
                return ExitCode::from(1);
            }
        }
    }
    if kept {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs `scenario` over `transport` and prints its transcript (or diagram) and the oracle's verdict,
/// after a blank line if `apart`: whether it kept every rule; `Err` (nothing printed) if a host failed.
fn tell(
    scenario: &Scenario,
    name: &str,
    transport: Transport,
    format: Format,
    apart: bool,
) -> Result<bool, String> {
    let run = runner::run(scenario, transport).map_err(|e| e.to_string())?;
    if apart {
        println!();
    }
    let violations = oracle::check(scenario, &run);
    let (shown, comment) = match format {
        Format::Text => (transcript::text(name, &scenario.description, &run), "#"),
        Format::Mermaid => (diagram::of(name, &run).mermaid(), "%%"),
    };
    print!("{shown}");
    print!("{}", transcript::verdict(&violations, comment));
    Ok(violations.is_empty())
}

/// `sim show SEED`: the scenario a seed generates on each transport, as the TOML of a scenario file,
/// then its run as `sim run` prints it; exit 1 if it broke a rule.
fn show(seed: u64, format: Format, only: Transports) -> ExitCode {
    let mut kept = true;
    for (i, transport) in Transport::ALL
        .into_iter()
        .filter(|t| only.includes(*t))
        .enumerate()
    {
        let scenario = connid_sim::generate::scenario(seed, transport);
        let body = match toml::to_string(&scenario) {
            Ok(body) => body,
            Err(e) => {
                eprintln!(
                    "sim: seed {seed} over {transport}: the scenario cannot be written out: {e}"
                );
                return ExitCode::from(1);
            }
        };
        if i > 0 {
            println!();
        }
        println!("# seed {seed} over {transport}: the scenario file it generates");
        println!("{body}");
        match tell(&scenario, &format!("seed-{seed}"), transport, format, false) {
            Ok(k) => kept &= k,
            Err(e) => {
                eprintln!("sim: seed {seed} over {transport}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if kept {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `sim rules`: every rule of the oracle, by its ID, with its level and what it checks.
fn rules(markdown: bool) -> ExitCode {
    if markdown {
        print!("{}", oracle::rules_markdown());
        return ExitCode::SUCCESS;
    }
    let width = oracle::RULES
        .iter()
        .map(|(r, _)| r.len())
        .max()
        .unwrap_or(0);
    for (rule, statement) in oracle::RULES {
        let level = oracle::rule_level(rule).as_str();
        println!("{rule:width$}  {level:10}  {statement}");
    }
    ExitCode::SUCCESS
}
