//! The vocabulary: every line the client and the server print, as typed values.
//!
//! Each value formats itself exactly as the programs print it and parses back
//! (`parse(format(x)) == x`). The client and the server print through these types, the simulator's
//! oracle reasons over the parsed values, and a conformance checker can read another program's output
//! with the same parsers. So parsing is tolerant where the assignment is (a timestamp's fraction may
//! have any number of digits up to nine, or none), and an error names the part that did not match.
//!
//! Standard output: [`ClientLine`] and [`ServerLine`]. Standard error: [`ClientNote`] and
//! [`ServerNote`]. The prompt is [`PROMPT`].

use std::fmt::{self, Display, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDateTime;
use thiserror::Error;

use crate::clock::format_timestamp;
use crate::net::Transport;
use crate::protocol::{self, ConnId, Message};

/// The first words of the client's three lines, as the assignment prints them (what a checker of other
/// programs reads them by, too).
pub const ESTABLISHED: &str = "Connection established";
/// See [`ESTABLISHED`].
pub const ERROR: &str = "Connection Error";
/// See [`ESTABLISHED`].
pub const FAILURE: &str = "Connection Failure";

/// The prompt shown before reading a new connection ID (what the user types follows on its line).
pub const PROMPT: &str = "Enter a new connection ID: ";

/// What follows the count in [`ServerLine::LinesDropped`].
pub const LINES_DROPPED: &str = "log lines dropped: standard output was not being read";

/// How many request lines the server prints in a second at its default log level; the rest of that
/// second's requests are counted in one summary line ([`ServerLine::Unlogged`]), so a flood cannot fill
/// a disk or a terminal.
pub const REQUEST_LINES_PER_SEC: u32 = 20;

/// A line that is not the one expected: what was expected, and the part that did not match.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not {expected}: {problem}")]
pub struct LineError {
    /// The kind of line, e.g. "a client line".
    pub expected: &'static str,
    /// What did not match, quoting it.
    pub problem: String,
}

fn mismatch(expected: &'static str, problem: impl Into<String>) -> LineError {
    LineError {
        expected,
        problem: problem.into(),
    }
}

/// A printed timestamp: local date and time, `2023-01-16 06:06:06.123456` (microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub NaiveDateTime);

impl Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_timestamp(self.0))
    }
}

impl FromStr for Timestamp {
    type Err = LineError;
    /// `YYYY-MM-DD HH:MM:SS`, then optionally `.` and 1 to 9 digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            mismatch(
                "a timestamp",
                format!("{s:?} is not YYYY-MM-DD HH:MM:SS.ffffff"),
            )
        };
        let (whole, fraction) = match s.split_once('.') {
            Some((whole, digits)) => (whole, Some(digits)),
            None => (s, None),
        };
        let t = NaiveDateTime::parse_from_str(whole, "%Y-%m-%d %H:%M:%S").map_err(|_| bad())?;
        if whole.len() != "2023-01-16 06:06:06".len() {
            return Err(bad());
        }
        let nanos = match fraction {
            None => 0,
            Some(d) if (1..=9).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) => {
                let value: u32 = d.parse().map_err(|_| bad())?;
                value * 10u32.pow(9 - d.len() as u32)
            }
            Some(_) => return Err(bad()),
        };
        Ok(Timestamp(t + chrono::Duration::nanoseconds(nanos.into())))
    }
}

/// A line the client prints on standard output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientLine {
    /// `Connection established <id> <ip> <port> on <ts>`: the server granted `id` and saw the request
    /// come from `addr`.
    Established {
        id: ConnId,
        addr: SocketAddr,
        at: Timestamp,
    },
    /// `Connection Error <id> on <ts>`: the try for `id` failed.
    Error { id: ConnId, at: Timestamp },
    /// `Connection Failure on <ts>`: the client gives up.
    Failure { at: Timestamp },
    /// `Invalid connection ID: <why>`: a typed line was not an ID; the client asks again.
    InvalidId { why: String },
}

impl Display for ClientLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientLine::Established { id, addr, at } => write!(
                f,
                "{ESTABLISHED} {id} {} {} on {at}",
                addr.ip(),
                addr.port()
            ),
            ClientLine::Error { id, at } => write!(f, "{ERROR} {id} on {at}"),
            ClientLine::Failure { at } => write!(f, "{FAILURE} on {at}"),
            ClientLine::InvalidId { why } => write!(f, "Invalid connection ID: {why}"),
        }
    }
}

/// Splits `<rest> on <timestamp>` at its last ` on `.
fn ends_on(expected: &'static str, text: &str) -> Result<(String, Timestamp), LineError> {
    let (rest, ts) = text
        .rsplit_once(" on ")
        .ok_or_else(|| mismatch(expected, format!("no \" on <timestamp>\" in {text:?}")))?;
    let at = ts
        .parse()
        .map_err(|e: LineError| mismatch(expected, e.problem))?;
    Ok((rest.to_string(), at))
}

