//! The server's log: a line per request up to a rate set by its level ([`LogLevel`]), the rest of each
//! second's requests counted in one summary line once the second is over, so a flood cannot fill a
//! disk or a terminal; new IDs refused by a full table reported at most once a second.

use std::fmt::{self, Display};
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use tokio::time::Instant;

use super::decision::Dropped;
use crate::clock::{format_timestamp, Clock};
use crate::console::Console;
use crate::lines::{write_request_line, ServerLine, ServerNote, Timestamp, REQUEST_LINES_PER_SEC};
use crate::protocol::Message;

/// How much the server logs about requests. Every level prints the start and exit lines, the
/// table-full reports and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LogLevel {
    /// A line for every request.
    Every,
    /// A line per request up to [`REQUEST_LINES_PER_SEC`] a second, the rest of that second counted in
    /// one summary line.
    #[default]
    Auto,
    /// No line per request: a summary line at the end of every second with requests.
    Summary,
    /// Nothing per request and no summaries.
    Quiet,
}

impl LogLevel {
    /// Every level, in order of volume, by the names `--log` takes.
    pub const ALL: [LogLevel; 4] = [Self::Every, Self::Auto, Self::Summary, Self::Quiet];

    /// The name `--log` and scenario files take.
    pub fn name(self) -> &'static str {
        match self {
            Self::Every => "every",
            Self::Auto => "auto",
            Self::Summary => "summary",
            Self::Quiet => "quiet",
        }
    }

    /// Whether a request that is the `logged`-th of its second with a line gets a line of its own.
    fn own_line(self, logged: u32) -> bool {
        match self {
            Self::Every => true,
            Self::Auto => logged < REQUEST_LINES_PER_SEC,
            Self::Summary | Self::Quiet => false,
        }
    }
}

impl Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Files (the simulator's scenarios) name a level as the command line does.
impl TryFrom<String> for LogLevel {
    type Error = String;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

impl From<LogLevel> for String {
    fn from(level: LogLevel) -> String {
        level.name().to_string()
    }
}

impl FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| format!("{s:?} is not a log level (every, auto, summary or quiet)"))
    }
}

/// The requests of one second that got no line of their own, by outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    ok: u64,
    reset: u64,
    dropped: u64,
}

impl Tally {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One second of requests: when it began, how many got a line, and the rest.
#[derive(Debug)]
struct Window {
    start: Instant,
    /// When it began, as printed.
    since: Timestamp,
    logged: u32,
    unlogged: Tally,
}

impl Window {
    /// A second that begins at `start`, when the wall clock read `since`.
    fn new(start: Instant, since: Timestamp) -> Self {
        Self {
            start,
            since,
            logged: 0,
            unlogged: Tally::default(),
        }
    }
}

/// One second: the span of a summary, and the least time between two reports of refused IDs.
const SECOND: Duration = Duration::from_secs(1);

/// New IDs refused because the table is full, reported at most once a second.
#[derive(Debug, Default)]
struct Refusals {
    /// When the last report was printed.
    reported: Option<Instant>,
    /// Refused since then.
    count: u64,
}

/// Where the server's lines go, and what it still owes a summary of.
pub(super) struct Log<'a, C, K> {
    clock: &'a C,
    console: &'a mut K,
    level: LogLevel,
    window: Window,
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
            level: LogLevel::default(),
            window: Window::new(now, Timestamp(clock.now())),
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

