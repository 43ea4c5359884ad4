//! The checker's server for a client under test: it answers each try as a plan says (OK, RESET,
//! silence, a lost request, replies for another ID, malformed, from another port, to the previous
//! try's socket; each after its own delay), and records what it saw and sent. The client cases and
//! `conform explore client` both serve through it.

use std::net::SocketAddr;
use std::time::Duration;

use connid::framing::{Frame, Framer};
use connid::protocol;
use connid::Transport;
use connid_sim::events::{EventKind, Recorder};
use connid_sim::scenario::SERVER;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::clock::Instant;
use crate::LOOPBACK;

/// The client's host name in transcripts.
pub const CLIENT: &str = "client";

/// How long an unanswered TCP connection is held open: longer than any case or session.
const HOLD: Duration = Duration::from_secs(600);

/// What the checker does with one try.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TryPlan {
    /// UDP: the request is treated as lost on the way (never answered, recorded as not arrived).
    /// Over TCP a lost try is one never answered.
    #[serde(default, skip_serializing_if = "is_false")]
    pub lost: bool,
    /// The replies, each after its delay from the request's arrival; none: never answered (a TCP
    /// connection is then held open).
    #[serde(default)]
    pub replies: Vec<Reply>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One reply to a try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Milliseconds after the request arrived.
    pub after_ms: u64,
    pub what: ReplyKind,
}

/// What a reply says, and to and from where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplyKind {
    /// `OK <id> <ip> <port>`, the try's own.
    Ok,
    /// `RESET <id>`, the try's own.
    Reset,
    /// An OK for another ID, made from the try's ([`Twist`]).
    OkOther(Twist),
    /// A RESET for another ID, made from the try's.
    ResetOther(Twist),
    /// A reply in no valid form.
    Malformed(Garble),
    /// UDP: the try's OK, naming another address, from another port of the checker (a forgery).
    OtherPort,
    /// UDP: an OK for the previous try's ID to the previous try's socket.
    OldSocket,
}

/// How another ID is made from the try's: one that differs in every way, or in a way a careless
/// comparison misses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Twist {
    /// `99999` (`99998` for that one).
    Distinct,
    /// The same letters in the other case (with an `x` after it, if it has no letter).
    OtherCase,
    /// The try's ID with one more character.
    Longer,
    /// The first half of the try's ID (another ID of one character if it has one).
    Shorter,
}

impl Twist {
    /// Another ID than `id`, made as this twist says.
    pub fn apply(self, id: &str) -> String {
        let other = match self {
            Twist::Distinct if id == "99999" => "99998".to_string(),
            Twist::Distinct => "99999".to_string(),
            Twist::OtherCase => id
                .chars()
                .map(|c| match c.is_ascii_uppercase() {
                    true => c.to_ascii_lowercase(),
                    false => c.to_ascii_uppercase(),
                })
                .collect(),
            Twist::Longer if id.len() < protocol::MAX_ID_LEN => format!("{id}x"),
            Twist::Longer => id[..id.len() - 1].to_string(),
            Twist::Shorter if id.len() > 1 => id[..id.len() / 2].to_string(),
            Twist::Shorter => format!("{id}x"),
        };
        match other == id {
            true => format!("{}x", &id[..id.len().min(protocol::MAX_ID_LEN - 1)]),
            false => other,
        }
    }
}

/// How a malformed reply is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Garble {
    /// `OK <id>`: the address left out.
    NoAddress,
    /// `OK <id> <ip>`: the port left out.
    NoPort,
    /// `ok <id> <ip> <port>`: in lowercase.
    Lowercase,
    /// `RESET`: no ID.
    BareReset,
    /// `OK <id> <ip> <port> 1`: a field too many.
    ExtraField,
}

impl Garble {
    fn text(self, id: &str, to: SocketAddr) -> String {
        match self {
            Garble::NoAddress => format!("OK {id}"),
            Garble::NoPort => format!("OK {id} {}", to.ip()),
            Garble::Lowercase => format!("ok {id} {} {}", to.ip(), to.port()),
            Garble::BareReset => "RESET".to_string(),
            Garble::ExtraField => format!("OK {id} {} {} 1", to.ip(), to.port()),
        }
    }
}

