//! The server's connection cap: over TCP it never holds more connections at once than
//! `max_connections` (the rest wait to be accepted), so a flood of silent connections cannot take
//! every file descriptor.

use super::server_view::OpenConnections;
use super::{Findings, Judge, Programs, CONNECTIONS_CAPPED};
use crate::events::{secs, EventKind, Run};
use crate::scenario::{Scenario, SERVER};

/// Rule 5: connid's server holds at most `max_connections` connections at once, counted from its
/// accepts to its closes (a crash closes them all). Other servers have no such setting.
pub(super) fn check(scenario: &Scenario, judge: &Judge, run: &Run, found: &mut Findings) {
    if judge.programs == Programs::Foreign {
        return;
    }
    let cap = scenario.server.max_connections;
    let mut open = OpenConnections::default();
    for e in run.events.iter().filter(|e| e.host == SERVER) {
        open.follow(&e.kind);
        if let EventKind::Accepted { from, .. } = &e.kind {
            if open.len() > cap {
                found.add(
                    CONNECTIONS_CAPPED,
                    e.at,
                    format!(
                        "the server accepts {from} at {} while it holds {} connections, more than its {cap} at once",
                        secs(e.at),
                        open.len() - 1
                    ),
                    &[e],
                );
            }
        }
    }
}