fn id_field(expected: &'static str, text: &str) -> Result<ConnId, LineError> {
    ConnId::new(text).map_err(|e| mismatch(expected, format!("ID {text:?}: {e}")))
}

impl FromStr for ClientLine {
    type Err = LineError;
    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let after = |prefix: &str, sep: &str| line.strip_prefix(prefix)?.strip_prefix(sep);
        if let Some(rest) = after(ESTABLISHED, " ") {
            const WHAT: &str = "Connection established <id> <ip> <port> on <timestamp>";
            let (fields, at) = ends_on(WHAT, rest)?;
            let parts: Vec<&str> = fields.split(' ').collect();
            let [id, ip, port] = parts[..] else {
                return Err(mismatch(
                    WHAT,
                    format!("{} fields before \"on\", not 3", parts.len()),
                ));
            };
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| mismatch(WHAT, format!("{ip:?} is not an IP address")))?;
            let port: u16 = port
                .parse()
                .map_err(|_| mismatch(WHAT, format!("{port:?} is not a port")))?;
            return Ok(ClientLine::Established {
                id: id_field(WHAT, id)?,
                addr: SocketAddr::new(ip, port),
                at,
            });
        }
        if let Some(rest) = after(ERROR, " ") {
            const WHAT: &str = "Connection Error <id> on <timestamp>";
            let (id, at) = ends_on(WHAT, rest)?;
            return Ok(ClientLine::Error {
                id: id_field(WHAT, &id)?,
                at,
            });
        }
        if let Some(ts) = after(FAILURE, " on ") {
            let at = ts
                .parse()
                .map_err(|e: LineError| mismatch("Connection Failure on <timestamp>", e.problem))?;
            return Ok(ClientLine::Failure { at });
        }
        if let Some(why) = line.strip_prefix("Invalid connection ID: ") {
            return Ok(ClientLine::InvalidId {
                why: why.to_string(),
            });
        }
        Err(mismatch(
            "a client line",
            format!("{line:?} is not Connection established, Connection Error, Connection Failure or Invalid connection ID"),
        ))
    }
}

/// A line the client prints on standard error: why a try failed, and what it ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientNote {
    /// `try <attempt> of <tries>: <why>`.
    TryFailed {
        attempt: u32,
        tries: u32,
        why: String,
    },
    /// `stopped by <reason>` (a signal).
    Stopped { reason: String },
    /// `cannot read input: <why>`.
    CannotRead { why: String },
    /// `ignored a reply for another request: <reply>`.
    OtherReply { reply: Message },
    /// `ignored a datagram from <from>, not the server <server>`: a reply is taken only from the
    /// address the request went to, so another host cannot end a try with a forged OK or RESET.
    Stranger {
        from: SocketAddr,
        server: SocketAddr,
    },
    /// `ignored a malformed reply (<why>): <shown>`, `shown` escaped as [`protocol::printable`] does.
    Malformed { why: String, shown: String },
    /// `ignored a reply over <max> bytes: <shown>`.
    TooLong { max: usize, shown: String },
    /// `client: cannot start: <why>`.
    CannotStart { why: String },
}

impl Display for ClientNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientNote::TryFailed {
                attempt,
                tries,
                why,
            } => write!(f, "try {attempt} of {tries}: {why}"),
            ClientNote::Stopped { reason } => write!(f, "stopped by {reason}"),
            ClientNote::CannotRead { why } => write!(f, "cannot read input: {why}"),
            ClientNote::OtherReply { reply } => {
                write!(f, "ignored a reply for another request: {reply}")
            }
            ClientNote::Stranger { from, server } => {
                write!(f, "ignored a datagram from {from}, not the server {server}")
            }
            ClientNote::Malformed { why, shown } => {
                write!(f, "ignored a malformed reply ({why}): {shown}")
            }
            ClientNote::TooLong { max, shown } => {
                write!(f, "ignored a reply over {max} bytes: {shown}")
            }
            ClientNote::CannotStart { why } => write!(f, "client: cannot start: {why}"),
        }
    }
}

/// The first `sep` in `text` outside double quotes (a `\"` does not end a quote).
fn split_outside_quotes<'a>(text: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let bytes = text.as_bytes();
    let (mut quoted, mut escaped) = (false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if !quoted && text[i..].starts_with(sep) {
            return Some((&text[..i], &text[i + sep.len()..]));
        }
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            _ => {}
        }
    }
    None
}