impl TryPlan {
    /// An OK at once.
    pub fn ok() -> TryPlan {
        TryPlan {
            lost: false,
            replies: vec![Reply {
                after_ms: 0,
                what: ReplyKind::Ok,
            }],
        }
    }

    /// Whether it is never answered (lost or silent): a TCP connection is held open.
    fn unanswered(&self) -> bool {
        self.lost || self.replies.is_empty()
    }
}

/// One reply as sent: after how long from the request, to where, what, and whether from another port
/// than the one asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub after: Duration,
    pub to: SocketAddr,
    pub text: String,
    pub elsewhere: bool,
}

/// The replies `plan` makes for a request for `id` from `from`; `previous` is the try before (its
/// socket and ID), if any. A reply to the previous try with none is left out.
pub fn outgoing(
    plan: &TryPlan,
    id: &str,
    from: SocketAddr,
    previous: Option<&(SocketAddr, String)>,
) -> Vec<Outgoing> {
    let ok = |id: &str, to: SocketAddr| format!("OK {id} {} {}", to.ip(), to.port());
    let mut out: Vec<Outgoing> = plan
        .replies
        .iter()
        .filter_map(|r| {
            let after = Duration::from_millis(r.after_ms);
            let at = |to, text| {
                Some(Outgoing {
                    after,
                    to,
                    text,
                    elsewhere: false,
                })
            };
            match r.what {
                ReplyKind::Ok => at(from, ok(id, from)),
                ReplyKind::Reset => at(from, format!("RESET {id}")),
                ReplyKind::OkOther(t) => at(from, ok(&t.apply(id), from)),
                ReplyKind::ResetOther(t) => at(from, format!("RESET {}", t.apply(id))),
                ReplyKind::Malformed(g) => at(from, g.text(id, from)),
                ReplyKind::OtherPort => Some(Outgoing {
                    after,
                    to: from,
                    text: format!("OK {id} 10.9.9.9 9"),
                    elsewhere: true,
                }),
                ReplyKind::OldSocket => {
                    previous.and_then(|(old, old_id)| at(*old, ok(old_id, *old)))
                }
            }
        })
        .collect();
    out.sort_by_key(|o| o.after);
    out
}

/// The checker's server on a free loopback port, answering try `n` as `plans[n]` says (an OK at once
/// beyond them): the port and its task.
pub async fn serve(
    transport: Transport,
    plans: Vec<TryPlan>,
    recorder: &Recorder,
    start: Instant,
) -> std::io::Result<(u16, tokio::task::JoinHandle<()>)> {
    let any = SocketAddr::new(LOOPBACK, 0);
    let served = Served {
        plans,
        recorder: recorder.clone(),
        start,
    };
    match transport {
        Transport::Udp => {
            let s = UdpSocket::bind(any).await?;
            let port = s.local_addr()?.port();
            Ok((port, tokio::spawn(serve_udp(s, served))))
        }
        Transport::Tcp => {
            let l = TcpListener::bind(any).await?;
            let port = l.local_addr()?.port();
            Ok((port, tokio::spawn(serve_tcp(l, served))))
        }
    }
}

/// What the server serves by: the plans, and where it records.
#[derive(Clone)]
struct Served {
    plans: Vec<TryPlan>,
    recorder: Recorder,
    start: Instant,
}

impl Served {
    fn plan(&self, n: usize) -> TryPlan {
        self.plans.get(n).cloned().unwrap_or_else(TryPlan::ok)
    }
}

