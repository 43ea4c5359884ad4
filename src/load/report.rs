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

impl Report {
    /// What the figures alone do not say, a line each: no reply in the first second (is anything
    /// listening?), under 90 % of the requests answered, or (with `asked`, the `--rate`) under 90 %
    /// of the asked rate sent over the `sending` window.
    pub fn warnings(&self, asked: Option<f64>, sending: std::time::Duration) -> Vec<String> {
        let mut said = Vec::new();
        let answered = self.ok + self.reset;
        if self.sent > 0 && self.per_second.first().copied().unwrap_or(0) == 0 {
            said.push(format!(
                "no reply came in the first second: is a server answering over {} there?",
                self.transport
            ));
        }
        if self.sent > 0 && answered * 10 < self.sent * 9 {
            said.push(format!(
                "only {answered} of {} requests were answered ({:.1} %)",
                self.sent,
                answered as f64 * 100.0 / self.sent as f64
            ));
        }
        if let Some(asked) = asked {
            let achieved = self.sent as f64 / sending.as_secs_f64().max(f64::MIN_POSITIVE);
            if achieved < asked * 0.9 {
                said.push(format!(
                    "sent {achieved:.0} requests/s, under the {asked:.0} asked: the clients could not keep up (more --clients, or a lower --rate)"
                ));
            }
        }
        said
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
        // Every second's replies, adding up to the answered total (ok + reset).
        if !self.per_second.is_empty() {
            let seconds: Vec<String> = self.per_second.iter().map(u64::to_string).collect();
            writeln!(
                f,
                "per second    {} = {} answered",
                seconds.join(" + "),
                self.per_second.iter().sum::<u64>()
            )?;
        }
        write!(
            f,
            "latency (us)  p50 {}  p90 {}  p99 {}  max {}",
            l.p50, l.p90, l.p99, l.max
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn report(sent: u64, per_second: Vec<u64>) -> Report {
        let answered: u64 = per_second.iter().sum();
        Report {
            transport: "udp".into(),
            clients: 1,
            seconds: 3.0,
            sent,
            ok: answered,
            reset: 0,
            timeouts: sent - answered,
            errors: 0,
            malformed: 0,
            late: 0,
            throughput: answered as f64 / 3.0,
            per_second,
            latency_us: Latency::default(),
        }
    }

    #[test]
    fn its_seconds_add_up_to_what_was_answered() {
        let shown = report(1000, vec![400, 350, 240, 10]).to_string();
        assert!(
            shown.contains("\nper second    400 + 350 + 240 + 10 = 1000 answered\n"),
            "{shown}"
        );
        assert!(!report(0, vec![]).to_string().contains("per second"));
    }

    #[test]
    fn it_warns_of_silence_of_unanswered_requests_and_of_a_rate_not_reached() {
        let three = Duration::from_secs(3);
        assert_eq!(
            report(1000, vec![400, 350, 240, 10]).warnings(Some(330.0), three),
            Vec::<String>::new()
        );
        assert_eq!(
            report(1000, vec![0, 500, 400]).warnings(None, three),
            ["no reply came in the first second: is a server answering over udp there?"]
        );
        assert_eq!(
            report(1000, vec![400, 400, 99]).warnings(None, three),
            ["only 899 of 1000 requests were answered (89.9 %)"]
        );
        // 900 of 1000 is 90 %: no warning.
        assert!(report(1000, vec![400, 400, 100])
            .warnings(None, three)
            .is_empty());
        assert_eq!(
            report(900, vec![300, 300, 300]).warnings(Some(334.0), three),
            ["sent 300 requests/s, under the 334 asked: the clients could not keep up (more --clients, or a lower --rate)"]
        );
        assert!(report(900, vec![300, 300, 300])
            .warnings(Some(333.0), three)
            .is_empty());
        assert!(report(0, vec![]).warnings(None, three).is_empty());
    }
}
