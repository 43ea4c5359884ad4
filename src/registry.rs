//! The server's table of in-use connection IDs, with time passed in explicitly.
//!
//! An ID recorded at time `t` is in use while its age `now - t` is at most the TTL and free once the age
//! exceeds it. `RESET` does not refresh an ID. Expired IDs are dropped from the front of an
//! insertion-ordered queue, so each request costs amortized O(1) and memory is proportional to the IDs
//! recorded within the last TTL.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::protocol::ConnId;

/// What the table decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The ID was free and is now recorded as in use.
    Granted,
    /// The ID is in use; nothing changed.
    InUse,
}

/// In-use connection IDs and when each was recorded.
#[derive(Debug)]
pub struct Registry {
    ttl: Duration,
    /// The IDs held. Expired ones are removed before every lookup, so holding means in use.
    recorded: HashSet<ConnId>,
    /// The same IDs in recording order, with their times (non-decreasing: `now` never goes back).
    order: VecDeque<(Instant, ConnId)>,
    /// The table gave memory back since [`Registry::take_shrunk`] last asked.
    shrunk: bool,
}

impl Registry {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            recorded: HashSet::new(),
            order: VecDeque::new(),
            shrunk: false,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Handles `HELLO id` at `now`: grants and records a free ID, or reports it in use.
    pub fn request(&mut self, id: &ConnId, now: Instant) -> Decision {
        self.expire(now);
        if self.recorded.contains(id) {
            return Decision::InUse;
        }
        // A clock that went backwards must not break the queue's order.
        let at = self.order.back().map_or(now, |(last, _)| now.max(*last));
        self.recorded.insert(id.clone());
        self.order.push_back((at, id.clone()));
        Decision::Granted
    }

    /// Whether `id` is in use at `now` (removing what has expired by then).
    pub fn is_in_use(&mut self, id: &ConnId, now: Instant) -> bool {
        self.expire(now);
        self.recorded.contains(id)
    }

