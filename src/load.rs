//! A load generator for any server that speaks the protocol (ours, or a student's).
//!
//! UDP: each of `clients` sockets keeps requests in flight and matches replies by ID; closed loop keeps
//! `window` requests outstanding per socket, open loop sends at a fixed total `rate` whatever the replies.
//! TCP: one connection per request. Every reply is classified (OK, RESET, malformed, late); nothing a
//! server sends can make it crash.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::defaults;
use crate::framing::{read_message, Framer, Received};
use crate::net::{
    send_all, unspecified_for, Net, RecvBatch, SendBatch, TokioNet, Transport, UdpSocket,
};
use crate::protocol::{self, ConnId, Message};

/// Which IDs the requests ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    /// Every request a new ID: every request is granted (the server's table grows to rate x TTL).
    Unique,
    /// IDs from a pool of this many: most requests get RESET.
    Pool(u32),
}

impl FromStr for Ids {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("pool:") {
            None if s == "unique" => Ok(Ids::Unique),
            Some(n) => match n.parse::<u32>() {
                Ok(n) if n > 0 => Ok(Ids::Pool(n)),
                _ => Err(format!(
                    "{s:?}: the pool needs a size of at least 1 (pool:100)"
                )),
            },
            None => Err(format!("{s:?} is not \"unique\" or \"pool:N\"")),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub server: SocketAddr,
    pub transport: Transport,
    /// UDP sockets (or concurrent TCP connections, closed loop).
    pub clients: usize,
    /// Requests in flight per UDP socket, closed loop.
    pub window: usize,
    pub duration: Duration,
    /// Requests per second in all: open loop. `None`: closed loop, as fast as replies come.
    pub rate: Option<f64>,
    pub ids: Ids,
    /// A request unanswered this long counts as a timeout.
    pub timeout: Duration,
    /// Distinguishes the IDs of this run from another run's (unique mode).
    pub run_tag: String,
}

/// What happened, counted.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub transport: String,
    pub clients: usize,
    pub seconds: f64,
    pub sent: u64,
    pub ok: u64,
    pub reset: u64,
    pub timeouts: u64,
    pub errors: u64,
    pub malformed: u64,
    /// Replies for a request already counted (as a timeout, usually).
    pub late: u64,
    pub throughput: f64,
    /// Replies answered in each second of the run (the last may be the partial second after the
    /// last request): shows whether the rate held flat.
    pub per_second: Vec<u64>,
    pub latency_us: Latency,
}

/// Latency of answered requests, in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

#[derive(Debug)]
struct Counts {
    sent: u64,
    ok: u64,
    reset: u64,
    timeouts: u64,
    errors: u64,
    malformed: u64,
    late: u64,
    latency: Histogram<u64>,
    started: Instant,
    per_second: Vec<u64>,
}

impl Counts {
    fn new(started: Instant) -> Self {
        Self {
            started,
            per_second: Vec::new(),
            sent: 0,
            ok: 0,
            reset: 0,
            timeouts: 0,
            errors: 0,
            malformed: 0,
            late: 0,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"),
        }
    }

    fn add(&mut self, other: &Counts) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.reset += other.reset;
        self.timeouts += other.timeouts;
        self.errors += other.errors;
        self.malformed += other.malformed;
        self.late += other.late;
        let _ = self.latency.add(&other.latency);
        if self.per_second.len() < other.per_second.len() {
            self.per_second.resize(other.per_second.len(), 0);
        }
        for (total, n) in self.per_second.iter_mut().zip(&other.per_second) {
            *total += n;
        }
    }

    /// Counts a reply received at `now` to a request sent at `sent`.
    fn answered(&mut self, reply: &Message, sent: Instant, now: Instant) {
        match reply {
            Message::Ok(..) => self.ok += 1,
            _ => self.reset += 1,
        }
        let second = usize::try_from(now.duration_since(self.started).as_secs()).unwrap_or(0);
        if self.per_second.len() <= second {
            self.per_second.resize(second + 1, 0);
        }
        self.per_second[second] += 1;
        let us = u64::try_from(now.duration_since(sent).as_micros()).unwrap_or(u64::MAX);
        let _ = self.latency.record(us.max(1));
    }
}

