//! The clock seam: where printed timestamps come from, and how every timer waits.
//!
//! The client's and the server's timers all wait through [`Clock::sleep_until`] (or [`sleep`] and
//! [`timeout`] on top of it), so a simulator can see each host's next deadline and jump straight to it
//! instead of stepping through idle time. Deadlines are `tokio::time` instants, which the simulator
//! virtualizes.

use std::future::Future;
use std::time::Duration;

use chrono::NaiveDateTime;
use tokio::time::Instant;

/// A source of the local date and time printed in messages, and of the waits behind every timeout.
pub trait Clock: Send + Sync {
    fn now(&self) -> NaiveDateTime;

    /// Completes at `deadline`. The real clock hands it to tokio; a simulated one also notes it as an
    /// armed deadline for as long as the returned future lives.
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(deadline)
    }
}

/// Waits `duration` on `clock`.
pub async fn sleep<C: Clock>(clock: &C, duration: Duration) {
    clock.sleep_until(Instant::now() + duration).await;
}

/// Runs `work` for at most `limit` on `clock`: `None` when the time ran out first.
pub async fn timeout<C: Clock, F: Future>(
    clock: &C,
    limit: Duration,
    work: F,
) -> Option<F::Output> {
    let deadline = Instant::now() + limit;
    tokio::select! {
        // Work that completes together with the deadline counts, as with `tokio::time::timeout`.
        biased;
        done = work => Some(done),
        // Unconstrained, as `tokio::time::timeout` polls its delay: work that is always ready (a
        // peer that never stops sending) spends the task's cooperative budget each time, and a
        // budgeted timer would then never be seen to fire.
        () = tokio::task::unconstrained(clock.sleep_until(deadline)) => None,
    }
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
    fn a_timeout_fires_over_work_that_is_always_ready() {
        use tokio::io::AsyncReadExt;
        // A peer that never stops sending: each read is ready at once and spends the task's
        // cooperative budget. Run on its own thread, so a timeout that never fires fails the test
        // instead of hanging it.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let got = runtime.block_on(timeout(&SystemClock, Duration::from_millis(100), async {
                let mut endless = tokio::io::repeat(b'y');
                let mut buf = [0u8; 4096];
                while endless.read(&mut buf).await.is_ok() {}
            }));
            let _ = done.send(got);
        });
        let got = finished.recv_timeout(Duration::from_secs(30));
        assert_eq!(got, Ok(None), "the timeout must fire");
    }

    #[tokio::test(start_paused = true)]
    async fn sleep_and_timeout_wait_on_the_clock() {
        let start = Instant::now();
        sleep(&SystemClock, Duration::from_secs(15)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(15));

        let limit = Duration::from_secs(2);
        let quick = timeout(
            &SystemClock,
            limit,
            sleep(&SystemClock, Duration::from_secs(1)),
        );
        assert_eq!(quick.await, Some(()));
        assert_eq!(start.elapsed(), Duration::from_secs(16));
        let slow = timeout(
            &SystemClock,
            limit,
            sleep(&SystemClock, Duration::from_secs(3)),
        );
        assert_eq!(slow.await, None);
        assert_eq!(start.elapsed(), Duration::from_secs(18));
        // Work done together with the deadline counts.
        let even = timeout(&SystemClock, limit, sleep(&SystemClock, limit));
        assert_eq!(even.await, Some(()));
    }

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
