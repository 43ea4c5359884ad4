//! The record of one simulated run: every event at the seams, with its virtual time and host.
//!
//! Sends and receives are recorded at our own network seam (turmoil drops some messages without a
//! trace), and each receive is matched to the send it delivers, so every message ends with a fate:
//! delivered at a time, or lost.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::NaiveDateTime;
use connid::Transport;

use crate::scenario::Action;

/// What one run produced: the events, and what they need to be read.
#[derive(Debug, Clone)]
pub struct Run {
    pub transport: Transport,
    /// Every host with its simulated address, server first.
    pub hosts: Vec<(String, IpAddr)>,
    pub events: Vec<Event>,
    /// The wall-clock time at virtual time zero: printed timestamps count from it.
    pub epoch: NaiveDateTime,
    /// Virtual time when the run ended.
    pub simulated: Duration,
    /// Whether the run was cut off at the scenario's limit with hosts still running.
    pub hit_limit: bool,
    /// How many steps the simulation took (0 on real sockets).
    pub steps: u64,
}

impl Run {
    /// When the network healed for good: the time the last fault applied was applied, if it was a
    /// `heal`. The time the run applied it, not the time its scenario asked for.
    pub fn healed_at(&self) -> Option<Duration> {
        let last = self.events.iter().rev().find_map(|e| match e.kind {
            EventKind::Fault { action, .. } => Some((e.at, action)),
            _ => None,
        });
        last.filter(|(_, action)| *action == Action::Heal)
            .map(|(at, _)| at)
    }

    /// When `host` started, as recorded.
    pub fn started_at(&self, host: &str) -> Option<Duration> {
        self.events
            .iter()
            .find(|e| e.host == host && matches!(e.kind, EventKind::Start(_)))
            .map(|e| e.at)
    }
}

/// `12.345678`: virtual seconds with microseconds, the precision every program prints.
pub fn secs(d: Duration) -> String {
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Virtual time since the start of the simulation.
    pub at: Duration,
    pub host: String,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A program started, with its command line.
    Start(String),
    /// A line on standard output.
    Out(String),
    /// A line on standard error.
    Err(String),
    /// A prompt was shown; `after` it, a line was typed, or input ended (`None`).
    Prompt {
        prompt: String,
        typed: Option<String>,
        after: Duration,
    },
    /// The checker's keyboard typed a line no visible prompt asked for (`None`: it ended input).
    /// Only `conform` records it: a client that reads its input without printing a prompt.
    Keyboard(Option<String>),
    /// A message left a socket; `delivered` is filled in when it is received.
    Send {
        msg: usize,
        transport: Transport,
        from: SocketAddr,
        to: SocketAddr,
        payload: Vec<u8>,
        delivered: Option<Duration>,
    },
    /// The program's socket at `local` is the kernel's socket `inode`: which socket a request came
    /// from, where a port alone cannot tell (the system may give a new socket an old one's port).
    /// Only `conform` records it, over UDP, when a request comes from a socket not seen at that
    /// address before.
    SocketInode { local: SocketAddr, inode: u64 },
    /// A TCP connection attempt began.
    Connect { to: SocketAddr },
    /// The attempt succeeded, from this local address.
    Connected { from: SocketAddr, to: SocketAddr },
    /// The server accepted a connection from `from`.
    Accepted { from: SocketAddr, to: SocketAddr },
    /// The attempt failed at once (a hung attempt that is given up has no such event).
    ConnectFailed { to: SocketAddr, why: String },
    /// This side half-closed a TCP connection: it sends no more, but still reads.
    Shutdown { local: SocketAddr, peer: SocketAddr },
    /// A TCP connection was closed by this side.
    Close { local: SocketAddr, peer: SocketAddr },
    /// A message the network refused to send (an injected socket error): it never left.
    SendFailed {
        transport: Transport,
        from: SocketAddr,
        to: SocketAddr,
        payload: Vec<u8>,
        why: String,
    },
    /// A receive or an accept that reported an injected socket error.
    SocketError { op: SocketOp, why: String },
    /// A fault the timeline applied, when it was applied, and what it did in words.
    Fault { action: Action, text: String },
    /// A program ended with an exit code.
    Exit(u8),
    /// The host's software was stopped from outside.
    Crash,
}

/// The socket call that reported an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketOp {
    Receive,
    Accept,
}

impl std::fmt::Display for SocketOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SocketOp::Receive => "receive",
            SocketOp::Accept => "accept",
        })
    }
}

/// What was recorded so far; shared by every host of one simulation.
#[derive(Debug, Default)]
pub struct Log {
    events: Vec<Event>,
    next_msg: usize,
}

impl Log {
    /// The events in virtual-time order (ties keep the order they were recorded in).
    pub fn into_events(mut self) -> Vec<Event> {
        self.events.sort_by_key(|e| e.at);
        self.events
    }
}