/// Hands out request IDs and recognizes them in replies, as a number (a key): unique IDs carry a
/// sequence number, pool IDs their index in the pool.
struct IdSource {
    ids: Ids,
    prefix: String,
    next: u64,
    rng: u64,
}

impl IdSource {
    fn new(ids: Ids, tag: &str, client: usize) -> Self {
        Self {
            ids,
            prefix: format!("{tag}{client:x}-"),
            next: 0,
            rng: 0x9e37_79b9_7f4a_7c15 ^ client as u64,
        }
    }

    /// Writes the next ID to `out` and returns its key.
    fn write_next(&mut self, out: &mut Vec<u8>) -> u64 {
        use std::io::Write;
        match self.ids {
            Ids::Unique => {
                self.next += 1;
                let _ = write!(out, "{}{:x}", self.prefix, self.next);
                self.next
            }
            Ids::Pool(n) => {
                // xorshift: cheap, and the pool's spread is all that matters here.
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                let key = self.rng % u64::from(n);
                let _ = write!(out, "p{key}");
                key
            }
        }
    }

    fn next_id(&mut self) -> String {
        let mut id = Vec::new();
        self.write_next(&mut id);
        String::from_utf8(id).unwrap_or_default()
    }

    /// The key of an ID this source handed out, or `None` for any other ID.
    fn key_of(&self, id: &str) -> Option<u64> {
        let (digits, radix) = match self.ids {
            Ids::Unique => (id.strip_prefix(self.prefix.as_str())?, 16),
            Ids::Pool(_) => (id.strip_prefix('p')?, 10),
        };
        // Exactly as written: no sign, no upper case, no leading zero.
        let leading_zero = digits.len() > 1 && digits.starts_with('0');
        let canonical = !digits.is_empty()
            && !leading_zero
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (radix == 16 && (b'a'..=b'f').contains(&b)));
        canonical
            .then(|| u64::from_str_radix(digits, radix).ok())
            .flatten()
    }
}

/// Requests in flight on one socket, by key, oldest first; counts what happens to them.
struct InFlight {
    /// Unique IDs: send times by sequence number from `base` on (`None`: answered, or never sent).
    by_seq: VecDeque<Option<Instant>>,
    base: u64,
    /// Pool IDs: send times per pool index (one ID can be in flight more than once).
    by_pool: HashMap<u64, VecDeque<Instant>>,
    len: usize,
}

impl InFlight {
    fn new() -> Self {
        Self {
            by_seq: VecDeque::new(),
            base: 1,
            by_pool: HashMap::new(),
            len: 0,
        }
    }

    fn sent(&mut self, ids: Ids, key: u64, at: Instant) {
        match ids {
            Ids::Unique => {
                let Some(ix) = key.checked_sub(self.base) else {
                    return;
                };
                let ix = usize::try_from(ix).unwrap_or(usize::MAX);
                while self.by_seq.len() < ix {
                    self.by_seq.push_back(None);
                }
                self.by_seq.push_back(Some(at));
            }
            Ids::Pool(_) => self.by_pool.entry(key).or_default().push_back(at),
        }
        self.len += 1;
    }

    /// The send time of the oldest request in flight with this key, which is no longer in flight.
    fn answered(&mut self, ids: Ids, key: u64) -> Option<Instant> {
        let at = match ids {
            Ids::Unique => {
                let ix = usize::try_from(key.checked_sub(self.base)?).ok()?;
                let at = self.by_seq.get_mut(ix)?.take()?;
                self.trim();
                at
            }
            Ids::Pool(_) => {
                let queue = self.by_pool.get_mut(&key)?;
                let at = queue.pop_front()?;
                if queue.is_empty() {
                    self.by_pool.remove(&key);
                }
                at
            }
        };
        self.len -= 1;
        Some(at)
    }

