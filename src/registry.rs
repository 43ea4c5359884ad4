//! The server's table of in-use connection IDs, with time passed in explicitly.
//!
//! An ID recorded at time `t` is in use while its age `now - t` is at most the TTL and free once the age
//! exceeds it. `RESET` does not refresh an ID. Expired IDs are dropped from the front of an
//! insertion-ordered queue, so each request costs amortized O(1) and memory is proportional to the IDs
//! recorded within the last TTL.
//!
//! No request does work proportional to the table: the set is split into [`SHARDS`] hash tables that grow
//! one at a time, the queue is a list of fixed-size chunks, and a request removes at most
//! [`EXPIRE_PER_CALL`] expired IDs (each entry keeps its time, so one expired but not yet removed still
//! counts as free). A single table of millions of IDs paused the server for tens of milliseconds each time
//! it doubled, and removing millions of expired IDs at once took over a second.
//!
//! The table keeps its own copy of each ID, inline when short, and the queue only the ID's hash and
//! time: a grant allocates nothing for a usual ID and touches no shared reference count, and growing a
//! shard or removing an expired ID never hashes text again.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::time::{Duration, Instant};

use hashbrown::HashTable;

use crate::protocol::ConnId;

/// How many hash tables the set is split into; a shard holds about 1/SHARDS of the IDs, so growing one
/// rehashes only that many (about 2,000 at 9 million live IDs).
pub const SHARDS: usize = 4096;

/// IDs per chunk of the expiry queue.
const CHUNK: usize = 4096;

/// Most expired IDs one call removes; more than the one ID a request can add, so a backlog drains.
pub const EXPIRE_PER_CALL: usize = 64;

/// What the table decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The ID was free and is now recorded as in use.
    Granted,
    /// The ID is in use; nothing changed.
    InUse,
    /// The ID is free but the table already holds its most IDs, all in use: it is not recorded.
    Full,
}

/// In-use connection IDs and when each was recorded.
#[derive(Debug)]
pub struct Registry<S = RandomState> {
    ttl: Duration,
    /// The most IDs held at once; a new one beyond it is refused ([`Decision::Full`]).
    max: usize,
    /// Hashes IDs, and so picks their shard; std's default has a per-process random key (hash
    /// flooding).
    hasher: S,
    /// The IDs held, by hash. One older than the TTL is free.
    shards: Box<[HashTable<Entry>]>,
    len: usize,
    /// The grants in order: each one's time and its ID's hash (a re-granted ID is queued again).
    order: Timeline,
    /// Times are kept as nanoseconds since the first call (8 bytes, not an `Instant`'s 16).
    epoch: Option<Instant>,
    /// The latest time seen: a clock that goes backwards is taken as standing still.
    last: Tick,
    /// The most IDs held since the table last reported shrinking.
    peak: usize,
    /// The table gave memory back since [`Registry::take_shrunk`] last asked.
    shrunk: bool,
}

impl Registry {
    pub fn new(ttl: Duration) -> Self {
        Self::with_hasher(ttl, RandomState::new())
    }
}

