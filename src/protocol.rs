//! The wire format: connection IDs and the three messages (`HELLO`, `OK`, `RESET`).
//!
//! Everything here is pure and synchronous (where a message ends in a TCP stream is [`crate::framing`]'s). Messages are sent without a line ending (as the classic
//! Python implementations do); a received message may end in `\n` or `\r\n`, which is stripped.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use thiserror::Error;

/// Longest message accepted, in bytes, not counting a trailing line ending.
pub const MAX_MESSAGE_LEN: usize = 512;

/// Longest connection ID, in characters.
pub const MAX_ID_LEN: usize = 64;

/// A connection ID: one token of 1 to 64 visible ASCII characters, compared as an exact string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(Box<str>);

/// Why a string is not a valid connection ID.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    #[error("a connection ID cannot be empty")]
    Empty,
    #[error("a connection ID is at most {MAX_ID_LEN} characters (got {0})")]
    TooLong(usize),
    #[error("a connection ID may only hold visible ASCII characters without spaces (found {0:?})")]
    BadChar(char),
}

impl ConnId {
    /// Validates `s` as a connection ID.
    pub fn new(s: &str) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(IdError::BadChar(c));
        }
        if s.len() > MAX_ID_LEN {
            return Err(IdError::TooLong(s.len()));
        }
        Ok(ConnId(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ConnId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConnId::new(s)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnId({:?})", &*self.0)
    }
}

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `HELLO <id>`: the client asks for `id`.
    Hello(ConnId),
    /// `OK <id> <client_ip> <client_port>`: granted; `addr` is the request's source as the server saw it.
    Ok(ConnId, SocketAddr),
    /// `RESET <id>`: `id` is in use.
    Reset(ConnId),
}

impl Message {
    /// The connection ID the message is about.
    pub fn id(&self) -> &ConnId {
        match self {
            Message::Hello(id) | Message::Ok(id, _) | Message::Reset(id) => id,
        }
    }

    /// The bytes sent on the wire (no line ending).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Appends the message as sent on the wire (no line ending) to `out`; the server formats a reply
    /// per request, so this avoids the formatting machinery.
    pub fn write_to(&self, out: &mut String) {
        let (verb, id) = match self {
            Message::Hello(id) => ("HELLO ", id),
            Message::Ok(id, _) => ("OK ", id),
            Message::Reset(id) => ("RESET ", id),
        };
        out.push_str(verb);
        out.push_str(id.as_str());
        if let Message::Ok(_, addr) = self {
            out.push(' ');
            write_ip(out, addr.ip());
            out.push(' ');
            write_decimal(out, addr.port().into());
        }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(96);
        self.write_to(&mut text);
        f.write_str(&text)
    }
}

/// Appends `addr` as its `Display` writes it (`1.2.3.4:5`, `[::1]:5`), IPv4 without `fmt`.
pub fn write_socket_addr(out: &mut String, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            write_ip(out, (*v4.ip()).into());
            out.push(':');
            write_decimal(out, v4.port().into());
        }
        SocketAddr::V6(v6) => {
            let _ = fmt::Write::write_fmt(out, format_args!("{v6}"));
        }
    }
}

/// Appends `ip` as its `Display` writes it, IPv4 without `fmt`.
fn write_ip(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                write_decimal(out, octet.into());
            }
        }
        std::net::IpAddr::V6(v6) => {
            let _ = fmt::Write::write_fmt(out, format_args!("{v6}"));
        }
    }
}

fn write_decimal(out: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[start..].iter().map(|&d| char::from(d)));
}