    /// Drops the requests sent `timeout` or longer before `now`; returns how many.
    fn expire(&mut self, now: Instant, timeout: Duration) -> u64 {
        let old = |t: &Instant| now.duration_since(*t) >= timeout;
        let mut expired = 0;
        while let Some(front) = self.by_seq.front() {
            match front {
                Some(t) if !old(t) => break,
                Some(_) => expired += 1,
                None => {}
            }
            self.by_seq.pop_front();
            self.base += 1;
        }
        self.by_pool.retain(|_, sent| {
            while sent.front().is_some_and(old) {
                sent.pop_front();
                expired += 1;
            }
            !sent.is_empty()
        });
        self.len -= expired as usize;
        expired
    }

    /// Drops answered requests from the front of the sequence.
    fn trim(&mut self) {
        while self.by_seq.front().is_some_and(Option::is_none) {
            self.by_seq.pop_front();
            self.base += 1;
        }
    }
}

/// Runs the load and reports. The caller's runtime decides how many threads it gets.
pub async fn run_load(cfg: &LoadConfig) -> io::Result<Report> {
    let started = Instant::now();
    let deadline = started + cfg.duration;
    let mut tasks = tokio::task::JoinSet::new();
    let per_client_rate = cfg.rate.map(|r| r / cfg.clients.max(1) as f64);
    for client in 0..cfg.clients.max(1) {
        let cfg = cfg.clone();
        tasks.spawn(async move {
            match cfg.transport {
                Transport::Udp => udp_client(&cfg, client, per_client_rate, deadline).await,
                Transport::Tcp => tcp_client(&cfg, client, per_client_rate, deadline).await,
            }
        });
    }
    let mut total = Counts::new(started);
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(counts)) => total.add(&counts),
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(io::Error::other(e)),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let answered = total.ok + total.reset;
    let q = |p: f64| total.latency.value_at_quantile(p);
    Ok(Report {
        transport: cfg.transport.to_string(),
        clients: cfg.clients,
        seconds,
        sent: total.sent,
        ok: total.ok,
        reset: total.reset,
        timeouts: total.timeouts,
        errors: total.errors,
        malformed: total.malformed,
        late: total.late,
        throughput: answered as f64 / seconds,
        per_second: total.per_second,
        latency_us: if answered == 0 {
            Latency::default()
        } else {
            Latency {
                p50: q(0.5),
                p90: q(0.9),
                p99: q(0.99),
                max: total.latency.max(),
            }
        },
    })
}

/// The interval between two sends of one client in open loop.
fn interval(rate: f64) -> Duration {
    Duration::from_secs_f64(1.0 / rate.max(1e-6))
}

/// Most requests one open-loop round sends, so replies are read in between even when `load` cannot
/// keep up with the rate asked for.
const MAX_ROUND: usize = 1024;

