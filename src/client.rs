//! The client: asks the server for a connection ID, retrying with new IDs typed by the user.
//!
//! Each try opens a new socket, sends `HELLO <id>` (over TCP, then half-closes: the request is
//! complete) and waits at most the timeout for the matching `OK` or `RESET`. Replies for another ID,
//! malformed ones, and datagrams from any address but the server's are ignored. A failed try prints
//! `Connection Error <id> on <timestamp>` and, while tries remain, asks for a new ID.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::clock::{self, Clock};
use crate::console::Console;
use crate::defaults;
use crate::framing::{read_message, Framer, Received};
use crate::lines::{ClientLine, ClientNote, Timestamp};
use crate::net::{unspecified_for, Net, Transport, UdpSocket};
use crate::protocol::{self, ConnId, Message};

pub use crate::lines::PROMPT;

/// What the client is asked to do.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub server: SocketAddr,
    pub id: ConnId,
    pub transport: Transport,
    /// How long one try waits for the reply (for TCP, connecting included).
    pub timeout: Duration,
    /// How many tries before giving up (at least 1).
    pub tries: u32,
    /// TCP: how long a whole reply with no newline and no end of stream waits for more bytes
    /// ([`crate::framing`]).
    pub settle: Duration,
}

impl ClientConfig {
    /// The defaults of the assignment ([`crate::defaults`]): UDP, 15 s, 3 tries.
    pub fn new(server: SocketAddr, id: ConnId) -> Self {
        Self {
            server,
            id,
            transport: defaults::TRANSPORT,
            timeout: defaults::CLIENT_TIMEOUT,
            tries: defaults::TRIES,
            settle: defaults::SETTLE,
        }
    }
}

/// How the client ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOutcome {
    /// The server granted `id` and saw the request come from `addr`.
    Established { id: ConnId, addr: SocketAddr },
    /// Every try failed, or input ended before the tries ran out.
    Failed,
}

impl ClientOutcome {
    /// The process exit code: 0 established, 1 failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientOutcome::Established { .. } => 0,
            ClientOutcome::Failed => 1,
        }
    }
}

/// Why one try failed.
#[derive(Debug)]
pub enum TryError {
    /// The server answered `RESET`: the ID is in use.
    Reset,
    /// No matching reply within the timeout.
    TimedOut(Duration),
    /// The server closed the TCP connection without a matching reply.
    Closed,
    /// The network refused (connection refused, unreachable, ...).
    Network(io::Error),
}

impl fmt::Display for TryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryError::Reset => write!(f, "the server answered RESET: the ID is in use"),
            TryError::TimedOut(t) => write!(f, "no reply within {} s", t.as_secs_f64()),
            TryError::Closed => write!(f, "the server closed the connection without a reply"),
            TryError::Network(e) => {
                // Some networks' errors say only the address; the kind says what happened.
                let text = e.to_string();
                let kind = e.kind().to_string();
                if text.to_lowercase().contains(&kind.to_lowercase()) {
                    write!(f, "network error: {text}")
                } else {
                    write!(f, "network error: {kind} ({text})")
                }
            }
        }
    }
}

impl From<io::Error> for TryError {
    fn from(e: io::Error) -> Self {
        TryError::Network(e)
    }
}

/// Runs the client to its end: established, or failure after the last try or at end of input.
pub async fn run_client<N, C, K>(
    net: &N,
    clock: &C,
    console: &mut K,
    cfg: &ClientConfig,
) -> ClientOutcome
where
    N: Net,
    C: Clock,
    K: Console,
{
    run_client_until(net, clock, console, cfg, std::future::pending()).await
}

/// Like [`run_client`], but gives up at once when `stop` completes (with the reason), as the binary
/// does on SIGINT or SIGTERM: it closes its socket and prints `Connection Failure`.
pub async fn run_client_until<N, C, K>(
    net: &N,
    clock: &C,
    console: &mut K,
    cfg: &ClientConfig,
    stop: impl Future<Output = String>,
) -> ClientOutcome
where
    N: Net,
    C: Clock,
    K: Console,
{
    let stopped = {
        let tries = tries(net, clock, console, cfg);
        tokio::select! {
            biased;
            reason = stop => Some(reason),
            outcome = tries => {
                if let ClientOutcome::Established { .. } = outcome {
                    return outcome;
                }
                None
            }
        }
    };
    if let Some(reason) = stopped {
        console.err(&ClientNote::Stopped { reason }.to_string());
    }
    let at = Timestamp(clock.now());
    console.out(&ClientLine::Failure { at }.to_string());
    ClientOutcome::Failed
}

/// The tries themselves; a failure is returned before its final line is printed.
async fn tries<N, C, K>(net: &N, clock: &C, console: &mut K, cfg: &ClientConfig) -> ClientOutcome
where
    N: Net,
    C: Clock,
    K: Console,
{
    let mut id = cfg.id.clone();
    for attempt in 1..=cfg.tries.max(1) {
        match try_once(net, clock, console, cfg, &id).await {
            Ok(addr) => {
                let at = Timestamp(clock.now());
                let line = ClientLine::Established {
                    id: id.clone(),
                    addr,
                    at,
                };
                console.out(&line.to_string());
                return ClientOutcome::Established { id, addr };
            }
            Err(why) => {
                let at = Timestamp(clock.now());
                let error = ClientLine::Error { id: id.clone(), at };
                console.out(&error.to_string());
                let note = ClientNote::TryFailed {
                    attempt,
                    tries: cfg.tries,
                    why: why.to_string(),
                };
                console.err(&note.to_string());
            }
        }
        if attempt == cfg.tries {
            break;
        }
        match ask_for_id(console).await {
            Some(next) => id = next,
            None => break,
        }
    }
    ClientOutcome::Failed
}

