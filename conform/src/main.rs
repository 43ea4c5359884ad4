//! `conform server|client [OPTIONS] -- CMD ARGS...`: runs the server or the client suite against any
//! implementation of the protocol and judges it with the simulator's oracle. `conform matrix
//! MANIFEST`: both suites against every implementation a manifest lists, in one report. `conform
//! explore server|client -- CMD ARGS...`: random sessions from seeds, shrunk when they break a rule;
//! `conform replay FILE -- CMD ARGS...` plays a saved one again (`explore_cli`).
//!
//! Exit codes: 0 no required case failed (with `--strict`: no required or robustness case), 1 one
//! did, 2 bad arguments or a report file that cannot be written. `matrix`: 0 once every
//! implementation is judged, 2 on bad arguments or a bad manifest. `explore`: 0 nothing broken, 1 a
//! required rule broken (reproduced) or a session not played, 3 only findings that did not reproduce. A closed standard output stops
//! the run quietly (by SIGPIPE).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use conform::graded::{Graded, Role, SuiteRun};
use conform::html;
use conform::matrix::{self, MatrixProgress};
use conform::{self, report, Options, Program, Timing};
use connid::{stdout, Transport};

mod explore_cli;

#[derive(Debug, Parser)]
#[command(
    name = "conform",
    version,
    about = "Judge an implementation of the connection-ID protocol over real sockets",
    args_conflicts_with_subcommands = true
)]
struct Args {
    /// Print every case of both suites as one table (its level, transports, what the checker sends,
    /// what passes, the assignment's sentence) and exit.
    #[arg(long)]
    list: bool,
    #[command(subcommand)]
    command: Option<Command>,
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
    /// Judges every implementation a manifest lists, by both suites, and writes one report of them
    /// all: an HTML matrix of implementations x cases, CSV for a gradebook, JSON. Exit 0 once every
    /// implementation is judged, whatever the verdicts; 2 on a bad manifest.
    Matrix {
        /// The manifest (TOML): `[[implementation]]` tables of `name`, `dir`, `server`, `client`.
        #[arg(value_name = "MANIFEST")]
        manifest: PathBuf,
        /// Transports to check.
        #[arg(long, value_enum, default_value_t = Transports::Both)]
        transport: Transports,
        #[command(flatten)]
        run: RunArgs,
        /// Write the report as one self-contained HTML page.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Write everything as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write a row per implementation and level as CSV, for a gradebook.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// Also explore each implementation's server and client with N seeds (`conform explore`),
        /// unless its manifest entry says `explore = N` itself; its findings are one more column per
        /// suite.
        #[arg(long, value_name = "N", default_value_t = 0)]
        explore: u64,
        /// Where explored sessions that break a rule are saved, in a directory per implementation.
        #[arg(long, value_name = "DIR", default_value = "conform-explore")]
        save: PathBuf,
    },
    /// Random sessions from seeds against a program, judged by the oracle; the first session that
    /// breaks each rule is shrunk and saved for `conform replay`. Exit 0 nothing broken, 1 a required
    /// rule broken, 3 only findings that did not reproduce when rerun.
    Explore {
        #[command(subcommand)]
        role: explore_cli::Role,
    },
    /// Plays a session `conform explore` saved against a program once, and judges it. Exit 0 every
    /// rule kept, 1 a required rule broken or the session could not be played.
    Replay {
        #[command(flatten)]
        args: explore_cli::ReplayArgs,
    },
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Transports to check (both by default, as for `matrix`).
    #[arg(long, value_enum, default_value_t = Transports::Both)]
    transport: Transports,
    #[command(flatten)]
    run: RunArgs,
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
    /// Also write the report as one self-contained HTML page, each failure with its diagram.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

/// What every run takes: which cases, how many at once, and the program's timers.
#[derive(Debug, clap::Args)]
struct RunArgs {
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
    /// `auto`: the program runs on conform's virtual clock (a preloaded library: every timer exact,
    /// idle time skipped; Linux x86-64 and aarch64), else at real time. `1`: real time, nothing
    /// preloaded. A program the clock cannot follow (a static binary) runs at real time, and the run
    /// says so.
    #[arg(long, value_name = "auto|1", default_value = "auto", value_parser = parse_speed)]
    speed: Speed,
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

impl From<TimingArg> for Timing {
    fn from(timing: TimingArg) -> Timing {
        match timing {
            TimingArg::Exact => Timing::Exact,
            TimingArg::Scaled => Timing::Scaled,
        }
    }
}

/// `--speed`: the virtual clock (`auto`) or real time (`1`).
#[derive(Debug, Clone, Copy)]
enum Speed {
    Auto,
    Real,
}

fn parse_speed(s: &str) -> Result<Speed, String> {
    match s {
        "auto" => Ok(Speed::Auto),
        "1" => Ok(Speed::Real),
        _ => Err(format!(
            "{s:?} is not auto (the virtual clock) or 1 (real time); speeds by libfaketime are gone, their verdicts could be wrong"
        )),
    }
}

/// A clap error on one line: its first paragraph (the error and what it names, such as the missing
/// arguments), without clap's usage and hint that follow.
fn one_line(error: &str) -> String {
    let first: Vec<&str> = error
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let line = first.join(" ");
    let line = line.trim_start_matches("error: ");
    if line.is_empty() {
        "bad arguments".into()
    } else {
        line.into()
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
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                return usage_error(
                    "name what to check: conform server, conform client or conform matrix",
                );
            }
            return usage_error(&one_line(&e.to_string()));
        }
    };
    let Some(command) = args.command else {
        if args.list {
            return match stdout::write_out(&conform::listing::table()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => stdout::die_of_closed_pipe(),
            };
        }
        return usage_error(
            "name what to check: conform server, conform client or conform matrix (or conform --list)",
        );
    };
    match command {
        Command::Server { options, command } => single(true, options, command),
        Command::Client { options, command } => single(false, options, command),
        Command::Matrix {
            manifest,
            transport,
            run,
            html,
            json,
            csv,
            explore,
            save,
        } => matrix(
            &manifest,
            transport,
            run,
            [html, json, csv],
            (explore, &save),
        ),
        Command::Explore { role } => explore_cli::explore(role),
        Command::Replay { args } => explore_cli::replay(args),
    }
}