async fn udp_client(
    cfg: &LoadConfig,
    client: usize,
    rate: Option<f64>,
    deadline: Instant,
) -> io::Result<Counts> {
    let socket = TokioNet.bind_udp(unspecified_for(cfg.server)).await?;
    socket.connect(cfg.server).await?;
    let mut ids = IdSource::new(cfg.ids, &cfg.run_tag, client);
    let mut counts = Counts::new(deadline - cfg.duration);
    let mut in_flight = InFlight::new();
    let mut requests = SendBatch::new();
    let mut keys = Vec::new();
    let mut replies = RecvBatch::new();
    let mut send_at = Instant::now();
    let mut sweep = tokio::time::interval(Duration::from_millis(10));
    let window = cfg.window.max(1);
    loop {
        let now = Instant::now();
        let sending = now < deadline;
        if !sending && in_flight.len == 0 {
            break;
        }
        // Closed loop: top up the window. Open loop: send what the schedule says is due.
        requests.clear();
        keys.clear();
        while sending
            && match rate {
                None => in_flight.len + requests.len() < window,
                Some(_) => send_at <= now && requests.len() < MAX_ROUND,
            }
        {
            requests.push_if(cfg.server, |out| {
                out.extend_from_slice(b"HELLO ");
                keys.push(ids.write_next(out));
                true
            });
            if let Some(r) = rate {
                send_at += interval(r);
            }
        }
        send_all(&socket, &requests, |outcome| match outcome {
            Ok(sent) => {
                let at = Instant::now();
                counts.sent += sent.len() as u64;
                for &key in &keys[sent] {
                    in_flight.sent(cfg.ids, key, at);
                }
            }
            Err(_) => counts.errors += 1,
        })
        .await;
        let next_send = if sending && rate.is_some() {
            send_at
        } else {
            deadline.max(now) + cfg.timeout
        };
        tokio::select! {
            biased;
            received = UdpSocket::recv_batch(&socket, &mut replies) => match received {
                Ok(()) => {
                    let now = Instant::now();
                    for (bytes, _) in replies.iter() {
                        match protocol::parse(bytes) {
                            Ok(reply @ (Message::Ok(..) | Message::Reset(_))) => {
                                match ids
                                    .key_of(reply.id().as_str())
                                    .and_then(|key| in_flight.answered(cfg.ids, key))
                                {
                                    Some(since) => counts.answered(&reply, since, now),
                                    None => counts.late += 1,
                                }
                            }
                            _ => counts.malformed += 1,
                        }
                    }
                }
                // A refused port (ICMP) and the like: count it and go on.
                Err(_) => counts.errors += 1,
            },
            _ = sweep.tick() => counts.timeouts += in_flight.expire(Instant::now(), cfg.timeout),
            _ = tokio::time::sleep_until(next_send) => {}
        }
    }
    Ok(counts)
}

/// One TCP request: connect, send, half-close (the request is complete), read the reply, close.
async fn tcp_request(server: SocketAddr, id: &str) -> Result<Message, TcpFailure> {
    let mut stream = tokio::net::TcpStream::connect(server)
        .await
        .map_err(|_| TcpFailure::Error)?;
    let _ = stream.set_nodelay(true);
    stream
        .write_all(format!("HELLO {id}").as_bytes())
        .await
        .map_err(|_| TcpFailure::Error)?;
    let _ = stream.shutdown().await;
    let mut framer = Framer::new();
    match read_message(&mut stream, &mut framer, defaults::SETTLE).await {
        Ok(Received::Message(bytes)) => match protocol::parse(&bytes) {
            Ok(m @ (Message::Ok(..) | Message::Reset(_))) if m.id().as_str() == id => Ok(m),
            _ => Err(TcpFailure::Malformed),
        },
        Ok(Received::TooLong(_)) => Err(TcpFailure::Malformed),
        Ok(Received::End) | Err(_) => Err(TcpFailure::Error),
    }
}

enum TcpFailure {
    Error,
    Malformed,
}

async fn tcp_client(
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

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.latency_us;
        writeln!(
            f,
            "transport     {} ({} clients, {:.1} s)",
            self.transport, self.clients, self.seconds
        )?;
        writeln!(f, "sent          {}", self.sent)?;
        writeln!(f, "ok            {}", self.ok)?;
        writeln!(f, "reset         {}", self.reset)?;
        writeln!(f, "timeouts      {}", self.timeouts)?;
        writeln!(f, "errors        {}", self.errors)?;
        writeln!(f, "malformed     {}", self.malformed)?;
        writeln!(f, "late          {}", self.late)?;
        writeln!(f, "throughput    {:.0} replies/s", self.throughput)?;
        // Whole seconds only: the last one holds just the replies that came after the last request.
        let whole = &self.per_second[..self.per_second.len().saturating_sub(1)];
        if let (Some(min), Some(max)) = (whole.iter().min(), whole.iter().max()) {
            writeln!(
                f,
                "per second    min {min}  max {max}  ({} whole seconds)",
                whole.len()
            )?;
        }
        write!(
            f,
            "latency (us)  p50 {}  p90 {}  p99 {}  max {}",
            l.p50, l.p90, l.p99, l.max
        )
    }
}

