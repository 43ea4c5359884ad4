//! The server as seen from outside: the replies it sent, the requests it read (over TCP framed as it
//! must frame them, from the writes and when they arrived), its lives between starts and crashes, and
//! the TCP connections it holds open.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use connid::framing::{Frame, Framer};
use connid::lines::ServerLine;
use connid::protocol::{self, ConnId, Message};
use connid::Transport;

use super::Programs;
use crate::events::{Event, EventKind, Run};
use crate::scenario::{Scenario, SERVER};

/// A message the server sent (or tried to: a send the network refused is a decision taken all
/// the same), decoded.
pub(super) struct Reply<'a> {
    pub event: &'a Event,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub message: Message,
}

/// Every message the server sent that parses, in order.
pub(super) fn replies(run: &Run) -> Vec<Reply<'_>> {
    messages(run, |host| host == SERVER)
}

/// Every message a host for which `whose` is true sent or tried to send that parses, in order: what
/// a client may take as a reply (if it was delivered, and came from the address it asked).
pub(super) fn messages<'a>(run: &'a Run, whose: impl Fn(&str) -> bool) -> Vec<Reply<'a>> {
    run.events
        .iter()
        .filter(|e| whose(&e.host))
        .filter_map(|event| match &event.kind {
            EventKind::Send {
                from, to, payload, ..
            }
            | EventKind::SendFailed {
                from, to, payload, ..
            } => protocol::parse(payload).ok().map(|message| Reply {
                event,
                from: *from,
                to: *to,
                message,
            }),
            _ => None,
        })
        .collect()
}

/// The TCP connections the server holds open, followed through its own events: an accept opens one,
/// the server's close ends it, a crash (or a start) ends them all.
#[derive(Default)]
pub(crate) struct OpenConnections(BTreeSet<SocketAddr>);