    /// Removes every ID whose age at `now` exceeds the TTL.
    pub fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_duration_since(*at) <= self.ttl {
                break;
            }
            if let Some((_, id)) = self.order.pop_front() {
                self.recorded.remove(&id);
            }
        }
        // After a burst has expired, give its memory back (rarely: only when three quarters is unused).
        if self.order.capacity() > 4096 && self.order.len() < self.order.capacity() / 4 {
            self.order.shrink_to(self.order.len() * 2);
            self.recorded.shrink_to(self.order.len() * 2);
            self.shrunk = true;
        }
    }

    /// Whether the table shrank after a burst expired since the last call: then the allocator holds
    /// freed memory that the owner may want to give back to the system.
    pub fn take_shrunk(&mut self) -> bool {
        std::mem::take(&mut self.shrunk)
    }

    /// Number of IDs held (in use, or expired but not yet removed by a call at a later time).
    pub fn len(&self) -> usize {
        self.recorded.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recorded.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(30);

    fn id(s: &str) -> ConnId {
        ConnId::new(s).unwrap()
    }

    #[test]
    fn grants_a_free_id_and_resets_one_in_use() {
        let t0 = Instant::now();
        let mut r = Registry::new(TTL);
        assert_eq!(r.request(&id("9876"), t0), Decision::Granted);
        assert_eq!(r.request(&id("9876"), t0), Decision::InUse);
        assert_eq!(r.request(&id("1234"), t0), Decision::Granted);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn age_equal_to_ttl_is_in_use_and_one_microsecond_more_is_free() {
        let t0 = Instant::now();
        let mut r = Registry::new(TTL);
        r.request(&id("a"), t0);
        assert!(r.is_in_use(&id("a"), t0 + TTL));
        assert_eq!(r.request(&id("a"), t0 + TTL), Decision::InUse);
        let later = t0 + TTL + Duration::from_micros(1);
        assert!(!r.is_in_use(&id("a"), later));
        assert_eq!(r.request(&id("a"), later), Decision::Granted);
        // Granted again at `later`: in use for a full TTL from then.
        assert_eq!(r.request(&id("a"), later + TTL), Decision::InUse);
    }

    #[test]
    fn reset_does_not_refresh_the_age() {
        let t0 = Instant::now();
        let mut r = Registry::new(TTL);
        r.request(&id("a"), t0);
        assert_eq!(
            r.request(&id("a"), t0 + Duration::from_secs(29)),
            Decision::InUse
        );
        let after = t0 + TTL + Duration::from_micros(1);
        assert_eq!(r.request(&id("a"), after), Decision::Granted);
    }

    #[test]
    fn expires_in_recording_order_and_shrinks() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut r = Registry::new(TTL);
        r.request(&id("a"), t0);
        r.request(&id("b"), t0 + s(10));
        r.request(&id("c"), t0 + s(20));
        r.expire(t0 + s(31));
        assert_eq!(r.len(), 2);
        assert!(!r.is_in_use(&id("a"), t0 + s(31)));
        assert!(r.is_in_use(&id("b"), t0 + s(31)));
        r.expire(t0 + s(41));
        assert_eq!(r.len(), 1);
        assert!(r.is_in_use(&id("c"), t0 + s(41)));
        r.expire(t0 + s(51));
        assert!(r.is_empty());
        assert!(r.order.is_empty());
    }

    #[test]
    fn a_request_removes_expired_ids_so_the_table_stays_bounded() {
        let t0 = Instant::now();
        let mut r = Registry::new(Duration::from_secs(1));
        for i in 0..10_000u64 {
            let now = t0 + Duration::from_millis(i * 10);
            assert_eq!(r.request(&id(&i.to_string()), now), Decision::Granted);
            assert!(r.len() <= 101, "{} ids held at step {i}", r.len());
        }
    }

    #[test]
    fn memory_is_given_back_after_a_burst_expires() {
        let t0 = Instant::now();
        let mut r = Registry::new(Duration::from_secs(1));
        for i in 0..100_000u32 {
            r.request(&id(&i.to_string()), t0);
        }
        let big = r.order.capacity();
        assert!(!r.take_shrunk(), "growing is not shrinking");
        r.request(&id("late"), t0 + Duration::from_secs(2));
        assert!(r.take_shrunk(), "the owner hears of it");
        assert!(!r.take_shrunk(), "once");
        assert_eq!(r.len(), 1);
        assert!(
            r.order.capacity() < big / 100,
            "{} of {big}",
            r.order.capacity()
        );
        assert!(r.recorded.capacity() < 1000);
    }

    #[test]
    fn a_clock_going_backwards_keeps_the_queue_ordered() {
        let t0 = Instant::now() + Duration::from_secs(100);
        let mut r = Registry::new(TTL);
        r.request(&id("a"), t0);
        r.request(&id("b"), t0 - Duration::from_secs(5));
        r.expire(t0 + TTL + Duration::from_micros(1));
        assert!(r.is_empty());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// The obvious implementation: a list scanned on every call.
        struct Naive {
            ttl: Duration,
            held: Vec<(ConnId, Instant)>,
        }

        impl Naive {
            fn request(&mut self, id: &ConnId, now: Instant) -> Decision {
                let ttl = self.ttl;
                self.held
                    .retain(|(_, at)| now.saturating_duration_since(*at) <= ttl);
                if self.held.iter().any(|(held, _)| held == id) {
                    Decision::InUse
                } else {
                    self.held.push((id.clone(), now));
                    Decision::Granted
                }
            }
        }

        /// A step forward in time: often nothing, often right at or just past the TTL boundary.
        fn step(ttl_us: u64) -> impl Strategy<Value = u64> {
            prop_oneof![
                Just(0),
                Just(1),
                Just(ttl_us),
                Just(ttl_us + 1),
                Just(ttl_us - 1),
                0..ttl_us * 2,
            ]
        }

        /// A TTL and a sequence of (ID, microseconds to advance) requests.
        fn history() -> impl Strategy<Value = (u64, Vec<(usize, u64)>)> {
            (2u64..5_000_000).prop_flat_map(|ttl| {
                (
                    Just(ttl),
                    proptest::collection::vec((0usize..6, step(ttl)), 1..200),
                )
            })
        }

        proptest! {
            #[test]
            fn behaves_like_a_scanned_list((ttl_us, ops) in history()) {
                let ttl = Duration::from_micros(ttl_us);
                let t0 = Instant::now();
                let mut fast = Registry::new(ttl);
                let mut naive = Naive { ttl, held: Vec::new() };
                let mut now = t0;
                let ids: Vec<ConnId> = (0..6).map(|i| ConnId::new(&i.to_string()).unwrap()).collect();
                for (which, advance) in ops {
                    now += Duration::from_micros(advance);
                    let id = &ids[which];
                    prop_assert_eq!(fast.request(id, now), naive.request(id, now), "{} at {:?}", id, now - t0);
                    prop_assert_eq!(fast.len(), naive.held.len());
                    for other in &ids {
                        let held = naive.held.iter().any(|(h, _)| h == other);
                        prop_assert_eq!(fast.is_in_use(other, now), held);
                    }
                }
            }
        }
    }
}
