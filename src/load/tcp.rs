//! TCP load: one connection per request, half-closed after it, the reply framed as the protocol says.

use std::io;
use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::ids::IdSource;
use super::report::Counts;
use super::{interval, LoadConfig};
use crate::defaults;
use crate::framing::{read_message, Framer, Received};
use crate::net::{Net, TokioNet};
use crate::protocol::{self, Message};
use crate::SystemClock;

/// One TCP request: connect, send, half-close (the request is complete), read the reply, close.
pub(super) async fn tcp_request(server: SocketAddr, id: &str) -> Result<Message, TcpFailure> {
    let mut stream = TokioNet
        .connect_tcp(server)
        .await
        .map_err(|_| TcpFailure::Error)?;
    stream
        .write_all(format!("HELLO {id}").as_bytes())
        .await
        .map_err(|_| TcpFailure::Error)?;
    let _ = stream.shutdown().await;
    let mut framer = Framer::new();
    match read_message(&SystemClock, &mut stream, &mut framer, defaults::SETTLE).await {
        Ok(Received::Message(bytes)) => match protocol::parse(&bytes) {
            Ok(m @ (Message::Ok(..) | Message::Reset(_))) if m.id().as_str() == id => Ok(m),
            _ => Err(TcpFailure::Malformed),
        },
        Ok(Received::TooLong(_)) => Err(TcpFailure::Malformed),
        Ok(Received::End) | Err(_) => Err(TcpFailure::Error),
    }
}

pub(super) enum TcpFailure {
    Error,
    Malformed,
}

/// One client: a connection per request, one at a time (or at its share of the rate), until `deadline`.
pub(super) async fn client(
    cfg: &LoadConfig,
    client: usize,
    rate: Option<f64>,
    deadline: Instant,
) -> io::Result<Counts> {
    let mut ids = IdSource::new(cfg.ids, &cfg.run_tag, client);
    let mut counts = Counts::new(deadline - cfg.duration);
    let mut send_at = Instant::now();
    while Instant::now() < deadline {
        if let Some(r) = rate {
            tokio::time::sleep_until(send_at).await;
            send_at += interval(r);
        }
        let id = ids.next_id();
        let since = Instant::now();
        counts.sent += 1;
        match tokio::time::timeout(cfg.timeout, tcp_request(cfg.server, &id)).await {
            Ok(Ok(reply)) => counts.answered(&reply, since, Instant::now()),
            Ok(Err(TcpFailure::Malformed)) => counts.malformed += 1,
            Ok(Err(TcpFailure::Error)) => counts.errors += 1,
            Err(_) => counts.timeouts += 1,
        }
    }
    Ok(counts)
}
