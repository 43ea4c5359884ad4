//! The server: answers `HELLO <id>` with `OK` (recording the ID) or `RESET`, over UDP or TCP.
//!
//! The decision for one request is the pure function [`handle_request`]; the rest is the loop that
//! receives requests (over UDP, a batch at a time), logs one line each, removes expired IDs while it has
//! nothing else to do, and exits after the idle timeout. The server is handed its
//! bound socket ([`Server::bind`]) so the caller learns the address (port 0 works) before it runs.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::console::Console;
use crate::defaults;
use crate::framing::{read_message, Framer, Received};
use crate::lines::{write_request_line, ServerLine, ServerNote, Timestamp};
use crate::net::{send_all, Net, RecvBatch, SendBatch, TcpListener, Transport, UdpSocket};
use crate::protocol::{self, ConnId, Message, ParseError};
use crate::registry::{Decision, Registry};

/// How often a server holding IDs looks for expired ones to remove, even without requests.
const TIDY_EVERY: Duration = Duration::from_secs(1);

/// Most expired IDs removed between two looks at the socket while tidying (well under a millisecond).
const TIDY_SLICE: usize = 1024;

/// The server's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub transport: Transport,
    /// How long a granted ID stays in use.
    pub id_ttl: Duration,
    /// The server exits after this long without requests.
    pub idle_timeout: Duration,
    /// A TCP peer must complete its request within this time.
    pub line_timeout: Duration,
    /// TCP: how long a whole request with no newline and no end of stream waits for more bytes
    /// ([`crate::framing`]).
    pub settle: Duration,
    /// Most TCP connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            transport: defaults::TRANSPORT,
            id_ttl: defaults::ID_TTL,
            idle_timeout: defaults::IDLE_TIMEOUT,
            line_timeout: defaults::LINE_TIMEOUT,
            settle: defaults::SETTLE,
            max_connections: defaults::MAX_CONNECTIONS,
        }
    }
}

/// Why a request got no reply.
#[derive(Debug)]
pub enum Dropped {
    /// The bytes are not a `HELLO` request.
    Malformed(ParseError),
    /// A TCP peer did not complete its request in time.
    Incomplete(Duration),
    /// A TCP peer closed the connection without sending anything.
    Closed,
    /// Reading the request failed.
    Io(io::Error),
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dropped::Malformed(e) => write!(f, "{e}"),
            Dropped::Incomplete(t) => {
                write!(f, "request not complete within {} s", t.as_secs_f64())
            }
            Dropped::Closed => write!(f, "connection closed without a request"),
            Dropped::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

/// Decides the reply to one received request at `now`; pure, so it is tested without a network.
pub fn handle_request(
    registry: &mut Registry,
    bytes: &[u8],
    peer: SocketAddr,
    now: std::time::Instant,
) -> Result<Message, ParseError> {
    let id = protocol::parse_request(bytes)?;
    Ok(decide(registry, id, peer, now))
}

/// Decides the reply to a parsed request from `peer` at `now`.
fn decide(
    registry: &mut Registry,
    id: ConnId,
    peer: SocketAddr,
    now: std::time::Instant,
) -> Message {
    match registry.request(&id, now) {
        Decision::Granted => Message::Ok(id, peer),
        Decision::InUse => Message::Reset(id),
    }
}

/// A bound socket of either transport.
enum Bound<N: Net> {
    Udp(N::Udp),
    Tcp(N::Listener),
}

/// A server with its socket bound, ready to run.
pub struct Server<N: Net> {
    socket: Bound<N>,
    cfg: ServerConfig,
}

impl<N: Net> Server<N> {
    /// Binds the socket for `cfg.transport` at `addr`.
    pub async fn bind(net: &N, addr: SocketAddr, cfg: ServerConfig) -> io::Result<Self> {
        let socket = match cfg.transport {
            Transport::Udp => Bound::Udp(net.bind_udp(addr).await?),
            Transport::Tcp => Bound::Tcp(net.bind_tcp(addr).await?),
        };
        Ok(Self { socket, cfg })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.socket {
            Bound::Udp(s) => s.local_addr(),
            Bound::Tcp(l) => l.local_addr(),
        }
    }