impl FromStr for ClientNote {
    type Err = LineError;
    fn from_str(line: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "a client diagnostic";
        let owned = |s: &str| s.to_string();
        if let Some(rest) = line.strip_prefix("try ") {
            let bad = || mismatch("try <n> of <m>: <why>", format!("{line:?}"));
            let (counts, why) = rest.split_once(": ").ok_or_else(bad)?;
            let (attempt, tries) = counts.split_once(" of ").ok_or_else(bad)?;
            return Ok(ClientNote::TryFailed {
                attempt: attempt.parse().map_err(|_| bad())?,
                tries: tries.parse().map_err(|_| bad())?,
                why: owned(why),
            });
        }
        if let Some(reason) = line.strip_prefix("stopped by ") {
            return Ok(ClientNote::Stopped {
                reason: owned(reason),
            });
        }
        if let Some(why) = line.strip_prefix("cannot read input: ") {
            return Ok(ClientNote::CannotRead { why: owned(why) });
        }
        if let Some(why) = line.strip_prefix("client: cannot start: ") {
            return Ok(ClientNote::CannotStart { why: owned(why) });
        }
        if let Some(reply) = line.strip_prefix("ignored a reply for another request: ") {
            let reply = protocol::parse(reply.as_bytes())
                .map_err(|e| mismatch(WHAT, format!("the reply {reply:?}: {e}")))?;
            return Ok(ClientNote::OtherReply { reply });
        }
        if let Some(rest) = line.strip_prefix("ignored a datagram from ") {
            let bad = || mismatch(WHAT, format!("{line:?}"));
            let (from, server) = rest.split_once(", not the server ").ok_or_else(bad)?;
            return Ok(ClientNote::Stranger {
                from: from.parse().map_err(|_| bad())?,
                server: server.parse().map_err(|_| bad())?,
            });
        }
        if let Some(rest) = line.strip_prefix("ignored a malformed reply (") {
            let (why, shown) = split_outside_quotes(rest, "): ")
                .ok_or_else(|| mismatch(WHAT, format!("no \"): \" in {line:?}")))?;
            return Ok(ClientNote::Malformed {
                why: owned(why),
                shown: owned(shown),
            });
        }
        if let Some(rest) = line.strip_prefix("ignored a reply over ") {
            let bad = || mismatch(WHAT, format!("{line:?}"));
            let (max, shown) = rest.split_once(" bytes: ").ok_or_else(bad)?;
            return Ok(ClientNote::TooLong {
                max: max.parse().map_err(|_| bad())?,
                shown: owned(shown),
            });
        }
        Err(mismatch(WHAT, format!("{line:?}")))
    }
}

/// What the server did with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// ` -> <reply>`.
    Reply(Message),
    /// ` dropped: <why>`.
    Dropped(String),
}

/// A line the server prints on standard output. All but the last three begin with a timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLine {
    /// `<ts> listening on <transport> <addr> (IDs kept <ttl> s, idle timeout <idle> s)`.
    Listening {
        at: Timestamp,
        transport: Transport,
        /// The bound address, or why it is unknown.
        addr: String,
        ttl: Duration,
        idle: Duration,
    },
    /// `<ts> <peer> "<shown>" -> <reply>` or `... dropped: <why>`; `shown` is what arrived, escaped
    /// as [`protocol::printable`] does.
    Request {
        at: Timestamp,
        peer: SocketAddr,
        shown: String,
        outcome: Outcome,
    },
    /// `<ts> <n> requests not logged since <since> (<ok> OK, <reset> RESET, <dropped> dropped)`: the
    /// requests of the second that began at `since` that got no line of their own, by outcome, printed
    /// when that second is over (or at the server's exit, if sooner). `n` is their sum.
    Unlogged {
        at: Timestamp,
        since: Timestamp,
        ok: u64,
        reset: u64,
        dropped: u64,
    },
    /// `<ts> table full (<max> IDs in use): <refused> new IDs refused without a reply`, at most once
    /// a second, counting the refusals since the last such line.
    TableFull {
        at: Timestamp,
        max: usize,
        refused: u64,
    },
    /// `<ts> <peer> ignored <bytes> bytes after the request` (TCP).
    Ignored {
        at: Timestamp,
        peer: SocketAddr,
        bytes: usize,
    },
    /// `<ts> <peer> reply not sent: <why>`.
    ReplyNotSent {
        at: Timestamp,
        peer: SocketAddr,
        why: String,
    },
    /// `<count> log lines dropped: standard output was not being read`: lines the server could not
    /// print because its output was full; printed once output flows again.
    LinesDropped { count: u64 },
    /// `Server timed out after <idle> s without requests on <ts>`.
    TimedOut { idle: Duration, at: Timestamp },
    /// `Server stopped by <reason> on <ts>`.
    Stopped { reason: String, at: Timestamp },
}

