//! `server <server_ip> <server_port>`: hands out connection IDs until two idle minutes pass.
//!
//! Exit codes: 0 after the idle timeout or when stopped by SIGINT or SIGTERM, 2 bad arguments, the
//! address cannot be bound, or no thread could be started to write the output.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cli::{parse_or_exit, stop_signal, Seconds};
use connid::lines::ServerNote;
use connid::server::LogLevel;
use connid::spool::SpooledConsole;
use connid::{defaults, Server, ServerConfig, SystemClock, TokioNet, Transport};

/// How long the server waits at its exit for its last lines to be written.
const EXIT_WAIT: Duration = Duration::from_millis(500);

mod cli;

/// Answer HELLO requests with OK (reserving the ID) or RESET (ID in use).
#[derive(Debug, Parser)]
#[command(name = "server", version)]
struct Args {
    /// The IP address to listen on (0.0.0.0 or :: for all).
    server_ip: IpAddr,
    /// The port to listen on (0 lets the system choose; the chosen one is printed).
    server_port: u16,
    /// Transport to serve.
    #[arg(long, value_parser = cli::transport(), default_value_t = defaults::TRANSPORT)]
    transport: Transport,
    /// Seconds a granted ID stays in use.
    #[arg(long, value_name = "SECS", default_value_t = Seconds(defaults::ID_TTL))]
    id_ttl: Seconds,
    /// Seconds without requests after which the server exits.
    #[arg(long, value_name = "SECS", default_value_t = Seconds(defaults::IDLE_TIMEOUT))]
    idle_timeout: Seconds,
    /// Seconds a TCP peer has to complete its request.
    #[arg(long, value_name = "SECS", default_value_t = Seconds(defaults::LINE_TIMEOUT))]
    line_timeout: Seconds,
    /// TCP: seconds a whole request with no newline and no end of stream waits for more bytes.
    #[arg(long, value_name = "SECS", default_value_t = Seconds(defaults::SETTLE))]
    settle: Seconds,
    /// Most TCP connections served at once.
    #[arg(long, value_name = "N", default_value_t = defaults::MAX_CONNECTIONS as u64, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Most IDs in use at once (about 100 MB of table by default); a new ID beyond it gets no reply.
    #[arg(long, value_name = "N", default_value_t = defaults::MAX_IDS as u64, value_parser = clap::value_parser!(u64).range(1..))]
    max_ids: u64,
    /// How much to log about requests: every (a line each), auto (a line each up to 20 a second, the
    /// rest of each second summed up in one line), summary (one line a second), quiet (none).
    #[arg(long, value_name = "LEVEL", value_parser = log_level(), default_value_t = LogLevel::default())]
    log: LogLevel,
}

/// `--log every|auto|summary|quiet`, with the names listed in `--help`.
fn log_level() -> impl clap::builder::TypedValueParser<Value = LogLevel> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(LogLevel::ALL.map(LogLevel::name))
        .try_map(|s| s.parse::<LogLevel>())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Args = parse_or_exit();
    let addr = SocketAddr::new(args.server_ip, args.server_port);
    let cfg = ServerConfig {
        transport: args.transport,
        id_ttl: args.id_ttl.0,
        idle_timeout: args.idle_timeout.0,
        line_timeout: args.line_timeout.0,
        settle: args.settle.0,
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        max_ids: usize::try_from(args.max_ids).unwrap_or(usize::MAX),
        log: args.log,
    };
    let server = match Server::bind(&TokioNet, addr, cfg).await {
        Ok(server) => server,
        Err(e) => {
            let note = ServerNote::CannotListen {
                transport: args.transport,
                addr,
                why: e.to_string(),
            };
            eprintln!("{note}");
            return ExitCode::from(2);
        }
    };
    // Serving never waits on output: lines go through a spool, dropped and counted when nobody
    // reads them, and the exit waits for them half a second at most.
    let mut console = match SpooledConsole::std() {
        Ok(console) => console,
        Err(e) => {
            eprintln!("{}", ServerNote::NoOutput { why: e.to_string() });
            return ExitCode::from(2);
        }
    };
    server
        .run_until(&SystemClock, &mut console, stop_signal())
        .await;
    console.finish(EXIT_WAIT);
    ExitCode::SUCCESS
}