impl OpenConnections {
    /// Takes in one of the server's events (other hosts' events must not be given).
    pub fn follow(&mut self, kind: &EventKind) {
        match kind {
            EventKind::Accepted { from, .. } => {
                self.0.insert(*from);
            }
            EventKind::Close { peer, .. } => {
                self.0.remove(peer);
            }
            EventKind::Crash | EventKind::Start(_) => self.0.clear(),
            _ => {}
        }
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// A request the server read: who sent it, which ID it asks for, and when.
pub(super) struct Request<'a> {
    pub from: SocketAddr,
    /// The ID asked for. Over TCP, two when a pause between two writes equals the settle time
    /// exactly, so either framing is right.
    pub ids: Vec<ConnId>,
    /// When its first byte reached the server.
    pub first: Duration,
    /// By when it was complete: when it arrived (UDP), when its newline arrived, or at the latest
    /// the settle time after its last byte (TCP: the sender's half-close may end it sooner).
    pub at: Duration,
    /// Whether the server had to answer it: not if its line timeout may have run out first.
    pub due: bool,
    /// The sends it came in.
    pub sends: Vec<&'a Event>,
}

/// One write on a TCP connection: the send, its bytes, and when they reached the server.
pub(super) type Piece<'a> = (&'a Event, &'a [u8], Duration);

/// Every well-formed request that reached the server: each datagram over UDP, the first message of
/// each connection over TCP (framed as the server frames it, from the writes and when they arrived).
pub(super) fn requests<'a>(
    scenario: &Scenario,
    run: &'a Run,
    server: SocketAddr,
) -> Vec<Request<'a>> {
    let delivered = |e: &'a Event| match &e.kind {
        EventKind::Send {
            to,
            from,
            payload,
            delivered: Some(at),
            ..
        } if *to == server => Some((e, *from, payload.as_slice(), *at)),
        _ => None,
    };
    if run.transport == Transport::Udp {
        return run
            .events
            .iter()
            .filter_map(delivered)
            .filter_map(|(e, from, payload, at)| {
                let id = protocol::parse_request(payload).ok()?;
                Some(Request {
                    from,
                    ids: vec![id],
                    first: at,
                    at,
                    due: true,
                    sends: vec![e],
                })
            })
            .collect();
    }
    // A connection per source address at a time: a client's connect from an address starts a new
    // one (turmoil never reuses an ephemeral port within a run, a real kernel can).
    let mut connections: Vec<(SocketAddr, Duration, Vec<Piece<'_>>)> = Vec::new();
    for e in &run.events {
        match &e.kind {
            EventKind::Connected { from, to } if *to == server && e.host != SERVER => {
                connections.push((*from, e.at, Vec::new()));
            }
            _ => {
                let Some((e, from, payload, at)) = delivered(e) else {
                    continue;
                };
                match connections.iter_mut().rev().find(|(f, ..)| *f == from) {
                    Some((.., pieces)) => pieces.push((e, payload, at)),
                    None => connections.push((from, e.at, vec![(e, payload, at)])),
                }
            }
        }
    }
    // Each connection lasts until the next from its address begins.
    let untils: Vec<Duration> = (0..connections.len())
        .map(|i| {
            let (from, since, _) = &connections[i];
            connections[i + 1..]
                .iter()
                .find(|(f, s, _)| f == from && s >= since)
                .map_or(Duration::MAX, |(_, s, _)| *s)
        })
        .collect();
    let connections: Vec<_> = connections
        .into_iter()
        .zip(untils)
        .filter(|((.., pieces), _)| !pieces.is_empty())
        .collect();
    let settle = scenario.server.settle.0;
    // A server that closed a connection without a reply had decided by then (connid's refuses a new
    // ID that way when its table is full).
    let closed = closed_unanswered(run);
    let line_timeout = scenario.server.line_timeout.0;
    connections
        .into_iter()
        .filter_map(|((from, since, pieces), until)| {
            // The server reads a connection only once it has accepted it, which may be after its
            // bytes arrived (an accept that failed leaves it waiting).
            let accepted = run
                .events
                .iter()
                .find(|e| {
                    e.host == SERVER
                        && (since..until).contains(&e.at)
                        && matches!(e.kind, EventKind::Accepted { from: f, .. } if f == from)
                })
                .map_or(pieces[0].2, |e| e.at);
            let framings =
                [false, true].map(|tie_settles| first_message(&pieces, settle, tie_settles));
            let mut ids: Vec<ConnId> = Vec::new();
            let mut at = Duration::ZERO;
            let mut used = 0;
            for (message, complete, n) in framings.into_iter().flatten() {
                if let Ok(id) = protocol::parse_request(&message) {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                    at = at.max(complete);
                    used = used.max(n);
                }
            }
            let closed_at = closed
                .iter()
                .find(|(f, c)| *f == from && (since..until).contains(c));
            let at = closed_at.map_or(at, |&(_, c)| at.min(c));
            (!ids.is_empty()).then(|| Request {
                from,
                ids,
                first: pieces[0].2,
                at: at.max(accepted),
                due: at < accepted + line_timeout,
                sends: pieces[..used].iter().map(|(e, ..)| *e).collect(),
            })
        })
        .collect()
}

/// Each close of a TCP connection the server made having sent nothing on it: the peer and when, in one
/// pass over the run (a connection's own is its peer's first at or after it began).
fn closed_unanswered(run: &Run) -> Vec<(SocketAddr, Duration)> {
    let mut sent: BTreeSet<SocketAddr> = BTreeSet::new();
    let mut closed = Vec::new();
    for e in &run.events {
        match (&e.kind, e.host == SERVER) {
            // A new connection from an address used before has been sent nothing yet.
            (EventKind::Connected { from, .. }, false)
            | (EventKind::Accepted { from, .. }, true) => {
                sent.remove(from);
            }
            (EventKind::Send { to, .. } | EventKind::SendFailed { to, .. }, true) => {
                sent.insert(*to);
            }
            (EventKind::Close { peer, .. }, true) if !sent.contains(peer) => {
                closed.push((*peer, e.at));
            }
            _ => {}
        }
    }
    closed
}