/// Seconds as the programs print them: `30`, `0.5`.
fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn parse_seconds(expected: &'static str, text: &str) -> Result<Duration, LineError> {
    text.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| mismatch(expected, format!("{text:?} is not a number of seconds")))
}

/// Appends a request's line: the hot path of a busy server, written without the formatting
/// machinery. `outcome` is the reply as sent, or why there is none.
pub fn write_request_line(
    out: &mut String,
    ts: &str,
    peer: SocketAddr,
    bytes: &[u8],
    outcome: Result<&str, &dyn Display>,
) {
    out.push_str(ts);
    out.push(' ');
    protocol::write_socket_addr(out, peer);
    out.push_str(" \"");
    out.push_str(&protocol::printable(bytes, REQUEST_PREVIEW));
    match outcome {
        Ok(reply) => {
            out.push_str("\" -> ");
            out.push_str(reply);
        }
        Err(why) => {
            let _ = write!(out, "\" dropped: {why}");
        }
    }
}

/// How many characters of a request its log line shows.
pub const REQUEST_PREVIEW: usize = 60;

impl Display for ServerLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerLine::Listening {
                at,
                transport,
                addr,
                ttl,
                idle,
            } => write!(
                f,
                "{at} listening on {transport} {addr} (IDs kept {} s, idle timeout {} s)",
                seconds(*ttl),
                seconds(*idle)
            ),
            ServerLine::Request {
                at,
                peer,
                shown,
                outcome,
            } => {
                write!(f, "{at} {peer} \"{shown}\"")?;
                match outcome {
                    Outcome::Reply(reply) => write!(f, " -> {reply}"),
                    Outcome::Dropped(why) => write!(f, " dropped: {why}"),
                }
            }
            ServerLine::Unlogged {
                at,
                since,
                ok,
                reset,
                dropped,
            } => write!(
                f,
                "{at} {} requests not logged since {since} ({ok} OK, {reset} RESET, {dropped} dropped)",
                ok.saturating_add(*reset).saturating_add(*dropped)
            ),
            ServerLine::LinesDropped { count } => write!(f, "{count} {LINES_DROPPED}"),
            ServerLine::TableFull { at, max, refused } => write!(
                f,
                "{at} table full ({max} IDs in use): {refused} new IDs refused without a reply"
            ),
            ServerLine::Ignored { at, peer, bytes } => {
                write!(f, "{at} {peer} ignored {bytes} bytes after the request")
            }
            ServerLine::ReplyNotSent { at, peer, why } => {
                write!(f, "{at} {peer} reply not sent: {why}")
            }
            ServerLine::TimedOut { idle, at } => write!(
                f,
                "Server timed out after {} s without requests on {at}",
                seconds(*idle)
            ),
            ServerLine::Stopped { reason, at } => write!(f, "Server stopped by {reason} on {at}"),
        }
    }
}

/// Splits a line that begins with a timestamp (a date and a time, two words) from the rest.
fn leading_timestamp<'a>(
    expected: &'static str,
    line: &'a str,
) -> Result<(Timestamp, &'a str), LineError> {
    let mut words = line.splitn(3, ' ');
    let (Some(date), Some(time), Some(rest)) = (words.next(), words.next(), words.next()) else {
        return Err(mismatch(expected, format!("{line:?} has no timestamp")));
    };
    let at = format!("{date} {time}")
        .parse()
        .map_err(|e: LineError| mismatch(expected, e.problem))?;
    Ok((at, rest))
}

/// The end of a quoted, escaped string that `text` begins inside of (after its opening quote).
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// The rest of a server's `listening on` line (after those words) at `at`.
fn listening(line: &str, at: Timestamp, rest: &str) -> Result<ServerLine, LineError> {
    const LISTENING: &str =
        "<timestamp> listening on <transport> <addr> (IDs kept <ttl> s, idle timeout <idle> s)";
    let bad = || mismatch(LISTENING, format!("{line:?}"));
    let (transport, rest) = rest.split_once(' ').ok_or_else(bad)?;
    let (addr, rest) = rest.rsplit_once(" (IDs kept ").ok_or_else(bad)?;
    let (ttl, rest) = rest.split_once(" s, idle timeout ").ok_or_else(bad)?;
    let idle = rest.strip_suffix(" s)").ok_or_else(bad)?;
    Ok(ServerLine::Listening {
        at,
        transport: transport
            .parse()
            .map_err(|e: crate::net::UnknownTransport| mismatch(LISTENING, e.to_string()))?,
        addr: addr.to_string(),
        ttl: parse_seconds(LISTENING, ttl)?,
        idle: parse_seconds(LISTENING, idle)?,
    })
}

