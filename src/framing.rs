//! TCP framing: where one message ends in a byte stream.
//!
//! A sender writes its message once, without a line ending, and then half-closes its writing side. A
//! receiver takes the message at whichever comes first: a `\n`; the end of the stream; or, for peers
//! that do neither (one `send`, then wait), a pause of the settle time after bytes that already form a
//! whole message, or that can never become one. So a message split over several writes is never cut
//! short, and a message ended by newline or end of stream is never delayed.
//!
//! [`Framer`] is the pure part (bytes in, messages out, no clock); [`read_message`] drives it from a
//! stream with the settle timer.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::clock::{self, Clock};
use crate::protocol::{could_become_message, parse, MAX_MESSAGE_LEN};

/// Splits a TCP byte stream into messages. A line that grows past [`MAX_MESSAGE_LEN`] is reported once
/// and then skipped up to its `\n`, so memory stays bounded whatever the peer sends.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    skipping: bool,
}

/// What the framer holds after new bytes arrived.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One message ended by `\n` (included), to be parsed by the caller.
    Message(Vec<u8>),
    /// No `\n` yet.
    Incomplete,
    /// Over [`MAX_MESSAGE_LEN`] bytes without a line ending; these are the bytes dropped.
    TooLong(Vec<u8>),
}

impl Framer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.skipping {
            // The rest of an over-long line is dropped up to its newline, never held.
            if let Some(pos) = bytes.iter().position(|&b| b == b'\n') {
                self.skipping = false;
                self.buf.extend_from_slice(&bytes[pos + 1..]);
            }
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The bytes held that do not form a message yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Takes the next message ended by a newline, if there is one.
    pub fn next_frame(&mut self) -> Frame {
        if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let rest = self.buf.split_off(pos + 1);
            return Frame::Message(std::mem::replace(&mut self.buf, rest));
        }
        // 512 bytes plus a `\r` may still be a message waiting for its `\n`.
        if self.buf.len() > MAX_MESSAGE_LEN + 1 {
            self.skipping = true;
            return Frame::TooLong(std::mem::take(&mut self.buf));
        }
        Frame::Incomplete
    }

    /// Whether [`Framer::settle`] would take the bytes held: they are a whole message already, or
    /// more bytes could never make them one. Only then is a settle timer worth arming.
    pub fn can_settle(&self) -> bool {
        !self.buf.is_empty() && (parse(&self.buf).is_ok() || !could_become_message(&self.buf))
    }

    /// No byte arrived for the settle time: takes the bytes held if [`Framer::can_settle`].
    pub fn settle(&mut self) -> Option<Vec<u8>> {
        self.can_settle().then(|| std::mem::take(&mut self.buf))
    }

    /// The stream ended: takes whatever is held as its last message.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf))
    }
}

/// What [`read_message`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// One message, ended by a newline (included), by the end of the stream, or by the settle time.
    Message(Vec<u8>),
    /// A line over [`MAX_MESSAGE_LEN`] bytes; these bytes were dropped.
    TooLong(Vec<u8>),
    /// The stream ended with nothing held.
    End,
}

