//! The server: answers `HELLO <id>` with `OK` (recording the ID) or `RESET`, over UDP or TCP.
//!
//! One job per module: [`decision`] decides what a request gets (pure: [`handle_request`]), `table`
//! keeps the IDs (and removes expired ones while the server is idle), `log` prints a line per request
//! (dropped ones rate-limited), and `udp` and `tcp` are the two serving loops. This module wires them:
//! the server is handed its bound socket ([`Server::bind`]) so the caller learns the address (port 0
//! works) before it runs, and it exits after the idle timeout or when told to stop.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::clock::Clock;
use crate::console::Console;
use crate::defaults;
use crate::lines::ServerLine;
use crate::net::{Net, TcpListener, Transport, UdpSocket};
use crate::protocol::{ConnId, ParseError};
use crate::registry::Registry;

pub mod decision;
mod log;
mod table;
mod tcp;
mod udp;

pub use crate::lines::REQUEST_LINES_PER_SEC;
pub use decision::{handle_request, Dropped};
use log::Log;
pub use log::LogLevel;
use table::Table;

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
    /// Most IDs in use at once: a new ID beyond it gets no reply, so memory stays bounded whatever
    /// peers send.
    pub max_ids: usize,
    /// How much it logs about requests.
    pub log: LogLevel,
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
            max_ids: defaults::MAX_IDS,
            log: LogLevel::default(),
        }
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
        let started = Instant::now();
        let mut core = Core {
            table: Table::new(Registry::new(self.cfg.id_ttl).with_max(self.cfg.max_ids)),
            log: Log::new(clock, console, started)
                .with_max_ids(self.cfg.max_ids)
                .with_level(self.cfg.log),
            idle: self.cfg.idle_timeout,
            idle_deadline: started + self.cfg.idle_timeout,
        };
        let listening = ServerLine::Listening {
            at: core.log.now(),
            transport: self.cfg.transport,
            addr: self
                .local_addr()
                .map_or_else(|e| format!("(unknown address: {e})"), |a| a.to_string()),
            ttl: self.cfg.id_ttl,
            idle: self.cfg.idle_timeout,
        };
        core.log.out(&listening);
        let serve = async {
            match &self.socket {
                Bound::Udp(socket) => udp::serve(socket, &mut core).await,
                Bound::Tcp(listener) => tcp::serve(listener, &self.cfg, &mut core).await,
            }
        };
        let exit = tokio::select! {
            biased;
            reason = stop => ServerExit::Stopped(reason),
            () = serve => ServerExit::IdleTimeout,
        };
        core.log.flush_all(Instant::now());
        let at = core.log.now();
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
        core.log.out(&last);
        core.log.flush();
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

/// What both serving loops work with: the table, the log and the idle deadline.
struct Core<'a, C, K> {
    table: Table,
    log: Log<'a, C, K>,
    idle: Duration,
    idle_deadline: Instant,
}

impl<C: Clock, K: Console> Core<'_, C, K> {
    /// Restarts the idle timer: a request (or the start of one) arrived at `now`.
    fn activity(&mut self, now: Instant) {
        self.idle_deadline = now + self.idle;
    }

    /// Decides and logs one request received at `now`. When it has a reply, the reply is written to
    /// `reply` (formatted once, for the wire and the log) and the answer is true.
    fn answer(
        &mut self,
        parsed: Result<ConnId, ParseError>,
        bytes: &[u8],
        peer: SocketAddr,
        now: Instant,
        reply: &mut String,
    ) -> bool {
        reply.clear();
        match parsed {
            Ok(id) => match self.table.decide(id, peer, now.into_std()) {
                Some(message) => {
                    message.write_to(reply);
                    self.log.request(peer, bytes, Ok((&message, reply)), now);
                    true
                }
                None => {
                    self.log.refused(now);
                    false
                }
            },
            Err(e) => {
                self.log
                    .request(peer, bytes, Err(&Dropped::Malformed(e)), now);
                false
            }
        }
    }
}

/// Completes when the oldest ID held expires (never, while none is held), so an idle server removes
/// expired IDs with one wake-up per expiry and none in between.
async fn next_expiry<C: Clock>(clock: &C, table: &Table) {
    sleep_until_some(clock, table.next_expiry().map(Instant::from_std)).await;
}

/// Completes at `at`, or never if there is nothing to wait for.
async fn sleep_until_some<C: Clock>(clock: &C, at: Option<Instant>) {
    match at {
        Some(at) => clock.sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemClock;

    #[tokio::test(start_paused = true)]
    async fn the_expiry_timer_waits_for_the_oldest_id_and_never_for_an_empty_table() {
        let ttl = Duration::from_secs(30);
        let mut table = Table::new(Registry::new(ttl));
        let empty =
            tokio::time::timeout(Duration::from_secs(3600), next_expiry(&SystemClock, &table));
        assert!(
            empty.await.is_err(),
            "an empty table has nothing to wait for"
        );

        let t0 = Instant::now();
        let peer: SocketAddr = "10.0.0.1:7".parse().unwrap();
        table.decide(ConnId::new("a").unwrap(), peer, t0.into_std());
        let due = tokio::time::timeout(ttl * 2, next_expiry(&SystemClock, &table));
        assert!(due.await.is_ok(), "a held ID expires");
        // tokio's timers have millisecond resolution: the first one after the expiry instant.
        assert_eq!(t0.elapsed(), ttl + Duration::from_millis(1));
    }
}