/// Prompts until a valid ID is typed; `None` at end of input (or when input cannot be read).
async fn ask_for_id<K: Console>(console: &mut K) -> Option<ConnId> {
    loop {
        let line = match console.prompt(PROMPT).await {
            Ok(Some(line)) => line,
            Ok(None) => return None,
            Err(e) => {
                let why = e.to_string();
                console.err(&ClientNote::CannotRead { why }.to_string());
                return None;
            }
        };
        match ConnId::new(line.trim()) {
            Ok(id) => return Some(id),
            Err(e) => console.out(&ClientLine::InvalidId { why: e.to_string() }.to_string()),
        }
    }
}

/// One try on a new socket, bounded by the timeout.
async fn try_once<N: Net, C: Clock, K: Console>(
    net: &N,
    clock: &C,
    console: &mut K,
    cfg: &ClientConfig,
    id: &ConnId,
) -> Result<SocketAddr, TryError> {
    let attempt = async {
        match cfg.transport {
            Transport::Udp => try_udp(net, console, cfg.server, id).await,
            Transport::Tcp => try_tcp(net, clock, console, cfg, id).await,
        }
    };
    clock::timeout(clock, cfg.timeout, attempt)
        .await
        .unwrap_or(Err(TryError::TimedOut(cfg.timeout)))
}

/// Classifies one received message: `Some` ends the try, `None` means keep waiting.
fn take_reply<K: Console>(
    console: &mut K,
    bytes: &[u8],
    id: &ConnId,
) -> Option<Result<SocketAddr, TryError>> {
    match protocol::parse(bytes) {
        Ok(Message::Ok(got, addr)) if got == *id => Some(Ok(addr)),
        Ok(Message::Reset(got)) if got == *id => Some(Err(TryError::Reset)),
        Ok(reply) => {
            console.err(&ClientNote::OtherReply { reply }.to_string());
            None
        }
        Err(e) => {
            let note = ClientNote::Malformed {
                why: e.to_string(),
                shown: protocol::printable(bytes, 80).into_owned(),
            };
            console.err(&note.to_string());
            None
        }
    }
}

/// Whether a datagram from `from` may be the reply to a request sent to `server`: only the address
/// the request went to answers it. A request sent to the unspecified address (`0.0.0.0`, `::`) reaches
/// this host, which answers from one of its own addresses: then the port must match.
fn from_the_server(from: SocketAddr, server: SocketAddr) -> bool {
    match server.ip().is_unspecified() {
        true => from.port() == server.port(),
        false => from == server,
    }
}

async fn try_udp<N: Net, K: Console>(
    net: &N,
    console: &mut K,
    server: SocketAddr,
    id: &ConnId,
) -> Result<SocketAddr, TryError> {
    let socket = net.bind_udp(unspecified_for(server)).await?;
    socket
        .send_to(&Message::Hello(id.clone()).to_bytes(), server)
        .await?;
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        if !from_the_server(from, server) {
            console.err(&ClientNote::Stranger { from, server }.to_string());
            continue;
        }
        if let Some(result) = take_reply(console, &buf[..n], id) {
            return result;
        }
    }
}

async fn try_tcp<N: Net, C: Clock, K: Console>(
    net: &N,
    clock: &C,
    console: &mut K,
    cfg: &ClientConfig,
    id: &ConnId,
) -> Result<SocketAddr, TryError> {
    let mut stream = net.connect_tcp(cfg.server).await?;
    stream
        .write_all(&Message::Hello(id.clone()).to_bytes())
        .await?;
    // The half-close ends the request for servers that read to a newline or the end of the stream.
    // If it fails, the connection is already gone, and reading says how.
    let _ = stream.shutdown().await;
    let mut framer = Framer::new();
    loop {
        match read_message(clock, &mut stream, &mut framer, cfg.settle).await? {
            Received::Message(bytes) => {
                if let Some(result) = take_reply(console, &bytes, id) {
                    return result;
                }
            }
            Received::TooLong(bytes) => {
                let note = ClientNote::TooLong {
                    max: protocol::MAX_MESSAGE_LEN,
                    shown: protocol::printable(&bytes, 80).into_owned(),
                };
                console.err(&note.to_string());
            }
            Received::End => return Err(TryError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::from_the_server;

    #[test]
    fn only_the_address_asked_answers() {
        let server = "192.0.2.1:5000".parse().unwrap();
        assert!(from_the_server(server, server));
        assert!(!from_the_server("192.0.2.1:5001".parse().unwrap(), server));
        assert!(!from_the_server("192.0.2.2:5000".parse().unwrap(), server));
        // Asked at the unspecified address, this host answers from one of its own: the port decides.
        let here = "0.0.0.0:5000".parse().unwrap();
        assert!(from_the_server("127.0.0.1:5000".parse().unwrap(), here));
        assert!(!from_the_server("127.0.0.1:5001".parse().unwrap(), here));
    }
}