/// Why received bytes are not a message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("empty message")]
    Empty,
    #[error("message over {MAX_MESSAGE_LEN} bytes ({0} bytes)")]
    TooLong(usize),
    #[error("message is not UTF-8")]
    NotUtf8,
    #[error("unknown verb {0:?}")]
    UnknownVerb(String),
    #[error("{verb} takes {expected} field(s) after the verb, got {got}")]
    FieldCount {
        verb: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("bad connection ID: {0}")]
    BadId(#[from] IdError),
    #[error("bad IP address {0:?}")]
    BadIp(String),
    #[error("bad port {0:?}")]
    BadPort(String),
    #[error("expected a HELLO request, got {0}")]
    NotARequest(&'static str),
}

/// Parses one received message (any verb). A trailing `\n` or `\r\n` is accepted.
pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
    let body = match bytes.strip_suffix(b"\n") {
        Some(rest) => rest.strip_suffix(b"\r").unwrap_or(rest),
        None => bytes,
    };
    if body.len() > MAX_MESSAGE_LEN {
        return Err(ParseError::TooLong(body.len()));
    }
    if body.is_empty() {
        return Err(ParseError::Empty);
    }
    let text = std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8)?;
    let mut fields = text.split(' ');
    let verb = fields.next().unwrap_or_default();
    // The fields after the verb: the first three kept (no message has more), all of them counted.
    let mut rest = [""; 3];
    let mut count = 0;
    for field in fields {
        if let Some(slot) = rest.get_mut(count) {
            *slot = field;
        }
        count += 1;
    }
    let expect = |verb: &'static str, expected: usize| {
        if count == expected {
            Ok(())
        } else {
            Err(ParseError::FieldCount {
                verb,
                expected,
                got: count,
            })
        }
    };
    match verb {
        "HELLO" => {
            expect("HELLO", 1)?;
            Ok(Message::Hello(ConnId::new(rest[0])?))
        }
        "RESET" => {
            expect("RESET", 1)?;
            Ok(Message::Reset(ConnId::new(rest[0])?))
        }
        "OK" => {
            expect("OK", 3)?;
            let id = ConnId::new(rest[0])?;
            let ip: IpAddr = rest[1]
                .parse()
                .map_err(|_| ParseError::BadIp(rest[1].to_string()))?;
            let port: u16 = rest[2]
                .parse()
                .map_err(|_| ParseError::BadPort(rest[2].to_string()))?;
            Ok(Message::Ok(id, SocketAddr::new(ip, port)))
        }
        other => Err(ParseError::UnknownVerb(truncate(other, 16))),
    }
}

/// Parses a request as the server sees it: only `HELLO` is a request.
pub fn parse_request(bytes: &[u8]) -> Result<ConnId, ParseError> {
    match parse(bytes)? {
        Message::Hello(id) => Ok(id),
        Message::Ok(..) => Err(ParseError::NotARequest("OK")),
        Message::Reset(..) => Err(ParseError::NotARequest("RESET")),
    }
}

/// Whether more bytes could still turn `bytes` into a message: they are a prefix of some valid
/// `HELLO`, `OK` or `RESET` (a trailing `\r` may begin a `\r\n`). `HELO 1`, `HELLO 1 2` or a byte
/// that is not printable ASCII can never become one; `HELLO` and `OK 7 10.0` can. TCP framing uses it
/// to drop at once what can never become a message, and to wait for the rest of what can.
pub fn could_become_message(bytes: &[u8]) -> bool {
    let body = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    // No length check is needed: the fields' own limits keep every message far under
    // MAX_MESSAGE_LEN.
    if !body.iter().all(|b| (b' '..=b'~').contains(b)) {
        return false;
    }
    // Printable ASCII is UTF-8.
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    let mut fields = text.split(' ');
    let verb = fields.next().unwrap_or_default();
    let mut rest = fields.peekable();
    if rest.peek().is_none() {
        return ["HELLO", "RESET", "OK"].iter().any(|v| v.starts_with(verb));
    }
    let expected = match verb {
        "HELLO" | "RESET" => 1,
        "OK" => 3,
        _ => return false,
    };
    let mut index = 0;
    while let Some(field) = rest.next() {
        let last = rest.peek().is_none();
        let fits = match index {
            _ if index >= expected => false,
            // Only the last field may still be empty or growing.
            0 if last => field.len() <= MAX_ID_LEN,
            0 => ConnId::new(field).is_ok(),
            1 if last => could_become_ip(field),
            1 => field.parse::<IpAddr>().is_ok(),
            _ => could_become_port(field),
        };
        if !fits {
            return false;
        }
        index += 1;
    }
    true
}

/// A prefix of an IPv4 or IPv6 address as `IpAddr` parses it (loosely: the right characters, not too many).
fn could_become_ip(field: &str) -> bool {
    const LONGEST: usize = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".len();
    field.len() <= LONGEST
        && field
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '.' || c == ':')
}

/// A prefix of a port as `u16` parses it (digits, after an optional `+`, up to 65535).
fn could_become_port(field: &str) -> bool {
    let digits = field.strip_prefix('+').unwrap_or(field);
    digits.bytes().all(|b| b.is_ascii_digit())
        && (digits.is_empty() || digits.parse::<u16>().is_ok())
}