/// The first message of a TCP connection, from its writes as they arrived: the message, by when it
/// was complete, and how many writes it took. A pause of exactly the settle time ends the message if
/// `tie_settles`.
pub(super) fn first_message(
    pieces: &[Piece<'_>],
    settle: Duration,
    tie_settles: bool,
) -> Option<(Vec<u8>, Duration, usize)> {
    let mut framer = Framer::new();
    let mut last = Duration::ZERO;
    for (i, (_, bytes, at)) in pieces.iter().enumerate() {
        let gap = at.saturating_sub(last);
        if i > 0 && framer.can_settle() && (gap > settle || (gap == settle && tie_settles)) {
            return framer.settle().map(|m| (m, last + settle, i));
        }
        framer.extend(bytes);
        match framer.next_frame() {
            Frame::Message(m) => return Some((m, *at, i + 1)),
            Frame::TooLong(_) => return None,
            Frame::Incomplete => {}
        }
        last = *at;
    }
    framer.settle().map(|m| (m, last + settle, pieces.len()))
}

/// One life of the server software, from a start to its exit, a crash, or the end of the run.
pub(super) struct Incarnation<'a> {
    pub start: &'a Event,
    pub end: Option<&'a Event>,
    /// When it ended: its exit or crash, or the end of the run.
    pub end_at: Duration,
    pub timed_out: Option<&'a Event>,
    /// What restarted its idle timer, and when it reached the server: its request lines, accepted
    /// connections, replies (TCP) and datagrams (UDP) (connid's), or the messages and connections that reached it
    /// (any other server).
    pub activity: Vec<(Duration, &'a Event)>,
}

impl Incarnation<'_> {
    /// Whether `t` falls within this life.
    pub fn contains(&self, t: Duration) -> bool {
        t >= self.start.at && t <= self.end_at
    }
}

/// The server's lives in order. Connid's server shows its activity and its idle exit in the lines it
/// prints; any other server is seen from outside: what reached its address, and an exit with code 0.
pub(super) fn incarnations(run: &Run, server: SocketAddr, kind: Programs) -> Vec<Incarnation<'_>> {
    let mut lives: Vec<Incarnation<'_>> = Vec::new();
    // What reached the server from outside, and when: it belongs to the life running at that time,
    // which need not be the one running when it was sent.
    let mut reached: Vec<(Duration, &Event)> = Vec::new();
    // The peers the server sent something to in this life.
    let mut replied: BTreeSet<SocketAddr> = BTreeSet::new();
    for e in &run.events {
        if e.host != SERVER {
            let at = match &e.kind {
                EventKind::Send {
                    to,
                    delivered: Some(at),
                    ..
                } if *to == server => Some(*at),
                EventKind::Connected { to, .. } if *to == server => Some(e.at),
                _ => None,
            };
            reached.extend(at.map(|at| (at, e)));
            continue;
        }
        match &e.kind {
            EventKind::Start(_) => {
                replied.clear();
                lives.push(Incarnation {
                    start: e,
                    end: None,
                    end_at: run.simulated,
                    timed_out: None,
                    activity: Vec::new(),
                });
            }
            _ => {
                let Some(life) = lives.last_mut().filter(|l| l.end.is_none()) else {
                    continue;
                };
                match (&e.kind, kind) {
                    (EventKind::Exit(code), _) => {
                        life.end = Some(e);
                        life.end_at = e.at;
                        if *code == 0 && kind == Programs::Foreign {
                            life.timed_out = Some(e);
                        }
                    }
                    (EventKind::Crash, _) => {
                        life.end = Some(e);
                        life.end_at = e.at;
                    }
                    (EventKind::Out(line), Programs::Connid) => match line.parse::<ServerLine>() {
                        Ok(ServerLine::TimedOut { .. }) => life.timed_out = Some(e),
                        Ok(ServerLine::Request { .. }) => life.activity.push((e.at, e)),
                        _ => {}
                    },
                    (EventKind::Accepted { .. }, Programs::Connid) => {
                        life.activity.push((e.at, e));
                    }
                    // A request refused for a full table has no line of its own (one line a second
                    // sums them up), but its connection is closed at once without a reply.
                    (EventKind::Send { to, .. } | EventKind::SendFailed { to, .. }, _) => {
                        replied.insert(*to);
                        // Connid's server over TCP answers a request the moment it is complete, which
                        // restarts its idle timer: the reply shows when, with or without a line.
                        if kind == Programs::Connid && run.transport == Transport::Tcp {
                            life.activity.push((e.at, e));
                        }
                    }
                    (EventKind::Close { peer, .. }, Programs::Connid)
                        if run.transport == Transport::Tcp && !replied.contains(peer) =>
                    {
                        life.activity.push((e.at, e));
                    }
                    _ => {}
                }
            }
        }
    }
    // The connections a stopping server closes were not activity.
    for life in &mut lives {
        let stopped = life.timed_out.map_or(life.end_at, |e| e.at);
        life.activity
            .retain(|(at, e)| !(matches!(e.kind, EventKind::Close { .. }) && *at >= stopped));
    }
    // Connid's server over UDP also restarts its timer at datagrams it drops without a line (past
    // the drop log's limit): every datagram that reaches it counts.
    if kind == Programs::Foreign || run.transport == Transport::Udp {
        for (at, e) in reached {
            if let Some(life) = lives.iter_mut().find(|l| l.contains(at)) {
                life.activity.push((at, e));
            }
        }
        for life in &mut lives {
            life.activity.sort_by_key(|(at, _)| *at);
        }
    }
    lives
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 168, 0, 2], port))
    }

    #[test]
    fn open_connections_follow_accepts_closes_and_crashes() {
        let server = SocketAddr::from(([192, 168, 0, 1], 9000));
        let accepted = |port| EventKind::Accepted {
            from: addr(port),
            to: server,
        };
        let closed = |port| EventKind::Close {
            local: server,
            peer: addr(port),
        };
        let mut open = OpenConnections::default();
        let mut counts = Vec::new();
        for kind in [
            accepted(1),
            accepted(2),
            accepted(2),
            closed(3),
            closed(1),
            accepted(3),
            EventKind::Crash,
            accepted(4),
            EventKind::Start("server".into()),
            accepted(5),
            EventKind::Out("served".into()),
        ] {
            open.follow(&kind);
            counts.push(open.len());
        }
        assert_eq!(counts, [1, 2, 2, 2, 1, 2, 0, 1, 0, 1, 1]);
    }
}