impl<S: BuildHasher> Registry<S> {
    /// A table that hashes IDs with `hasher` (tests use a poor one to make every ID collide).
    pub fn with_hasher(ttl: Duration, hasher: S) -> Self {
        Self {
            ttl,
            max: usize::MAX,
            hasher,
            shards: (0..SHARDS).map(|_| HashTable::new()).collect(),
            len: 0,
            order: Timeline::default(),
            epoch: None,
            last: 0,
            peak: 0,
            shrunk: false,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The same table holding at most `max` IDs in use at once: memory is bounded whatever peers
    /// send. IDs already granted keep their full TTL; a new one is refused while `max` are in use.
    pub fn with_max(mut self, max: usize) -> Self {
        self.max = max;
        self
    }

    /// Handles `HELLO id` at `now`: grants and records a free ID, or reports it in use.
    pub fn request(&mut self, id: &ConnId, now: Instant) -> Decision {
        let now = self.tick(now);
        self.remove_expired(now, EXPIRE_PER_CALL);
        let ttl = self.ttl_ticks();
        let text = id.as_str().as_bytes();
        let hash = self.hash(text);
        let shard = &mut self.shards[shard_of(hash)];
        match shard.find_mut(hash, |held| held.is(hash, text)) {
            Some(held) if now - held.at <= ttl => return Decision::InUse,
            // Expired but not removed yet: granted afresh in place (its old queue entry will not
            // remove it, the times differ).
            Some(held) => held.at = now,
            None => {
                // Full of IDs in use: expired ones still held are removed first, so the table is
                // refused only when `max` IDs are really in use.
                while self.len >= self.max {
                    if self.remove_expired(now, EXPIRE_PER_CALL) == 0 {
                        return Decision::Full;
                    }
                }
                let shard = &mut self.shards[shard_of(hash)];
                let entry = Entry {
                    hash,
                    at: now,
                    text: Text::new(text),
                };
                shard.insert_unique(hash, entry, |held| held.hash);
                self.len += 1;
                self.peak = self.peak.max(self.len);
            }
        }
        self.order.push_back((now, hash));
        Decision::Granted
    }

    /// Starts loading the table memory that requests for `ids` will touch, and changes nothing. In a
    /// table of millions of IDs that cache miss is most of a request's cost; a server that receives a
    /// batch of requests calls this first, so the misses of the whole batch overlap.
    pub fn prefetch<'a>(&self, ids: impl IntoIterator<Item = &'a ConnId>) {
        for id in ids {
            let text = id.as_str().as_bytes();
            let hash = self.hash(text);
            let found = self.shards[shard_of(hash)].find(hash, |held| held.is(hash, text));
            // The lookup's loads are the point; its answer may be out of date by the time of the
            // request, so it is not used.
            std::hint::black_box(found.is_some());
        }
    }

    /// Whether `id` is in use at `now`.
    pub fn is_in_use(&mut self, id: &ConnId, now: Instant) -> bool {
        let now = self.tick(now);
        self.remove_expired(now, EXPIRE_PER_CALL);
        let text = id.as_str().as_bytes();
        let hash = self.hash(text);
        self.shards[shard_of(hash)]
            .find(hash, |held| held.is(hash, text))
            .is_some_and(|held| now - held.at <= self.ttl_ticks())
    }

    /// Removes every ID whose age at `now` exceeds the TTL.
    pub fn expire(&mut self, now: Instant) {
        self.expire_some(now, usize::MAX);
    }

    /// Removes up to `limit` IDs whose age at `now` exceeds the TTL, oldest first; says whether more
    /// expired ones remain. An idle server calls this to give memory back without waiting for requests.
    pub fn expire_some(&mut self, now: Instant, limit: usize) -> bool {
        let now = self.tick(now);
        self.remove_expired(now, limit);
        let ttl = self.ttl_ticks();
        self.order.front().is_some_and(|(at, _)| now - at > ttl)
    }

    /// The first instant at which the oldest ID recorded is free (its age then exceeds the TTL); `None`
    /// when none is held or that is beyond what an `Instant` can hold. The oldest may have been granted
    /// again since: it is then the next one after it that expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        let (at, _) = self.order.front()?;
        let nanos = at.checked_add(self.ttl_ticks())?.checked_add(1)?;
        self.epoch?.checked_add(Duration::from_nanos(nanos))
    }

    /// Removes up to `limit` IDs whose age at `now` exceeds the TTL, oldest first.
    /// Pops at most `limit` expired grants off the queue (removing their IDs); returns how many it
    /// popped.
    fn remove_expired(&mut self, now: Tick, limit: usize) -> usize {
        let ttl = self.ttl_ticks();
        let mut popped = 0;
        for _ in 0..limit {
            match self.order.front() {
                Some((at, _)) if now - at > ttl => {}
                _ => break,
            }
            let Some((at, hash)) = self.order.pop_front() else {
                break;
            };
            popped += 1;
            let shard = &mut self.shards[shard_of(hash)];
            // The queue entry names its grant by hash and time. An entry re-granted since has a later
            // time and stays. Two IDs with the same hash and time were granted together and are both
            // due now, so whichever this removes, the other's queue entry removes the other.
            if let Ok(entry) = shard.find_entry(hash, |held| held.hash == hash && held.at == at) {
                entry.remove();
                self.len -= 1;
            }
            if worth_shrinking(shard.len(), shard.capacity()) {
                shard.shrink_to(shard.len() * 2, |held| held.hash);
            }
        }
        if shrank_a_lot(self.peak, self.len) {
            self.peak = self.len;
            self.shrunk = true;
        }
        popped
    }

