//! The server's log: one line per request, with dropped requests limited to
//! [`DROPPED_LOG_PER_SEC`] lines a second (the rest counted and summed up once the second is over),
//! so a flood of garbage cannot fill a disk or a terminal. Every answered request is logged.

use std::fmt::Display;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use super::decision::Dropped;
use crate::clock::{format_timestamp, Clock};
use crate::console::Console;
use crate::lines::{write_request_line, ServerLine, ServerNote, Timestamp, DROPPED_LOG_PER_SEC};

/// Counts dropped-request lines in one-second windows.
#[derive(Debug)]
struct Limit {
    window: Instant,
    logged: u32,
    suppressed: u64,
}

impl Limit {
    fn new(now: Instant) -> Self {
        Self {
            window: now,
            logged: 0,
            suppressed: 0,
        }
    }
}

/// One second: the window of the drop log's limit, and the least time between two reports of
/// refused IDs.
const SECOND: Duration = Duration::from_secs(1);

/// New IDs refused because the table is full, reported at most once a second.
#[derive(Debug, Default)]
struct Refusals {
    /// When the last report was printed.
    reported: Option<Instant>,
    /// Refused since then.
    count: u64,
}

/// Where the server's lines go, and how many dropped-request lines it still may print this second.
pub(super) struct Log<'a, C, K> {
    clock: &'a C,
    console: &'a mut K,
    limit: Limit,
    refusals: Refusals,
    /// The table's most IDs, named in the report of refused IDs.
    max_ids: usize,
    /// The timestamp printed on request lines, read once per batch of requests ([`Log::stamp`]).
    ts: String,
    /// The last request line, its buffer reused.
    line: String,
}

impl<'a, C: Clock, K: Console> Log<'a, C, K> {
    pub(super) fn new(clock: &'a C, console: &'a mut K, now: Instant) -> Self {
        Self {
            clock,
            console,
            limit: Limit::new(now),
            refusals: Refusals::default(),
            max_ids: usize::MAX,
            ts: String::new(),
            line: String::new(),
        }
    }

    /// The same log, for a table of at most `max_ids` IDs.
    pub(super) fn with_max_ids(mut self, max_ids: usize) -> Self {
        self.max_ids = max_ids;
        self
    }

