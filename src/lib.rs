//! connid: a connection-ID handshake (`HELLO` / `OK` / `RESET`) over UDP and TCP.
//!
//! The client and server are written once, against three small seams: the network ([`net::Net`]), the
//! wall clock used for printed timestamps ([`clock::Clock`]) and the console ([`console::Console`]).
//! The binaries in `src/bin` plug in the real ones; the simulator in `sim/` plugs in turmoil's network,
//! simulated time and a scripted console, and runs exactly this code. [`load`] is a load generator
//! for any server that speaks the protocol.
//!
//! What the two sides share is pure: the wire format ([`protocol`]), where a message ends in a TCP
//! stream ([`framing`]), every line the programs print ([`lines`]), the table of IDs ([`registry`])
//! and the protocol's defaults ([`defaults`]).
//!
//! This crate depends on neither of the other two: `connid-sim` runs its code in simulation and
//! `connid-conform` reads other programs' output with its [`lines`] and [`protocol`].

// The only unsafe code is the system calls of `net::mmsg`, `memory` and `stdout`: every block says why it is
// sound, and an unsafe fn's body is no blanket permission.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod client;
pub mod clock;
pub mod console;
pub mod defaults;
pub mod framing;
pub mod lines;
pub mod load;
pub mod memory;
pub mod net;
pub mod protocol;
pub mod registry;
pub mod server;
pub mod spool;
pub mod stdout;

pub use client::{run_client, ClientConfig, ClientOutcome};
pub use clock::{Clock, SystemClock};
pub use console::{Console, StdConsole};
pub use net::{Net, TokioNet, Transport};
pub use protocol::{ConnId, Message};
pub use server::{Server, ServerConfig};