    fn hash(&self, text: &[u8]) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(text);
        hasher.finish()
    }

    /// `now` as nanoseconds since the first call, never earlier than a time already seen.
    fn tick(&mut self, now: Instant) -> Tick {
        let epoch = *self.epoch.get_or_insert(now);
        let since = now.saturating_duration_since(epoch).as_nanos();
        self.last = self.last.max(Tick::try_from(since).unwrap_or(Tick::MAX));
        self.last
    }

    fn ttl_ticks(&self) -> Tick {
        Tick::try_from(self.ttl.as_nanos()).unwrap_or(Tick::MAX)
    }

    /// Whether the table shrank to under a quarter of its peak since the last call: then the
    /// allocator holds freed memory that the owner may want to give back to the system.
    pub fn take_shrunk(&mut self) -> bool {
        std::mem::take(&mut self.shrunk)
    }

    /// Number of IDs held: in use, or expired but not yet removed (at most [`EXPIRE_PER_CALL`] go per
    /// call, and only on calls).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Whether a shard holding `len` entries with room for `capacity` should give memory back after a
/// burst has expired: all of it once empty, else only when over three quarters of it (and more than a
/// few entries' worth) is unused, so shrinking is rare.
fn worth_shrinking(len: usize, capacity: usize) -> bool {
    let unused = capacity - len;
    (len == 0 && unused > 0) || (unused > 16 && len < capacity / 4)
}

/// Whether a table that held `peak` IDs at most (a big one: over four chunks) now holds under a
/// quarter of that: its owner may then give freed memory back to the system.
fn shrank_a_lot(peak: usize, len: usize) -> bool {
    peak > 4 * CHUNK && len < peak / 4
}

/// A time: nanoseconds since the registry's first call.
type Tick = u64;

/// The shard of a hash: bits the tables themselves do not use (they take the low bits for the slot and
/// the top seven as a tag), so every shard still spreads its IDs well.
fn shard_of(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

/// One held ID: its hash (kept, so growing a shard and removing an expired ID never hash text again),
/// the time it was granted, and its text.
#[derive(Debug)]
struct Entry {
    hash: u64,
    at: Tick,
    text: Text,
}

impl Entry {
    fn is(&self, hash: u64, text: &[u8]) -> bool {
        self.hash == hash && self.text.as_bytes() == text
    }
}

/// Longest ID kept inline in its entry; longer ones (rare) are allocated.
const INLINE: usize = 22;

/// An ID's bytes, inline when short: 24 bytes either way.
#[derive(Debug)]
enum Text {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

const _: () = assert!(std::mem::size_of::<Entry>() == 40);

impl Text {
    fn new(text: &[u8]) -> Self {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..text.len()].copy_from_slice(text);
                Text::Inline { len, bytes }
            }
            _ => Text::Heap(text.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Text::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Text::Heap(bytes) => bytes,
        }
    }
}

/// A queue in fixed-size chunks: pushing never copies what is queued, and a chunk's memory is freed
/// as soon as its last entry leaves.
#[derive(Debug, Default)]
struct Timeline {
    chunks: VecDeque<VecDeque<(Tick, u64)>>,
}

