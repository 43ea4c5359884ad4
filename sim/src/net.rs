//! The network seam on turmoil's simulated sockets, recording every send and receive.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use connid::net::{Net, TcpListener, UdpSocket};
use connid::Transport;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::events::{EventKind, Recorder};

/// Virtual time since the simulation started, as seen by the running host.
pub fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// One host's view of the simulated network.
#[derive(Debug, Clone)]
pub struct SimNet {
    host: Arc<str>,
    ip: IpAddr,
    rec: Recorder,
}

impl SimNet {
    pub fn new(host: &str, ip: IpAddr, rec: Recorder) -> Self {
        Self {
            host: host.into(),
            ip,
            rec,
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
            inner,
            local,
            net: self.clone(),
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
        })
    }
}

/// A simulated UDP socket.
pub struct SimUdp {
    inner: turmoil::net::UdpSocket,
    local: SocketAddr,
    net: SimNet,
}

impl UdpSocket for SimUdp {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        let n = self.inner.send_to(buf, target).await?;
        let net = &self.net;
        net.rec.send(
            now(),
            &net.host,
            Transport::Udp,
            self.local,
            target,
            &buf[..n],
        );
        Ok(n)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.inner.recv_from(buf).await?;
        self.net
            .rec
            .receive(now(), Transport::Udp, from, self.local, &buf[..n]);
        Ok((n, from))
    }

    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        let got = connid::net::would_block(self.inner.try_recv_from(buf))?;
        if let Some((n, from)) = got {
            self.net
                .rec
                .receive(now(), Transport::Udp, from, self.local, &buf[..n]);
        }
        Ok(got)
    }
}

/// A simulated TCP listener.
pub struct SimListener {
    inner: turmoil::net::TcpListener,
    net: SimNet,
}

impl TcpListener for SimListener {
    type Stream = SimStream;

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    async fn accept(&self) -> io::Result<(SimStream, SocketAddr)> {
        let (inner, peer) = self.inner.accept().await?;
        let stream = self.net.stream(inner)?;
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
