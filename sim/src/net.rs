//! The network seam on turmoil's simulated sockets, recording every send and receive.
//!
//! turmoil loses and delays messages but never duplicates or reorders a datagram, and its sockets
//! never fail; [`Mischief`] adds all three at this seam, drawn from the run's seed. Socket errors hit
//! the server only, each the way a real one comes: a receive reports an earlier datagram refused
//! (after the datagram it follows), a reply cannot be sent (UDP: no buffer space; TCP: the
//! connection was reset), an accept fails for want of file descriptors (the connection waits in the
//! backlog for the next accept).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use connid::net::{Net, TcpListener, UdpSocket};
use connid::{clock, Transport};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::clock::{now, SimClock};
use crate::events::{EventKind, Recorder, SocketOp};

/// The host name duplicated datagrams are recorded under: the network sent them, not a program.
pub const NETWORK: &str = "network";

/// What the network does besides turmoil's loss and latency: it sends a UDP datagram twice
/// (`duplicate`), or holds one back up to `delay` longer so that later ones overtake it (`reorder`),
/// and fails a share of the server's socket calls (`errors`). One generator per run, shared by its
/// hosts: turmoil runs them in a fixed order, so the draws replay. A heal calms it for the rest of
/// the run.
#[derive(Debug, Clone)]
pub struct Mischief {
    duplicate: f64,
    reorder: f64,
    delay: Duration,
    errors: f64,
    rng: Arc<Mutex<ChaCha8Rng>>,
    calm: Arc<AtomicBool>,
}

impl Mischief {
    pub fn new(duplicate: f64, reorder: f64, delay: Duration, errors: f64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Its own stream of the seed: turmoil draws latency and loss from the seed too.
        rng.set_stream(1);
        Self {
            duplicate,
            reorder,
            delay,
            errors,
            rng: Arc::new(Mutex::new(rng)),
            calm: Arc::default(),
        }
    }

    /// From now on every datagram goes once and in order.
    pub fn calm(&self) {
        self.calm.store(true, Ordering::Relaxed);
    }

    /// Whether one socket call of the server fails.
    fn fails(&self) -> bool {
        if self.errors <= 0.0 || self.calm.load(Ordering::Relaxed) {
            return false;
        }
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        rng.random_bool(self.errors.clamp(0.0, 1.0))
    }

    /// For one datagram: whether it is sent twice, and how much longer it is held back.
    fn draw(&self) -> (bool, Duration) {
        if self.duplicate <= 0.0 && self.reorder <= 0.0 || self.calm.load(Ordering::Relaxed) {
            return (false, Duration::ZERO);
        }
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        let twice = rng.random_bool(self.duplicate.clamp(0.0, 1.0));
        let held = if rng.random_bool(self.reorder.clamp(0.0, 1.0)) && !self.delay.is_zero() {
            let us = u64::try_from(self.delay.as_micros()).unwrap_or(u64::MAX);
            Duration::from_micros(rng.random_range(1..=us))
        } else {
            Duration::ZERO
        };
        (twice, held)
    }
}

/// One host's view of the simulated network.
#[derive(Debug, Clone)]
pub struct SimNet {
    host: Arc<str>,
    ip: IpAddr,
    rec: Recorder,
    mischief: Mischief,
    clock: SimClock,
    /// The datagrams held back on their way out of this host.
    held: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// Whether this host's socket calls may fail (the server's).
    fallible: bool,
}

impl SimNet {
    pub fn new(host: &str, ip: IpAddr, rec: Recorder, mischief: Mischief, clock: SimClock) -> Self {
        Self {
            host: host.into(),
            ip,
            rec,
            mischief,
            clock,
            held: Arc::default(),
            fallible: false,
        }
    }

    /// The same network, where a share of socket calls fail (the mischief's `errors`).
    pub fn fallible(mut self) -> Self {
        self.fallible = true;
        self
    }

    /// Whether the next socket call fails.
    fn fails(&self) -> bool {
        self.fallible && self.mischief.fails()
    }

    /// Records a socket error reported to this host's program, and returns it.
    fn socket_error(&self, op: SocketOp, kind: io::ErrorKind, why: &str) -> io::Error {
        self.injected(kind, why, |why| EventKind::SocketError { op, why })
    }

