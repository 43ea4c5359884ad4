//! The checker's side of a case: the clients and raw peers it plays against the program under test,
//! over real sockets, each send, reply and close recorded as the simulator records them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Instant;
use connid::protocol::{self, Message};
use connid::Transport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::{Times, LOOPBACK};
use connid_sim::events::{EventKind, Recorder};
use connid_sim::scenario::SERVER;

/// One case in progress: where the server is and what has been recorded.
pub struct Session {
    pub recorder: Recorder,
    pub start: Instant,
    pub transport: Transport,
    pub server: SocketAddr,
    pub times: Times,
    /// The hosts the checker played, in order of first use.
    pub hosts: Vec<&'static str>,
    udp: Vec<UdpHost>,
    held: Vec<TcpStream>,
    /// The readers of the UDP sockets, stopped with the session.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// What a case needed to see and did not, one line each: a request the server never answered,
    /// a connection it refused.
    pub unseen: Vec<String>,
    /// The hosts that send from another loopback address than 127.0.0.1.
    sources: Vec<(&'static str, std::net::IpAddr)>,
}

impl Drop for Session {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A UDP socket the checker sends from as one host, and the datagrams that came back to it.
type UdpHost = (
    &'static str,
    Arc<UdpSocket>,
    mpsc::UnboundedReceiver<Vec<u8>>,
);

/// What came back for one request: the bytes, and how the exchange ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// UDP: the first datagram back; TCP: everything read until the end.
    pub bytes: Vec<u8>,
    pub end: End,
}

/// How an exchange ended, as far as the checker could see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum End {
    /// The wait passed (UDP always ends so: it has no connection to close).
    #[default]
    Waited,
    /// The server closed the TCP connection.
    Closed,
    /// The TCP connection was reset.
    Reset(String),
    /// The TCP connection was never made: refused, or not accepted within the wait.
    NotConnected(String),
}

impl Reply {
    /// The reply as an answer to `HELLO id` (an OK or a RESET for `id`), or what was seen instead, in
    /// words (`wait` is how long the checker waited).
    pub fn answer(&self, id: &str, wait: Duration) -> Result<Message, String> {
        if let Ok(m @ (Message::Ok(..) | Message::Reset(_))) = protocol::parse(&self.bytes) {
            if m.id().as_str() == id {
                return Ok(m);
            }
        }
        if !self.bytes.is_empty() {
            return Err(format!(
                "the server answered {}, not an OK or a RESET for {id}",
                shown(&self.bytes)
            ));
        }
        Err(match &self.end {
            End::Waited => format!("no reply within {} s", wait.as_secs_f64()),
            End::Closed => "the server closed the connection without a reply".to_string(),
            End::Reset(why) => format!("the connection was reset without a reply ({why})"),
            End::NotConnected(why) => format!("the connection was {why}"),
        })
    }
}

/// Bytes as reasons quote them: in quotes, escaped as transcripts escape them.
pub fn shown(bytes: &[u8]) -> String {
    format!("\"{}\"", protocol::printable(bytes, 120))
}