/// The transports `--transport` names.
fn transports_of(transport: Transports) -> Vec<Transport> {
    match transport {
        Transports::Udp => vec![Transport::Udp],
        Transports::Tcp => vec![Transport::Tcp],
        Transports::Both => Transport::ALL.to_vec(),
    }
}

/// The run's options from the command line.
fn options_from(run: RunArgs, transport: Transports) -> Options {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Options {
        transports: transports_of(transport),
        quick: run.quick,
        only: run.only,
        jobs: run.jobs.map_or(cores * 2, usize::from),
        timing: run.timing.into(),
        virtual_clock: matches!(run.speed, Speed::Auto),
    }
}

/// Finds out before a run of one program what would make it fail at once or run nothing: a program
/// that cannot start, `--timing scaled` without the timers' placeholders, no case to run, a report
/// that cannot be written.
fn refused(
    is_server: bool,
    program: &Program,
    options: &Options,
    reports: [&Option<PathBuf>; 4],
) -> Result<(), ExitCode> {
    program.startable().map_err(|why| usage_error(&why))?;
    if options.timing == Timing::Scaled && !program.takes_timers(is_server) {
        return Err(usage_error(if is_server {
            "--timing scaled needs {ttl} and {idle} in the command line"
        } else {
            "--timing scaled needs {timeout} in the command line"
        }));
    }
    some_case(options, &[is_server])?;
    check_writable(reports.into_iter().flatten())
}

/// Finds out before the run that it would run nothing (an `--only` that matches no case of these
/// suites on these transports): a usage error, not an empty success.
fn some_case(options: &Options, servers: &[bool]) -> Result<(), ExitCode> {
    let (transports, only) = (&options.transports, options.only.as_deref());
    let count = |quick: bool| -> usize {
        servers
            .iter()
            .map(|&server| match server {
                true => conform::server_cases::selected(transports, quick, only).len(),
                false => conform::client_cases::selected(transports, quick, only).len(),
            })
            .sum()
    };
    match (count(options.quick), only) {
        (0, Some(only)) if options.quick && count(false) > 0 => Err(usage_error(&format!(
            "--quick leaves out every case --only {only} matches (they wait the assignment's timers)"
        ))),
        (0, Some(only)) => Err(usage_error(&format!(
            "no case over {} matches --only {only} (requirement IDs look like server.ttl.expires or client.retry.typed-id)",
            transports.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" and ")
        ))),
        (0, None) => Err(usage_error("no case to run")),
        _ => Ok(()),
    }
}