    /// Records a send refused to this host's program, and returns the error.
    fn send_failed(
        &self,
        transport: Transport,
        from: SocketAddr,
        to: SocketAddr,
        payload: &[u8],
        kind: io::ErrorKind,
        why: &str,
    ) -> io::Error {
        self.injected(kind, why, |why| EventKind::SendFailed {
            transport,
            from,
            to,
            payload: payload.to_vec(),
            why,
        })
    }

    /// Records the event of an injected error (given its reason) and returns the error itself.
    fn injected(
        &self,
        kind: io::ErrorKind,
        why: &str,
        event: impl FnOnce(String) -> EventKind,
    ) -> io::Error {
        let why = format!("{why} (simulated)");
        self.rec.record(now(), &self.host, event(why.clone()));
        io::Error::new(kind, why)
    }

    /// Waits until every datagram held back has left: they were sent, and go even if their program
    /// has ended (a host whose software has finished is never run again, so it must wait here).
    pub async fn flush_held(&self) {
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(PoisonError::into_inner));
        for task in held {
            let _ = task.await;
        }
    }

    /// The address peers see for a socket bound to `local` (turmoil sends from the host's IP when
    /// bound to the unspecified address).
    fn visible(&self, local: SocketAddr) -> SocketAddr {
        if local.ip().is_unspecified() {
            SocketAddr::new(self.ip, local.port())
        } else {
            local
        }
    }

    fn stream(&self, inner: turmoil::net::TcpStream) -> io::Result<SimStream> {
        Ok(SimStream {
            local: self.visible(inner.local_addr()?),
            peer: inner.peer_addr()?,
            inner,
            net: self.clone(),
            shut: false,
            drawn: false,
        })
    }
}

impl Net for SimNet {
    type Udp = SimUdp;
    type Stream = SimStream;
    type Listener = SimListener;

    async fn bind_udp(&self, addr: SocketAddr) -> io::Result<SimUdp> {
        let inner = turmoil::net::UdpSocket::bind(addr).await?;
        let local = self.visible(inner.local_addr()?);
        Ok(SimUdp {
            inner: Arc::new(inner),
            local,
            net: self.clone(),
            refused: AtomicBool::new(false),
        })
    }

    async fn connect_tcp(&self, addr: SocketAddr) -> io::Result<SimStream> {
        self.rec
            .record(now(), &self.host, EventKind::Connect { to: addr });
        let connected = turmoil::net::TcpStream::connect(addr)
            .await
            .and_then(|inner| self.stream(inner));
        let kind = match &connected {
            Ok(stream) => EventKind::Connected {
                from: stream.local,
                to: addr,
            },
            Err(e) => EventKind::ConnectFailed {
                to: addr,
                why: e.kind().to_string(),
            },
        };
        self.rec.record(now(), &self.host, kind);
        connected
    }

    async fn bind_tcp(&self, addr: SocketAddr) -> io::Result<SimListener> {
        Ok(SimListener {
            inner: turmoil::net::TcpListener::bind(addr).await?,
            net: self.clone(),
            backlog: Mutex::default(),
        })
    }
}

/// A simulated UDP socket.
pub struct SimUdp {
    /// Shared with a datagram the network holds back, which leaves from this socket later.
    inner: Arc<turmoil::net::UdpSocket>,
    local: SocketAddr,
    net: SimNet,
    /// An error the next receive reports: an earlier datagram was refused.
    refused: AtomicBool,
}

impl SimUdp {
    /// Records a datagram received, and draws whether the receive after it reports an error.
    fn received(&self, from: SocketAddr, bytes: &[u8]) {
        let net = &self.net;
        net.rec
            .receive(now(), Transport::Udp, from, self.local, bytes);
        if net.fails() {
            self.refused.store(true, Ordering::Relaxed);
        }
    }

    /// The error a receive reports instead of a datagram, if one is due.
    fn refusal(&self) -> Option<io::Error> {
        self.refused.swap(false, Ordering::Relaxed).then(|| {
            let kind = io::ErrorKind::ConnectionReset;
            self.net
                .socket_error(SocketOp::Receive, kind, "an earlier datagram was refused")
        })
    }
}

