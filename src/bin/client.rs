//! `client HELLO <server_ip> <server_port> <connection_id>`: asks a server for a connection ID.
//!
//! Exit codes: 0 connection established, 1 connection failure (also when stopped by SIGINT or SIGTERM),
//! 2 bad arguments.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use cli::{parse_or_exit, parse_peer_port, stop_signal, Seconds};
use connid::client::run_client_until;
use connid::lines::ClientNote;
use connid::{defaults, ClientConfig, ConnId, StdConsole, SystemClock, TokioNet, Transport};

mod cli;

/// Ask a connid server for a connection ID, retrying with new IDs typed at the prompt.
#[derive(Debug, Parser)]
#[command(name = "client", version)]
struct Args {
    /// The request verb; must be HELLO.
    #[arg(value_name = "HELLO", value_parser = ["HELLO"])]
    verb: String,
    /// The server's IP address (IPv4 or IPv6).
    server_ip: IpAddr,
    /// The server's port.
    #[arg(value_parser = parse_peer_port)]
    server_port: u16,
    /// The connection ID to ask for: 1 to 64 visible ASCII characters.
    connection_id: ConnId,
    /// Transport to use.
    #[arg(long, value_parser = cli::transport(), default_value_t = defaults::TRANSPORT)]
    transport: Transport,
    /// Seconds to wait for a reply on each try (fractions allowed).
    #[arg(long, value_name = "SECS", default_value_t = Seconds(defaults::CLIENT_TIMEOUT))]
    timeout: Seconds,
    /// Tries before giving up.
    #[arg(long, value_name = "N", default_value_t = defaults::TRIES, value_parser = clap::value_parser!(u32).range(1..))]
    tries: u32,
    /// TCP: seconds a whole reply with no newline and no end of stream waits for more bytes.
    #[arg(long, value_name = "SECS", default_value_t = Seconds(defaults::SETTLE))]
    settle: Seconds,
}

fn main() -> ExitCode {
    let args: Args = parse_or_exit();
    let cfg = ClientConfig {
        server: SocketAddr::new(args.server_ip, args.server_port),
        id: args.connection_id,
        transport: args.transport,
        timeout: args.timeout.0,
        tries: args.tries,
        settle: args.settle.0,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let why = e.to_string();
            eprintln!("{}", ClientNote::CannotStart { why });
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async {
        let mut console = StdConsole::new();
        run_client_until(&TokioNet, &SystemClock, &mut console, &cfg, stop_signal()).await
    });
    // A prompt interrupted by a signal leaves a thread blocked reading stdin: do not wait for it.
    runtime.shutdown_background();
    ExitCode::from(outcome.exit_code())
}
