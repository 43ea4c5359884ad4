//! `conform` as its users run it, against real programs: one test binary of modules, so that what one
//! test leaves of the two cores (a JVM's waits, real-time reference runs) another takes, rather than
//! each file's binary running after the last (`cargo test -p connid-conform --test checker clock::`
//! runs one module).

mod support;

mod cli;
mod clock;
mod explore;
mod html;
mod matrix;
mod suites;
