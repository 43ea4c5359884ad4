//! The protocol's defaults, defined once. The configs, the binaries' `--help`, the simulator's scenario
//! defaults and the command lines its transcripts print all read them from here.

use std::time::Duration;

use crate::net::Transport;

/// The transport when none is named.
pub const TRANSPORT: Transport = Transport::Udp;
/// How long one try of the client waits for its reply (the assignment's 15 s).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
/// How many tries the client makes before it gives up (the assignment's three).
pub const TRIES: u32 = 3;
/// How long a granted ID stays in use (the assignment's 30 s).
pub const ID_TTL: Duration = Duration::from_secs(30);
/// The server exits after this long without requests (the assignment's two minutes).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// TCP: how long a peer has to complete its request.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(15);
/// TCP: how long a whole message with no newline and no end of stream waits for more bytes: longer
/// than the delayed ACKs and Nagle pauses that split one write in two ([`crate::framing`]).
pub const SETTLE: Duration = Duration::from_millis(200);
/// TCP: most connections the server serves at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// Most IDs the server holds at once: about 100 MB of table at the measured 84 to 90 bytes an ID.
pub const MAX_IDS: usize = 1_100_000;