/// Shows received bytes on one line for a log: `\n` `\r` `\t`, quotes and backslashes escaped as in
/// Rust, every other control character and every byte that is not UTF-8 as `\xNN` (one style, so
/// a reader never has to tell `\u{6}` from `\x06`), cut to `max` characters. Plain printable ASCII
/// (the usual request) is borrowed as it is.
pub fn printable(bytes: &[u8], max: usize) -> std::borrow::Cow<'_, str> {
    let plain = bytes.len() <= max
        && bytes
            .iter()
            .all(|&b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\' && b != b'\'');
    if plain {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return std::borrow::Cow::Borrowed(text);
        }
    }
    let mut shown = String::new();
    let hex = |b: u8, shown: &mut String| shown.push_str(&format!("\\x{b:02x}"));
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => shown.push_str("\\n"),
                '\r' => shown.push_str("\\r"),
                '\t' => shown.push_str("\\t"),
                '"' | '\\' | '\'' => {
                    shown.push('\\');
                    shown.push(c);
                }
                // One style for every byte that is not shown as itself, valid UTF-8 or not.
                c if c.is_control() => {
                    for b in c.encode_utf8(&mut [0; 4]).bytes() {
                        hex(b, &mut shown);
                    }
                }
                c => shown.push(c),
            }
        }
        for &b in chunk.invalid() {
            hex(b, &mut shown);
        }
    }
    std::borrow::Cow::Owned(truncate(&shown, max))
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ConnId {
        ConnId::new(s).unwrap()
    }

    #[test]
    fn ids_are_visible_ascii_tokens_of_1_to_64() {
        assert_eq!(id("9876").as_str(), "9876");
        assert!(ConnId::new("a-Z_~!").is_ok());
        assert!(ConnId::new(&"x".repeat(64)).is_ok());
        assert_eq!(ConnId::new(&"x".repeat(65)), Err(IdError::TooLong(65)));
        assert_eq!(ConnId::new(""), Err(IdError::Empty));
        assert_eq!(ConnId::new("98 76"), Err(IdError::BadChar(' ')));
        assert_eq!(ConnId::new("98\t"), Err(IdError::BadChar('\t')));
        assert_eq!(ConnId::new("é"), Err(IdError::BadChar('é')));
        assert_eq!(ConnId::new("a\u{7f}"), Err(IdError::BadChar('\u{7f}')));
    }

    #[test]
    fn formats_the_three_messages() {
        let v4: SocketAddr = "192.168.0.10:12345".parse().unwrap();
        let v6: SocketAddr = "[::1]:40000".parse().unwrap();
        assert_eq!(Message::Hello(id("9876")).to_string(), "HELLO 9876");
        assert_eq!(
            Message::Ok(id("9876"), v4).to_string(),
            "OK 9876 192.168.0.10 12345"
        );
        assert_eq!(Message::Ok(id("a"), v6).to_string(), "OK a ::1 40000");
        assert_eq!(Message::Reset(id("9876")).to_bytes(), b"RESET 9876");
    }

    #[test]
    fn parses_what_it_formats_with_any_line_ending() {
        let v6: SocketAddr = "[2001:db8::7]:1".parse().unwrap();
        for msg in [
            Message::Hello(id("9876")),
            Message::Ok(id("x"), "10.0.0.1:65535".parse().unwrap()),
            Message::Ok(id("x"), v6),
            Message::Reset(id("~")),
        ] {
            let wire = msg.to_bytes();
            assert_eq!(parse(&wire), Ok(msg.clone()));
            assert_eq!(parse(&[&wire[..], b"\n"].concat()), Ok(msg.clone()));
            assert_eq!(parse(&[&wire[..], b"\r\n"].concat()), Ok(msg.clone()));
        }
    }

    #[test]
    fn rejects_each_malformed_form_with_its_reason() {
        use ParseError::*;
        assert_eq!(parse(b""), Err(Empty));
        assert_eq!(parse(b"\n"), Err(Empty));
        assert_eq!(parse(b"\r\n"), Err(Empty));
        assert_eq!(
            parse(b"HELLO"),
            Err(FieldCount {
                verb: "HELLO",
                expected: 1,
                got: 0
            })
        );
        assert_eq!(
            parse(b"HELLO 1 2"),
            Err(FieldCount {
                verb: "HELLO",
                expected: 1,
                got: 2
            })
        );
        assert_eq!(
            parse(b"HELLO  1"),
            Err(FieldCount {
                verb: "HELLO",
                expected: 1,
                got: 2
            })
        );
        assert_eq!(parse(b"HELLO "), Err(BadId(IdError::Empty)));
        assert_eq!(parse(b"HELLO 1\r"), Err(BadId(IdError::BadChar('\r'))));
        assert_eq!(parse(b"HELLO 1\n\n"), Err(BadId(IdError::BadChar('\n'))));
        assert_eq!(parse(b"hello 1"), Err(UnknownVerb("hello".into())));
        assert_eq!(parse(b" HELLO 1"), Err(UnknownVerb("".into())));
        assert_eq!(parse(b"HELLO\t1"), Err(UnknownVerb("HELLO\t1".into())));
        assert_eq!(parse(b"HELLO \xff"), Err(NotUtf8));
        let long = format!("HELLO {}", "1".repeat(65));
        assert_eq!(parse(long.as_bytes()), Err(BadId(IdError::TooLong(65))));
        let huge = vec![b'A'; 513];
        assert_eq!(parse(&huge), Err(TooLong(513)));
        assert!(matches!(parse(&[b'A'; 512]), Err(UnknownVerb(_))));
        assert_eq!(
            parse(b"RESET"),
            Err(FieldCount {
                verb: "RESET",
                expected: 1,
                got: 0
            })
        );
        assert_eq!(
            parse(b"OK 1 1.2.3.4"),
            Err(FieldCount {
                verb: "OK",
                expected: 3,
                got: 2
            })
        );
        // Fields past the three a message can have are still counted.
        assert_eq!(
            parse(b"OK 1 1.2.3.4 80 x y"),
            Err(FieldCount {
                verb: "OK",
                expected: 3,
                got: 5
            })
        );
        assert_eq!(parse(b"OK 1 1.2.3 80"), Err(BadIp("1.2.3".into())));
        assert_eq!(parse(b"OK 1 [::1] 80"), Err(BadIp("[::1]".into())));
        assert_eq!(parse(b"OK 1 1.2.3.4 65536"), Err(BadPort("65536".into())));
        assert_eq!(parse(b"OK 1 1.2.3.4 -1"), Err(BadPort("-1".into())));
    }

    #[test]
    fn only_hello_is_a_request() {
        assert_eq!(parse_request(b"HELLO 42\r\n"), Ok(id("42")));
        assert_eq!(
            parse_request(b"RESET 42"),
            Err(ParseError::NotARequest("RESET"))
        );
        assert_eq!(
            parse_request(b"OK 42 1.2.3.4 5"),
            Err(ParseError::NotARequest("OK"))
        );
    }

    #[test]
    fn prefixes_of_messages_could_become_one_and_the_rest_cannot() {
        for could in [
            &b""[..],
            b"H",
            b"HELLO",
            b"HELLO ",
            b"HELLO 12",
            b"HELLO 12\r",
            b"RES",
            b"RESET 1",
            b"O",
            b"OK 7 ",
            b"OK 7 10.0",
            b"OK 7 ::ffff:1.2.3.4 ",
            b"OK 7 10.0.0.1 6553",
            b"OK 7 10.0.0.1 +",
        ] {
            assert!(could_become_message(could), "{:?}", printable(could, 80));
        }
        let long_id = format!("HELLO {}", "1".repeat(65));
        for never in [
            &b"HELO"[..],
            b"HELO 1",
            b"hello 1",
            b" HELLO",
            b"HELLO  1",
            b"HELLO 1 ",
            b"HELLO 1 2",
            b"HELLO 1\r\r",
            b"HELLO\t1",
            b"HELLO \xff",
            b"HELLO 1\0",
            long_id.as_bytes(),
            b"RESET 1 2",
            b"OK 7 10.0.0.x",
            b"OK 7 10.0 80",
            b"OK 7 10.0.0.1 65536",
            b"OK 7 10.0.0.1 8x",
            b"OK 7 10.0.0.1 80 ",
            // An empty ID is never one, even with the fields after it right.
            b"OK  10.0.0.1 80",
        ] {
            assert!(!could_become_message(never), "{:?}", printable(never, 80));
        }
        assert!(!could_become_message(&[b'A'; MAX_MESSAGE_LEN + 1]));
    }

    #[test]
    fn unknown_verbs_are_cut_short_in_errors() {
        let err = parse(&[b'A'; 400]).unwrap_err().to_string();
        assert!(err.len() < 40, "{err}");
    }

    #[test]
    fn an_id_debugs_as_its_text_in_quotes() {
        assert_eq!(format!("{:?}", id("a1")), "ConnId(\"a1\")");
    }

    #[test]
    fn printable_escapes_and_truncates() {
        assert_eq!(printable(b"HELLO 1\r\n", 80), "HELLO 1\\r\\n");
        assert_eq!(printable(b"\xff\x00", 80), "\\xff\\x00");
        // A control character in valid UTF-8 looks like a byte that is not UTF-8: one style.
        assert_eq!(
            printable(b"\x06\x94\xc2\x85\x7f", 80),
            "\\x06\\x94\\xc2\\x85\\x7f"
        );
        assert_eq!(printable("caf\u{e9} \t".as_bytes(), 80), "caf\u{e9} \\t");
        assert_eq!(printable(b"a\xe2\x82b", 80), "a\\xe2\\x82b");
        assert_eq!(printable(b"abcdef", 3), "abc...");
        assert_eq!(printable(b"HELLO 1", 80), "HELLO 1");
        // The usual request is shown as it is, without a copy.
        assert!(matches!(
            printable(b"HELLO 1", 80),
            std::borrow::Cow::Borrowed("HELLO 1")
        ));
        assert_eq!(
            printable(b"say \"hi\" \\ 'x'", 80),
            "say \\\"hi\\\" \\\\ \\'x\\'"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn id_strategy() -> impl Strategy<Value = ConnId> {
            "[!-~]{1,64}".prop_map(|s| ConnId::new(&s).expect("visible ASCII"))
        }

        fn message_strategy() -> impl Strategy<Value = Message> {
            let addr = (any::<std::net::IpAddr>(), any::<u16>())
                .prop_map(|(ip, port)| SocketAddr::new(ip, port));
            prop_oneof![
                id_strategy().prop_map(Message::Hello),
                (id_strategy(), addr).prop_map(|(id, a)| Message::Ok(id, a)),
                id_strategy().prop_map(Message::Reset),
            ]
        }

        proptest! {
            #[test]
            fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
                let _ = parse(&bytes);
                let _ = parse_request(&bytes);
                let _ = printable(&bytes, 60);
            }

            #[test]
            fn text_that_is_almost_a_message_never_panics(text in "(HELLO|OK|RESET|hello)?( [ -~\\t\\r\\n\\u{80}-\\u{10ffff}]{0,70}){0,4}(\\r?\\n)?") {
                let _ = parse(text.as_bytes());
            }

            #[test]
            fn addresses_are_written_as_display_writes_them(ip in any::<std::net::IpAddr>(), port in any::<u16>(), zero in any::<bool>()) {
                // Zero octets and ports are the edge cases of the hand-written digits.
                let ip = match (ip, zero) {
                    (std::net::IpAddr::V4(v4), true) => {
                        let [a, _, c, _] = v4.octets();
                        std::net::IpAddr::from([a, 0, c, 0])
                    }
                    (ip, _) => ip,
                };
                let port = if zero { port % 11 } else { port };
                let addr = SocketAddr::new(ip, port);
                let mut out = String::from("x");
                write_socket_addr(&mut out, addr);
                prop_assert_eq!(out, format!("x{addr}"));
                let msg = Message::Ok(ConnId::new("id").expect("valid"), addr);
                prop_assert_eq!(msg.to_string(), format!("OK id {ip} {port}"));
            }

            #[test]
            fn every_prefix_of_a_message_could_become_one(msg in message_strategy(), crlf in any::<bool>()) {
                let mut wire = msg.to_bytes();
                if crlf {
                    wire.push(b'\r');
                }
                for cut in 0..=wire.len() {
                    prop_assert!(could_become_message(&wire[..cut]), "{:?}", printable(&wire[..cut], 600));
                }
            }

            #[test]
            fn what_parses_could_become_a_message(text in "(HELLO|OK|RESET)( [!-~]{0,20}){0,4}(\r)?") {
                if parse(text.as_bytes()).is_ok() {
                    prop_assert!(could_become_message(text.as_bytes()), "{text:?}");
                }
            }

            #[test]
            fn format_then_parse_gives_the_message_back(msg in message_strategy(), ending in prop_oneof![Just(""), Just("\n"), Just("\r\n")]) {
                let mut wire = msg.to_bytes();
                wire.extend_from_slice(ending.as_bytes());
                prop_assert_eq!(parse(&wire), Ok(msg));
            }
        }
    }
}
