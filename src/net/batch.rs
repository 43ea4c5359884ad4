//! Batches of datagrams, so a busy server or load generator moves many per system call.
//!
//! A [`RecvBatch`] has fixed slots that received datagrams land in; a [`SendBatch`] packs outgoing
//! datagrams end to end in one buffer. Both are plain memory: any [`super::UdpSocket`] can fill or drain
//! them one datagram at a time, and the real network does it with one `recvmmsg` or `sendmmsg`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

/// Most datagrams a batch holds (and one system call moves).
pub const BATCH: usize = 32;

/// Bytes per receive slot: more than any valid message, so an oversize datagram is seen as oversize.
pub const SLOT: usize = 2048;

/// Datagrams received together, each with its sender.
pub struct RecvBatch {
    data: Box<[u8]>,
    lens: [usize; BATCH],
    peers: [SocketAddr; BATCH],
    len: usize,
    /// An error met after some datagrams, for the next receive to report: a socket may report an
    /// error only once (an earlier datagram refused), so it must not be lost with the batch.
    deferred: Option<io::Error>,
}

impl RecvBatch {
    pub fn new() -> Self {
        Self {
            data: vec![0; BATCH * SLOT].into_boxed_slice(),
            lens: [0; BATCH],
            peers: [SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)); BATCH],
            len: 0,
            deferred: None,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == BATCH
    }

    /// Empties the batch (an error deferred stays for the next receive).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Keeps `e`, met after this batch's datagrams, for the next receive to report.
    pub fn defer(&mut self, e: io::Error) {
        self.deferred = Some(e);
    }

    /// The error deferred by the last receive, if any.
    pub fn take_deferred(&mut self) -> Option<io::Error> {
        self.deferred.take()
    }

    /// Datagram `i`: its bytes (cut at [`SLOT`]) and its sender.
    pub fn get(&self, i: usize) -> (&[u8], SocketAddr) {
        assert!(i < self.len, "datagram {i} of a batch of {}", self.len);
        (&self.data[i * SLOT..][..self.lens[i]], self.peers[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> + '_ {
        (0..self.len).map(|i| self.get(i))
    }

    /// The next free slot, for one datagram; `None` when the batch is full.
    pub fn free_slot(&mut self) -> Option<&mut [u8]> {
        let start = self.len * SLOT;
        self.data.get_mut(start..start + SLOT)
    }

    /// All free slots, for a system call that fills several at once.
    #[cfg(target_os = "linux")]
    pub(super) fn free_slots(&mut self) -> impl Iterator<Item = &mut [u8]> {
        self.data[self.len * SLOT..].chunks_exact_mut(SLOT)
    }

    /// Records that the next free slot now holds a datagram of `n` bytes from `peer`.
    pub fn filled(&mut self, n: usize, peer: SocketAddr) {
        assert!(!self.is_full(), "a full batch has no slot to fill");
        self.lens[self.len] = n.min(SLOT);
        self.peers[self.len] = peer;
        self.len += 1;
    }
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

/// Datagrams to send, each with its destination, packed end to end in one buffer.
#[derive(Debug, Default)]
pub struct SendBatch {
    data: Vec<u8>,
    /// Where each datagram ends in `data`, and where it goes.
    ends: Vec<(usize, SocketAddr)>,
}

impl SendBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }

    /// Adds a datagram for `to`.
    pub fn push(&mut self, to: SocketAddr, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
        self.ends.push((self.data.len(), to));
    }

    /// Adds a datagram for `to`, written by `write` straight into the batch's buffer, if `write` says
    /// there is one (what it wrote otherwise is discarded).
    pub fn push_if(&mut self, to: SocketAddr, write: impl FnOnce(&mut Vec<u8>) -> bool) {
        let start = self.data.len();
        if write(&mut self.data) {
            self.ends.push((self.data.len(), to));
        } else {
            self.data.truncate(start);
        }
    }

    /// Datagram `i` and its destination.
    pub fn get(&self, i: usize) -> (&[u8], SocketAddr) {
        let start = if i == 0 { 0 } else { self.ends[i - 1].0 };
        let (end, to) = self.ends[i];
        (&self.data[start..end], to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    #[test]
    fn a_receive_batch_fills_its_slots_in_order_until_full() {
        let mut batch = RecvBatch::new();
        for i in 0..BATCH {
            let slot = batch.free_slot().expect("room left");
            assert_eq!(slot.len(), SLOT);
            slot[..2].copy_from_slice(&[b'a', i as u8]);
            batch.filled(2, addr(i as u16));
        }
        assert!(batch.is_full());
        assert!(batch.free_slot().is_none());
        assert_eq!(batch.get(5), (&[b'a', 5][..], addr(5)));
        assert_eq!(batch.iter().count(), BATCH);
        batch.clear();
        assert!(batch.is_empty());
        batch.filled(SLOT + 10, addr(9));
        assert_eq!(
            batch.get(0).0.len(),
            SLOT,
            "a truncated datagram is cut at the slot"
        );
    }

    #[test]
    fn a_send_batch_keeps_each_datagram_with_its_destination() {
        let mut batch = SendBatch::new();
        batch.push_if(addr(1), |b| {
            b.extend_from_slice(b"OK 1");
            true
        });
        batch.push_if(addr(2), |b| {
            b.extend_from_slice(b"not sent");
            false
        });
        batch.push(addr(3), b"");
        batch.push_if(addr(4), |b| {
            b.extend_from_slice(b"RESET 4");
            true
        });
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.get(0), (&b"OK 1"[..], addr(1)));
        assert_eq!(batch.get(1), (&b""[..], addr(3)));
        assert_eq!(batch.get(2), (&b"RESET 4"[..], addr(4)));
        batch.clear();
        assert!(batch.is_empty());
    }
}
