//! `conform explore server|client` and `conform replay`: the command line of [`conform::explore`].

use std::path::PathBuf;
use std::process::ExitCode;

use conform::explore::plan::{Plan, Role as Side};
use conform::explore::{self, session, Explore, ExploreProgress};
use conform::{Pace, Program};
use connid::stdout;

use super::{check_writable, usage_error, Speed, Terminal, TimingArg, Transports};

#[derive(Debug, clap::Subcommand)]
pub enum Role {
    /// CMD serves; the checker plays clients whose requests vary with the seed. `{ip}` `{port}`
    /// `{transport}` in ARGS are filled in, and with `--timing scaled` `{ttl}` and `{idle}`.
    Server {
        #[command(flatten)]
        args: ExploreArgs,
        /// The server's command line.
        #[arg(last = true, required = true, value_name = "CMD ARGS")]
        command: Vec<String>,
    },
    /// CMD is a client; the checker serves and types, its answers and the IDs typed varying with the
    /// seed. `{ip}` `{port}` `{id}` `{transport}` in ARGS are filled in, and with `--timing scaled`
    /// `{timeout}`.
    Client {
        #[command(flatten)]
        args: ExploreArgs,
        /// The client's command line.
        #[arg(last = true, required = true, value_name = "CMD ARGS")]
        command: Vec<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct ExploreArgs {
    /// How many seeds (each a session per transport).
    #[arg(long, value_name = "N", default_value_t = 100)]
    seeds: u64,
    /// The first seed.
    #[arg(long, value_name = "S", default_value_t = 0)]
    from: u64,
    /// Transports to explore.
    #[arg(long, value_enum, default_value_t = Transports::Both)]
    transport: Transports,
    /// Sessions played at once, each with its own process and port (default: cores x 2).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// exact: the assignment's timers. scaled: shortened ones, passed in `{ttl}`, `{idle}`.
    #[arg(long, value_enum, default_value_t = TimingArg::Exact)]
    timing: TimingArg,
    /// `auto`: the virtual clock where it can run; `1`: real time.
    #[arg(long, value_name = "auto|1", default_value = "auto", value_parser = super::parse_speed)]
    speed: Speed,
    /// Where the failing sessions, shrunk, are saved (as TOML files `conform replay` plays).
    #[arg(long, value_name = "DIR", default_value = "conform-explore")]
    save: PathBuf,
    /// Also write the findings as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write the findings as one self-contained HTML page, each with its sequence diagram.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// A session `conform explore` saved.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The timers the session was explored with.
    #[arg(long, value_enum, default_value_t = TimingArg::Exact)]
    timing: TimingArg,
    /// `auto`: the virtual clock where it can run; `1`: real time.
    #[arg(long, value_name = "auto|1", default_value = "auto", value_parser = super::parse_speed)]
    speed: Speed,
    /// The program's command line (a server's or a client's, as the session is).
    #[arg(last = true, required = true, value_name = "CMD ARGS")]
    command: Vec<String>,
}

/// The pace `--timing` and `--speed` ask for, as the suites choose it.
fn pace(timing: TimingArg, speed: Speed) -> Pace {
    conform::pace_for(timing.into(), matches!(speed, Speed::Auto)).0
}

/// Refuses what would explore nothing or fail at once: no seed, seeds past the end of u64, a
/// program that cannot start, scaled timers without their placeholders, a report that cannot be
/// written.
fn refused(args: &ExploreArgs, program: &Program, side: Side) -> Result<(), ExitCode> {
    if args.seeds == 0 {
        return Err(usage_error("--seeds 0 explores nothing"));
    }
    if args.from.checked_add(args.seeds - 1).is_none() {
        return Err(usage_error(&format!(
            "--from {} --seeds {} goes past the last seed, {}",
            args.from,
            args.seeds,
            u64::MAX
        )));
    }
    program.startable().map_err(|why| usage_error(&why))?;
    let server = side == Side::Server;
    if matches!(args.timing, TimingArg::Scaled) && !program.takes_timers(server) {
        return Err(usage_error(match server {
            true => "--timing scaled needs {ttl} and {idle} in the command line",
            false => "--timing scaled needs {timeout} in the command line",
        }));
    }
    check_writable(args.json.iter().chain(&args.html))
}

/// `conform explore server|client`.
pub fn explore(role: Role) -> ExitCode {
    let (side, args, command) = match role {
        Role::Server { args, command } => (Side::Server, args, command),
        Role::Client { args, command } => (Side::Client, args, command),
    };
    let program = Program::new(command.clone());
    if let Err(code) = refused(&args, &program, side) {
        return code;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let options = Explore {
        role: side,
        seeds: args.seeds,
        from: args.from,
        transports: super::transports_of(args.transport),
        jobs: args.jobs.map_or(cores * 2, usize::from),
        pace: pace(args.timing, args.speed),
        save: args.save.clone(),
        command: shell_words(&command),
    };
    let terminal = Terminal::new();
    terminal.bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} sessions, {msg}, about {eta} left",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = |p: ExploreProgress| match p {
        ExploreProgress::Played {
            done,
            total,
            findings,
        } => {
            terminal.bar.set_length(total);
            terminal.bar.set_position(done);
            terminal.bar.set_message(format!("{findings} broke a rule"));
        }
        ExploreProgress::Shrinking { rule } => {
            terminal
                .bar
                .set_message(format!("shrinking a session that breaks {rule}"));
        }
    };
    let exploration = match terminal.drive(explore::explore(&program, &options, progress)) {
        Ok(e) => e,
        Err(code) => return code,
    };
    if stdout::write_out(&explore::text(&exploration, &options.command)).is_err() {
        stdout::die_of_closed_pipe();
    }
    let json = || serde_json::to_string_pretty(&exploration).unwrap_or_default();
    let html = || explore::html::page(&exploration, &options.command);
    let reports: [(Option<PathBuf>, &dyn Fn() -> String); 2] =
        [(args.json.clone(), &json), (args.html.clone(), &html)];
    if let Err(code) = super::write_reports(reports.into()) {
        return code;
    }
    match (exploration.failed(), exploration.unsettled()) {
        (true, _) => ExitCode::from(1),
        (false, true) => ExitCode::from(3),
        (false, false) => ExitCode::SUCCESS,
    }
}

/// `conform replay`: plays a saved session once and judges it.
pub fn replay(args: ReplayArgs) -> ExitCode {
    let plan = match Plan::load(&args.file) {
        Ok(t) => t,
        Err(why) => return usage_error(&why),
    };
    let program = Program::new(args.command.clone());
    if let Err(why) = program.startable() {
        return usage_error(&why);
    }
    let pace = pace(args.timing, args.speed);
    let terminal = Terminal::new();
    let played = match terminal.drive(session::play_plan(&program, &plan, pace)) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let title = format!("replay of {}", args.file.display());
    let mut text = connid_sim::transcript::text(&title, "", &played.run);
    if let Some(why) = &played.unplayable {
        text.push_str(&format!("not played: {why}\n"));
    }
    for v in &played.broken {
        text.push_str(&format!(
            "broken ({}): {}: {}\n",
            explore::level(v.rule, &plan).name(),
            v.rule,
            v.message
        ));
    }
    if played.broken.is_empty() && played.unplayable.is_none() {
        text.push_str(&format!(
            "every rule kept ({})\n",
            explore::rules(plan.role()).join(", ")
        ));
    }
    if stdout::write_out(&text).is_err() {
        stdout::die_of_closed_pipe();
    }
    let required = played
        .broken
        .iter()
        .any(|v| explore::level(v.rule, &plan) == conform::Level::Required);
    match (required, &played.unplayable) {
        (true, _) | (false, Some(_)) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

/// A command line as a shell reads it back: words with spaces or quotes in single quotes.
fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./:={}@,+%".contains(&b));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_line_is_quoted_as_a_shell_reads_it_back() {
        let words: Vec<String> = ["python3", "my server.py", "{ip}", "it's"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            shell_words(&words),
            r"python3 'my server.py' {ip} 'it'\''s'"
        );
    }
}
