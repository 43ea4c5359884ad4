//! Argument parsing helpers shared by the binaries, so both read durations and ports the same way.

use std::time::Duration;

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
    fn peer_ports_are_1_to_65535() {
        assert_eq!(parse_peer_port("65535"), Ok(65535));
        for bad in ["0", "65536", "-1", "http"] {
            assert!(parse_peer_port(bad).is_err(), "{bad}");
        }
    }
}
