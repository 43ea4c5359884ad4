//! The TCP loop: accepts connections (at most `max_connections` at once), reads each one's request as
//! [`crate::framing`] frames it within the line timeout, answers, lingers until the peer's end of
//! stream (at most [`LINGER`]) and closes, all inside one task, so nothing outlives the server and a
//! panic anywhere fails the server itself.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::decision::Dropped;
use super::{next_expiry, sleep_until_some, Core, ServerConfig};
use crate::clock::{self, Clock};
use crate::console::Console;
use crate::framing::{read_message, Framer, Received};
use crate::lines::{ServerLine, ServerNote};
use crate::net::TcpListener;
use crate::protocol::{self, ParseError};

/// A TCP request as read: the stream (to answer on), the peer, the bytes, whether they form a
/// message, and how many bytes came after it (ignored).
type ReadRequest<S> = (S, SocketAddr, Vec<u8>, Result<(), Dropped>, usize);

/// Reads one request from a new connection (framed as [`crate::framing`] says), within `limit`.
async fn read_request<S, C: Clock>(
    clock: &C,
    mut stream: S,
    peer: SocketAddr,
    limit: Duration,
    settle: Duration,
) -> ReadRequest<S>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut framer = Framer::new();
    let read = read_message(clock, &mut stream, &mut framer, settle);
    let (bytes, result) = match clock::timeout(clock, limit, read).await {
        Some(Ok(Received::Message(bytes))) => (bytes, Ok(())),
        Some(Ok(Received::TooLong(bytes))) => {
            let len = bytes.len();
            (bytes, Err(Dropped::Malformed(ParseError::TooLong(len))))
        }
        Some(Ok(Received::End)) => (Vec::new(), Err(Dropped::Closed)),
        Some(Err(e)) => (framer.pending().to_vec(), Err(Dropped::Io(e))),
        None => (framer.pending().to_vec(), Err(Dropped::Incomplete(limit))),
    };
    let extra = if result.is_ok() {
        framer.pending().len()
    } else {
        0
    };
    (stream, peer, bytes, result, extra)
}

/// After its reply, how long the server reads (and discards) what the peer still sends, waiting for
/// its end of stream before closing. Closing a connection with unread bytes makes a real stack send a
/// reset, which can destroy the reply still in flight; the bound (and the connection cap, which counts
/// a lingering connection) keeps a peer from holding connections open this way.
pub const LINGER: Duration = Duration::from_secs(1);

/// Sends the reply and half-closes within `limit`, then lingers (see [`LINGER`]) and closes.
async fn write_reply<S, C: Clock>(
    clock: &C,
    mut stream: S,
    peer: SocketAddr,
    reply: Vec<u8>,
    limit: Duration,
) -> (SocketAddr, io::Result<()>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let write = async {
        stream.write_all(&reply).await?;
        stream.shutdown().await
    };
    let result = match clock::timeout(clock, limit, write).await {
        Some(r) => r,
        None => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "reply not sent in time",
        )),
    };
    if result.is_ok() {
        let mut discard = [0u8; 1024];
        let drain = async { while matches!(stream.read(&mut discard).await, Ok(n) if n > 0) {} };
        let _ = clock::timeout(clock, LINGER, drain).await;
    }
    (peer, result)
}

/// How long the server waits to accept again after an accept failed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `listener` until the idle deadline passes.
pub(super) async fn serve<L: TcpListener, C: Clock, K: Console>(
    listener: &L,
    cfg: &ServerConfig,
    core: &mut Core<'_, C, K>,
) {
    let mut reads = FuturesUnordered::new();
    let mut writes = FuturesUnordered::new();
    let mut reply = String::new();
    let clock = core.log.clock();
    // After an accept error, when to accept again: the loop goes on serving meanwhile.
    let mut accept_after: Option<Instant> = None;
    loop {
        let open = reads.len() + writes.len();
        let accepting = open < cfg.max_connections && accept_after.is_none();
        core.log.flush();
        let summary = core.log.summary_due();
        tokio::select! {
            biased;
            () = clock.sleep_until(core.idle_deadline) => return,
            Some(done) = reads.next(), if !reads.is_empty() => {
                let (stream, peer, bytes, result, extra): ReadRequest<L::Stream> = done;
                let now = Instant::now();
                core.activity(now);
                core.log.stamp();
                let answered = match result {
                    Ok(()) => {
                        let parsed = protocol::parse_request(&bytes);
                        core.answer(parsed, &bytes, peer, now, &mut reply)
                    }
                    Err(why) => {
                        core.log.request(peer, &bytes, Err(&why), now);
                        false
                    }
                };
                if extra > 0 {
                    let at = core.log.now();
                    core.log.out(&ServerLine::Ignored { at, peer, bytes: extra });
                }
                if answered {
                    let reply = reply.as_bytes().to_vec();
                    writes.push(write_reply(clock, stream, peer, reply, cfg.line_timeout));
                }
            }
            Some(done) = writes.next(), if !writes.is_empty() => {
                let (peer, result): (SocketAddr, io::Result<()>) = done;
                if let Err(e) = result {
                    core.log.not_sent(peer, &e);
                }
            }
            accepted = listener.accept(), if accepting => match accepted {
                Ok((stream, peer)) => {
                    core.activity(Instant::now());
                    reads.push(read_request(clock, stream, peer, cfg.line_timeout, cfg.settle));
                }
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning, without
                    // holding up the open connections or the timers.
                    let at = core.log.now();
                    core.log.note(&ServerNote::AcceptError { at, why: e.to_string() });
                    accept_after = Some(Instant::now() + ACCEPT_BACKOFF);
                }
            },
            () = sleep_until_some(clock, accept_after) => accept_after = None,
            () = sleep_until_some(clock, summary) => core.log.flush_due(Instant::now()),
            // Last: expired IDs are removed a slice at a time when nothing else is ready.
            () = next_expiry(clock, &core.table) => core.table.tidy(Instant::now().into_std()),
        }
    }
}
