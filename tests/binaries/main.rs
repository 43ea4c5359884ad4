//! The built binaries (`client`, `server`, `load`) over real sockets on 127.0.0.1, with ports the OS
//! picks: one test binary of modules, so that its tests, most of which wait on real timers, wait side
//! by side rather than one binary after another (`cargo test -p connid --test binaries e2e::` runs one
//! module).

mod common;

mod abuse;
mod closed_stdout;
mod e2e;
mod framing;
mod interop;
mod load;
mod unread_output;