/// A handle to the shared log, cheap to clone into every host.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Log>>);

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        // A panic while recording already fails the run; the log itself stays usable.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self, at: Duration, host: &str, kind: EventKind) {
        self.lock().events.push(Event {
            at,
            host: host.to_string(),
            kind,
        });
    }

    /// Records a send and returns its message number.
    pub fn send(
        &self,
        at: Duration,
        host: &str,
        transport: Transport,
        from: SocketAddr,
        to: SocketAddr,
        payload: &[u8],
    ) -> usize {
        self.record_send(at, host, transport, from, to, payload, None)
    }

    /// Records a send that arrived the moment it left: on loopback, where only one end of it is seen.
    pub fn send_arrived(
        &self,
        at: Duration,
        host: &str,
        transport: Transport,
        from: SocketAddr,
        to: SocketAddr,
        payload: &[u8],
    ) -> usize {
        self.record_send(at, host, transport, from, to, payload, Some(at))
    }

    #[allow(clippy::too_many_arguments)]
    fn record_send(
        &self,
        at: Duration,
        host: &str,
        transport: Transport,
        from: SocketAddr,
        to: SocketAddr,
        payload: &[u8],
        delivered: Option<Duration>,
    ) -> usize {
        let mut log = self.lock();
        let msg = log.next_msg;
        log.next_msg += 1;
        log.events.push(Event {
            at,
            host: host.to_string(),
            kind: EventKind::Send {
                msg,
                transport,
                from,
                to,
                payload: payload.to_vec(),
                delivered,
            },
        });
        msg
    }

    /// Marks as delivered the oldest undelivered sends from `from` to `to` whose payloads, in
    /// order, make up `bytes` (one datagram, or what one TCP read returned).
    pub fn receive(
        &self,
        at: Duration,
        transport: Transport,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
    ) {
        let mut log = self.lock();
        let mut rest = bytes;
        for event in log.events.iter_mut() {
            if rest.is_empty() {
                break;
            }
            if let EventKind::Send {
                transport: t,
                from: f,
                to: dst,
                payload,
                delivered: delivered @ None,
                ..
            } = &mut event.kind
            {
                // A datagram is one send, whole; TCP bytes may join several writes.
                let matches = match transport {
                    Transport::Udp => rest == payload.as_slice(),
                    Transport::Tcp => rest.starts_with(payload),
                };
                if *t == transport && *f == from && *dst == to && matches {
                    *delivered = Some(at);
                    rest = &rest[payload.len()..];
                    if transport == Transport::Udp {
                        break;
                    }
                }
            }
        }
    }

    /// Takes the events out once the simulation is over.
    pub fn take(&self) -> Log {
        std::mem::take(&mut *self.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_datagram_marks_only_a_send_of_exactly_its_bytes() {
        let r = Recorder::new();
        let (c, s) = (a("192.168.0.2:49152"), a("192.168.0.1:5000"));
        let ms = Duration::from_millis;
        r.send(ms(0), "c", Transport::Udp, c, s, b"HELLO");
        r.send(ms(1), "c", Transport::Udp, c, s, b"HELLO\n");
        // The second overtakes the first: its bytes begin with the first's, but it is not that one.
        r.receive(ms(5), Transport::Udp, c, s, b"HELLO\n");
        r.receive(ms(6), Transport::Udp, c, s, b"HELLO");
        let fates: Vec<_> = r
            .take()
            .into_events()
            .iter()
            .map(|e| match &e.kind {
                EventKind::Send { delivered, .. } => *delivered,
                _ => None,
            })
            .collect();
        assert_eq!(fates, [Some(ms(6)), Some(ms(5))]);
    }

    #[test]
    fn a_receive_marks_the_oldest_matching_send() {
        let r = Recorder::new();
        let (c, s) = (a("192.168.0.2:49152"), a("192.168.0.1:5000"));
        let ms = Duration::from_millis;
        r.send(ms(0), "c", Transport::Udp, c, s, b"HELLO 1");
        r.send(ms(1), "c", Transport::Udp, c, s, b"HELLO 1");
        r.receive(ms(5), Transport::Udp, c, s, b"HELLO 1");
        let events = r.take().into_events();
        let fates: Vec<_> = events
            .iter()
            .map(|e| match &e.kind {
                EventKind::Send { delivered, .. } => *delivered,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(fates, [Some(ms(5)), None]);
    }

    #[test]
    fn one_tcp_read_can_deliver_several_writes() {
        let r = Recorder::new();
        let (c, s) = (a("192.168.0.2:49152"), a("192.168.0.1:5000"));
        let t = Duration::from_millis(1);
        r.send(t, "c", Transport::Tcp, c, s, b"HEL");
        r.send(t, "c", Transport::Tcp, c, s, b"LO 1");
        r.send(t, "c", Transport::Tcp, s, c, b"HEL");
        r.receive(t * 2, Transport::Tcp, c, s, b"HELLO 1");
        let delivered: Vec<_> = r
            .take()
            .into_events()
            .into_iter()
            .map(|e| {
                matches!(
                    e.kind,
                    EventKind::Send {
                        delivered: Some(_),
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(delivered, [true, true, false]);
    }

    #[test]
    fn events_sort_by_time_and_keep_ties_in_order() {
        let r = Recorder::new();
        let ms = Duration::from_millis;
        r.record(ms(2), "b", EventKind::Exit(0));
        r.record(ms(1), "a", EventKind::Out("x".into()));
        r.record(ms(2), "a", EventKind::Exit(1));
        let hosts: Vec<_> = r.take().into_events().into_iter().map(|e| e.host).collect();
        assert_eq!(hosts, ["a", "b", "a"]);
    }
}