    /// Serves requests until the idle timeout, then prints its line and closes the socket.
    pub async fn run<C: Clock, K: Console>(self, clock: &C, console: &mut K) -> ServerExit {
        self.run_until(clock, console, std::future::pending()).await
    }

    /// Like [`Server::run`], but also stops when `stop` completes (with the reason to print), as the
    /// binary does on SIGINT or SIGTERM.
    pub async fn run_until<C: Clock, K: Console>(
        self,
        clock: &C,
        console: &mut K,
        stop: impl Future<Output = String>,
    ) -> ServerExit {
        let mut state = State {
            registry: Registry::new(self.cfg.id_ttl),
            clock,
            console,
            idle: self.cfg.idle_timeout,
            idle_deadline: Instant::now() + self.cfg.idle_timeout,
            dropped_log: LogLimit::new(Instant::now()),
            ts: String::new(),
            reply: String::new(),
            line: String::new(),
            untidy: false,
            parsed: Vec::with_capacity(crate::net::BATCH),
        };
        let listening = ServerLine::Listening {
            at: state.now(),
            transport: self.cfg.transport,
            addr: self
                .local_addr()
                .map_or_else(|e| format!("(unknown address: {e})"), |a| a.to_string()),
            ttl: self.cfg.id_ttl,
            idle: self.cfg.idle_timeout,
        };
        state.console.out(&listening.to_string());
        let serve = async {
            match &self.socket {
                Bound::Udp(socket) => serve_udp(socket, &mut state).await,
                Bound::Tcp(listener) => serve_tcp(listener, &self.cfg, &mut state).await,
            }
        };
        let exit = tokio::select! {
            biased;
            reason = stop => ServerExit::Stopped(reason),
            () = serve => ServerExit::IdleTimeout,
        };
        state.flush_suppressed();
        let at = state.now();
        let last = match &exit {
            ServerExit::IdleTimeout => ServerLine::TimedOut {
                idle: self.cfg.idle_timeout,
                at,
            },
            ServerExit::Stopped(reason) => ServerLine::Stopped {
                reason: reason.clone(),
                at,
            },
        };
        state.console.out(&last.to_string());
        state.console.flush();
        exit
    }
}

/// Why the server stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerExit {
    /// No request for the idle timeout.
    IdleTimeout,
    /// Told to stop (by a signal, in the binary).
    Stopped(String),
}

pub use crate::lines::DROPPED_LOG_PER_SEC;

/// Counts dropped-request log lines in one-second windows.
#[derive(Debug)]
struct LogLimit {
    window: Instant,
    logged: u32,
    suppressed: u64,
}

impl LogLimit {
    fn new(now: Instant) -> Self {
        Self {
            window: now,
            logged: 0,
            suppressed: 0,
        }
    }
}

/// What the serving loops share.
struct State<'a, C, K> {
    registry: Registry,
    clock: &'a C,
    console: &'a mut K,
    idle: Duration,
    idle_deadline: Instant,
    dropped_log: LogLimit,
    /// The timestamp printed on request lines, read once per batch of requests ([`State::stamp`]).
    ts: String,
    /// The last request's reply, if it has one.
    reply: String,
    /// The last log line, its buffer reused.
    line: String,
    /// Expired IDs are waiting to be removed ([`State::tidy`]).
    untidy: bool,
    /// A batch of requests, parsed; its buffer reused.
    parsed: Vec<Result<ConnId, ParseError>>,
}