impl Session {
    pub fn new(transport: Transport, server: SocketAddr, times: Times, start: Instant) -> Self {
        Self {
            recorder: Recorder::new(),
            start,
            transport,
            server,
            times,
            hosts: Vec::new(),
            udp: Vec::new(),
            held: Vec::new(),
            tasks: Vec::new(),
            unseen: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// Makes `host` send from `ip` (a loopback address: 127.0.0.2, ...) instead of 127.0.0.1; before
    /// its first send.
    pub fn source(&mut self, host: &'static str, ip: std::net::IpAddr) {
        self.sources.retain(|(h, _)| *h != host);
        self.sources.push((host, ip));
    }

    /// The address `host` sends from.
    fn ip_of(&self, host: &str) -> std::net::IpAddr {
        self.sources
            .iter()
            .find(|(h, _)| *h == host)
            .map_or(LOOPBACK, |(_, ip)| *ip)
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// How long a reply is waited for: it is due at once, give or take the tolerance.
    pub fn reply_wait(&self) -> Duration {
        self.times.tolerance.late + Duration::from_millis(400)
    }

    fn played(&mut self, host: &'static str) {
        if !self.hosts.contains(&host) {
            self.hosts.push(host);
        }
    }

    /// Sends `bytes` from `host` (over TCP on a new connection, then half-closed) and waits for the
    /// reply.
    pub async fn send(&mut self, host: &'static str, bytes: &[u8]) -> Reply {
        match self.transport {
            Transport::Udp => {
                let wait = self.reply_wait();
                self.udp_send(host, bytes).await;
                Reply {
                    bytes: self.udp_reply(host, wait).await.unwrap_or_default(),
                    end: End::Waited,
                }
            }
            Transport::Tcp => self.tcp(host, &[bytes], Duration::ZERO, true).await,
        }
    }

    /// `HELLO <id>` from `host`, as [`Session::send`], which the server must answer: if it does not,
    /// what was seen instead is noted in [`Session::unseen`].
    pub async fn hello(&mut self, host: &'static str, id: &str) -> Option<Message> {
        let reply = self.send(host, format!("HELLO {id}").as_bytes()).await;
        self.expect_answer(host, &format!("HELLO {id}"), id, &reply)
    }

    /// `reply` as the answer to `request` (for `id`) that `host` needed; if it is none, says so in
    /// [`Session::unseen`].
    pub fn expect_answer(
        &mut self,
        host: &str,
        request: &str,
        id: &str,
        reply: &Reply,
    ) -> Option<Message> {
        match reply.answer(id, self.reply_wait()) {
            Ok(m) => Some(m),
            Err(seen) => {
                self.unseen.push(format!("{host} sent {request}: {seen}"));
                None
            }
        }
    }

    async fn udp_socket(&mut self, host: &'static str) -> Option<Arc<UdpSocket>> {
        self.played(host);
        if let Some((_, s, _)) = self.udp.iter().find(|(h, ..)| *h == host) {
            return Some(s.clone());
        }
        let ip = self.ip_of(host);
        let socket = Arc::new(UdpSocket::bind(SocketAddr::new(ip, 0)).await.ok()?);
        let (tx, rx) = mpsc::unbounded_channel();
        let (reader, recorder, start, server) = (
            socket.clone(),
            self.recorder.clone(),
            self.start,
            self.server,
        );
        self.tasks.push(tokio::spawn(async move {
            let Ok(local) = reader.local_addr() else {
                return;
            };
            let mut buf = vec![0; 65_536];
            while let Ok((n, from)) = reader.recv_from(&mut buf).await {
                let at = start.elapsed();
                let host = if from == server { SERVER } else { "elsewhere" };
                recorder.send_arrived(at, host, Transport::Udp, from, local, &buf[..n]);
                if tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        }));
        self.udp.push((host, socket.clone(), rx));
        Some(socket)
    }

    async fn udp_send(&mut self, host: &'static str, bytes: &[u8]) {
        let Some(socket) = self.udp_socket(host).await else {
            return;
        };
        let Ok(local) = socket.local_addr() else {
            return;
        };
        let at = self.now();
        let sent = socket.send_to(bytes, self.server).await;
        crate::clock::sent();
        if sent.is_ok() {
            self.recorder
                .send_arrived(at, host, Transport::Udp, local, self.server, bytes);
        }
    }

    async fn udp_reply(&mut self, host: &'static str, wait: Duration) -> Option<Vec<u8>> {
        let (_, _, rx) = self.udp.iter_mut().find(|(h, ..)| *h == host)?;
        crate::clock::timeout(wait, rx.recv()).await.ok()?
    }

    /// Connects from `host`, recording the attempt; `Err` says why the connection was not made.
    async fn connect(&mut self, host: &'static str) -> Result<TcpStream, String> {
        self.played(host);
        let server = self.server;
        self.recorder
            .record(self.now(), host, EventKind::Connect { to: server });
        let wait = self.reply_wait();
        let ip = self.ip_of(host);
        let connect = async move {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(ip, 0))?;
            socket.connect(server).await
        };
        match crate::clock::timeout(wait, connect).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                let from = stream.local_addr().map_err(|e| e.to_string())?;
                self.recorder
                    .record(self.now(), host, EventKind::Connected { from, to: server });
                Ok(stream)
            }
            Ok(Err(e)) => {
                self.recorder.record(
                    self.now(),
                    host,
                    EventKind::ConnectFailed {
                        to: server,
                        why: e.to_string(),
                    },
                );
                Err(match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => format!("refused ({e})"),
                    _ => format!("not made ({e})"),
                })
            }
            Err(_) => Err(format!("not accepted within {} s", wait.as_secs_f64())),
        }
    }

    /// Opens a connection from `host` and keeps it open, silent, until the case ends.
    pub async fn open_silent(&mut self, host: &'static str) {
        if let Ok(stream) = self.connect(host).await {
            self.held.push(stream);
        }
    }

    /// Opens a connection from `host` and closes it at once, nothing sent.
    pub async fn open_and_close(&mut self, host: &'static str) {
        let Ok(stream) = self.connect(host).await else {
            return;
        };
        let local = stream.local_addr().ok();
        self.close(host, stream, local);
    }

    /// Closes `stream`, tells the clock (the program learns of it only once every copy is closed),
    /// and records the close of `host`'s connection from `local`, if its address is known.
    fn close(&self, host: &'static str, stream: TcpStream, local: Option<SocketAddr>) {
        drop(stream);
        crate::clock::closed();
        if let Some(local) = local {
            let peer = self.server;
            let close = EventKind::Close { local, peer };
            self.recorder.record(self.now(), host, close);
        }
    }

