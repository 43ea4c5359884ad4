//! What a request gets: `OK` (the ID is recorded) or `RESET`, or no reply and why. Pure: the table
//! and the time are passed in, so it is tested without a network.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::protocol::{self, ConnId, Message, ParseError};
use crate::registry::{Decision, Registry};

/// Why a request got no reply.
#[derive(Debug)]
pub enum Dropped {
    /// The bytes are not a `HELLO` request.
    Malformed(ParseError),
    /// A TCP peer did not complete its request in time.
    Incomplete(Duration),
    /// A TCP peer closed the connection without sending anything.
    Closed,
    /// Reading the request failed.
    Io(io::Error),
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dropped::Malformed(e) => write!(f, "{e}"),
            Dropped::Incomplete(t) => {
                write!(f, "request not complete within {} s", t.as_secs_f64())
            }
            Dropped::Closed => write!(f, "connection closed without a request"),
            Dropped::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

/// Decides the reply to the received bytes of one request from `peer` at `now` (see [`decide`]).
pub fn handle_request(
    registry: &mut Registry,
    bytes: &[u8],
    peer: SocketAddr,
    now: Instant,
) -> Result<Option<Message>, ParseError> {
    let id = protocol::parse_request(bytes)?;
    Ok(decide(registry, id, peer, now))
}

/// Decides the reply to a parsed request for `id` from `peer` at `now`: `OK` naming `peer` if the ID
/// is free (it is then recorded), `RESET` if it is in use. `None` if the ID is free but the table is
/// full: no reply, which the client's timeout and retry handle (a RESET would claim the ID is in use,
/// which is false).
pub fn decide(
    registry: &mut Registry,
    id: ConnId,
    peer: SocketAddr,
    now: Instant,
) -> Option<Message> {
    match registry.request(&id, now) {
        Decision::Granted => Some(Message::Ok(id, peer)),
        Decision::InUse => Some(Message::Reset(id)),
        Decision::Full => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn grants_then_resets_and_reports_the_source_address() {
        let mut reg = Registry::new(Duration::from_secs(30));
        let now = Instant::now();
        let a = addr("192.168.0.10:12345");
        let b = addr("[::1]:40000");
        let id = ConnId::new("9876").unwrap();
        assert_eq!(
            handle_request(&mut reg, b"HELLO 9876", a, now),
            Ok(Some(Message::Ok(id.clone(), a)))
        );
        assert_eq!(
            handle_request(&mut reg, b"HELLO 9876\r\n", b, now),
            Ok(Some(Message::Reset(id)))
        );
        assert_eq!(
            handle_request(&mut reg, b"HELLO 1\n", b, now),
            Ok(Some(Message::Ok(ConnId::new("1").unwrap(), b)))
        );
    }

    #[test]
    fn a_full_table_refuses_new_ids_without_a_reply_but_still_resets_held_ones() {
        let ttl = Duration::from_secs(30);
        let mut reg = Registry::new(ttl).with_max(2);
        let t0 = Instant::now();
        let a = addr("10.0.0.1:1");
        let id = |s: &str| ConnId::new(s).unwrap();
        assert_eq!(
            decide(&mut reg, id("1"), a, t0),
            Some(Message::Ok(id("1"), a))
        );
        assert_eq!(
            decide(&mut reg, id("2"), a, t0),
            Some(Message::Ok(id("2"), a))
        );
        assert_eq!(decide(&mut reg, id("3"), a, t0), None, "full: no reply");
        assert_eq!(
            decide(&mut reg, id("1"), a, t0 + ttl),
            Some(Message::Reset(id("1")))
        );
        assert_eq!(
            decide(&mut reg, id("3"), a, t0 + ttl),
            None,
            "both still in use"
        );
        // One past the TTL both are free: a new ID takes the room of an expired one.
        let later = t0 + ttl + Duration::from_nanos(1);
        assert_eq!(
            decide(&mut reg, id("3"), a, later),
            Some(Message::Ok(id("3"), a))
        );
        assert_eq!(
            decide(&mut reg, id("1"), a, later),
            Some(Message::Ok(id("1"), a))
        );
        assert_eq!(decide(&mut reg, id("4"), a, later), None);
        assert_eq!(reg.len(), 2);
    }

    #[test]
    fn malformed_requests_record_nothing() {
        let mut reg = Registry::new(Duration::from_secs(30));
        let now = Instant::now();
        let a = addr("10.0.0.1:1");
        for bad in [
            &b"HELO 1"[..],
            b"HELLO",
            b"HELLO 1 2",
            b"\xff",
            b"",
            b"RESET 1",
            b"OK 1 1.2.3.4 5",
        ] {
            assert!(handle_request(&mut reg, bad, a, now).is_err(), "{bad:?}");
        }
        assert!(reg.is_empty());
    }

    #[test]
    fn why_a_request_was_dropped_reads_as_a_reason() {
        let cases = [
            (
                Dropped::Malformed(ParseError::UnknownVerb("HI".into())),
                "unknown verb \"HI\"",
            ),
            (
                Dropped::Incomplete(Duration::from_millis(1500)),
                "request not complete within 1.5 s",
            ),
            (Dropped::Closed, "connection closed without a request"),
            (
                Dropped::Io(io::Error::new(io::ErrorKind::ConnectionReset, "reset")),
                "read error: reset",
            ),
        ];
        for (why, text) in cases {
            assert_eq!(why.to_string(), text);
        }
    }
}