impl UdpSocket for SimUdp {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        let net = &self.net;
        if net.fails() {
            let kind = io::ErrorKind::OutOfMemory;
            let why = "no buffer space available";
            return Err(net.send_failed(Transport::Udp, self.local, target, buf, kind, why));
        }
        let (twice, held) = net.mischief.draw();
        let n = if held.is_zero() {
            self.inner.send_to(buf, target).await?
        } else {
            // It left now, as far as the sender knows; the network passes it on later (or never,
            // if the host crashes first).
            let (inner, clock, payload) = (self.inner.clone(), net.clock.clone(), buf.to_vec());
            let task = tokio::spawn(async move {
                clock::sleep(&clock, held).await;
                let _ = inner.send_to(&payload, target).await;
            });
            net.held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(task);
            buf.len()
        };
        let udp = Transport::Udp;
        net.rec
            .send(now(), &net.host, udp, self.local, target, &buf[..n]);
        if twice && self.inner.send_to(&buf[..n], target).await.is_ok() {
            net.rec
                .send(now(), NETWORK, udp, self.local, target, &buf[..n]);
        }
        Ok(n)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        if let Some(e) = self.refusal() {
            return Err(e);
        }
        let (n, from) = self.inner.recv_from(buf).await?;
        self.received(from, &buf[..n]);
        Ok((n, from))
    }

    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        if let Some(e) = self.refusal() {
            return Err(e);
        }
        let got = connid::net::would_block(self.inner.try_recv_from(buf))?;
        if let Some((n, from)) = got {
            self.received(from, &buf[..n]);
        }
        Ok(got)
    }
}

/// A simulated TCP listener.
pub struct SimListener {
    inner: turmoil::net::TcpListener,
    net: SimNet,
    /// A connection whose accept failed: it waits for the next accept (and is closed with the
    /// listener if none comes).
    backlog: Mutex<Option<(SimStream, SocketAddr)>>,
}

impl TcpListener for SimListener {
    type Stream = SimStream;

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    async fn accept(&self) -> io::Result<(SimStream, SocketAddr)> {
        let waiting = self
            .backlog
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let (stream, peer) = match waiting {
            Some(waiting) => waiting,
            None => {
                let (inner, peer) = self.inner.accept().await?;
                let stream = self.net.stream(inner)?;
                if self.net.fails() {
                    *self.backlog.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some((stream, peer));
                    let kind = io::ErrorKind::Other;
                    let why = "too many open files";
                    return Err(self.net.socket_error(SocketOp::Accept, kind, why));
                }
                (stream, peer)
            }
        };
        let kind = EventKind::Accepted {
            from: peer,
            to: stream.local,
        };
        self.net.rec.record(now(), &self.net.host, kind);
        Ok((stream, peer))
    }
}

/// A simulated TCP stream that records what it writes, reads, and when it half-closes and closes.
pub struct SimStream {
    inner: turmoil::net::TcpStream,
    local: SocketAddr,
    peer: SocketAddr,
    net: SimNet,
    /// Whether this side has half-closed (recorded once).
    shut: bool,
    /// Whether a failure of its writes was drawn (once, at the first).
    drawn: bool,
}

impl SimStream {
    fn record(&self, kind: EventKind) {
        // Outside the simulation (the run is being torn down) there is nothing to record.
        if let Some(at) = turmoil::sim_elapsed() {
            self.net.rec.record(at, &self.net.host, kind);
        }
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let got = &buf.filled()[before..];
            if !got.is_empty() {
                self.net
                    .rec
                    .receive(now(), Transport::Tcp, self.peer, self.local, got);
            }
        }
        polled
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !std::mem::replace(&mut self.drawn, true) && self.net.fails() {
            let kind = io::ErrorKind::ConnectionReset;
            let why = "connection reset by peer";
            let e = (self.net).send_failed(Transport::Tcp, self.local, self.peer, buf, kind, why);
            return Poll::Ready(Err(e));
        }
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            let net = &self.net;
            net.rec.send(
                now(),
                &net.host,
                Transport::Tcp,
                self.local,
                self.peer,
                &buf[..n],
            );
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        if let Poll::Ready(Ok(())) = polled {
            if !std::mem::replace(&mut self.shut, true) {
                self.record(EventKind::Shutdown {
                    local: self.local,
                    peer: self.peer,
                });
            }
        }
        polled
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        self.record(EventKind::Close {
            local: self.local,
            peer: self.peer,
        });
    }
}