/// The rest of a server's request line from `peer` at `at`, from just after the request's opening
/// quote: the request as shown, then its reply or why it was dropped.
fn request(
    line: &str,
    at: Timestamp,
    peer: SocketAddr,
    quoted: &str,
) -> Result<ServerLine, LineError> {
    const REQUEST: &str = "<timestamp> <peer> \"<request>\" -> <reply> (or dropped: <why>)";
    let end = closing_quote(quoted)
        .ok_or_else(|| mismatch(REQUEST, format!("the request never ends: {line:?}")))?;
    let (shown, after) = (&quoted[..end], &quoted[end + 1..]);
    let outcome = if let Some(reply) = after.strip_prefix(" -> ") {
        Outcome::Reply(
            protocol::parse(reply.as_bytes())
                .map_err(|e| mismatch(REQUEST, format!("the reply {reply:?}: {e}")))?,
        )
    } else if let Some(why) = after.strip_prefix(" dropped: ") {
        Outcome::Dropped(why.to_string())
    } else {
        return Err(mismatch(REQUEST, format!("{after:?} after the request")));
    };
    Ok(ServerLine::Request {
        at,
        peer,
        shown: shown.to_string(),
        outcome,
    })
}

impl FromStr for ServerLine {
    type Err = LineError;
    fn from_str(line: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "a server line";
        if let Some(rest) = line.strip_prefix("Server timed out after ") {
            const TIMED_OUT: &str =
                "Server timed out after <idle> s without requests on <timestamp>";
            let (idle, at) = ends_on(TIMED_OUT, rest)?;
            let idle = idle
                .strip_suffix(" s without requests")
                .ok_or_else(|| mismatch(TIMED_OUT, format!("{line:?}")))?;
            return Ok(ServerLine::TimedOut {
                idle: parse_seconds(TIMED_OUT, idle)?,
                at,
            });
        }
        if let Some(rest) = line.strip_prefix("Server stopped by ") {
            let (reason, at) = ends_on("Server stopped by <reason> on <timestamp>", rest)?;
            return Ok(ServerLine::Stopped { reason, at });
        }
        if let Some(count) = line
            .strip_suffix(LINES_DROPPED)
            .and_then(|c| c.strip_suffix(' '))
        {
            return Ok(ServerLine::LinesDropped {
                count: count
                    .parse()
                    .map_err(|_| mismatch(WHAT, format!("{count:?} is not a count")))?,
            });
        }
        let (at, rest) = leading_timestamp(WHAT, line)?;
        if let Some(rest) = rest.strip_prefix("listening on ") {
            return listening(line, at, rest);
        }
        if let Some((count, rest)) = rest.split_once(" requests not logged since ") {
            return unlogged(line, at, count, rest);
        }
        if let Some(rest) = rest.strip_prefix("table full (") {
            let bad = || mismatch(WHAT, format!("{line:?}"));
            let (max, rest) = rest.split_once(" IDs in use): ").ok_or_else(bad)?;
            let refused = rest
                .strip_suffix(" new IDs refused without a reply")
                .ok_or_else(bad)?;
            return Ok(ServerLine::TableFull {
                at,
                max: max.parse().map_err(|_| bad())?,
                refused: refused.parse().map_err(|_| bad())?,
            });
        }
        let (peer, rest) = rest
            .split_once(' ')
            .ok_or_else(|| mismatch(WHAT, format!("{line:?}")))?;
        let peer: SocketAddr = peer
            .parse()
            .map_err(|_| mismatch(WHAT, format!("{peer:?} is not a peer address")))?;
        if let Some(quoted) = rest.strip_prefix('"') {
            return request(line, at, peer, quoted);
        }
        if let Some(bytes) = rest
            .strip_prefix("ignored ")
            .and_then(|r| r.strip_suffix(" bytes after the request"))
        {
            return Ok(ServerLine::Ignored {
                at,
                peer,
                bytes: bytes
                    .parse()
                    .map_err(|_| mismatch(WHAT, format!("{bytes:?} is not a count")))?,
            });
        }
        if let Some(why) = rest.strip_prefix("reply not sent: ") {
            return Ok(ServerLine::ReplyNotSent {
                at,
                peer,
                why: why.to_string(),
            });
        }
        Err(mismatch(WHAT, format!("{line:?}")))
    }
}

