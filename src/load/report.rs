//! What a load run counts, and the report it prints.

use std::fmt;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;

use crate::protocol::Message;

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

/// What one client counted; the clients' counts are added up for the report.
#[derive(Debug)]
pub(super) struct Counts {
    pub(super) sent: u64,
    pub(super) ok: u64,
    pub(super) reset: u64,
    pub(super) timeouts: u64,
    pub(super) errors: u64,
    pub(super) malformed: u64,
    pub(super) late: u64,
    pub(super) latency: Histogram<u64>,
    pub(super) started: Instant,
    pub(super) per_second: Vec<u64>,
}

impl Counts {
    pub(super) fn new(started: Instant) -> Self {
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

    pub(super) fn add(&mut self, other: &Counts) {
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
    pub(super) fn answered(&mut self, reply: &Message, sent: Instant, now: Instant) {
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