impl<C: Clock, K: Console> State<'_, C, K> {
    fn now(&self) -> Timestamp {
        Timestamp(self.clock.now())
    }

    /// Reads the wall clock for the request lines that follow.
    fn stamp(&mut self) {
        self.ts = self.now().to_string();
    }

    /// Prints that the reply to `peer` could not be sent.
    fn not_sent(&mut self, peer: SocketAddr, why: &io::Error) {
        let line = ServerLine::ReplyNotSent {
            at: self.now(),
            peer,
            why: why.to_string(),
        };
        self.console.out(&line.to_string());
    }

    /// Restarts the idle timer: a request (or the start of one) arrived at `now`.
    fn activity(&mut self, now: Instant) {
        self.idle_deadline = now + self.idle;
    }

    /// Decides and logs one request received at `now`; says whether there is a reply (then in
    /// `self.reply`).
    fn request(&mut self, bytes: &[u8], peer: SocketAddr, now: Instant) -> bool {
        let parsed = protocol::parse_request(bytes);
        self.handle_parsed(parsed, bytes, peer, now)
    }

    /// [`State::request`] for a request already parsed.
    fn handle_parsed(
        &mut self,
        parsed: Result<ConnId, ParseError>,
        bytes: &[u8],
        peer: SocketAddr,
        now: Instant,
    ) -> bool {
        let result = parsed
            .map(|id| decide(&mut self.registry, id, peer, now.into_std()))
            .map_err(Dropped::Malformed);
        self.give_back_memory();
        self.log(peer, bytes, result, now)
    }

    /// Removes a slice of the expired IDs; requests remove a few each, but an idle server would hold
    /// a burst's memory until the next request.
    fn tidy(&mut self) {
        self.untidy = self
            .registry
            .expire_some(Instant::now().into_std(), TIDY_SLICE);
        self.give_back_memory();
    }

    fn give_back_memory(&mut self) {
        if self.registry.take_shrunk() {
            crate::memory::give_back_freed();
        }
    }

    /// Logs a request's outcome; says whether there is a reply (then in `self.reply`). Dropped
    /// requests are logged at most [`DROPPED_LOG_PER_SEC`] a second; the others are counted and summed
    /// up once the second is over.
    fn log(
        &mut self,
        peer: SocketAddr,
        bytes: &[u8],
        result: Result<Message, Dropped>,
        now: Instant,
    ) -> bool {
        if now.duration_since(self.dropped_log.window) >= Duration::from_secs(1) {
            self.flush_suppressed();
            self.dropped_log = LogLimit::new(now);
        }
        self.reply.clear();
        let outcome = match &result {
            Ok(message) => {
                // The reply is formatted once, for the wire and for the log.
                message.write_to(&mut self.reply);
                Ok(self.reply.as_str())
            }
            Err(why) => {
                if self.dropped_log.logged >= DROPPED_LOG_PER_SEC {
                    self.dropped_log.suppressed += 1;
                    return false;
                }
                self.dropped_log.logged += 1;
                Err(why)
            }
        };
        self.line.clear();
        let outcome = outcome.map_err(|why| why as &dyn fmt::Display);
        write_request_line(&mut self.line, &self.ts, peer, bytes, outcome);
        self.console.out(&self.line);
        result.is_ok()
    }

    /// Prints how many dropped requests went unlogged, if any.
    fn flush_suppressed(&mut self) {
        let count = std::mem::take(&mut self.dropped_log.suppressed);
        if count > 0 {
            let line = ServerLine::Suppressed {
                at: self.now(),
                count,
                limit: DROPPED_LOG_PER_SEC,
            };
            self.console.out(&line.to_string());
        }
    }
}