/// Checks a pool or unique ID is something the protocol accepts (the tag is user-supplied).
pub fn check_tag(tag: &str) -> Result<(), String> {
    ConnId::new(&format!("{tag}ffff-ffffffffffffffff"))
        .map(|_| ())
        .map_err(|e| format!("run tag {tag:?} makes bad IDs: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_as_unique_or_a_pool() {
        assert_eq!("unique".parse(), Ok(Ids::Unique));
        assert_eq!("pool:100".parse(), Ok(Ids::Pool(100)));
        assert!("pool:0".parse::<Ids>().is_err());
        assert!("pool".parse::<Ids>().is_err());
        assert!("all".parse::<Ids>().is_err());
    }

    #[test]
    fn generated_ids_are_valid_and_unique_ids_do_not_repeat() {
        let mut unique = IdSource::new(Ids::Unique, "r1-", 7);
        let a: Vec<String> = (0..1000).map(|_| unique.next_id()).collect();
        let mut sorted = a.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 1000);
        assert!(a.iter().all(|id| ConnId::new(id).is_ok()));
        let mut pool = IdSource::new(Ids::Pool(5), "r1-", 7);
        let mut seen: Vec<String> = (0..1000).map(|_| pool.next_id()).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 5);
        assert!(check_tag("r1-").is_ok());
        assert!(check_tag("has space").is_err());
    }

    #[test]
    fn a_reply_is_matched_only_by_an_id_handed_out_exactly_as_written() {
        let mut unique = IdSource::new(Ids::Unique, "t-", 10);
        let mut out = Vec::new();
        let keys: Vec<u64> = (0..20)
            .map(|_| {
                out.clear();
                unique.write_next(&mut out)
            })
            .collect();
        assert_eq!(out, b"t-a-14");
        assert_eq!(keys, (1..=20).collect::<Vec<_>>());
        assert_eq!(unique.key_of("t-a-14"), Some(20));
        for foreign in ["t-a-", "t-a-014", "t-a-+14", "t-a-1A", "t-b-14", "x", "p3"] {
            assert_eq!(unique.key_of(foreign), None, "{foreign}");
        }
        let pool = IdSource::new(Ids::Pool(50), "t-", 0);
        assert_eq!(pool.key_of("p0"), Some(0));
        assert_eq!(pool.key_of("p42"), Some(42));
        for foreign in ["p", "p00", "p07", "p-1", "q1", "pa"] {
            assert_eq!(pool.key_of(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn requests_in_flight_are_answered_once_or_time_out() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut f = InFlight::new();
        for key in [1, 2, 4, 5] {
            f.sent(Ids::Unique, key, t0 + ms(key));
        }
        assert_eq!(f.len, 4);
        assert_eq!(f.answered(Ids::Unique, 4), Some(t0 + ms(4)));
        assert_eq!(f.answered(Ids::Unique, 4), None, "answered twice");
        assert_eq!(f.answered(Ids::Unique, 3), None, "never sent");
        assert_eq!(f.answered(Ids::Unique, 1), Some(t0 + ms(1)));
        assert_eq!(f.answered(Ids::Unique, 1), None);
        assert_eq!(f.len, 2);
        // 2 and 5 are left; at 103 ms with a 100 ms timeout, 2 (sent at 2 ms) has timed out.
        assert_eq!(f.expire(t0 + ms(103), ms(100)), 1);
        assert_eq!(f.answered(Ids::Unique, 2), None);
        assert_eq!(f.answered(Ids::Unique, 5), Some(t0 + ms(5)));
        assert_eq!(f.len, 0);
        f.sent(Ids::Unique, 6, t0);
        assert_eq!(f.answered(Ids::Unique, 6), Some(t0));

        let pool = Ids::Pool(3);
        f.sent(pool, 2, t0);
        f.sent(pool, 2, t0 + ms(50));
        assert_eq!(f.answered(pool, 2), Some(t0), "the oldest first");
        assert_eq!(f.expire(t0 + ms(150), ms(100)), 1);
        assert_eq!(f.answered(pool, 2), None);
        assert_eq!(f.len, 0);
    }
}
