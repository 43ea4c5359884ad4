//! The network seam: the few socket operations the client and server need, as traits.
//!
//! The real binaries use [`TokioNet`]; the simulator implements the same traits on turmoil's simulated
//! sockets, so the protocol code never knows which network it runs on.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;

use tokio::io::{AsyncRead, AsyncWrite, Interest};

mod batch;
#[cfg(target_os = "linux")]
mod mmsg;

pub use batch::{RecvBatch, SendBatch, BATCH, SLOT};

/// Which transport carries the protocol: `udp` or `tcp` wherever it is written (command lines,
/// scenario files, transcripts).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
}

impl Transport {
    /// Both, UDP first.
    pub const ALL: [Transport; 2] = [Transport::Udp, Transport::Tcp];
}

/// A transport name that is not `udp` or `tcp`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport {0:?} (udp or tcp)")]
pub struct UnknownTransport(pub String);

impl std::str::FromStr for Transport {
    type Err = UnknownTransport;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "udp" => Ok(Transport::Udp),
            "tcp" => Ok(Transport::Tcp),
            other => Err(UnknownTransport(other.to_string())),
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// A network on which sockets can be opened.
pub trait Net: Send + Sync {
    type Udp: UdpSocket;
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    type Listener: TcpListener<Stream = Self::Stream>;

    fn bind_udp(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Udp>> + Send;
    fn connect_tcp(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    fn bind_tcp(&self, addr: SocketAddr)
        -> impl Future<Output = io::Result<Self::Listener>> + Send;
}

/// A bound UDP socket.
pub trait UdpSocket: Send + Sync + 'static {
    fn local_addr(&self) -> io::Result<SocketAddr>;
    fn send_to(
        &self,
        buf: &[u8],
        target: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send;
    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send;
    /// A datagram if one is waiting, `None` if receiving would block.
    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>>;

    /// Takes the datagrams already waiting into `batch` (emptied first), up to its capacity, without
    /// waiting: an empty batch when none is waiting. An error after some datagrams ends the batch early;
    /// the next call reports it.
    fn try_recv_batch(&self, batch: &mut RecvBatch) -> io::Result<()> {
        batch.clear();
        if let Some(e) = batch.take_deferred() {
            return Err(e);
        }
        take_waiting(self, batch)
    }

    /// Waits for a datagram, then takes it and the others already waiting into `batch` (emptied
    /// first). An error after the first datagram is kept for the next call, as above.
    fn recv_batch(&self, batch: &mut RecvBatch) -> impl Future<Output = io::Result<()>> + Send {
        async move {
            batch.clear();
            if let Some(e) = batch.take_deferred() {
                return Err(e);
            }
            let slot = batch.free_slot().expect("an empty batch has a free slot");
            let (n, peer) = self.recv_from(slot).await?;
            batch.filled(n, peer);
            take_waiting(self, batch)
        }
    }

    /// Sends `batch`'s datagrams from index `from` on: how many went out (at least one), or the error
    /// of datagram `from` (the caller reports it and goes on with the next).
    fn send_batch(
        &self,
        batch: &SendBatch,
        from: usize,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        async move {
            let (bytes, to) = batch.get(from);
            self.send_to(bytes, to).await.map(|_| 1)
        }
    }
}

/// Adds the datagrams already waiting to `batch`, one receive each, until it is full or none is
/// waiting. An error ends the batch: reported if the batch is empty, else kept for the next receive.
fn take_waiting<S: UdpSocket + ?Sized>(socket: &S, batch: &mut RecvBatch) -> io::Result<()> {
    while let Some(slot) = batch.free_slot() {
        match socket.try_recv_from(slot) {
            Ok(Some((n, peer))) => batch.filled(n, peer),
            Ok(None) => break,
            Err(e) if batch.is_empty() => return Err(e),
            Err(e) => {
                batch.defer(e);
                break;
            }
        }
    }
    Ok(())
}

/// What [`send_all`] reports: a run of datagrams that went out (their indices in the batch), or the
/// one datagram that could not be sent.
pub type SendOutcome = Result<Range<usize>, (usize, io::Error)>;

/// Sends every datagram of `batch`, going on past one that cannot be sent; `outcome` hears of each
/// run that went out and of each datagram that failed.
pub async fn send_all<S: UdpSocket>(
    socket: &S,
    batch: &SendBatch,
    mut outcome: impl FnMut(SendOutcome),
) {
    let mut next = 0;
    while next < batch.len() {
        match socket.send_batch(batch, next).await {
            Ok(sent) => {
                outcome(Ok(next..next + sent));
                next += sent.max(1);
            }
            Err(e) => {
                outcome(Err((next, e)));
                next += 1;
            }
        }
    }
}

/// Turns "would block" into `None`.
pub fn would_block<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// A listening TCP socket.
pub trait TcpListener: Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    fn local_addr(&self) -> io::Result<SocketAddr>;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
}

/// The unspecified address (`0.0.0.0` or `::`) of the same family as `peer`, port 0: where a client binds.
pub fn unspecified_for(peer: SocketAddr) -> SocketAddr {
    let ip = match peer.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// Receive buffer asked for on UDP sockets (Linux grants up to `net.core.rmem_max`).
const UDP_RECV_BUFFER: usize = 4 << 20;

/// The operating system's network, through tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioNet;

impl Net for TokioNet {
    type Udp = tokio::net::UdpSocket;
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    async fn bind_udp(&self, addr: SocketAddr) -> io::Result<Self::Udp> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        // A busy server receives in bursts; the default buffer (~200 KiB) overflows and the kernel
        // drops requests. Ask for more; the system caps it at its own maximum.
        let _ = socket.set_recv_buffer_size(UDP_RECV_BUFFER);
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        tokio::net::UdpSocket::from_std(socket.into())
    }

    async fn connect_tcp(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn bind_tcp(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind(addr).await
    }
}

impl UdpSocket for tokio::net::UdpSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::UdpSocket::local_addr(self)
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        tokio::net::UdpSocket::send_to(self, buf, target).await
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        tokio::net::UdpSocket::recv_from(self, buf).await
    }

    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        would_block(tokio::net::UdpSocket::try_recv_from(self, buf))
    }

