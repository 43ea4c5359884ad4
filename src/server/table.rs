//! The table of IDs as the server keeps it: decisions recorded in it, expired IDs removed a slice at
//! a time while the server has nothing else to do, and freed memory given back after a burst.

use std::net::SocketAddr;
use std::time::Instant;

use super::decision::decide;
use crate::protocol::{ConnId, Message};
use crate::registry::Registry;

/// Most expired IDs removed between two looks at the socket while tidying (well under a millisecond).
const TIDY_SLICE: usize = 1024;

/// The server's table.
pub(super) struct Table {
    registry: Registry,
}

impl Table {
    pub(super) fn new(registry: Registry) -> Self {
        Self { registry }
    }

    /// Decides a request for `id` from `peer` at `now` (see [`decide`]); `None`: the table is full.
    pub(super) fn decide(&mut self, id: ConnId, peer: SocketAddr, now: Instant) -> Option<Message> {
        let reply = decide(&mut self.registry, id, peer, now);
        self.give_back_memory();
        reply
    }

    /// Looks the IDs of a batch up before any is decided, so their cache misses overlap.
    pub(super) fn prefetch<'a>(&self, ids: impl Iterator<Item = &'a ConnId>) {
        self.registry.prefetch(ids);
    }

    /// When the oldest ID held expires (see [`Registry::next_expiry`]): while expired IDs wait for
    /// removal, a time already past.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.registry.next_expiry()
    }

    /// Removes a slice of the expired IDs; requests remove a few each, but an idle server would hold
    /// a burst's memory until the next request.
    pub(super) fn tidy(&mut self, now: Instant) {
        self.registry.expire_some(now, TIDY_SLICE);
        self.give_back_memory();
    }

    fn give_back_memory(&mut self) {
        if self.registry.take_shrunk() {
            crate::memory::give_back_freed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn tidying_removes_what_expired_and_says_when_it_is_done() {
        let ttl = Duration::from_secs(30);
        let mut table = Table::new(Registry::new(ttl));
        let t0 = Instant::now();
        let peer: SocketAddr = "10.0.0.1:7".parse().unwrap();
        assert_eq!(table.next_expiry(), None);
        for i in 0..10 {
            let id = ConnId::new(&i.to_string()).unwrap();
            assert!(matches!(table.decide(id, peer, t0), Some(Message::Ok(..))));
        }
        let due = t0 + ttl + Duration::from_nanos(1);
        assert_eq!(table.next_expiry(), Some(due));
        // Nothing has expired yet: tidying removes nothing.
        table.tidy(t0 + ttl);
        assert_eq!(table.next_expiry(), Some(due));
        table.tidy(due);
        assert_eq!(table.next_expiry(), None);
        assert!(table.registry.is_empty());
    }
}
