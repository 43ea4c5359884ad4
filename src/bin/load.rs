//! `load <server_ip> <server_port>`: drives any server that speaks the protocol and reports what came
//! back: counts, throughput and latency percentiles.
//!
//! Exit codes: 0 the load ran (whatever the server answered), 1 it could not run (no socket), 2 bad
//! arguments.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cli::{parse_or_exit, parse_peer_port, parse_seconds};
use connid::load::{check_tag, run_load, Ids, LoadConfig};
use connid::{defaults, Transport};

mod cli;

/// Load-test a connid server (or any server speaking HELLO / OK / RESET).
#[derive(Debug, Parser)]
#[command(name = "load", version)]
struct Args {
    server_ip: IpAddr,
    #[arg(value_parser = parse_peer_port)]
    server_port: u16,
    #[arg(long, value_parser = cli::transport(), default_value_t = defaults::TRANSPORT)]
    transport: Transport,
    /// UDP sockets, or TCP connections at once.
    #[arg(long, value_name = "C", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    clients: u64,
    /// UDP: requests in flight per socket (closed loop).
    #[arg(long, value_name = "W", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    window: u64,
    /// How long to send, in seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "10")]
    duration: Duration,
    /// Requests per second in all (open loop); without it, as fast as replies come (closed loop).
    #[arg(long, value_name = "R")]
    rate: Option<f64>,
    /// "unique" (every request granted) or "pool:N" (IDs from a pool of N: mostly RESET).
    #[arg(long, default_value = "unique")]
    ids: Ids,
    /// Seconds before an unanswered request counts as a timeout.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "1")]
    timeout: Duration,
    /// Prefix of unique IDs, so two runs against one server do not collide.
    #[arg(long, default_value = "")]
    tag: String,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    // `load ... | head`: a closed standard output ends the run quietly, as it ends `cat`.
    connid::stdout::end_quietly_when_closed();
    let args: Args = parse_or_exit();
    if let Some(rate) = args.rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
        eprintln!("error: --rate {rate} must be a positive number of requests per second");
        return ExitCode::from(2);
    }
    let tag = if args.tag.is_empty() {
        format!("{:x}-", std::process::id())
    } else {
        args.tag.clone()
    };
    if let Err(e) = check_tag(&tag) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let cfg = LoadConfig {
        server: SocketAddr::new(args.server_ip, args.server_port),
        transport: args.transport,
        clients: usize::try_from(args.clients).unwrap_or(1),
        window: usize::try_from(args.window).unwrap_or(1),
        duration: args.duration,
        rate: args.rate,
        ids: args.ids,
        timeout: args.timeout,
        run_tag: tag,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("load: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run_load(&cfg)) {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                println!("{report}");
            }
            for warning in report.warnings(args.rate, args.duration) {
                eprintln!("load: warning: {warning}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::from(1)
        }
    }
}