/// UDP: a new try is a request from a new socket or for a new ID.
async fn serve_udp(socket: UdpSocket, served: Served) {
    let Ok(server) = socket.local_addr() else {
        return;
    };
    let socket = std::sync::Arc::new(socket);
    // The tries' replies, ended with the server.
    let mut replying = tokio::task::JoinSet::new();
    let mut tries: Vec<(SocketAddr, Option<u64>, String)> = Vec::new();
    let mut sockets = Sockets::default();
    let mut buf = vec![0; 65_536];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            // An ICMP error for an earlier reply to a closed socket is no reason to stop serving.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(_) => break,
        };
        let at = served.start.elapsed();
        let inode = sockets.seen(&served, at, from, server);
        let bytes = &buf[..n];
        let id = protocol::parse_request(bytes).ok().map(|i| i.to_string());
        let is_new = id.as_ref().is_some_and(|id| {
            tries.last().is_none_or(|(a, socket, last)| {
                let other_socket = matches!((socket, inode), (Some(x), Some(y)) if *x != y);
                *a != from || other_socket || last != id
            })
        });
        if let (true, Some(id)) = (is_new, &id) {
            tries.push((from, inode, id.clone()));
        }
        let n_try = tries.len().saturating_sub(1);
        let plan = served.plan(n_try);
        if plan.lost {
            // Lost on the way, as far as the client can tell.
            served
                .recorder
                .send(at, CLIENT, Transport::Udp, from, server, bytes);
            continue;
        }
        served
            .recorder
            .send_arrived(at, CLIENT, Transport::Udp, from, server, bytes);
        let Some(id) = id else {
            continue;
        };
        let previous = n_try
            .checked_sub(1)
            .and_then(|i| tries.get(i))
            .map(|(a, _, id)| (*a, id.clone()));
        let replies = outgoing(&plan, &id, from, previous.as_ref());
        // Each try's replies on their own timers, so the server goes on receiving meanwhile.
        let (socket, served) = (socket.clone(), served.clone());
        replying.spawn(async move {
            let arrived = Instant::now();
            for o in replies {
                crate::clock::sleep_until(arrived + o.after).await;
                send_udp(&socket, server, &served, &o).await;
            }
        });
    }
}

/// The UDP socket last seen at each of the program's addresses, by the kernel's inode.
#[derive(Default)]
struct Sockets(std::collections::HashMap<SocketAddr, u64>);

impl Sockets {
    /// The inode of the program's UDP socket at `from` (which sent to `server`), recorded as a
    /// `SocketInode` event when it is not the socket last seen there.
    fn seen(
        &mut self,
        served: &Served,
        at: Duration,
        from: SocketAddr,
        server: SocketAddr,
    ) -> Option<u64> {
        let inode = crate::sockets::udp_inode_of(from, server)?;
        if self.0.insert(from, inode) != Some(inode) {
            let seen = EventKind::SocketInode { local: from, inode };
            served.recorder.record(at, CLIENT, seen);
        }
        Some(inode)
    }
}

/// Sends one UDP reply, from the server's socket or (a forgery) from another of the checker's.
async fn send_udp(socket: &UdpSocket, server: SocketAddr, served: &Served, o: &Outgoing) {
    let other = match o.elsewhere {
        true => UdpSocket::bind((LOOPBACK, 0)).await.ok(),
        false => None,
    };
    let out = other.as_ref().unwrap_or(socket);
    let source = out.local_addr().unwrap_or(server);
    let at = served.start.elapsed();
    let sent = out.send_to(o.text.as_bytes(), o.to).await;
    crate::clock::sent();
    if sent.is_ok() {
        served
            .recorder
            .send_arrived(at, SERVER, Transport::Udp, source, o.to, o.text.as_bytes());
    }
}

/// TCP: each connection is a try.
async fn serve_tcp(listener: TcpListener, served: Served) {
    let Ok(server) = listener.local_addr() else {
        return;
    };
    let mut n_try = 0;
    // The connections, ended with the server.
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((stream, peer)) = listener.accept().await {
        let at = served.start.elapsed();
        served
            .recorder
            .record(at, CLIENT, EventKind::Connect { to: server });
        served.recorder.record(
            at,
            CLIENT,
            EventKind::Connected {
                from: peer,
                to: server,
            },
        );
        let plan = served.plan(n_try);
        n_try += 1;
        connections.spawn(serve_connection(stream, peer, server, served.clone(), plan));
    }
}

