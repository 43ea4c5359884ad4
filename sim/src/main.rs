//! `sim`: plays scenario files with the real connid client and server in a simulated network.
//!
//! `sim run <file>` prints a transcript; `sim bench` measures replay speed.
//! Exit codes: 0 the scenario ran, 1 the simulation failed (a host failed or panicked), 2 bad arguments
//! or a bad scenario file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use connid_sim::runner;
use connid_sim::scenario::{Scenario, TransportName};
use connid_sim::transcript;

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
    /// Run one scenario file and print its transcript (one per transport it names).
    Run {
        scenario: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Only this transport, even if the scenario names both.
        #[arg(long, value_enum)]
        transport: Option<Only>,
    },
    /// Measure how fast scenarios replay: simulated seconds per wall second, per scenario and in all.
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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Only {
    Udp,
    Tcp,
}

fn main() -> ExitCode {
    match Args::parse().command {
        Command::Run {
            scenario,
            format,
            transport,
        } => run(&scenario, format, transport),
        Command::Bench { paths, repeat } => bench(&paths, repeat),
    }
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
        "{:<40} {:>9} {:>12} {:>10} {:>10}",
        "scenario", "transport", "simulated s", "wall ms", "ratio"
    );
    let (mut total_sim, mut total_wall) = (Duration::ZERO, Duration::ZERO);
    for path in &files {
        let scenario = match Scenario::load(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("sim: {e}");
                return ExitCode::from(2);
            }
        };
        let name = path.file_stem().unwrap_or_default().to_string_lossy();
        for &transport in &scenario.transports {
            let mut best = Duration::MAX;
            let mut simulated = Duration::ZERO;
            for _ in 0..repeat {
                let started = Instant::now();
                match runner::run(&scenario, transport) {
                    Ok(run) => simulated = run.simulated,
                    Err(e) => {
                        eprintln!("sim: {}: {e}", path.display());
                        return ExitCode::from(1);
                    }
                }
                best = best.min(started.elapsed());
            }
            total_sim += simulated;
            total_wall += best;
            println!(
                "{name:<40} {:>9} {:>12.3} {:>10.2} {:>10.0}",
                format!("{transport:?}").to_lowercase(),
                simulated.as_secs_f64(),
                best.as_secs_f64() * 1e3,
                simulated.as_secs_f64() / best.as_secs_f64()
            );
        }
    }
    println!(
        "{:<40} {:>9} {:>12.3} {:>10.2} {:>10.0}",
        "total",
        "",
        total_sim.as_secs_f64(),
        total_wall.as_secs_f64() * 1e3,
        total_sim.as_secs_f64() / total_wall.as_secs_f64()
    );
    ExitCode::SUCCESS
}

fn run(path: &Path, format: Format, only: Option<Only>) -> ExitCode {
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
    let transports = scenario.transports.iter().copied().filter(|t| match only {
        None => true,
        Some(Only::Udp) => *t == TransportName::Udp,
        Some(Only::Tcp) => *t == TransportName::Tcp,
    });
    for (i, transport) in transports.enumerate() {
        match runner::run(&scenario, transport) {
            Ok(run) => {
                let shown = match format {
                    Format::Text => transcript::text(&name, &scenario.description, &run),
                    Format::Mermaid => transcript::mermaid(&name, &run),
                };
                if i > 0 {
                    println!();
                }
                print!("{shown}");
            }
            Err(e) => {
                eprintln!("sim: {}: {e}", path.display());
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}
