//! UDP load: each socket keeps requests in flight and matches replies by ID, in batches.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::time::Duration;

use tokio::time::Instant;

use super::ids::IdSource;
use super::report::Counts;
use super::{interval, Ids, LoadConfig};
use crate::net::{send_all, unspecified_for, Net, RecvBatch, SendBatch, TokioNet, UdpSocket};
use crate::protocol::{self, Message};

/// Requests in flight on one socket, by key, oldest first; counts what happens to them.
pub(super) struct InFlight {
    /// Unique IDs: send times by sequence number from `base` on (`None`: answered, or never sent).
    by_seq: VecDeque<Option<Instant>>,
    base: u64,
    /// Pool IDs: send times per pool index (one ID can be in flight more than once).
    by_pool: HashMap<u64, VecDeque<Instant>>,
    pub(super) len: usize,
}

impl InFlight {
    pub(super) fn new() -> Self {
        Self {
            by_seq: VecDeque::new(),
            base: 1,
            by_pool: HashMap::new(),
            len: 0,
        }
    }

    pub(super) fn sent(&mut self, ids: Ids, key: u64, at: Instant) {
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
    pub(super) fn answered(&mut self, ids: Ids, key: u64) -> Option<Instant> {
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
    pub(super) fn expire(&mut self, now: Instant, timeout: Duration) -> u64 {
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
    pub(super) fn trim(&mut self) {
        while self.by_seq.front().is_some_and(Option::is_none) {
            self.by_seq.pop_front();
            self.base += 1;
        }
    }
}

/// Most requests one open-loop round sends, so replies are read in between even when `load` cannot
/// keep up with the rate asked for.
const MAX_ROUND: usize = 1024;

/// One client: a socket with requests in flight (closed loop) or sent at its share of the rate (open
/// loop), until `deadline`.
pub(super) async fn client(
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