async fn serve_udp<S: UdpSocket, C: Clock, K: Console>(socket: &S, state: &mut State<'_, C, K>) {
    let mut requests = RecvBatch::new();
    let mut replies = SendBatch::new();
    let mut tidy = tidy_timer();
    loop {
        // Take what is already waiting without a wake-up; only when nothing is, write out the log
        // lines held so far, remove expired IDs (a slice at a time, looking at the socket in between)
        // and wait.
        let received = match socket.try_recv_batch(&mut requests) {
            Ok(()) if requests.is_empty() => {
                state.console.flush();
                if state.untidy {
                    state.tidy();
                    continue;
                }
                tokio::select! {
                    biased;
                    _ = tokio::time::sleep_until(state.idle_deadline) => return,
                    received = socket.recv_batch(&mut requests) => received,
                    _ = tidy.tick(), if !state.registry.is_empty() => {
                        state.untidy = true;
                        continue;
                    }
                }
            }
            other => other,
        };
        if let Err(e) = received {
            // Some systems report an earlier ICMP error here; the socket itself is fine.
            let note = ServerNote::ReceiveError {
                at: state.now(),
                why: e.to_string(),
            };
            state.console.err(&note.to_string());
            continue;
        }
        // The requests of one batch arrived together: one clock reading serves them all.
        let now = Instant::now();
        state.activity(now);
        state.stamp();
        // Parse the whole batch and look its IDs up in the table before deciding any: their cache
        // misses then overlap instead of coming one after another.
        let mut parsed = std::mem::take(&mut state.parsed);
        parsed.extend(
            requests
                .iter()
                .map(|(bytes, _)| protocol::parse_request(bytes)),
        );
        state
            .registry
            .prefetch(parsed.iter().filter_map(|id| id.as_ref().ok()));
        replies.clear();
        for ((bytes, peer), parsed) in requests.iter().zip(parsed.drain(..)) {
            if state.handle_parsed(parsed, bytes, peer, now) {
                replies.push(peer, state.reply.as_bytes());
            }
        }
        state.parsed = parsed;
        send_all(socket, &replies, |outcome| {
            if let Err((failed, e)) = outcome {
                state.not_sent(replies.get(failed).1, &e);
            }
        })
        .await;
    }
}

/// Ticks every [`TIDY_EVERY`]; a tick missed while busy is not made up.
fn tidy_timer() -> tokio::time::Interval {
    let mut timer = tokio::time::interval(TIDY_EVERY);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    timer
}

/// A TCP request as read: the stream (to answer on), the peer, the bytes, whether they form a
/// message, and how many bytes came after it (ignored).
type ReadRequest<S> = (S, SocketAddr, Vec<u8>, Result<(), Dropped>, usize);

/// Reads one request from a new connection (framed as [`crate::framing`] says), within `limit`.
async fn read_request<S>(
    mut stream: S,
    peer: SocketAddr,
    limit: Duration,
    settle: Duration,
) -> ReadRequest<S>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut framer = Framer::new();
    let read = read_message(&mut stream, &mut framer, settle);
    let (bytes, result) = match tokio::time::timeout(limit, read).await {
        Ok(Ok(Received::Message(bytes))) => (bytes, Ok(())),
        Ok(Ok(Received::TooLong(bytes))) => {
            let len = bytes.len();
            (bytes, Err(Dropped::Malformed(ParseError::TooLong(len))))
        }
        Ok(Ok(Received::End)) => (Vec::new(), Err(Dropped::Closed)),
        Ok(Err(e)) => (framer.pending().to_vec(), Err(Dropped::Io(e))),
        Err(_) => (framer.pending().to_vec(), Err(Dropped::Incomplete(limit))),
    };
    let extra = if result.is_ok() {
        framer.pending().len()
    } else {
        0
    };
    (stream, peer, bytes, result, extra)
}

/// Sends the reply and closes the connection, within `limit`.
async fn write_reply<S>(
    mut stream: S,
    peer: SocketAddr,
    reply: Vec<u8>,
    limit: Duration,
) -> (SocketAddr, io::Result<()>)
where
    S: tokio::io::AsyncWrite + Unpin,
{
    let write = async {
        stream.write_all(&reply).await?;
        stream.shutdown().await
    };
    let result = match tokio::time::timeout(limit, write).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "reply not sent in time",
        )),
    };
    (peer, result)
}

