//! A load generator for any server that speaks the protocol (ours, or a student's).
//!
//! UDP (`udp`): each of `clients` sockets keeps requests in flight and matches replies by ID; closed
//! loop keeps `window` requests outstanding per socket, open loop sends at a fixed total `rate` whatever
//! the replies. TCP (`tcp`): one connection per request. Every reply is classified (OK, RESET,
//! malformed, late; `report`); nothing a server sends can make it crash.
//!
//! Unlike the client and the server, `load` is a real-socket tool and does not take the network seam
//! as a parameter: it measures what a real kernel and a real server cost (throughput, latency, every
//! second of wall time), which a simulated network with a virtual clock cannot say. It opens its
//! sockets through [`TokioNet`](crate::net::TokioNet), so it moves UDP datagrams in batches
//! (`sendmmsg`/`recvmmsg`) exactly as the server does.

use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use tokio::time::Instant;

use crate::net::Transport;
use crate::protocol::ConnId;

mod ids;
mod report;
mod tcp;
mod udp;

use report::Counts;
pub use report::{Latency, Report};

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
                Transport::Udp => udp::client(&cfg, client, per_client_rate, deadline).await,
                Transport::Tcp => tcp::client(&cfg, client, per_client_rate, deadline).await,
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

/// Checks a pool or unique ID is something the protocol accepts (the tag is user-supplied).
pub fn check_tag(tag: &str) -> Result<(), String> {
    ConnId::new(&format!("{tag}ffff-ffffffffffffffff"))
        .map(|_| ())
        .map_err(|e| format!("run tag {tag:?} makes bad IDs: {e}"))
}

#[cfg(test)]
mod tests {
    use super::ids::IdSource;
    use super::udp::InFlight;
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