/// The rest of an [`ServerLine::Unlogged`] line after its count: `<since> (<ok> OK, <reset> RESET,
/// <dropped> dropped)`; the count must be their sum.
fn unlogged(line: &str, at: Timestamp, count: &str, rest: &str) -> Result<ServerLine, LineError> {
    const UNLOGGED: &str =
        "<ts> <n> requests not logged since <ts> (<ok> OK, <reset> RESET, <dropped> dropped)";
    let bad = || mismatch(UNLOGGED, format!("{line:?}"));
    let (since, counts) = rest
        .strip_suffix(" dropped)")
        .and_then(|r| r.split_once(" ("))
        .ok_or_else(bad)?;
    let (ok, counts) = counts.split_once(" OK, ").ok_or_else(bad)?;
    let (reset, dropped) = counts.split_once(" RESET, ").ok_or_else(bad)?;
    let number = |n: &str| n.parse::<u64>().map_err(|_| bad());
    let (ok, reset, dropped) = (number(ok)?, number(reset)?, number(dropped)?);
    let sum = ok.checked_add(reset).and_then(|n| n.checked_add(dropped));
    if sum != Some(number(count)?) {
        return Err(mismatch(
            UNLOGGED,
            format!("{count} is not {ok} + {reset} + {dropped}"),
        ));
    }
    Ok(ServerLine::Unlogged {
        at,
        since: since.parse().map_err(|_| bad())?,
        ok,
        reset,
        dropped,
    })
}

/// How [`ServerNote::NoOutput`] begins.
const NO_OUTPUT: &str = "server: cannot start writing its output: ";

/// A line the server prints on standard error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerNote {
    /// `<ts> receive error: <why>` (UDP; the socket is fine).
    ReceiveError { at: Timestamp, why: String },
    /// `<ts> accept error: <why>` (TCP; typically out of file descriptors).
    AcceptError { at: Timestamp, why: String },
    /// `server: cannot listen on <transport> <addr>: <why>`.
    CannotListen {
        transport: Transport,
        addr: SocketAddr,
        why: String,
    },
    /// `server: cannot start writing its output: <why>` (no thread for it).
    NoOutput { why: String },
}

impl Display for ServerNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerNote::ReceiveError { at, why } => write!(f, "{at} receive error: {why}"),
            ServerNote::AcceptError { at, why } => write!(f, "{at} accept error: {why}"),
            ServerNote::CannotListen {
                transport,
                addr,
                why,
            } => write!(f, "server: cannot listen on {transport} {addr}: {why}"),
            ServerNote::NoOutput { why } => write!(f, "{NO_OUTPUT}{why}"),
        }
    }
}

