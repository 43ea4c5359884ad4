//! The wall-clock seam: where printed timestamps come from.
//!
//! Timeouts use `tokio::time` (which the simulator virtualizes); this trait only answers "what time is it"
//! for the lines a program prints, so the simulator can print simulated time.

use chrono::NaiveDateTime;

/// A source of the local date and time printed in messages.
pub trait Clock: Send + Sync {
    fn now(&self) -> NaiveDateTime;
}

/// The machine's local time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        chrono::Local::now().naive_local()
    }
}

/// Formats a timestamp as the protocol prints it: `2023-01-16 06:06:06.123456`.
///
/// Written out by hand: chrono's `format` parses its pattern on every call, and the server prints one
/// timestamp per request.
pub fn format_timestamp(t: NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 1_000 % 1_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn timestamps_have_microseconds() {
        let t = NaiveDate::from_ymd_opt(2023, 1, 16)
            .unwrap()
            .and_hms_micro_opt(6, 6, 6, 123_456)
            .unwrap();
        assert_eq!(format_timestamp(t), "2023-01-16 06:06:06.123456");
        let whole = NaiveDate::from_ymd_opt(2023, 1, 16)
            .unwrap()
            .and_hms_opt(6, 6, 0)
            .unwrap();
        assert_eq!(format_timestamp(whole), "2023-01-16 06:06:00.000000");
        let nanos = NaiveDate::from_ymd_opt(999, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 999_999_999)
            .unwrap();
        assert_eq!(
            format_timestamp(nanos),
            nanos.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
        );
    }
}
