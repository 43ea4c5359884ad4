//! What the binaries share at their edge: reading durations and ports, one-line usage errors, and the
//! signals that stop them.

// Each binary includes this module and uses part of it.
#![allow(dead_code)]

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use connid::Transport;

/// Parses the command line; on a usage error prints one `error: ...` line and exits with code 2.
/// `--help` and `--version` print as usual and exit 0.
pub fn parse_or_exit<T: clap::Parser>() -> T {
    match T::try_parse() {
        Ok(args) => args,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                e.exit();
            }
            eprintln!("{}", one_line(&e.to_string()));
            std::process::exit(2);
        }
    }
}

/// clap's error message up to its usage block, on one line.
fn one_line(message: &str) -> String {
    let text: Vec<&str> = message
        .lines()
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("Usage:"))
        .map(str::trim)
        .collect();
    format!("{} (see --help)", text.join(" "))
}

/// Completes with the signal's name when the process gets SIGINT (Ctrl-C) or SIGTERM.
pub async fn stop_signal() -> String {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => tokio::select! {
                _ = int.recv() => "SIGINT".to_string(),
                _ = term.recv() => "SIGTERM".to_string(),
            },
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C".to_string(),
            Err(_) => std::future::pending().await,
        }
    }
}

/// Parses a positive, finite number of seconds; fractions are allowed (`0.5`).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("{s:?} must be a positive number of seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is too many seconds"))
}

/// A number of seconds on the command line ([`parse_seconds`]), printed as `--help` shows defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl FromStr for Seconds {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_seconds(s).map(Seconds)
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

/// `--transport udp|tcp`, with the two names listed in `--help`.
pub fn transport() -> impl TypedValueParser<Value = Transport> {
    PossibleValuesParser::new(["udp", "tcp"]).try_map(|s| s.parse::<Transport>())
}

/// Parses a port a client can send to (1 to 65535).
pub fn parse_peer_port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(0) => Err("port 0 cannot be sent to; use 1 to 65535".to_string()),
        Ok(p) => Ok(p),
        Err(_) => Err(format!("{s:?} is not a port (1 to 65535)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accept_fractions_and_refuse_nonsense() {
        assert_eq!(parse_seconds("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["0", "-1", "abc", "", "inf", "NaN", "1e300"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usage_errors_fold_into_one_line() {
        let clap_text = "error: the following required arguments were not provided:\n  <CONNECTION_ID>\n\nUsage: client <HELLO> <SERVER_IP>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(clap_text),
            "error: the following required arguments were not provided: <CONNECTION_ID> (see --help)"
        );
    }

    #[test]
    fn defaults_print_as_they_are_read_back() {
        for d in [
            Duration::from_secs(30),
            Duration::from_millis(200),
            Duration::from_micros(1),
        ] {
            let shown = Seconds(d).to_string();
            assert_eq!(shown.parse::<Seconds>(), Ok(Seconds(d)), "{shown}");
        }
        assert_eq!(Seconds(Duration::from_millis(200)).to_string(), "0.2");
    }

    #[test]
    fn peer_ports_are_1_to_65535() {
        assert_eq!(parse_peer_port("65535"), Ok(65535));
        for bad in ["0", "65536", "-1", "http"] {
            assert!(parse_peer_port(bad).is_err(), "{bad}");
        }
    }
}
