//! Arbitrary bytes into the message parser and the TCP framer: nothing may panic, a parsed message
//! must format back to what was parsed, and the framer's buffer stays bounded.
#![no_main]

use connid::framing::{Frame, Framer};
use connid::protocol::{self, MAX_MESSAGE_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = protocol::parse(data) {
        assert_eq!(protocol::parse(&message.to_bytes()), Ok(message));
    }
    let _ = protocol::parse_request(data);
    let _ = protocol::printable(data, 60);
    // The same bytes as a stream, cut into chunks at every 7th byte.
    let mut framer = Framer::new();
    for chunk in data.chunks(7) {
        framer.extend(chunk);
        while let Frame::Message(_) | Frame::TooLong(_) = framer.next_frame() {}
        assert!(framer.pending().len() <= MAX_MESSAGE_LEN + 1);
        let _ = framer.can_settle();
    }
    let _ = framer.finish();
    // Bytes that parse as a message could always have become one.
    if protocol::parse(data).is_ok() {
        assert!(protocol::could_become_message(data.strip_suffix(b"\n").unwrap_or(data)));
    }
});