impl FromStr for ServerNote {
    type Err = LineError;
    fn from_str(line: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "a server diagnostic";
        if let Some(rest) = line.strip_prefix("server: cannot listen on ") {
            let bad = || mismatch(WHAT, format!("{line:?}"));
            let (transport, rest) = rest.split_once(' ').ok_or_else(bad)?;
            // An IPv6 address holds colons but no ": ".
            let (addr, why) = rest.split_once(": ").ok_or_else(bad)?;
            return Ok(ServerNote::CannotListen {
                transport: transport.parse().map_err(|_| bad())?,
                addr: addr.parse().map_err(|_| bad())?,
                why: why.to_string(),
            });
        }
        if let Some(why) = line.strip_prefix(NO_OUTPUT) {
            return Ok(ServerNote::NoOutput {
                why: why.to_string(),
            });
        }
        let (at, rest) = leading_timestamp(WHAT, line)?;
        if let Some(why) = rest.strip_prefix("receive error: ") {
            return Ok(ServerNote::ReceiveError {
                at,
                why: why.to_string(),
            });
        }
        if let Some(why) = rest.strip_prefix("accept error: ") {
            return Ok(ServerNote::AcceptError {
                at,
                why: why.to_string(),
            });
        }
        Err(mismatch(WHAT, format!("{line:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn ts(micros: u32) -> Timestamp {
        Timestamp(
            NaiveDate::from_ymd_opt(2023, 1, 16)
                .and_then(|d| d.and_hms_micro_opt(6, 6, 6, micros))
                .unwrap(),
        )
    }

    fn id(s: &str) -> ConnId {
        ConnId::new(s).unwrap()
    }

    #[test]
    fn the_assignments_examples_parse() {
        assert_eq!(
            "Connection Error 2678 on 2023-01-16 06:06:06.123456".parse(),
            Ok(ClientLine::Error {
                id: id("2678"),
                at: ts(123_456)
            })
        );
        assert_eq!(
            "Connection Failure on 2023-01-16 06:06:06.123456".parse(),
            Ok(ClientLine::Failure { at: ts(123_456) })
        );
    }

    #[test]
    fn timestamps_may_have_any_fraction_up_to_nanoseconds() {
        assert_eq!("2023-01-16 06:06:06".parse(), Ok(ts(0)));
        assert_eq!("2023-01-16 06:06:06.5".parse(), Ok(ts(500_000)));
        assert_eq!(
            "2023-01-16 06:06:06.123456789"
                .parse::<Timestamp>()
                .map(|t| t.to_string()),
            Ok("2023-01-16 06:06:06.123456".to_string())
        );
        for bad in [
            "2023-01-16 06:06:06.",
            "2023-01-16 06:06:06.1234567890",
            "2023-01-16T06:06:06",
            "16/01/2023 06:06:06",
            "2023-1-16 06:06:06",
            "2023-01-16 06:06",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_say_what_did_not_match() {
        let e = "Connection established 7 10.0.0.1 http on 2023-01-16 06:06:06.000000"
            .parse::<ClientLine>()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "not Connection established <id> <ip> <port> on <timestamp>: \"http\" is not a port"
        );
        let e = "Connection Error 7 at 2023-01-16 06:06:06"
            .parse::<ClientLine>()
            .unwrap_err();
        assert!(e.problem.contains("no \" on <timestamp>\""), "{e}");
        let e = "Connection Error 7 on yesterday"
            .parse::<ClientLine>()
            .unwrap_err();
        assert!(e.problem.contains("\"yesterday\""), "{e}");
        assert!("connection established".parse::<ClientLine>().is_err());
    }

    #[test]
    fn a_reason_may_quote_what_looks_like_the_end_of_the_reason() {
        // The reason ends at the first "): " outside double quotes.
        let note = ClientNote::Malformed {
            why: r#"bad field "x): y""#.into(),
            shown: "a): b".into(),
        };
        let line = note.to_string();
        assert_eq!(
            line,
            r#"ignored a malformed reply (bad field "x): y"): a): b"#
        );
        assert_eq!(line.parse(), Ok(note));
        // An escaped quote inside quotes does not end them; a backslash outside them escapes nothing.
        for why in [r#"say "x\"): y" now"#, r#"dir \"x): y""#] {
            let note = ClientNote::Malformed {
                why: why.into(),
                shown: "z".into(),
            };
            assert_eq!(note.to_string().parse(), Ok(note), "{why}");
        }
    }

    #[test]
    fn a_requests_quoted_bytes_may_hold_anything() {
        let line = r#"2023-01-16 06:06:06.000000 10.0.0.1:7 "say \"x\" -> y\\" dropped: unknown verb "say""#;
        assert_eq!(
            line.parse(),
            Ok(ServerLine::Request {
                at: ts(0),
                peer: "10.0.0.1:7".parse().unwrap(),
                shown: r#"say \"x\" -> y\\"#.into(),
                outcome: Outcome::Dropped("unknown verb \"say\"".into()),
            })
        );
    }

    #[test]
    fn the_hot_path_writes_what_the_typed_line_writes() {
        let peer: SocketAddr = "[::1]:40000".parse().unwrap();
        let mut out = String::new();
        write_request_line(
            &mut out,
            &ts(1).to_string(),
            peer,
            b"HELLO 5\n",
            Ok("RESET 5"),
        );
        assert_eq!(
            out,
            ServerLine::Request {
                at: ts(1),
                peer,
                shown: "HELLO 5\\n".into(),
                outcome: Outcome::Reply(Message::Reset(id("5"))),
            }
            .to_string()
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn timestamp() -> impl Strategy<Value = Timestamp> {
            // Any microsecond from year 1000 to 9999.
            (-30_610_224_000i64..253_402_300_799, 0u32..1_000_000).prop_map(|(s, us)| {
                Timestamp(
                    chrono::DateTime::from_timestamp(s, us * 1000)
                        .unwrap()
                        .naive_utc(),
                )
            })
        }

        fn conn_id() -> impl Strategy<Value = ConnId> {
            "[!-~]{1,64}".prop_map(|s| ConnId::new(&s).unwrap())
        }

        fn addr() -> impl Strategy<Value = SocketAddr> {
            (any::<IpAddr>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
        }

        fn text() -> impl Strategy<Value = String> {
            "[ -~]{0,40}"
        }

        fn secs() -> impl Strategy<Value = Duration> {
            (1u64..100_000_000).prop_map(Duration::from_millis)
        }

        fn reply() -> impl Strategy<Value = Message> {
            prop_oneof![
                (conn_id(), addr()).prop_map(|(i, a)| Message::Ok(i, a)),
                conn_id().prop_map(Message::Reset),
                conn_id().prop_map(Message::Hello),
            ]
        }

        fn shown() -> impl Strategy<Value = String> {
            proptest::collection::vec(any::<u8>(), 0..80)
                .prop_map(|b| protocol::printable(&b, REQUEST_PREVIEW).into_owned())
        }

        fn parse_error() -> impl Strategy<Value = String> {
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| match protocol::parse(&b) {
                Err(e) => e.to_string(),
                Ok(_) => "empty message".to_string(),
            })
        }

        fn client_line() -> impl Strategy<Value = ClientLine> {
            prop_oneof![
                (conn_id(), addr(), timestamp())
                    .prop_map(|(id, addr, at)| ClientLine::Established { id, addr, at }),
                (conn_id(), timestamp()).prop_map(|(id, at)| ClientLine::Error { id, at }),
                timestamp().prop_map(|at| ClientLine::Failure { at }),
                text().prop_map(|why| ClientLine::InvalidId { why }),
            ]
        }

        fn client_note() -> impl Strategy<Value = ClientNote> {
            prop_oneof![
                (any::<u32>(), any::<u32>(), text()).prop_map(|(attempt, tries, why)| {
                    ClientNote::TryFailed {
                        attempt,
                        tries,
                        why,
                    }
                }),
                text().prop_map(|reason| ClientNote::Stopped { reason }),
                text().prop_map(|why| ClientNote::CannotRead { why }),
                reply().prop_map(|reply| ClientNote::OtherReply { reply }),
                (addr(), addr()).prop_map(|(from, server)| ClientNote::Stranger { from, server }),
                (parse_error(), shown())
                    .prop_map(|(why, shown)| ClientNote::Malformed { why, shown }),
                (any::<usize>(), shown())
                    .prop_map(|(max, shown)| ClientNote::TooLong { max, shown }),
                text().prop_map(|why| ClientNote::CannotStart { why }),
            ]
        }

        fn server_line() -> impl Strategy<Value = ServerLine> {
            let outcome = prop_oneof![
                reply().prop_map(Outcome::Reply),
                parse_error().prop_map(Outcome::Dropped)
            ];
            prop_oneof![
                (timestamp(), any::<bool>(), addr(), secs(), secs()).prop_map(
                    |(at, tcp, addr, ttl, idle)| {
                        ServerLine::Listening {
                            at,
                            transport: if tcp { Transport::Tcp } else { Transport::Udp },
                            addr: addr.to_string(),
                            ttl,
                            idle,
                        }
                    }
                ),
                (timestamp(), addr(), shown(), outcome).prop_map(|(at, peer, shown, outcome)| {
                    ServerLine::Request {
                        at,
                        peer,
                        shown,
                        outcome,
                    }
                }),
                (
                    timestamp(),
                    timestamp(),
                    any::<u32>(),
                    any::<u32>(),
                    any::<u32>()
                )
                    .prop_map(|(at, since, ok, reset, dropped)| {
                        ServerLine::Unlogged {
                            at,
                            since,
                            ok: ok.into(),
                            reset: reset.into(),
                            dropped: dropped.into(),
                        }
                    }),
                any::<u64>().prop_map(|count| ServerLine::LinesDropped { count }),
                (timestamp(), addr(), any::<usize>())
                    .prop_map(|(at, peer, bytes)| ServerLine::Ignored { at, peer, bytes }),
                (timestamp(), any::<usize>(), any::<u64>())
                    .prop_map(|(at, max, refused)| ServerLine::TableFull { at, max, refused }),
                (timestamp(), addr(), text())
                    .prop_map(|(at, peer, why)| ServerLine::ReplyNotSent { at, peer, why }),
                (secs(), timestamp()).prop_map(|(idle, at)| ServerLine::TimedOut { idle, at }),
                ("[!-~]{1,10}", timestamp())
                    .prop_map(|(reason, at)| ServerLine::Stopped { reason, at }),
            ]
        }

        fn server_note() -> impl Strategy<Value = ServerNote> {
            prop_oneof![
                (timestamp(), text()).prop_map(|(at, why)| ServerNote::ReceiveError { at, why }),
                (timestamp(), text()).prop_map(|(at, why)| ServerNote::AcceptError { at, why }),
                text().prop_map(|why| ServerNote::NoOutput { why }),
                (any::<bool>(), addr(), text()).prop_map(|(tcp, addr, why)| {
                    ServerNote::CannotListen {
                        transport: if tcp { Transport::Tcp } else { Transport::Udp },
                        addr,
                        why,
                    }
                }),
            ]
        }

        proptest! {
            #[test]
            fn client_lines_parse_back(line in client_line()) {
                prop_assert_eq!(line.to_string().parse::<ClientLine>(), Ok(line));
            }

            #[test]
            fn client_notes_parse_back(note in client_note()) {
                prop_assert_eq!(note.to_string().parse::<ClientNote>(), Ok(note));
            }

            #[test]
            fn server_lines_parse_back(line in server_line()) {
                prop_assert_eq!(line.to_string().parse::<ServerLine>(), Ok(line));
            }

            #[test]
            fn server_notes_parse_back(note in server_note()) {
                prop_assert_eq!(note.to_string().parse::<ServerNote>(), Ok(note));
            }

            #[test]
            fn parsing_any_text_never_panics(line in "\\PC{0,120}") {
                let _ = line.parse::<ClientLine>();
                let _ = line.parse::<ClientNote>();
                let _ = line.parse::<ServerLine>();
                let _ = line.parse::<ServerNote>();
            }
        }
    }
}