async fn serve_tcp<L: TcpListener, C: Clock, K: Console>(
    listener: &L,
    cfg: &ServerConfig,
    state: &mut State<'_, C, K>,
) {
    // Connections are served concurrently inside this one task, so nothing outlives the server and a
    // panic anywhere fails the server itself.
    let mut reads = FuturesUnordered::new();
    let mut writes = FuturesUnordered::new();
    let mut tidy = tidy_timer();
    loop {
        let open = reads.len() + writes.len();
        state.console.flush();
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(state.idle_deadline) => return,
            Some(done) = reads.next(), if !reads.is_empty() => {
                let (stream, peer, bytes, result, extra): ReadRequest<L::Stream> = done;
                let now = Instant::now();
                state.activity(now);
                state.stamp();
                let answered = match result {
                    Ok(()) => state.request(&bytes, peer, now),
                    Err(why) => state.log(peer, &bytes, Err(why), now),
                };
                if extra > 0 {
                    let line = ServerLine::Ignored { at: state.now(), peer, bytes: extra };
                    state.console.out(&line.to_string());
                }
                if answered {
                    let reply = state.reply.as_bytes().to_vec();
                    writes.push(write_reply(stream, peer, reply, cfg.line_timeout));
                }
            }
            Some(done) = writes.next(), if !writes.is_empty() => {
                let (peer, result): (SocketAddr, io::Result<()>) = done;
                if let Err(e) = result {
                    state.not_sent(peer, &e);
                }
            }
            accepted = listener.accept(), if open < cfg.max_connections => match accepted {
                Ok((stream, peer)) => {
                    state.activity(Instant::now());
                    reads.push(read_request(stream, peer, cfg.line_timeout, cfg.settle));
                }
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    let note = ServerNote::AcceptError { at: state.now(), why: e.to_string() };
                    state.console.err(&note.to_string());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = tidy.tick(), if !state.registry.is_empty() => state.untidy = true,
            // Last: only when nothing else is ready.
            () = std::future::ready(()), if state.untidy => state.tidy(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ConnId;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn grants_then_resets_and_reports_the_source_address() {
        let mut reg = Registry::new(Duration::from_secs(30));
        let now = std::time::Instant::now();
        let a = addr("192.168.0.10:12345");
        let b = addr("[::1]:40000");
        let id = ConnId::new("9876").unwrap();
        assert_eq!(
            handle_request(&mut reg, b"HELLO 9876", a, now),
            Ok(Message::Ok(id.clone(), a))
        );
        assert_eq!(
            handle_request(&mut reg, b"HELLO 9876\r\n", b, now),
            Ok(Message::Reset(id))
        );
        assert_eq!(
            handle_request(&mut reg, b"HELLO 1\n", b, now),
            Ok(Message::Ok(ConnId::new("1").unwrap(), b))
        );
    }

    #[test]
    fn malformed_requests_record_nothing() {
        let mut reg = Registry::new(Duration::from_secs(30));
        let now = std::time::Instant::now();
        let a = addr("10.0.0.1:1");
        for bad in [
            &b"HELO 1"[..],
            b"HELLO",
            b"HELLO 1 2",
            b"\xff",
            b"",
            b"RESET 1",
            b"OK 1 1.2.3.4 5",
        ] {
            assert!(handle_request(&mut reg, bad, a, now).is_err(), "{bad:?}");
        }
        assert!(reg.is_empty());
    }

    fn line(ts: &str, peer: SocketAddr, bytes: &[u8], outcome: Result<&str, &Dropped>) -> String {
        let mut out = String::from("(kept) ");
        write_request_line(
            &mut out,
            ts,
            peer,
            bytes,
            outcome.map_err(|w| w as &dyn fmt::Display),
        );
        out.strip_prefix("(kept) ")
            .expect("the line is appended")
            .to_string()
    }

    #[test]
    fn log_lines_show_request_and_reply_or_reason() {
        let a = addr("10.0.0.1:7");
        assert_eq!(
            line("T", a, b"HELLO 5\n", Ok("RESET 5")),
            "T 10.0.0.1:7 \"HELLO 5\\n\" -> RESET 5"
        );
        let why = Dropped::Malformed(ParseError::UnknownVerb("HI".into()));
        assert_eq!(
            line("T", a, b"HI 5", Err(&why)),
            "T 10.0.0.1:7 \"HI 5\" dropped: unknown verb \"HI\""
        );
        assert_eq!(
            line(
                "T",
                a,
                b"HEL",
                Err(&Dropped::Incomplete(Duration::from_secs(15)))
            ),
            "T 10.0.0.1:7 \"HEL\" dropped: request not complete within 15 s"
        );
    }
}