#[cfg(test)]
mod broken_runs {
    use std::time::Duration;

    use connid::Transport;

    use crate::events::EventKind;
    use crate::oracle::server_view::first_message;
    use crate::oracle::server_view::Piece;
    use crate::oracle::test_support::*;
    use crate::oracle::*;

    #[test]
    fn a_connection_from_an_address_used_before_is_a_request_of_its_own() {
        // A real kernel can give a new connection the ephemeral port of an old one: the second
        // connection's request is its own, not bytes after the first's.
        let s = load("16-tcp-framing.toml");
        let server: std::net::SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let client: std::net::SocketAddr = "127.0.0.1:44799".parse().unwrap();
        let ms = Duration::from_millis;
        let event = |at, host: &str, kind| Event {
            at: ms(at),
            host: host.into(),
            kind,
        };
        let connected = |at| {
            event(
                at,
                "c1",
                EventKind::Connected {
                    from: client,
                    to: server,
                },
            )
        };
        let hello = |at, text: &str| {
            let kind = EventKind::Send {
                msg: at as usize,
                transport: Transport::Tcp,
                from: client,
                to: server,
                payload: text.as_bytes().to_vec(),
                delivered: Some(ms(at)),
            };
            event(at, "c1", kind)
        };
        let close = |at| {
            let kind = EventKind::Close {
                local: server,
                peer: client,
            };
            event(at, SERVER, kind)
        };
        let reply = |at| {
            let kind = EventKind::Send {
                msg: 0,
                transport: Transport::Tcp,
                from: server,
                to: client,
                payload: b"OK second 127.0.0.1 44799".to_vec(),
                delivered: Some(ms(at)),
            };
            event(at, SERVER, kind)
        };
        let accepted = |at| {
            let kind = EventKind::Accepted {
                from: client,
                to: server,
            };
            event(at, SERVER, kind)
        };
        let elsewhere: std::net::SocketAddr = "127.0.0.1:9001".parse().unwrap();
        let other: std::net::SocketAddr = "127.0.0.1:44800".parse().unwrap();
        let mut run = test_support::run(&s, Transport::Tcp);
        // Four connections from one address: the first's request has no newline and is closed
        // unanswered before the settle time; the second's has none either, and is answered then
        // closed before it; the third is in two writes with a connect elsewhere between them; the
        // fourth is accepted late.
        let settle = s.server.settle.0;
        assert!(settle > ms(60));
        run.events = vec![
            connected(100),
            accepted(100),
            hello(100, "HELLO first"),
            close(150),
            connected(10_000),
            hello(10_000, "HELLO second"),
            reply(10_050),
            close(10_060),
            connected(30_000),
            hello(30_000, "HELLO th"),
            event(
                30_001,
                "c1",
                EventKind::Connected {
                    from: client,
                    to: elsewhere,
                },
            ),
            hello(30_002, "ird"),
            close(30_050),
            connected(50_000),
            hello(50_000, "HELLO fourth\n"),
            // Another client's connection meanwhile ends none of c1's.
            event(
                50_050,
                "c2",
                EventKind::Connected {
                    from: other,
                    to: server,
                },
            ),
            accepted(50_100),
        ];
        let got = super::requests(&s, &run, server);
        let ids: Vec<Vec<String>> = got
            .iter()
            .map(|r| r.ids.iter().map(|i| i.as_str().to_string()).collect())
            .collect();
        let each = ["first", "second", "third", "fourth"].map(|i| vec![i.to_string()]);
        assert_eq!(ids, each);
        let firsts: Vec<Duration> = got.iter().map(|r| r.first).collect();
        assert_eq!(firsts, [ms(100), ms(10_000), ms(30_000), ms(50_000)]);
        // Each was decided by its own close if unanswered, else by its framing, and read once its
        // own connection was accepted.
        let decided: Vec<Duration> = got.iter().map(|r| r.at).collect();
        assert_eq!(
            decided,
            [ms(150), ms(10_000) + settle, ms(30_050), ms(50_100)]
        );
    }