/// Reads one request from a connection (framed as connid's server frames it), answers it, closes.
async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    server: SocketAddr,
    served: Served,
    plan: TryPlan,
) {
    let message = read_request(&mut stream, peer, server, &served).await;
    let arrived = Instant::now();
    let id = message.and_then(|m| protocol::parse_request(&m).ok());
    if let (Some(id), false) = (id, plan.lost) {
        let planned = outgoing(&plan, id.as_str(), peer, None);
        let last = planned.len();
        // Over TCP every reply comes on the connection: a reply from elsewhere is a UDP matter.
        for (i, o) in planned.into_iter().enumerate() {
            crate::clock::sleep_until(arrived + o.after).await;
            // A reply that another follows ends with a newline, so a reader can tell them apart.
            let text = match i + 1 < last {
                true => format!("{}\n", o.text),
                false => o.text,
            };
            let at = served.start.elapsed();
            let written = stream.write_all(text.as_bytes()).await;
            crate::clock::sent();
            if written.is_err() {
                break;
            }
            served
                .recorder
                .send_arrived(at, SERVER, Transport::Tcp, server, peer, text.as_bytes());
        }
    }
    if plan.unanswered() {
        // Held open and unanswered (a half-close by the client reads as the end of its request, not of
        // the connection) until the client has surely given up; the run ends before.
        crate::clock::sleep(HOLD).await;
        return;
    }
    let _ = stream.shutdown().await;
    drop(stream);
    crate::clock::closed();
    served.recorder.record(
        served.start.elapsed(),
        SERVER,
        EventKind::Close {
            local: server,
            peer,
        },
    );
}