/// Reads from `stream` into `framer` until the next message ends (see the module doc). Call it again
/// for the next message; bytes read past one message stay in `framer`.
pub async fn read_message<R: AsyncRead + Unpin, C: Clock>(
    clock: &C,
    stream: &mut R,
    framer: &mut Framer,
    settle: Duration,
) -> io::Result<Received> {
    let mut buf = [0u8; 1024];
    loop {
        match framer.next_frame() {
            Frame::Message(bytes) => return Ok(Received::Message(bytes)),
            Frame::TooLong(bytes) => return Ok(Received::TooLong(bytes)),
            Frame::Incomplete => {}
        }
        let read = stream.read(&mut buf);
        let n = if framer.can_settle() {
            // A byte that arrives together with the timer's end still counts: the read goes first.
            tokio::select! {
                biased;
                n = read => n?,
                () = clock::sleep(clock, settle) => {
                    if let Some(bytes) = framer.settle() {
                        return Ok(Received::Message(bytes));
                    }
                    continue;
                }
            }
        } else {
            read.await?
        };
        if n == 0 {
            return Ok(framer.finish().map_or(Received::End, Received::Message));
        }
        framer.extend(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newline_ends_a_message_at_once() {
        let mut f = Framer::new();
        f.extend(b"HEL");
        assert_eq!(f.next_frame(), Frame::Incomplete);
        f.extend(b"LO\n");
        assert_eq!(f.next_frame(), Frame::Message(b"HELLO\n".to_vec()));
        assert_eq!(f.next_frame(), Frame::Incomplete);
        f.extend(b"RESET 1\r\nOK 1 ::1 5\n");
        assert_eq!(f.next_frame(), Frame::Message(b"RESET 1\r\n".to_vec()));
        assert_eq!(f.next_frame(), Frame::Message(b"OK 1 ::1 5\n".to_vec()));
        assert_eq!(f.finish(), None);
    }

    #[test]
    fn a_whole_message_without_a_newline_waits_for_the_settle_time() {
        let mut f = Framer::new();
        f.extend(b"HELLO 12");
        // It parses, but more may come ("HELLO 1234" split in two writes).
        assert_eq!(f.next_frame(), Frame::Incomplete);
        assert!(f.can_settle());
        f.extend(b"34");
        assert_eq!(f.next_frame(), Frame::Incomplete);
        assert_eq!(f.settle(), Some(b"HELLO 1234".to_vec()));
        assert_eq!(f.settle(), None);
    }

    #[test]
    fn what_could_still_become_a_message_does_not_settle() {
        let mut f = Framer::new();
        for part in [&b"HELLO"[..], b" ", b"9"] {
            f.extend(part);
            assert_eq!(f.next_frame(), Frame::Incomplete);
        }
        f.extend(b"\r");
        assert!(!f.can_settle(), "\\r may begin \\r\\n");
        f.extend(b"\n");
        assert_eq!(f.next_frame(), Frame::Message(b"HELLO 9\r\n".to_vec()));

        let mut f = Framer::new();
        f.extend(b"HELLO ");
        assert!(!f.can_settle());
        assert_eq!(f.settle(), None);
        assert_eq!(f.pending(), b"HELLO ");
        // The end of the stream ends it whatever it is.
        assert_eq!(f.finish(), Some(b"HELLO ".to_vec()));
        assert_eq!(f.finish(), None);
    }

    #[test]
    fn what_can_never_become_a_message_settles_as_it_is() {
        for bad in [&b"HELO 1"[..], b"HELLO 1 2", b"\xff\xfe", b"RESET 1 2"] {
            let mut f = Framer::new();
            f.extend(bad);
            assert_eq!(f.next_frame(), Frame::Incomplete);
            assert_eq!(f.settle(), Some(bad.to_vec()));
        }
        assert_eq!(Framer::new().settle(), None, "nothing held, nothing taken");
    }

    #[test]
    fn an_endless_line_is_reported_once_then_skipped() {
        let mut f = Framer::new();
        f.extend(&[b'x'; 513]);
        assert_eq!(f.next_frame(), Frame::Incomplete);
        f.extend(b"x");
        assert_eq!(f.next_frame(), Frame::TooLong(vec![b'x'; 514]));
        // The rest of that line is skipped without being held.
        f.extend(&[b'y'; 10_000]);
        assert_eq!(f.next_frame(), Frame::Incomplete);
        assert!(f.pending().is_empty());
        assert_eq!(f.finish(), None);
        f.extend(b"yyy\nRESET 1");
        assert_eq!(f.next_frame(), Frame::Incomplete);
        assert_eq!(f.finish(), Some(b"RESET 1".to_vec()));
    }

    /// A stream that hands out scripted pieces, with pauses (in paused tokio time) before some.
    async fn read_script(pieces: &[(u64, &[u8])], close: bool, settle_ms: u64) -> Vec<Received> {
        let (mut tx, mut rx) = tokio::io::duplex(4096);
        let pieces: Vec<(u64, Vec<u8>)> = pieces.iter().map(|(t, b)| (*t, b.to_vec())).collect();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for (pause, bytes) in pieces {
                tokio::time::sleep(Duration::from_millis(pause)).await;
                tx.write_all(&bytes).await.unwrap();
            }
            if close {
                tx.shutdown().await.unwrap();
            } else {
                // Keeps its side open long after the reader is done.
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        });
        let mut framer = Framer::new();
        let mut got = Vec::new();
        let settle = Duration::from_millis(settle_ms);
        loop {
            let r = read_message(&crate::SystemClock, &mut rx, &mut framer, settle)
                .await
                .unwrap();
            let end = r == Received::End;
            got.push(r);
            if end || (!close && got.len() == 1) {
                break;
            }
        }
        writer.abort();
        got
    }

    fn msg(b: &[u8]) -> Received {
        Received::Message(b.to_vec())
    }

    #[tokio::test(start_paused = true)]
    async fn pieces_closer_than_the_settle_time_make_one_message() {
        let start = tokio::time::Instant::now();
        let got = read_script(&[(0, b"HELLO 12"), (150, b"34")], false, 200).await;
        assert_eq!(got, [msg(b"HELLO 1234")]);
        assert_eq!(start.elapsed(), Duration::from_millis(350));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_longer_than_the_settle_time_ends_a_whole_message() {
        let got = read_script(&[(0, b"HELLO 12"), (250, b"34")], true, 200).await;
        assert_eq!(got, [msg(b"HELLO 12"), msg(b"34"), Received::End]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unfinished_prefix_waits_past_the_settle_time_for_the_rest() {
        let got = read_script(&[(0, b"HELLO"), (5_000, b" 7")], false, 200).await;
        assert_eq!(got, [msg(b"HELLO 7")]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_end_of_the_stream_or_a_newline_ends_a_message_without_delay() {
        let start = tokio::time::Instant::now();
        let got = read_script(&[(0, b"OK 1 10.0.0.1 4"), (30, b"0")], true, 200).await;
        assert_eq!(got, [msg(b"OK 1 10.0.0.1 40"), Received::End]);
        assert_eq!(start.elapsed(), Duration::from_millis(30));

        let start = tokio::time::Instant::now();
        let got = read_script(&[(0, b"RESET 1"), (30, b"2\r\n")], false, 200).await;
        assert_eq!(got, [msg(b"RESET 12\r\n")]);
        assert_eq!(start.elapsed(), Duration::from_millis(30));
    }

    #[tokio::test(start_paused = true)]
    async fn what_can_never_become_a_message_is_taken_after_the_settle_time() {
        let start = tokio::time::Instant::now();
        let got = read_script(&[(0, b"HELO 1")], false, 200).await;
        assert_eq!(got, [msg(b"HELO 1")]);
        assert_eq!(start.elapsed(), Duration::from_millis(200));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn the_framer_never_holds_more_than_a_line_and_never_panics(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
                let mut framer = Framer::new();
                for chunk in chunks {
                    framer.extend(&chunk);
                    while let Frame::Message(_) | Frame::TooLong(_) = framer.next_frame() {}
                    prop_assert!(framer.pending().len() <= MAX_MESSAGE_LEN + 1);
                    let _ = framer.can_settle();
                }
                let _ = framer.finish();
            }

            #[test]
            fn a_message_cut_anywhere_is_put_back_together(
                text in "(HELLO|RESET) [!-~]{1,64}|OK [!-~]{1,20} (10\\.0\\.0\\.[0-9]{1,2}|::[0-9a-f]{1,4}) [0-9]{1,5}",
                cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
                newline in any::<bool>(),
            ) {
                prop_assume!(parse(text.as_bytes()).is_ok());
                let mut wire = text.clone().into_bytes();
                if newline {
                    wire.push(b'\n');
                }
                let mut at: Vec<usize> = cuts.iter().map(|c| c.index(wire.len())).collect();
                at.push(wire.len());
                at.sort_unstable();
                // Pieces that arrive close together (no settle in between) make the whole message.
                let mut framer = Framer::new();
                let mut from = 0;
                let mut taken = None;
                for to in at {
                    framer.extend(&wire[from..to]);
                    from = to;
                    if let Frame::Message(m) = framer.next_frame() {
                        taken = Some(m);
                    }
                }
                let taken = taken.or_else(|| framer.settle());
                prop_assert_eq!(taken, Some(wire));
            }
        }
    }
}
