//! `conform server|client [OPTIONS] -- CMD ARGS...`: runs the server or the client suite against any
//! implementation of the protocol and judges it with the simulator's oracle.
//!
//! Exit codes: 0 no required case failed (with `--strict`: no required or robustness case), 1 one
//! did, 2 bad arguments or a report file that cannot be written. A closed standard output stops the
//! run quietly (by SIGPIPE).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use connid::{stdout, Transport};
use connid_sim::conform::{self, report, Options, Program, Timing};

#[derive(Debug, Parser)]
#[command(
    name = "conform",
    version,
    about = "Judge an implementation of the connection-ID protocol over real sockets"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// CMD serves; the checker plays the clients. `{ip}` `{port}` `{transport}` in ARGS are filled in,
    /// and with `--timing scaled` `{ttl}` and `{idle}` (seconds).
    Server {
        #[command(flatten)]
        options: Common,
        /// The server's command line.
        #[arg(last = true, required = true, value_name = "CMD ARGS")]
        command: Vec<String>,
    },
    /// CMD is a client; the checker is its server and its keyboard. `{ip}` `{port}` `{id}`
    /// `{transport}` in ARGS are filled in, and with `--timing scaled` `{timeout}` (seconds).
    Client {
        #[command(flatten)]
        options: Common,
        /// The client's command line.
        #[arg(last = true, required = true, value_name = "CMD ARGS")]
        command: Vec<String>,
    },
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Transports to check.
    #[arg(long, value_enum, default_value_t = Transports::Udp)]
    transport: Transports,
    /// Only the cases that finish in seconds (no TTL or idle waits).
    #[arg(long)]
    quick: bool,
    /// Only the cases whose requirement ID contains this.
    #[arg(long, value_name = "PATTERN")]
    only: Option<String>,
    /// Cases run at once, each with its own child process and port (default: cores x 2).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// exact: the assignment's timers. scaled: shortened ones, passed in `{ttl}`, `{idle}`, `{timeout}`.
    #[arg(long, value_enum, default_value_t = TimingArg::Exact)]
    timing: TimingArg,
    /// Run the program's clock N times faster (libfaketime), so its 30 s TTL, 2-minute idle timer and
    /// 15 s timeout take a tenth of the time at 10. `auto`: 10 where libfaketime is installed, else 1
    /// with a note on how to install it. A program it cannot speed up (a static binary) runs at 1, and
    /// the run says so.
    #[arg(long, value_name = "N|auto", default_value = "auto", value_parser = parse_speed)]
    speed: Speed,
    /// Also fail the run (exit 1) on a failed robustness case; without it only required cases do.
    #[arg(long)]
    strict: bool,
    /// Also write the report as JUnit XML (for CI).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write the report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write the report as Markdown, each failure with a Mermaid sequence diagram.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Transports {
    Udp,
    Tcp,
    Both,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TimingArg {
    Exact,
    Scaled,
}

/// `--speed`: a factor, or `auto`.
#[derive(Debug, Clone, Copy)]
enum Speed {
    Auto,
    Times(u32),
}

fn parse_speed(s: &str) -> Result<Speed, String> {
    match s {
        "auto" => Ok(Speed::Auto),
        _ => match s.parse::<u32>() {
            Ok(n @ 1..=100) => Ok(Speed::Times(n)),
            _ => Err(format!("{s:?} is not auto or a whole number from 1 to 100")),
        },
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message} (see --help)");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                e.exit();
            }
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("bad arguments");
            return usage_error(first.trim_start_matches("error: "));
        }
    };
    let (is_server, options, command) = match args.command {
        Command::Server { options, command } => (true, options, command),
        Command::Client { options, command } => (false, options, command),
    };
    let program = Program { argv: command };
    let timing = match options.timing {
        TimingArg::Exact => Timing::Exact,
        TimingArg::Scaled => Timing::Scaled,
    };
    if timing == Timing::Scaled && !program.takes_timers(is_server) {
        return usage_error(if is_server {
            "--timing scaled needs {ttl} and {idle} in the command line"
        } else {
            "--timing scaled needs {timeout} in the command line"
        });
    }
    let files = [
        (
            options.junit.clone(),
            report::junit as fn(&str, &[conform::CaseResult]) -> String,
        ),
        (options.json.clone(), report::json),
        (options.markdown.clone(), report::markdown),
    ];
    // A report that cannot be written is found out before the run, not after it.
    for path in files.iter().filter_map(|(path, _)| path.as_ref()) {
        if let Err(e) = std::fs::File::create(path) {
            return usage_error(&format!("cannot write {}: {e}", path.display()));
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let strict = options.strict;
    let options = Options {
        transports: match options.transport {
            Transports::Udp => vec![Transport::Udp],
            Transports::Tcp => vec![Transport::Tcp],
            Transports::Both => Transport::ALL.to_vec(),
        },
        quick: options.quick,
        only: options.only,
        jobs: options.jobs.map_or(cores * 2, usize::from),
        timing,
        speed: match options.speed {
            Speed::Times(n) => n,
            Speed::Auto => 10,
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // A closed standard output (`conform ... | head`) stops the run: the cases still running are
    // dropped, which kills their children, and the process ends quietly by SIGPIPE. Ctrl-C stops it
    // the same way (the children are in process groups of their own, so the terminal's signal does
    // not reach them), with code 130.
    let closed = tokio::sync::Notify::new();
    let suite = if is_server { "server" } else { "client" };
    let transports: Vec<String> = options.transports.iter().map(|t| t.to_string()).collect();
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} cases ended, {elapsed} of {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let write = |text: String| {
        if bar.suspend(|| stdout::write_out(&text)).is_err() {
            closed.notify_one();
        }
    };
    let progress = |p: conform::Progress<'_>| match p {
        conform::Progress::Plan {
            results,
            expected,
            speed,
            note,
        } => {
            bar.set_message(format!("about {}", report::duration(expected)));
            let pace = if speed > 1 {
                format!(" at {speed}x speed")
            } else {
                String::new()
            };
            let note = note.map_or_else(String::new, |n| format!("note: {n}\n"));
            write(format!(
                "{note}conform {suite}: {results} cases over {}{pace}, {} at a time, about {}\n",
                transports.join(" and "),
                options.jobs,
                report::duration(expected)
            ));
        }
        conform::Progress::Ended { done, total } => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        conform::Progress::Result(r) => write(format!("{}\n", report::case_line(r))),
    };
    let results = runtime.block_on(async {
        let suite = async {
            if is_server {
                conform::run_server_suite(&program, &options, progress).await
            } else {
                conform::run_client_suite(&program, &options, progress).await
            }
        };
        tokio::select! {
            results = suite => Ok(results),
            () = closed.notified() => Err(None),
            _ = tokio::signal::ctrl_c() => Err(Some(130)),
        }
    });
    bar.finish_and_clear();
    drop(runtime);
    let results = match results {
        Ok(results) => results,
        Err(None) => stdout::die_of_closed_pipe(),
        Err(Some(code)) => {
            eprintln!("conform: interrupted; every program it started is stopped");
            return ExitCode::from(code);
        }
    };
    let note =
        report::verdict_note(&results, strict).map_or_else(String::new, |n| format!("{n}\n"));
    let text = format!(
        "{}{}\n{note}",
        report::failures(&results),
        report::summary(&results)
    );
    if stdout::write_out(&text).is_err() {
        stdout::die_of_closed_pipe();
    }
    for (path, render) in files {
        if let Some(path) = path {
            if let Err(e) = std::fs::write(&path, render(suite, &results)) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::from(report::exit_code(&results, strict))
}