/// The request on a connection, framed as connid's server frames it: `None` if it is too long or
/// the connection ends without one.
async fn read_request(
    stream: &mut TcpStream,
    peer: SocketAddr,
    server: SocketAddr,
    served: &Served,
) -> Option<Vec<u8>> {
    let settle = connid::defaults::SETTLE;
    let mut framer = Framer::new();
    let mut buf = [0u8; 2048];
    loop {
        let wait = match framer.can_settle() {
            true => settle,
            false => Duration::from_secs(3600),
        };
        match crate::clock::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return framer.settle(),
            Ok(Ok(n)) => {
                let at = served.start.elapsed();
                served
                    .recorder
                    .send_arrived(at, CLIENT, Transport::Tcp, peer, server, &buf[..n]);
                framer.extend(&buf[..n]);
                match framer.next_frame() {
                    Frame::Message(m) => return Some(m),
                    Frame::TooLong(_) => return None,
                    Frame::Incomplete => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(after_ms: u64, what: ReplyKind) -> Reply {
        Reply { after_ms, what }
    }

    #[test]
    fn replies_are_made_for_the_tries_id_and_sent_in_time_order() {
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let old: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let plan = TryPlan {
            lost: false,
            replies: vec![
                reply(300, ReplyKind::Ok),
                reply(0, ReplyKind::OkOther(Twist::OtherCase)),
                reply(100, ReplyKind::OldSocket),
                reply(200, ReplyKind::OtherPort),
            ],
        };
        let previous = (old, "7".to_string());
        let got = outgoing(&plan, "aB1", from, Some(&previous));
        let texts: Vec<(u64, &str, SocketAddr, bool)> = got
            .iter()
            .map(|o| {
                (
                    o.after.as_millis() as u64,
                    o.text.as_str(),
                    o.to,
                    o.elsewhere,
                )
            })
            .collect();
        assert_eq!(
            texts,
            [
                (0, "OK Ab1 127.0.0.1 5000", from, false),
                (100, "OK 7 127.0.0.1 4000", old, false),
                (200, "OK aB1 10.9.9.9 9", from, true),
                (300, "OK aB1 127.0.0.1 5000", from, false),
            ]
        );
        // No try before: the reply to its socket is left out.
        assert_eq!(outgoing(&plan, "aB1", from, None).len(), 3);
    }

    #[test]
    fn another_id_is_never_the_tries_own() {
        for id in [
            "1",
            "99999",
            "99998",
            "a",
            "Zz",
            "12345678",
            &"7".repeat(64),
        ] {
            for t in [
                Twist::Distinct,
                Twist::OtherCase,
                Twist::Longer,
                Twist::Shorter,
            ] {
                let other = t.apply(id);
                assert_ne!(other, id, "{t:?} of {id}");
                assert!(
                    protocol::ConnId::new(&other).is_ok(),
                    "{t:?} of {id}: {other}"
                );
            }
        }
        assert_eq!(Twist::OtherCase.apply("abC"), "ABc");
        assert_eq!(Twist::Shorter.apply("abcd"), "ab");
        assert_eq!(Twist::Longer.apply("ab"), "abx");
        assert_eq!(Twist::Distinct.apply("7"), "99999");
        assert_eq!(Twist::Distinct.apply("99999"), "99998");
        // At the longest an ID may be, one character fewer instead.
        assert_eq!(Twist::Longer.apply(&"7".repeat(64)), "7".repeat(63));
        assert_eq!(Twist::Shorter.apply("z"), "zx");
        assert_eq!(Twist::OtherCase.apply("12"), "12x");
    }

    #[test]
    fn a_malformed_reply_never_parses() {
        let to: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let all = [
            (Garble::NoAddress, "OK 7"),
            (Garble::NoPort, "OK 7 127.0.0.1"),
            (Garble::Lowercase, "ok 7 127.0.0.1 5000"),
            (Garble::BareReset, "RESET"),
            (Garble::ExtraField, "OK 7 127.0.0.1 5000 1"),
        ];
        for (g, text) in all {
            assert_eq!(g.text("7", to), text);
            assert!(protocol::parse(text.as_bytes()).is_err(), "{text}");
        }
    }

    /// What the server answers `HELLO <id>` sent from `socket`.
    async fn asked(socket: &UdpSocket, server: SocketAddr, id: &str) -> String {
        socket
            .send_to(format!("HELLO {id}").as_bytes(), server)
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let wait = Duration::from_secs(10);
        let (n, _) = tokio::time::timeout(wait, socket.recv_from(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// A new try is a request for another ID, from another address, or from another socket at the
    /// same address (a new socket given the last one's port); the same socket asking again for the
    /// same ID is the same try. Tries 1 to 3 are answered RESET, the fourth OK.
    #[tokio::test]
    async fn a_new_try_is_a_new_id_address_or_socket() {
        let reset = TryPlan {
            lost: false,
            replies: vec![reply(0, ReplyKind::Reset)],
        };
        let plans = vec![reset.clone(), reset.clone(), reset];
        let start = Instant::now();
        let (port, _server) = serve(Transport::Udp, plans, &Recorder::new(), start)
            .await
            .unwrap();
        let server = SocketAddr::new(LOOPBACK, port);
        let bind = |at: SocketAddr| UdpSocket::bind(at);
        let first = bind(SocketAddr::new(LOOPBACK, 0)).await.unwrap();
        assert_eq!(asked(&first, server, "1").await, "RESET 1"); // try 1
        assert_eq!(asked(&first, server, "1").await, "RESET 1"); // still try 1
        let second = bind(SocketAddr::new(LOOPBACK, 0)).await.unwrap();
        assert_eq!(asked(&second, server, "1").await, "RESET 1"); // try 2
        let port_of_second = second.local_addr().unwrap();
        drop(second);
        let third = bind(port_of_second).await.unwrap();
        assert_eq!(asked(&third, server, "1").await, "RESET 1"); // try 3
        let ok = asked(&third, server, "2").await; // try 4
        assert!(ok.starts_with("OK 2 127.0.0.1 "), "{ok}");
    }

    #[test]
    fn a_try_is_answered_by_its_plan_and_one_beyond_them_by_an_ok() {
        let reset = TryPlan {
            lost: false,
            replies: vec![reply(0, ReplyKind::Reset)],
        };
        let served = Served {
            plans: vec![reset.clone(), TryPlan::default()],
            recorder: Recorder::new(),
            start: Instant::now(),
        };
        assert_eq!(served.plan(0), reset);
        assert_eq!(served.plan(1), TryPlan::default());
        assert_eq!(served.plan(2), TryPlan::ok());
        assert!(TryPlan::default().unanswered() && !TryPlan::ok().unanswered());
    }
}
