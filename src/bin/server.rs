//! `server <server_ip> <server_port>`: hands out connection IDs until two idle minutes pass.
//!
//! Exit codes: 0 after the idle timeout or when stopped by SIGINT or SIGTERM, 2 bad arguments or the
//! address cannot be bound.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use connid::cli::{parse_or_exit, parse_seconds, stop_signal};
use connid::{Server, ServerConfig, StdConsole, SystemClock, TokioNet, Transport};

/// Answer HELLO requests with OK (reserving the ID) or RESET (ID in use).
#[derive(Debug, Parser)]
#[command(name = "server", version)]
struct Args {
    /// The IP address to listen on (0.0.0.0 or :: for all).
    server_ip: IpAddr,
    /// The port to listen on (0 lets the system choose; the chosen one is printed).
    server_port: u16,
    /// Transport to serve.
    #[arg(long, value_enum, default_value_t = Transport::Udp)]
    transport: Transport,
    /// Seconds a granted ID stays in use.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "30")]
    id_ttl: Duration,
    /// Seconds without requests after which the server exits.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "120")]
    idle_timeout: Duration,
    /// Seconds a TCP peer has to complete its request.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "15")]
    line_timeout: Duration,
    /// TCP: seconds a whole request with no newline and no end of stream waits for more bytes.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "0.2")]
    settle: Duration,
    /// Most TCP connections served at once.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Args = parse_or_exit();
    let addr = SocketAddr::new(args.server_ip, args.server_port);
    let cfg = ServerConfig {
        transport: args.transport,
        id_ttl: args.id_ttl,
        idle_timeout: args.idle_timeout,
        line_timeout: args.line_timeout,
        settle: args.settle,
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
    };
    let server = match Server::bind(&TokioNet, addr, cfg).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("server: cannot listen on {} {addr}: {e}", args.transport);
            return ExitCode::from(2);
        }
    };
    server
        .run_until(&SystemClock, &mut StdConsole::buffered(), stop_signal())
        .await;
    ExitCode::SUCCESS
}