/// Finds out before the run, not after it, that a report cannot be written.
fn check_writable<'a>(paths: impl IntoIterator<Item = &'a PathBuf>) -> Result<(), ExitCode> {
    for path in paths {
        if let Err(e) = std::fs::File::create(path) {
            return Err(usage_error(&format!(
                "cannot write {}: {e}",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Renders and writes each report that has a path (one without is not rendered).
fn write_reports(files: Vec<(Option<PathBuf>, &dyn Fn() -> String)>) -> Result<(), ExitCode> {
    for (path, render) in files {
        if let Some(path) = path {
            if let Err(e) = std::fs::write(&path, render()) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok(())
}

/// Where a run tells what it is doing: lines on standard output, a progress bar on standard error.
struct Terminal {
    bar: indicatif::ProgressBar,
    /// Told when standard output is closed.
    closed: tokio::sync::Notify,
}

impl Terminal {
    fn new() -> Self {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} cases ended, {elapsed} of {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Self {
            bar,
            closed: tokio::sync::Notify::new(),
        }
    }

    fn write(&self, text: &str) {
        if self.bar.suspend(|| stdout::write_out(text)).is_err() {
            self.closed.notify_one();
        }
    }

    fn plan(&self, expected: std::time::Duration) {
        self.bar
            .set_message(format!("about {}", report::duration(expected)));
    }

    fn ended(&self, done: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
    }

    /// Runs `work` to its end. A closed standard output (`conform ... | head`) stops it: the cases
    /// still running are dropped, which kills their children, and the process ends quietly by
    /// SIGPIPE. Ctrl-C stops it the same way (the children are in process groups of their own, so
    /// the terminal's signal does not reach them), with code 130.
    fn drive<T>(&self, work: impl std::future::Future<Output = T>) -> Result<T, ExitCode> {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the runtime: {e}");
                return Err(ExitCode::from(2));
            }
        };
        let out = runtime.block_on(async {
            tokio::select! {
                out = work => Ok(out),
                () = self.closed.notified() => Err(None),
                _ = tokio::signal::ctrl_c() => Err(Some(130)),
            }
        });
        self.bar.finish_and_clear();
        drop(runtime);
        if out.is_err() {
            conform::child::kill_all();
        }
        match out {
            Ok(out) => Ok(out),
            Err(None) => stdout::die_of_closed_pipe(),
            Err(Some(code)) => {
                eprintln!("conform: interrupted; every program it started is stopped");
                Err(ExitCode::from(code))
            }
        }
    }
}

/// `conform server` or `conform client`: one program, one suite.
fn single(is_server: bool, common: Common, command: Vec<String>) -> ExitCode {
    let program = Program::new(command);
    let strict = common.strict;
    let reports = [&common.junit, &common.json, &common.markdown, &common.html];
    let options = options_from(common.run, common.transport);
    if let Err(code) = refused(is_server, &program, &options, reports) {
        return code;
    }
    let suite = if is_server { "server" } else { "client" };
    let transports: Vec<String> = options.transports.iter().map(|t| t.to_string()).collect();
    let terminal = Terminal::new();
    let mut plan_note = None;
    let progress = |p: conform::Progress<'_>| match p {
        conform::Progress::Plan {
            results,
            expected,
            virtual_clock,
            note,
        } => {
            terminal.plan(expected);
            let pace = if virtual_clock {
                " on the virtual clock"
            } else {
                ""
            };
            let shown = note
                .as_ref()
                .map_or_else(String::new, |n| format!("note: {n}\n"));
            plan_note = note;
            terminal.write(&format!(
                "{shown}conform {suite}: {results} cases over {}{pace}, {} at a time, about {}\n",
                transports.join(" and "),
                options.jobs,
                report::duration(expected)
            ));
        }
        conform::Progress::Ended { done, total } => terminal.ended(done, total),
        conform::Progress::Results(rs) => {
            for r in rs {
                terminal.write(&format!("{}\n", report::case_line(r)));
            }
        }
    };
    let results = terminal.drive(async {
        if is_server {
            conform::run_server_suite(&program, &options, progress).await
        } else {
            conform::run_client_suite(&program, &options, progress).await
        }
    });
    let results = match results {
        Ok(results) => results,
        Err(code) => return code,
    };
    let note = [
        report::verdict_note(&results, strict),
        report::clock_note(&results),
    ]
    .into_iter()
    .flatten()
    .map(|n| format!("{n}\n"))
    .collect::<String>();
    let text = format!(
        "{}{}\n{note}",
        report::failures(&results),
        report::summary(&results)
    );
    if stdout::write_out(&text).is_err() {
        stdout::die_of_closed_pipe();
    }
    let html = || {
        let graded = Graded {
            name: program.argv.join(" "),
            explored: Vec::new(),
            runs: vec![SuiteRun {
                role: if is_server {
                    Role::Server
                } else {
                    Role::Client
                },
                note: plan_note.clone(),
                results: results.clone(),
            }],
        };
        html::html(&format!("conform {suite}"), &[graded])
    };
    if let Err(code) = write_reports(vec![
        (common.junit, &|| report::junit(suite, &results)),
        (common.json, &|| report::json(suite, &results)),
        (common.markdown, &|| report::markdown(suite, &results)),
        (common.html, &html),
    ]) {
        return code;
    }
    ExitCode::from(report::exit_code(&results, strict))
}

/// `conform matrix`: every implementation of a manifest, both suites, one report.
fn matrix(
    manifest: &std::path::Path,
    transport: Transports,
    run: RunArgs,
    [html_path, json_path, csv_path]: [Option<PathBuf>; 3],
    (seeds, save): (u64, &std::path::Path),
) -> ExitCode {
    let implementations = match matrix::load(manifest) {
        Ok(implementations) => implementations,
        Err(e) => return usage_error(&e.to_string()),
    };
    for imp in &implementations {
        for (&(role, t), program) in &imp.commands {
            if let Err(why) = program.startable() {
                return usage_error(&format!(
                    "{}: {}: the {role} command for {t}: {why}",
                    manifest.display(),
                    imp.name
                ));
            }
        }
    }
    let options = options_from(run, transport);
    if options.timing == Timing::Scaled {
        for imp in &implementations {
            for (&(role, t), program) in &imp.commands {
                if !program.takes_timers(role == Role::Server) {
                    let needs = if role == Role::Server {
                        "{ttl} and {idle}"
                    } else {
                        "{timeout}"
                    };
                    return usage_error(&format!(
                        "--timing scaled needs {needs} in {}'s {role} command for {t}",
                        imp.name
                    ));
                }
            }
        }
    }
    if let Err(code) = some_case(&options, &[true, false]) {
        return code;
    }
    let paths = [&html_path, &json_path, &csv_path];
    if let Err(code) = check_writable(paths.into_iter().flatten()) {
        return code;
    }
    let transports: Vec<String> = options.transports.iter().map(|t| t.to_string()).collect();
    let terminal = Terminal::new();
    let progress = |p: MatrixProgress<'_>| match p {
        MatrixProgress::Plan {
            implementations,
            results,
            expected,
            virtual_clock,
        } => {
            terminal.plan(expected);
            let pace = if virtual_clock {
                " on the virtual clock"
            } else {
                ""
            };
            terminal.write(&format!(
                "conform matrix: {implementations} implementations, {results} cases over {}{pace}, {} at a time, about {}\n",
                transports.join(" and "),
                options.jobs,
                report::duration(expected)
            ));
        }
        MatrixProgress::Ended { done, total } => terminal.ended(done, total),
        MatrixProgress::Graded(g) => {
            let mut text = String::new();
            for run in &g.runs {
                let at = report::on_clock(&run.results);
                text.push_str(&format!(
                    "{} {}: {}{at}\n",
                    g.name,
                    run.role,
                    report::summary(&run.results)
                ));
                if let Some(note) = &run.note {
                    text.push_str(&format!("  note: {note}\n"));
                }
            }
            terminal.write(&text);
        }
    };
    let mut graded = match terminal.drive(matrix::run_matrix(&implementations, &options, progress))
    {
        Ok(graded) => graded,
        Err(code) => return code,
    };
    let told = |p: matrix::ExploreProgress<'_>| match p {
        matrix::ExploreProgress::Starting {
            name,
            role,
            transport,
            seeds,
        } => terminal.write(&format!(
            "{name} {role} explore over {transport}: {seeds} seeds...\n"
        )),
        matrix::ExploreProgress::Explored { name, exploration } => terminal.write(&format!(
            "{name} {} explore: {}\n",
            exploration.role,
            conform::explore::summary(exploration)
        )),
    };
    let explored = matrix::explore_all(&implementations, &mut graded, seeds, &options, save, told);
    if let Err(code) = terminal.drive(explored) {
        return code;
    }
    let title = format!("conform matrix: {}", manifest.display());
    match write_reports(vec![
        (html_path, &|| html::html(&title, &graded)),
        (json_path, &|| report::matrix_json(&graded)),
        (csv_path, &|| report::csv(&graded)),
    ]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