impl Timeline {
    fn push_back(&mut self, entry: (Tick, u64)) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => last.push_back(entry),
            _ => {
                let mut chunk = VecDeque::with_capacity(CHUNK);
                chunk.push_back(entry);
                self.chunks.push_back(chunk);
            }
        }
    }

    fn front(&self) -> Option<(Tick, u64)> {
        self.chunks.front()?.front().copied()
    }

    fn pop_front(&mut self) -> Option<(Tick, u64)> {
        let first = self.chunks.front_mut()?;
        let entry = first.pop_front();
        if first.is_empty() {
            self.chunks.pop_front();
        }
        entry
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.chunks.is_empty()
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
    fn the_ttl_is_the_one_it_was_made_with() {
        assert_eq!(Registry::new(TTL).ttl(), TTL);
        assert_eq!(
            Registry::new(Duration::from_millis(1)).ttl(),
            Duration::from_millis(1)
        );
    }

    #[test]
    fn next_expiry_is_the_first_instant_the_oldest_id_is_free() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let ns = Duration::from_nanos;
        let mut r = Registry::new(TTL);
        assert_eq!(r.next_expiry(), None);
        r.request(&id("a"), t0);
        r.request(&id("b"), t0 + s(10));
        let due = r.next_expiry().unwrap();
        assert_eq!(due, t0 + TTL + ns(1));
        assert!(r.is_in_use(&id("a"), due - ns(1)));
        assert!(!r.is_in_use(&id("a"), due));
        // "a" was removed by that look, "b" is next; granted again, its first grant still comes first
        // (and frees nothing), then its second.
        assert_eq!(r.next_expiry(), Some(t0 + s(10) + TTL + ns(1)));
        r.request(&id("b"), t0 + s(45));
        assert_eq!(r.next_expiry(), Some(t0 + s(45) + TTL + ns(1)));
        r.expire(t0 + s(45) + TTL + ns(1));
        assert_eq!(r.next_expiry(), None);
        // A TTL too long for any instant: nothing is ever due.
        let mut forever = Registry::new(Duration::MAX);
        forever.request(&id("a"), t0);
        assert_eq!(forever.next_expiry(), None);
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
    fn a_shard_shrinks_once_empty_or_over_three_quarters_unused() {
        assert!(!worth_shrinking(0, 0), "nothing to give back");
        assert!(worth_shrinking(0, 1));
        assert!(worth_shrinking(9, 40) && worth_shrinking(8, 40));
        assert!(!worth_shrinking(10, 40), "exactly three quarters unused");
        assert!(
            !worth_shrinking(1, 17),
            "16 unused entries are not worth it"
        );
        assert!(worth_shrinking(1, 18));
        assert!(!worth_shrinking(20, 20));
    }

    #[test]
    fn the_owner_hears_of_a_big_table_shrinking_under_a_quarter() {
        let big = 4 * CHUNK + 4;
        assert!(shrank_a_lot(big, big / 4 - 1));
        assert!(
            !shrank_a_lot(big, big / 4),
            "a quarter is not under a quarter"
        );
        assert!(!shrank_a_lot(4 * CHUNK, 0), "four chunks are not big");
        assert!(shrank_a_lot(4 * CHUNK + 1, 0));
    }

    #[test]
    fn expire_some_says_whether_expired_ids_remain() {
        let t0 = Instant::now();
        let mut r = Registry::new(TTL);
        r.request(&id("a"), t0);
        r.request(&id("b"), t0 + Duration::from_secs(1));
        assert!(!r.is_empty());
        // "a" goes; "b" is exactly one TTL old: not expired yet.
        assert!(!r.expire_some(t0 + Duration::from_secs(1) + TTL, 1));
        assert_eq!(r.len(), 1);
        assert!(r.expire_some(t0 + Duration::from_secs(2) + TTL, 0));
    }

    #[test]
    fn memory_is_given_back_after_a_burst_expires() {
        let t0 = Instant::now();
        let mut r = Registry::new(Duration::from_secs(1));
        for i in 0..100_000u32 {
            r.request(&id(&i.to_string()), t0);
        }
        let capacity = |r: &Registry| r.shards.iter().map(HashTable::capacity).sum::<usize>();
        let big = capacity(&r);
        assert!(big >= 100_000);
        assert_eq!(r.order.chunks.len(), 100_000usize.div_ceil(CHUNK));
        assert!(!r.take_shrunk(), "growing is not shrinking");
        // Requests drain the expired IDs a bounded number at a time (bounded here too, so a registry
        // that never drains fails the test instead of hanging it).
        let expected = 100_000usize.div_ceil(EXPIRE_PER_CALL);
        let calls = (1..=expected + 1)
            .find(|_| {
                r.request(&id("late"), t0 + Duration::from_secs(2));
                r.len() <= 1
            })
            .expect("the expired IDs drain");
        assert_eq!(calls, expected);
        assert!(r.take_shrunk(), "the owner hears of it");
        assert!(!r.take_shrunk(), "once");
        assert!(capacity(&r) < big / 10, "{} of {big}", capacity(&r));
        assert_eq!(r.order.chunks.len(), 1);
    }

    #[test]
    fn a_request_removes_a_bounded_number_and_stale_ids_are_free_at_once() {
        let t0 = Instant::now();
        let mut r = Registry::new(TTL);
        let n = 10 * EXPIRE_PER_CALL;
        for i in 0..n {
            r.request(&id(&i.to_string()), t0);
        }
        let later = t0 + TTL + Duration::from_micros(1);
        // The last ID granted is still held (not removed yet), but it is free.
        let last = id(&(n - 1).to_string());
        assert!(r.expire_some(later, 0), "expired IDs wait to be removed");
        assert!(!r.is_in_use(&last, later));
        assert_eq!(
            r.len(),
            n - EXPIRE_PER_CALL,
            "one call removed a bounded number"
        );
        assert_eq!(r.request(&last, later), Decision::Granted);
        assert_eq!(r.request(&last, later), Decision::InUse);
        for _ in 0..n {
            r.request(&id("other"), later);
        }
        // Everything old is gone; the re-granted ID survived its old queue entry.
        assert_eq!(r.len(), 2);
        assert!(!r.expire_some(later, 1), "nothing expired is left");
        assert!(r.is_in_use(&last, later + TTL));
        assert!(!r.is_in_use(&last, later + TTL + Duration::from_micros(1)));
    }

    #[test]
    fn ids_spread_over_the_shards() {
        let t0 = Instant::now();
        let mut r = Registry::new(TTL);
        for i in 0..SHARDS * 8 {
            r.request(&id(&i.to_string()), t0);
        }
        let fullest = r.shards.iter().map(HashTable::len).max().unwrap_or(0);
        let empty = r.shards.iter().filter(|s| s.is_empty()).count();
        // Eight per shard on average; a fair hash keeps every shard well below 40 and few empty.
        assert!(fullest < 40, "a shard holds {fullest}");
        assert!(empty < SHARDS / 100, "{empty} shards are empty");
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
        use std::hash::BuildHasherDefault;

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

        /// Hashes every ID alike, so all of them collide in one shard and only the stored text and
        /// times tell them apart.
        #[derive(Default)]
        struct Collide;

        impl Hasher for Collide {
            fn write(&mut self, _: &[u8]) {}
            fn finish(&self) -> u64 {
                7
            }
        }

        /// Replays `ops` against the table and the scanned list, checking every answer.
        fn check<S: BuildHasher>(
            mut fast: Registry<S>,
            ttl: Duration,
            ops: &[(usize, u64)],
        ) -> Result<(), TestCaseError> {
            let t0 = Instant::now();
            let mut naive = Naive {
                ttl,
                held: Vec::new(),
            };
            let mut now = t0;
            // Short IDs are kept inline, long ones (here 23 and 64 characters) on the heap.
            let ids: Vec<ConnId> = ["0", "1", "22", "333", &"4".repeat(23), &"5".repeat(64)]
                .iter()
                .map(|s| ConnId::new(s).unwrap())
                .collect();
            for &(which, advance) in ops {
                now += Duration::from_micros(advance);
                let id = &ids[which];
                prop_assert_eq!(
                    fast.request(id, now),
                    naive.request(id, now),
                    "{} at {:?}",
                    id,
                    now - t0
                );
                prop_assert_eq!(fast.len(), naive.held.len());
                for other in &ids {
                    let held = naive.held.iter().any(|(h, _)| h == other);
                    prop_assert_eq!(fast.is_in_use(other, now), held);
                }
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn behaves_like_a_scanned_list((ttl_us, ops) in history()) {
                let ttl = Duration::from_micros(ttl_us);
                check(Registry::new(ttl), ttl, &ops)?;
            }

            #[test]
            fn behaves_like_a_scanned_list_when_every_hash_collides((ttl_us, ops) in history()) {
                let ttl = Duration::from_micros(ttl_us);
                check(Registry::with_hasher(ttl, BuildHasherDefault::<Collide>::default()), ttl, &ops)?;
            }
        }
    }
}
