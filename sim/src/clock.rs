//! The wall-clock seam on simulated time: a fixed epoch plus the virtual time elapsed.

use chrono::{NaiveDate, NaiveDateTime};
use connid::Clock;

/// Simulated wall clock, starting at [`epoch`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SimClock;

/// `2023-01-16 06:06:00.000000`, the day of the assignment's own example timestamps.
pub fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2023, 1, 16)
        .and_then(|d| d.and_hms_opt(6, 6, 0))
        .expect("a valid fixed date")
}

impl Clock for SimClock {
    fn now(&self) -> NaiveDateTime {
        let elapsed = chrono::Duration::from_std(crate::net::now()).unwrap_or_default();
        epoch() + elapsed
    }
}