    /// The same log at `level`.
    pub(super) fn with_level(mut self, level: LogLevel) -> Self {
        self.level = level;
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

    /// Logs one request received at `now` and what it got: its reply (decoded and as sent), or why
    /// none. A request past the level's rate is counted for the second's summary instead.
    pub(super) fn request(
        &mut self,
        peer: SocketAddr,
        bytes: &[u8],
        outcome: Result<(&Message, &str), &Dropped>,
        now: Instant,
    ) {
        if now.duration_since(self.window.start) >= SECOND {
            self.flush_unlogged();
            self.window = Window::new(now, self.now());
        }
        if !self.level.own_line(self.window.logged) {
            if self.level != LogLevel::Quiet {
                let tally = &mut self.window.unlogged;
                match outcome {
                    Ok((Message::Reset(_), _)) => tally.reset += 1,
                    Ok(_) => tally.ok += 1,
                    Err(_) => tally.dropped += 1,
                }
            }
            return;
        }
        self.window.logged += 1;
        self.line.clear();
        let outcome = outcome
            .map(|(_, sent)| sent)
            .map_err(|why| why as &dyn Display);
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

    /// When a summary is due: the end of this second if it has requests without a line, and a
    /// second after the last report of refused IDs if more were refused since.
    pub(super) fn summary_due(&self) -> Option<Instant> {
        let unlogged = (!self.window.unlogged.is_empty()).then(|| self.window.start + SECOND);
        let refused = self
            .refusals
            .reported
            .filter(|_| self.refusals.count > 0)
            .map(|at| at + SECOND);
        unlogged.into_iter().chain(refused).min()
    }

    /// Prints the summaries due at `now` (see [`Log::summary_due`]).
    pub(super) fn flush_due(&mut self, now: Instant) {
        if now >= self.window.start + SECOND {
            self.flush_unlogged();
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
        self.flush_unlogged();
        self.report_refused(now);
    }

    /// Prints the summary of this second's requests without a line of their own, if any.
    fn flush_unlogged(&mut self) {
        let tally = std::mem::take(&mut self.window.unlogged);
        if !tally.is_empty() {
            let Tally { ok, reset, dropped } = tally;
            let line = ServerLine::Unlogged {
                at: self.now(),
                since: self.window.since,
                ok,
                reset,
                dropped,
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
    use crate::protocol::{ConnId, ParseError};

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
        let reset = Message::Reset(ConnId::new("5").unwrap());
        log.request(peer, b"HELLO 5\n", Ok((&reset, "RESET 5")), start);
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

    /// Logs `n` requests at `at` with `level`: OK, RESET and dropped in turn.
    fn requests(log: &mut Log<'_, Fixed, Kept>, n: usize, at: Instant) {
        let peer: SocketAddr = "10.0.0.1:7".parse().unwrap();
        let id = ConnId::new("1").unwrap();
        let (ok, reset) = (Message::Ok(id.clone(), peer), Message::Reset(id));
        for i in 0..n {
            match i % 3 {
                0 => log.request(peer, b"HELLO 1", Ok((&ok, "OK 1 10.0.0.1 7")), at),
                1 => log.request(peer, b"HELLO 1", Ok((&reset, "RESET 1")), at),
                _ => log.request(peer, b"", Err(&Dropped::Closed), at),
            }
        }
    }

    const SUMMARY: &str =
        "2023-01-16 06:06:00.000000 requests not logged since 2023-01-16 06:06:00.000000";

    /// The summary line of `n` requests: OK, RESET and dropped counts.
    fn summary(n: u64, ok: u64, reset: u64, dropped: u64) -> String {
        let (at, since) = SUMMARY.split_once(" requests not logged since ").unwrap();
        format!("{at} {n} requests not logged since {since} ({ok} OK, {reset} RESET, {dropped} dropped)")
    }

    #[test]
    fn each_level_logs_its_share_of_requests_and_sums_up_the_rest_by_outcome() {
        let second = Duration::from_secs(1);
        let expected = [
            // level, request lines, then the summary of the first second (none when every request has its line)
            (LogLevel::Every, 25, None),
            (LogLevel::Auto, 20, Some(summary(5, 2, 1, 2))),
            (LogLevel::Summary, 0, Some(summary(25, 9, 8, 8))),
            (LogLevel::Quiet, 0, None),
        ];
        for (level, own, first) in expected {
            let mut kept = Kept::default();
            let start = Instant::now();
            let mut log = Log::new(&Fixed, &mut kept, start).with_level(level);
            log.stamp();
            requests(&mut log, 25, start);
            // Not yet a second: nothing summed up. Then the second is over, and a new one begins.
            log.flush_due(start + second - Duration::from_millis(1));
            let due = log.summary_due();
            log.flush_due(start + second);
            requests(&mut log, 1, start + second);
            log.flush_all(start + second);
            drop(log);
            let lines = |what: &str| kept.0.iter().filter(|l| l.contains(what)).count();
            assert_eq!(
                lines("\"HELLO 1\" ->") + lines("dropped: "),
                own + usize::from(level.own_line(0)),
                "{level}"
            );
            let summaries: Vec<&String> = kept
                .0
                .iter()
                .filter(|l| l.contains(" requests not logged "))
                .collect();
            match &first {
                Some(first) => {
                    assert_eq!(due, Some(start + second), "{level}");
                    assert_eq!(summaries[0], first, "{level}");
                    assert_eq!(
                        kept.0.iter().position(|l| l == first),
                        Some(own),
                        "{level}: after the lines"
                    );
                }
                None => {
                    assert_eq!(due, None, "{level}");
                    assert!(summaries.is_empty(), "{level}: {summaries:?}");
                }
            }
            // The second second's one request: its own line, or a summary at the exit.
            let last = (level == LogLevel::Summary).then(|| summary(1, 1, 0, 0));
            assert_eq!(summaries.get(1).map(|s| s.to_string()), last, "{level}");
        }
    }

    #[test]
    fn a_new_second_sums_up_the_last_one_before_its_first_line() {
        let mut kept = Kept::default();
        let start = Instant::now();
        let mut log = Log::new(&Fixed, &mut kept, start);
        log.stamp();
        requests(&mut log, 21, start);
        requests(&mut log, 1, start + Duration::from_millis(999));
        requests(&mut log, 1, start + Duration::from_secs(1));
        drop(log);
        assert_eq!(kept.0.len(), 20 + 1 + 1, "{:#?}", kept.0);
        assert_eq!(kept.0[20], summary(2, 1, 0, 1));
        assert!(kept.0[21].ends_with("-> OK 1 10.0.0.1 7"));
    }

    #[test]
    fn levels_are_named_as_the_command_line_takes_them() {
        for level in LogLevel::ALL {
            assert_eq!(level.name().parse::<LogLevel>(), Ok(level));
            assert_eq!(level.to_string(), level.name());
        }
        assert!("loud"
            .parse::<LogLevel>()
            .unwrap_err()
            .contains("every, auto, summary or quiet"));
        assert_eq!(LogLevel::default(), LogLevel::Auto);
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

    fn kept_len(log: &Log<'_, Fixed, Kept>) -> usize {
        log.console.0.len()
    }
}
