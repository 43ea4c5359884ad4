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

/// How many of these tests run at once unless `RUST_TEST_THREADS` or `--test-threads` says otherwise:
/// two per core, not libtest's one, as they spend most of their time waiting (measured on 2 cores:
/// 9 s of CPU in 14 s with one per core). Run before `main`, where libtest reads the variable.
#[ctor::ctor(unsafe)]
fn two_tests_per_core() {
    if std::env::var_os("RUST_TEST_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::set_var("RUST_TEST_THREADS", (2 * cores).to_string());
    }
}