    #[test]
    fn a_split_request_granted_as_its_first_piece_is_caught() {
        let s = load("16-tcp-framing.toml");
        let got = broken(&s, Transport::Tcp, |ev| {
            // "HELLO 12" then "34": a server that took the first write alone answers OK 12.
            let i = position(ev, |e| {
                e.host == SERVER && payload_of(e).starts_with("OK 1234")
            });
            let text = payload_of(&ev[i]).replacen("OK 1234", "OK 12", 1);
            set_payload(&mut ev[i], &text);
        });
        assert!(got.contains(&OK_SOURCE), "{got:?}");
        assert!(got.contains(&ANSWERED), "{got:?}");
    }

    #[test]
    fn a_reply_later_than_the_settle_time_is_caught() {
        let s = load("16-tcp-framing.toml");
        let tick = s.network.tick.0;
        // classic sent once and waits: its answer is due the settle time after its request.
        let got = broken(&s, Transport::Tcp, |ev| delay_reply(ev, "OK 5 ", tick * 2));
        assert_eq!(got, [ANSWERED]);
        // nl ended its request with a newline: its answer is due at once, not after a settle time.
        let settle = s.server.settle.0;
        let got = broken(&s, Transport::Tcp, |ev| delay_reply(ev, "OK 6 ", settle));
        assert_eq!(got, [ANSWERED]);
    }

    #[test]
    fn a_pause_of_exactly_the_settle_time_allows_either_framing() {
        let pieces_at = |gap_ms: u64| {
            let e = Event {
                at: Duration::ZERO,
                host: "p".into(),
                kind: EventKind::Crash,
            };
            let ms = Duration::from_millis;
            vec![
                (e.clone(), b"HELLO 12".to_vec(), ms(100)),
                (e, b"34".to_vec(), ms(100 + gap_ms)),
            ]
        };
        let settle = Duration::from_millis(200);
        let frame = |gap: u64, tie: bool| {
            let owned = pieces_at(gap);
            let pieces: Vec<Piece<'_>> = owned
                .iter()
                .map(|(e, b, t)| (e, b.as_slice(), *t))
                .collect();
            first_message(&pieces, settle, tie)
                .map(|(m, at, n)| (String::from_utf8(m).unwrap(), at.as_millis(), n))
        };
        assert_eq!(frame(199, true), Some(("HELLO 1234".into(), 499, 2)));
        assert_eq!(frame(200, false), Some(("HELLO 1234".into(), 500, 2)));
        assert_eq!(frame(200, true), Some(("HELLO 12".into(), 300, 1)));
        assert_eq!(frame(201, false), Some(("HELLO 12".into(), 300, 1)));
    }
}