    #[cfg(target_os = "linux")]
    fn try_recv_batch(&self, batch: &mut RecvBatch) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        batch.clear();
        let fd = self.as_raw_fd();
        would_block(self.try_io(Interest::READABLE, || mmsg::recv(fd, batch))).map(|_| ())
    }

    #[cfg(target_os = "linux")]
    async fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<()> {
        loop {
            self.readable().await?;
            UdpSocket::try_recv_batch(self, batch)?;
            if !batch.is_empty() {
                return Ok(());
            }
        }
    }

    #[cfg(target_os = "linux")]
    async fn send_batch(&self, batch: &SendBatch, from: usize) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let fd = self.as_raw_fd();
        loop {
            self.writable().await?;
            if let Some(sent) =
                would_block(self.try_io(Interest::WRITABLE, || mmsg::send(fd, batch, from)))?
            {
                return Ok(sent);
            }
        }
    }
}

impl TcpListener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }

    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = tokio::net::TcpListener::accept(self).await?;
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn udp_pair(ip: IpAddr) -> (tokio::net::UdpSocket, tokio::net::UdpSocket) {
        let local = SocketAddr::new(ip, 0);
        (
            TokioNet.bind_udp(local).await.unwrap(),
            TokioNet.bind_udp(local).await.unwrap(),
        )
    }

    #[test]
    fn transports_are_written_udp_and_tcp_everywhere() {
        for t in Transport::ALL {
            assert_eq!(t.to_string().parse::<Transport>(), Ok(t));
        }
        assert_eq!("tcp".parse::<Transport>(), Ok(Transport::Tcp));
        assert_eq!(
            "UDP".parse::<Transport>(),
            Err(UnknownTransport("UDP".into()))
        );
        assert_eq!(
            serde_json::to_string(&Transport::ALL).unwrap(),
            r#"["udp","tcp"]"#
        );
        assert_eq!(
            serde_json::from_str::<Transport>(r#""tcp""#).unwrap(),
            Transport::Tcp
        );
    }

    #[tokio::test]
    async fn batches_carry_every_datagram_with_its_peer_both_ways() {
        for ip in [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ] {
            batches_round_trip(ip).await;
        }
    }

    async fn batches_round_trip(ip: IpAddr) {
        let (a, b) = udp_pair(ip).await;
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let mut out = SendBatch::new();
        for i in 0..BATCH + 8 {
            out.push_if(b_addr, |buf| {
                buf.extend_from_slice(format!("datagram {i}").as_bytes());
                true
            });
        }
        out.push_if(b_addr, |buf| {
            buf.resize(SLOT + 500, b'x');
            true
        });
        let mut next = 0;
        while next < out.len() {
            next += a.send_batch(&out, next).await.unwrap();
        }
        assert_eq!(next, BATCH + 9);

        let mut got = Vec::new();
        let mut batch = RecvBatch::new();
        b.recv_batch(&mut batch).await.unwrap();
        loop {
            for (bytes, from) in batch.iter() {
                assert_eq!(from, a_addr);
                got.push(bytes.to_vec());
            }
            if got.len() == BATCH + 9 {
                break;
            }
            b.recv_batch(&mut batch).await.unwrap();
        }
        for (i, bytes) in got.iter().take(BATCH + 8).enumerate() {
            assert_eq!(bytes, format!("datagram {i}").as_bytes());
        }
        assert_eq!(
            got[BATCH + 8].len(),
            SLOT,
            "an oversize datagram is cut at the slot"
        );
        b.try_recv_batch(&mut batch).unwrap();
        assert!(batch.is_empty(), "nothing more is waiting");
    }

    #[tokio::test]
    async fn a_datagram_that_cannot_be_sent_is_reported_alone() {
        let (a, b) = udp_pair(IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
        let b_addr = b.local_addr().unwrap();
        // An IPv4 socket cannot send to an IPv6 address.
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        let mut out = SendBatch::new();
        for to in [b_addr, b_addr, v6, b_addr] {
            out.push_if(to, |buf| {
                buf.extend_from_slice(b"HELLO 1");
                true
            });
        }
        assert_eq!(a.send_batch(&out, 0).await.unwrap(), 2);
        assert!(a.send_batch(&out, 2).await.is_err());
        assert_eq!(a.send_batch(&out, 3).await.unwrap(), 1);
        // send_all goes on past the failure and says which went out.
        let mut outcomes = Vec::new();
        send_all(&a, &out, |o| outcomes.push(o.map_err(|(i, _)| i))).await;
        assert_eq!(outcomes, [Ok(0..2), Err(2), Ok(3..4)]);
        let mut batch = RecvBatch::new();
        let mut received = 0;
        while received < 6 {
            b.recv_batch(&mut batch).await.unwrap();
            received += batch.len();
        }
        assert_eq!(received, 6);
    }

    /// A socket that replays scripted receives: a datagram, an error (reported once, as an ICMP error
    /// is), or nothing waiting.
    struct Scripted(
        std::sync::Mutex<std::collections::VecDeque<Option<io::Result<&'static [u8]>>>>,
    );

    impl UdpSocket for Scripted {
        fn local_addr(&self) -> io::Result<SocketAddr> {
            Ok("127.0.0.1:1".parse().unwrap())
        }
        async fn send_to(&self, buf: &[u8], _: SocketAddr) -> io::Result<usize> {
            Ok(buf.len())
        }
        async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
            self.try_recv_from(buf)
                .map(|got| got.expect("the script has a datagram waiting"))
        }
        fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
            match self.0.lock().unwrap().pop_front().flatten() {
                None => Ok(None),
                Some(Err(e)) => Err(e),
                Some(Ok(bytes)) => {
                    buf[..bytes.len()].copy_from_slice(bytes);
                    Ok(Some((bytes.len(), "10.0.0.1:7".parse().unwrap())))
                }
            }
        }
    }

    fn script() -> Scripted {
        let refused = || io::Error::new(io::ErrorKind::ConnectionReset, "refused");
        Scripted(std::sync::Mutex::new(
            [
                Some(Ok(&b"HELLO 1"[..])),
                Some(Ok(&b"HELLO 2"[..])),
                Some(Err(refused())),
                Some(Ok(&b"HELLO 3"[..])),
                None,
            ]
            .into(),
        ))
    }

    fn contents(batch: &RecvBatch) -> Vec<&[u8]> {
        batch.iter().map(|(bytes, _)| bytes).collect()
    }

    #[test]
    fn an_error_after_some_datagrams_is_reported_by_the_next_try_recv_batch() {
        let socket = script();
        let mut batch = RecvBatch::new();
        socket.try_recv_batch(&mut batch).unwrap();
        assert_eq!(contents(&batch), [&b"HELLO 1"[..], b"HELLO 2"]);
        let e = socket.try_recv_batch(&mut batch).unwrap_err();
        assert_eq!(e.to_string(), "refused");
        assert!(batch.is_empty());
        socket.try_recv_batch(&mut batch).unwrap();
        assert_eq!(contents(&batch), [&b"HELLO 3"[..]]);
    }

    #[tokio::test]
    async fn an_error_after_some_datagrams_is_reported_by_the_next_recv_batch() {
        let socket = script();
        let mut batch = RecvBatch::new();
        socket.recv_batch(&mut batch).await.unwrap();
        assert_eq!(contents(&batch), [&b"HELLO 1"[..], b"HELLO 2"]);
        let e = socket.recv_batch(&mut batch).await.unwrap_err();
        assert_eq!(e.to_string(), "refused");
        socket.recv_batch(&mut batch).await.unwrap();
        assert_eq!(contents(&batch), [&b"HELLO 3"[..]]);
    }
}
