//! The clock seam on simulated time: a fixed epoch plus the virtual time elapsed, and every wait noted
//! as an armed deadline, so the runner knows when the next host has something to do.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use connid::Clock;
use tokio::time::Instant;

/// `2023-01-16 06:06:00.000000`, the day of the assignment's own example timestamps.
pub fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2023, 1, 16)
        .and_then(|d| d.and_hms_opt(6, 6, 0))
        .expect("a valid fixed date")
}

/// Simulated wall clock, starting at [`epoch`]; its waits are noted in one run's [`Deadlines`].
#[derive(Debug, Clone, Default)]
pub struct SimClock {
    deadlines: Deadlines,
}

impl SimClock {
    pub fn new(deadlines: Deadlines) -> Self {
        Self { deadlines }
    }
}

impl Clock for SimClock {
    fn now(&self) -> NaiveDateTime {
        let elapsed = chrono::Duration::from_std(crate::net::now()).unwrap_or_default();
        epoch() + elapsed
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        // Called on a host, where both clocks read that host's present.
        let at = crate::net::now() + deadline.saturating_duration_since(Instant::now());
        let armed = self.deadlines.arm(at);
        async move {
            tokio::time::sleep_until(deadline).await;
            drop(armed);
        }
    }
}

/// The deadlines armed on every host of one run, in simulated time since its start: each is noted
/// while its wait lives (done or dropped, as when a host crashes, it is gone).
#[derive(Debug, Clone, Default)]
pub struct Deadlines(Arc<Mutex<Armed>>);

#[derive(Debug, Default)]
struct Armed {
    /// Each deadline with a number that tells apart waits due at the same time.
    at: BTreeSet<(Duration, u64)>,
    next: u64,
}

impl Deadlines {
    /// The earliest deadline armed, if any.
    pub fn earliest(&self) -> Option<Duration> {
        self.lock().at.first().map(|(at, _)| *at)
    }

    fn arm(&self, at: Duration) -> Disarm {
        let mut armed = self.lock();
        let key = (at, armed.next);
        armed.next += 1;
        armed.at.insert(key);
        Disarm {
            deadlines: self.clone(),
            key,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Armed> {
        // A panicking host fails the run anyway; the set itself is never left half-changed.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Removes its deadline when the wait it belongs to ends.
#[derive(Debug)]
struct Disarm {
    deadlines: Deadlines,
    key: (Duration, u64),
}

impl Drop for Disarm {
    fn drop(&mut self) {
        self.deadlines.lock().at.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_live_deadline_is_known_until_its_wait_ends() {
        let d = Deadlines::default();
        assert_eq!(d.earliest(), None);
        let late = d.arm(Duration::from_secs(9));
        let soon = d.arm(Duration::from_secs(2));
        let also_soon = d.arm(Duration::from_secs(2));
        assert_eq!(d.earliest(), Some(Duration::from_secs(2)));
        drop(soon);
        assert_eq!(d.earliest(), Some(Duration::from_secs(2)));
        drop(also_soon);
        assert_eq!(d.earliest(), Some(Duration::from_secs(9)));
        drop(late);
        assert_eq!(d.earliest(), None);
    }
}
