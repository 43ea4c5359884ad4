//! The clock seam on simulated time: a fixed epoch plus the virtual time elapsed, and every wait noted
//! as an armed deadline, so the runner knows when the next host has something to do.
//!
//! It also notices a host that spins: simulated time passes only between steps, so a loop that never
//! waits keeps reading the clock at one instant. Past [`SPIN_LIMIT`] readings and waits at one
//! instant the host panics with what it was doing, which fails the run instead of hanging it.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use connid::Clock;
use tokio::time::Instant;

/// Virtual time since the simulation started, as seen by the running host: what every event of a run
/// is stamped with, and what the simulated wall clock adds to [`epoch`].
pub fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// `2023-01-16 06:06:00.000000`, the day of the assignment's own example timestamps.
pub fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2023, 1, 16)
        .and_then(|d| d.and_hms_opt(6, 6, 0))
        .expect("a valid fixed date")
}

/// Simulated wall clock, starting at [`epoch`]; its waits are noted in one run's [`Deadlines`], with
/// the host that waits when the clock is [`on`](SimClock::on) one.
#[derive(Debug, Clone, Default)]
pub struct SimClock {
    deadlines: Deadlines,
    host: Option<IpAddr>,
}

impl SimClock {
    pub fn new(deadlines: Deadlines) -> Self {
        Self {
            deadlines,
            host: None,
        }
    }

    /// The same clock for the host at `host`: its waits are noted as that host's.
    pub fn on(&self, host: IpAddr) -> Self {
        Self {
            deadlines: self.deadlines.clone(),
            host: Some(host),
        }
    }
}

/// How many times the hosts of a run may read the clock or start a wait at one simulated instant.
/// A busy instant (a burst of requests, fifty clients at once) takes a few thousand; a host that
/// loops without ever waiting reaches it within a second of real time.
pub const SPIN_LIMIT: u64 = 1_000_000;

impl Clock for SimClock {
    fn now(&self) -> NaiveDateTime {
        let now = now();
        self.deadlines.count_call(now, "a clock reading");
        let elapsed = chrono::Duration::from_std(now).unwrap_or_default();
        epoch() + elapsed
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        // Called on a host, where both clocks read that host's present.
        let now = now();
        self.deadlines.count_call(now, "a wait started");
        let at = now + deadline.saturating_duration_since(Instant::now());
        let armed = self.deadlines.arm(at, self.host);
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
    /// Each deadline with a number that tells apart waits due at the same time, and the host that
    /// waits (`None`: a clock not on a host, which could be any).
    at: BTreeMap<(Duration, u64), Option<IpAddr>>,
    next: u64,
    /// The instant of the latest clock call, and how many calls came at it.
    instant: Duration,
    calls: u64,
}

impl Deadlines {
    /// The earliest deadline armed, if any.
    pub fn earliest(&self) -> Option<Duration> {
        self.lock().at.first_key_value().map(|((at, _), _)| *at)
    }

    /// Those of `hosts` with no deadline up to `end`: nothing wakes them before then but a message.
    /// None of them when a deadline up to `end` belongs to no known host.
    pub fn resting(&self, hosts: &[IpAddr], end: Duration) -> Vec<IpAddr> {
        let armed = self.lock();
        let mut busy = Vec::new();
        for (_, host) in armed.at.range(..=(end, u64::MAX)) {
            match host {
                Some(h) => busy.push(*h),
                None => return Vec::new(),
            }
        }
        hosts
            .iter()
            .copied()
            .filter(|h| !busy.contains(h))
            .collect()
    }

    /// Counts one clock call at `now`; panics on the [`SPIN_LIMIT`]th at the same instant.
    fn count_call(&self, now: Duration, what: &str) {
        let mut armed = self.lock();
        if armed.instant != now {
            armed.instant = now;
            armed.calls = 0;
        }
        armed.calls += 1;
        if armed.calls >= SPIN_LIMIT {
            drop(armed);
            panic!(
                "a host spins: {SPIN_LIMIT} clock calls at {:.6} s without simulated time passing \
                 (the last: {what}); a loop that never waits",
                now.as_secs_f64()
            );
        }
    }

    fn arm(&self, at: Duration, host: Option<IpAddr>) -> Disarm {
        let mut armed = self.lock();
        let key = (at, armed.next);
        armed.next += 1;
        armed.at.insert(key, host);
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
        let late = d.arm(Duration::from_secs(9), None);
        let soon = d.arm(Duration::from_secs(2), None);
        let also_soon = d.arm(Duration::from_secs(2), None);
        assert_eq!(d.earliest(), Some(Duration::from_secs(2)));
        drop(soon);
        assert_eq!(d.earliest(), Some(Duration::from_secs(2)));
        drop(also_soon);
        assert_eq!(d.earliest(), Some(Duration::from_secs(9)));
        drop(late);
        assert_eq!(d.earliest(), None);
    }

    #[test]
    fn a_host_rests_until_its_own_earliest_deadline() {
        let d = Deadlines::default();
        let [a, b, c]: [IpAddr; 3] =
            ["10.0.0.1", "10.0.0.2", "10.0.0.3"].map(|s| s.parse().unwrap());
        let s = Duration::from_secs;
        let _a = d.arm(s(2), Some(a));
        let _b = d.arm(s(5), Some(b));
        assert_eq!(d.resting(&[a, b, c], s(1)), [a, b, c]);
        assert_eq!(d.resting(&[a, b, c], s(2)), [b, c]);
        assert_eq!(d.resting(&[a, b, c], s(5)), [c]);
        // A wait of no known host could be anyone's: nobody rests past it.
        let anyone = d.arm(s(3), None);
        assert_eq!(d.resting(&[a, b, c], s(2)), [b, c]);
        assert!(d.resting(&[a, b, c], s(3)).is_empty());
        drop(anyone);
        assert_eq!(d.resting(&[a, b, c], s(3)), [b, c]);
    }

    #[test]
    fn clock_calls_at_one_instant_are_limited_and_counted_afresh_when_time_passes() {
        let d = Deadlines::default();
        let t = Duration::from_secs(3);
        for _ in 1..SPIN_LIMIT {
            d.count_call(t, "a clock reading");
        }
        // Time passed: the count starts again.
        d.count_call(t + Duration::from_millis(1), "a clock reading");
        let spun = std::panic::catch_unwind(|| {
            for _ in 0..SPIN_LIMIT {
                d.count_call(t, "a wait started");
            }
        });
        let message = spun.expect_err("a spin at one instant panics");
        let message = message
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert!(
            message.starts_with("a host spins: 1000000 clock calls at 3.000000 s"),
            "{message}"
        );
        assert!(message.contains("(the last: a wait started)"), "{message}");
    }
}
