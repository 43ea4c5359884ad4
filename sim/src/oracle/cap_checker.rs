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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use connid::Transport;

    use crate::events::EventKind;
    use crate::oracle::test_support::*;
    use crate::oracle::*;

    #[test]
    fn a_server_that_accepts_past_its_connection_cap_breaks_the_rule() {
        let s = load("25-connection-cap.toml");
        let mut r = run(&s, Transport::Tcp);
        assert_eq!(rules(&s, &r), Vec::<&str>::new());
        // kay's connection accepted at once, while the silent peer's still holds the only place.
        let kay = r
            .events
            .iter()
            .rposition(|e| e.host == SERVER && matches!(e.kind, EventKind::Accepted { .. }))
            .expect("kay accepted");
        let asked = position(&r.events, |e| {
            e.host == "kay" && matches!(e.kind, EventKind::Connect { .. })
        });
        r.events[kay].at = r.events[asked].at;
        r.events.sort_by_key(|e| e.at);
        assert!(rules(&s, &r).contains(&CONNECTIONS_CAPPED));
        // With room for two, the same accepts keep the rule.
        let mut roomy = s.clone();
        roomy.server.max_connections = 2;
        assert!(!rules(&roomy, &r).contains(&CONNECTIONS_CAPPED));
    }

    #[test]
    fn a_new_id_granted_from_a_full_table_is_caught() {
        let s = load("31-a-full-table.toml");
        for t in Transport::ALL {
            // The server answers cat's first try (refused: the table is full) with an OK after all.
            let got = broken(&s, t, |ev| {
                let refused = position(ev, |e| {
                    e.host == SERVER
                        && matches!(&e.kind, EventKind::Out(l) if l.contains("table full"))
                });
                let at = ev[refused].at;
                let from = ev
                    .iter()
                    .find_map(|e| match &e.kind {
                        EventKind::Send { from, payload, .. }
                            if e.host == "cat" && payload == b"HELLO 3" =>
                        {
                            Some(*from)
                        }
                        EventKind::Connected { from, .. } if e.host == "cat" => Some(*from),
                        _ => None,
                    })
                    .unwrap();
                let server = SocketAddr::new(run(&s, t).hosts[0].1, s.server.port);
                ev.push(Event {
                    at,
                    host: SERVER.into(),
                    kind: EventKind::Send {
                        msg: 9999,
                        transport: t,
                        from: server,
                        to: from,
                        payload: format!("OK 3 {} {}", from.ip(), from.port()).into_bytes(),
                        delivered: None,
                    },
                });
            });
            assert!(got.contains(&IDS_CAPPED), "{t}: {got:?}");
        }
    }

    #[test]
    fn a_request_refused_only_when_the_table_is_really_full() {
        // One ID more of room: cat's first try must then be answered, and the unedited run (in which it
        // was refused) breaks requests-answered.
        let mut roomy = load("31-a-full-table.toml");
        let r = run(&roomy, Transport::Udp);
        roomy.server.max_ids = 3;
        assert!(rules(&roomy, &r).contains(&ANSWERED));
    }
}