    /// The clock the server reads and waits on (borrowed for as long as the log).
    pub(super) fn clock(&self) -> &'a C {
        self.clock
    }

    pub(super) fn now(&self) -> Timestamp {
        Timestamp(self.clock.now())
    }

    /// Reads the wall clock for the request lines that follow.
    pub(super) fn stamp(&mut self) {
        // Written straight into its own string: through `Timestamp`'s Display it would be formatted
        // into one string and copied into another, once per batch.
        self.ts = format_timestamp(self.clock.now());
    }

    /// Logs one request received at `now` and what it got: its reply as sent, or why none.
    pub(super) fn request(
        &mut self,
        peer: SocketAddr,
        bytes: &[u8],
        outcome: Result<&str, &Dropped>,
        now: Instant,
    ) {
        if now.duration_since(self.limit.window) >= SECOND {
            self.flush_suppressed();
            self.limit = Limit::new(now);
        }
        if outcome.is_err() {
            if self.limit.logged >= DROPPED_LOG_PER_SEC {
                self.limit.suppressed += 1;
                return;
            }
            self.limit.logged += 1;
        }
        self.line.clear();
        let outcome = outcome.map_err(|why| why as &dyn Display);
        write_request_line(&mut self.line, &self.ts, peer, bytes, outcome);
        self.console.out(&self.line);
    }

    /// Counts a new ID refused at `now` because the table holds its most IDs, and reports it at
    /// once unless a report was printed less than a second ago.
    pub(super) fn refused(&mut self, now: Instant) {
        self.refusals.count += 1;
        if self
            .refusals
            .reported
            .is_none_or(|at| now.duration_since(at) >= SECOND)
        {
            self.report_refused(now);
        }
    }

    /// Prints how many new IDs were refused since the last report, if any.
    fn report_refused(&mut self, now: Instant) {
        let refused = std::mem::take(&mut self.refusals.count);
        if refused > 0 {
            let line = ServerLine::TableFull {
                at: self.now(),
                max: self.max_ids,
                refused,
            };
            self.console.out(&line.to_string());
            self.refusals.reported = Some(now);
        }
    }

    /// When a summary is due: the end of this second if it has unlogged drops, and a second after
    /// the last report of refused IDs if more were refused since.
    pub(super) fn summary_due(&self) -> Option<Instant> {
        let dropped = (self.limit.suppressed > 0).then(|| self.limit.window + SECOND);
        let refused = self
            .refusals
            .reported
            .filter(|_| self.refusals.count > 0)
            .map(|at| at + SECOND);
        dropped.into_iter().chain(refused).min()
    }

    /// Prints the summaries due at `now` (see [`Log::summary_due`]).
    pub(super) fn flush_due(&mut self, now: Instant) {
        if now >= self.limit.window + SECOND {
            self.flush_suppressed();
        }
        if self
            .refusals
            .reported
            .is_some_and(|at| now.duration_since(at) >= SECOND)
        {
            self.report_refused(now);
        }
    }

    /// Prints every summary still held, due or not: the server is stopping.
    pub(super) fn flush_all(&mut self, now: Instant) {
        self.flush_suppressed();
        self.report_refused(now);
    }

    /// Prints how many dropped requests went unlogged, if any.
    pub(super) fn flush_suppressed(&mut self) {
        let count = std::mem::take(&mut self.limit.suppressed);
        if count > 0 {
            let line = ServerLine::Suppressed {
                at: self.now(),
                count,
                limit: DROPPED_LOG_PER_SEC,
            };
            self.console.out(&line.to_string());
        }
    }

    /// Prints a line of standard output.
    pub(super) fn out(&mut self, line: &ServerLine) {
        self.console.out(&line.to_string());
    }

    /// Prints a line of standard error.
    pub(super) fn note(&mut self, note: &ServerNote) {
        self.console.err(&note.to_string());
    }

    /// Prints that the reply to `peer` could not be sent.
    pub(super) fn not_sent(&mut self, peer: SocketAddr, why: &io::Error) {
        let line = ServerLine::ReplyNotSent {
            at: self.now(),
            peer,
            why: why.to_string(),
        };
        self.out(&line);
    }

    /// Writes out the lines a buffered console holds; the loops call it before they wait.
    pub(super) fn flush(&mut self) {
        self.console.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ParseError;

    /// A console that keeps its lines, and a clock at a fixed time.
    #[derive(Default)]
    struct Kept(Vec<String>);

    impl Console for Kept {
        fn out(&mut self, line: &str) {
            self.0.push(line.to_string());
        }
        fn err(&mut self, line: &str) {
            self.0.push(format!("err: {line}"));
        }
        fn flush(&mut self) {
            self.0.push("(flushed)".into());
        }
        async fn prompt(&mut self, _: &str) -> io::Result<Option<String>> {
            Ok(None)
        }
    }

    struct Fixed;

    impl Clock for Fixed {
        fn now(&self) -> chrono::NaiveDateTime {
            chrono::NaiveDate::from_ymd_opt(2023, 1, 16)
                .and_then(|d| d.and_hms_opt(6, 6, 0))
                .unwrap()
        }
    }

    #[test]
    fn lines_show_the_request_and_its_reply_or_why_none() {
        let mut kept = Kept::default();
        let start = Instant::now();
        let mut log = Log::new(&Fixed, &mut kept, start);
        log.stamp();
        let peer: SocketAddr = "10.0.0.1:7".parse().unwrap();
        log.request(peer, b"HELLO 5\n", Ok("RESET 5"), start);
        let why = Dropped::Malformed(ParseError::UnknownVerb("HI".into()));
        log.request(peer, b"HI 5", Err(&why), start);
        let why = Dropped::Incomplete(Duration::from_secs(15));
        log.request(peer, b"HEL", Err(&why), start);
        assert_eq!(
            kept.0,
            [
                "2023-01-16 06:06:00.000000 10.0.0.1:7 \"HELLO 5\\n\" -> RESET 5",
                "2023-01-16 06:06:00.000000 10.0.0.1:7 \"HI 5\" dropped: unknown verb \"HI\"",
                "2023-01-16 06:06:00.000000 10.0.0.1:7 \"HEL\" dropped: request not complete within 15 s",
            ]
        );
    }

    #[test]
    fn other_lines_go_to_standard_output_or_error_and_flush_reaches_the_console() {
        let mut kept = Kept::default();
        let mut log = Log::new(&Fixed, &mut kept, Instant::now());
        let peer: SocketAddr = "10.0.0.1:7".parse().unwrap();
        let at = log.now();
        log.out(&ServerLine::TimedOut {
            idle: Duration::from_secs(120),
            at,
        });
        log.not_sent(peer, &io::Error::new(io::ErrorKind::TimedOut, "slow"));
        log.note(&ServerNote::AcceptError {
            at,
            why: "too many open files".into(),
        });
        log.flush();
        assert_eq!(
            kept.0,
            [
                "Server timed out after 120 s without requests on 2023-01-16 06:06:00.000000",
                "2023-01-16 06:06:00.000000 10.0.0.1:7 reply not sent: slow",
                "err: 2023-01-16 06:06:00.000000 accept error: too many open files",
                "(flushed)",
            ]
        );
    }

    #[test]
    fn dropped_requests_are_logged_twenty_a_second_and_the_rest_summed_up() {
        let mut kept = Kept::default();
        let start = Instant::now();
        let mut log = Log::new(&Fixed, &mut kept, start);
        log.stamp();
        let peer: SocketAddr = "10.0.0.1:7".parse().unwrap();
        let why = Dropped::Closed;
        let second = Duration::from_secs(1);
        for i in 0..25u32 {
            log.request(peer, b"", Err(&why), start + second * i / 25);
        }
        // Answered requests are always logged, even past the limit.
        log.request(peer, b"HELLO 1", Ok("OK 1 10.0.0.1 7"), start);
        // The next second: the count of the first, then the limit again.
        for _ in 0..21 {
            log.request(peer, b"", Err(&why), start + second);
        }
        log.flush_suppressed();
        log.flush_suppressed();
        let dropped = |lines: &[String]| {
            lines
                .iter()
                .filter(|l| l.ends_with("without a request"))
                .count()
        };
        let summary =
            "2023-01-16 06:06:00.000000 5 more dropped requests not logged (at most 20 a second)";
        let at = kept
            .0
            .iter()
            .position(|l| l == summary)
            .expect("the first second's summary");
        assert_eq!(dropped(&kept.0[..at]), 20);
        assert!(kept.0[..at]
            .iter()
            .any(|l| l.ends_with("-> OK 1 10.0.0.1 7")));
        assert_eq!(dropped(&kept.0[at..]), 20);
        assert_eq!(
            kept.0.last().unwrap(),
            "2023-01-16 06:06:00.000000 1 more dropped requests not logged (at most 20 a second)"
        );
        assert_eq!(kept.0.len(), 20 + 1 + 1 + 20 + 1, "{:#?}", kept.0);
    }

    #[test]
    fn refused_ids_are_reported_at_most_once_a_second_with_their_count() {
        let mut kept = Kept::default();
        let start = Instant::now();
        let mut log = Log::new(&Fixed, &mut kept, start).with_max_ids(2);
        let ms = Duration::from_millis;
        let line = |n: u64| {
            format!("2023-01-16 06:06:00.000000 table full (2 IDs in use): {n} new IDs refused without a reply")
        };
        log.refused(start);
        assert_eq!(kept_len(&log), 1, "the first refusal is reported at once");
        for i in 1..=4 {
            log.refused(start + ms(200 * i));
        }
        assert_eq!(log.summary_due(), Some(start + ms(1000)));
        log.flush_due(start + ms(999));
        assert_eq!(kept_len(&log), 1, "not yet a second");
        log.flush_due(start + ms(1000));
        assert_eq!(log.summary_due(), None);
        // A refusal a second after the last report is reported at once; one more waits for the end.
        log.refused(start + ms(2000));
        log.refused(start + ms(2100));
        log.flush_all(start + ms(2200));
        // Nothing refused since: nothing more to report, due or not.
        log.flush_due(start + ms(5000));
        log.flush_all(start + ms(5000));
        drop(log);
        assert_eq!(kept.0, [line(1), line(4), line(1), line(1)]);
    }

    #[test]
    fn unlogged_drops_are_summed_up_when_their_second_is_over_and_not_before() {
        let mut kept = Kept::default();
        let start = Instant::now();
        let mut log = Log::new(&Fixed, &mut kept, start);
        log.stamp();
        let peer: SocketAddr = "10.0.0.1:7".parse().unwrap();
        for _ in 0..=DROPPED_LOG_PER_SEC {
            log.request(peer, b"", Err(&Dropped::Closed), start);
        }
        let second = Duration::from_secs(1);
        log.flush_due(start + second - Duration::from_millis(1));
        assert_eq!(kept_len(&log), 20, "the second is not over");
        log.flush_due(start + second);
        assert_eq!(kept_len(&log), 21);
        drop(log);
        assert!(kept.0[20].ends_with(" 1 more dropped requests not logged (at most 20 a second)"));
    }

    fn kept_len(log: &Log<'_, Fixed, Kept>) -> usize {
        log.console.0.len()
    }

    #[test]
    fn a_summary_is_due_at_the_end_of_a_second_with_unlogged_drops_only() {
        let mut kept = Kept::default();
        let start = Instant::now();
        let mut log = Log::new(&Fixed, &mut kept, start);
        log.stamp();
        let peer: SocketAddr = "10.0.0.1:7".parse().unwrap();
        for _ in 0..DROPPED_LOG_PER_SEC {
            log.request(peer, b"", Err(&Dropped::Closed), start);
        }
        assert_eq!(log.summary_due(), None, "every drop so far has its line");
        log.request(peer, b"", Err(&Dropped::Closed), start);
        assert_eq!(log.summary_due(), Some(start + Duration::from_secs(1)));
        log.flush_suppressed();
        assert_eq!(log.summary_due(), None, "summed up");
    }
}