    /// One TCP connection from `host`: writes `pieces` with `gap` between them (reading what comes
    /// back meanwhile, so a reply to the first piece is seen when it came), half-closes if asked, then
    /// reads what the server sends until it closes or the reply wait passes.
    pub async fn tcp(
        &mut self,
        host: &'static str,
        pieces: &[&[u8]],
        gap: Duration,
        half_close: bool,
    ) -> Reply {
        let mut stream = match self.connect(host).await {
            Ok(stream) => stream,
            Err(why) => {
                return Reply {
                    bytes: Vec::new(),
                    end: End::NotConnected(why),
                }
            }
        };
        let (Ok(local), server) = (stream.local_addr(), self.server) else {
            return Reply::default();
        };
        let mut reply = Reply::default();
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 {
                self.read_reply(&mut stream, &mut reply, Instant::now() + gap)
                    .await;
                if reply.end != End::Waited {
                    break;
                }
            }
            let at = self.now();
            let written = stream.write_all(piece).await;
            crate::clock::sent();
            if written.is_err() {
                break;
            }
            self.recorder
                .send_arrived(at, host, Transport::Tcp, local, server, piece);
        }
        if half_close && reply.end == End::Waited && stream.shutdown().await.is_ok() {
            crate::clock::closed();
            self.recorder.record(
                self.now(),
                host,
                EventKind::Shutdown {
                    local,
                    peer: server,
                },
            );
        }
        if reply.end == End::Waited {
            let deadline = Instant::now() + self.reply_wait();
            self.read_reply(&mut stream, &mut reply, deadline).await;
        }
        self.close(host, stream, Some(local));
        reply
    }

    /// Reads what the server sends on `stream` into `reply`, each piece recorded when it came, until
    /// `deadline` or the connection's end (which `reply.end` then says).
    async fn read_reply(&self, stream: &mut TcpStream, reply: &mut Reply, deadline: Instant) {
        let (Ok(local), server) = (stream.local_addr(), self.server) else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            match crate::clock::timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(0)) => {
                    reply.end = End::Closed;
                    self.recorder.record(
                        self.now(),
                        SERVER,
                        EventKind::Close {
                            local: server,
                            peer: local,
                        },
                    );
                    return;
                }
                Ok(Ok(n)) => {
                    let at = self.now();
                    self.recorder.send_arrived(
                        at,
                        SERVER,
                        Transport::Tcp,
                        server,
                        local,
                        &buf[..n],
                    );
                    reply.bytes.extend_from_slice(&buf[..n]);
                }
                Ok(Err(e)) => {
                    reply.end = End::Reset(e.to_string());
                    return;
                }
                Err(_) => return,
            }
        }
    }

    /// Waits, so the next step happens `d` later.
    pub async fn pause(&self, d: Duration) {
        crate::clock::sleep(d).await;
    }

    /// Waits until `at` after the case started.
    pub async fn until(&self, at: Duration) {
        crate::clock::sleep_until(self.start + at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(bytes: &[u8], end: End) -> Reply {
        Reply {
            bytes: bytes.to_vec(),
            end,
        }
    }

    #[test]
    fn an_answer_is_an_ok_or_a_reset_for_the_id_asked_and_anything_else_is_said_as_seen() {
        let wait = Duration::from_millis(1300);
        let ok = reply(b"OK 7 127.0.0.1 5000", End::Closed);
        assert!(matches!(ok.answer("7", wait), Ok(Message::Ok(..))));
        assert!(matches!(
            reply(b"RESET 7", End::Waited).answer("7", wait),
            Ok(Message::Reset(_))
        ));
        assert_eq!(
            reply(b"OK 91 127.0.0.1 5000", End::Closed).answer("9102", wait),
            Err(
                "the server answered \"OK 91 127.0.0.1 5000\", not an OK or a RESET for 9102"
                    .to_string()
            )
        );
        assert_eq!(
            reply(b"OK 9301\n 127.0.0.1 5000", End::Closed).answer("9301", wait),
            Err(
                "the server answered \"OK 9301\\n 127.0.0.1 5000\", not an OK or a RESET for 9301"
                    .to_string()
            )
        );
        assert_eq!(
            reply(b"HELLO 7", End::Waited).answer("7", wait),
            Err("the server answered \"HELLO 7\", not an OK or a RESET for 7".to_string())
        );
        assert_eq!(
            reply(b"", End::Waited).answer("7", wait),
            Err("no reply within 1.3 s".to_string())
        );
        assert_eq!(
            reply(b"", End::Closed).answer("7", wait),
            Err("the server closed the connection without a reply".to_string())
        );
        assert_eq!(
            reply(b"", End::Reset("reset by peer".into())).answer("7", wait),
            Err("the connection was reset without a reply (reset by peer)".to_string())
        );
        assert_eq!(
            reply(b"", End::NotConnected("refused (x)".into())).answer("7", wait),
            Err("the connection was refused (x)".to_string())
        );
    }
}
