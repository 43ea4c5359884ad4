//! The server's table, judged from its replies: an ID is granted at most once per TTL, RESET only
//! for an ID in use, an OK names the address its request came from, and no new ID is granted while
//! the table holds its most IDs (`max_ids`).

use std::collections::HashMap;
use std::time::Duration;

use connid::protocol::{ConnId, Message};

use super::server_view::{Incarnation, Reply, Request};
use super::{Findings, Judge, GRANT_ONCE, IDS_CAPPED, OK_SOURCE, RESET_IN_USE};
use crate::events::{secs, Event};
use crate::scenario::Scenario;

/// Rules 1 and 2 over one life of the server (its table starts empty at each start). Within the
/// tolerance of the TTL either answer is right.
pub(super) fn check(
    scenario: &Scenario,
    judge: &Judge,
    life: &Incarnation<'_>,
    requests: &[Request<'_>],
    replies: &[Reply<'_>],
    found: &mut Findings,
) {
    let ttl = scenario.server.id_ttl.0;
    let surely_in_use = ttl.saturating_sub(judge.tolerance.early);
    let surely_free = ttl + judge.tolerance.late;
    let inside = |t| life.contains(t);
    // Rule 1, and rule 2's address.
    let mut granted: HashMap<&ConnId, &Event> = HashMap::new();
    for reply in replies.iter().filter(|r| inside(r.event.at)) {
        let at = reply.event.at;
        match &reply.message {
            Message::Ok(id, addr) => {
                // Counted only when the table could be full (a scan of every grant per grant).
                let max = scenario.server.max_ids;
                let held = match granted.len() >= max {
                    true => granted
                        .iter()
                        .filter(|(other, b)| **other != id && at - b.at <= ttl)
                        .count(),
                    false => 0,
                };
                if held >= max {
                    found.add(
                        IDS_CAPPED,
                        at,
                        format!(
                            "the server granted {id} at {} while it held {held} IDs, its most (max_ids {})",
                            secs(at),
                            scenario.server.max_ids
                        ),
                        &[reply.event],
                    );
                }
                if let Some(before) = granted.get(id).filter(|b| at - b.at <= surely_in_use) {
                    found.add(
                            GRANT_ONCE,
                            at,
                            format!(
                                "the server granted {id} at {} though it granted it at {} (age {} s, TTL {} s)",
                                secs(at),
                                secs(before.at),
                                (at - before.at).as_secs_f64(),
                                ttl.as_secs_f64()
                            ),
                            &[before, reply.event],
                        );
                }
                granted.insert(id, reply.event);
                let asked = requests.iter().any(|r| {
                    r.from == *addr && r.ids.contains(id) && r.first <= at && inside(r.first)
                });
                if *addr != reply.to || !asked {
                    found.add(
                            OK_SOURCE,
                            at,
                            format!(
                                "OK for {id} names {addr}, but it went to {} and no HELLO {id} came from {addr}",
                                reply.to
                            ),
                            &[reply.event],
                        );
                }
            }
            Message::Reset(id) => {
                let last = granted.get(id);
                if last.is_none_or(|b| at - b.at > surely_free) {
                    let why = last.map_or_else(
                        || "never granted since the server started".to_string(),
                        |b| {
                            format!(
                                "granted at {}, age {} s > TTL {} s",
                                secs(b.at),
                                (at - b.at).as_secs_f64(),
                                ttl.as_secs_f64()
                            )
                        },
                    );
                    let mut shown: Vec<&Event> = last.into_iter().copied().collect();
                    shown.push(reply.event);
                    found.add(
                        RESET_IN_USE,
                        at,
                        format!(
                            "the server answered RESET {id} at {} but {id} was free ({why})",
                            secs(at)
                        ),
                        &shown,
                    );
                }
            }
            Message::Hello(_) => {}
        }
    }
}

/// Whether the server's table was full for a request for `ids` complete at `at` in `life`: the OKs it
/// sent in this life by then hold `max_ids` IDs in use (age at most the TTL), none of them one of
/// `ids`. Then a new ID gets no reply.
pub(super) fn full_for(
    scenario: &Scenario,
    life: &Incarnation<'_>,
    replies: &[Reply<'_>],
    ids: &[ConnId],
    at: Duration,
) -> bool {
    let ttl = scenario.server.id_ttl.0;
    let mut granted: HashMap<&ConnId, Duration> = HashMap::new();
    for r in replies {
        if let Message::Ok(id, _) = &r.message {
            if life.contains(r.event.at) && r.event.at <= at {
                granted.insert(id, r.event.at);
            }
        }
    }
    let held: Vec<&&ConnId> = granted
        .iter()
        .filter(|(_, g)| at - **g <= ttl)
        .map(|(id, _)| id)
        .collect();
    held.len() >= scenario.server.max_ids && !held.iter().any(|id| ids.contains(id))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use connid::Transport;

    use crate::events::EventKind;
    use crate::oracle::test_support::*;
    use crate::oracle::*;

    #[test]
    fn a_double_ok_is_caught() {
        let s = load("02-reset-then-new-id.toml");
        let got = broken(&s, Transport::Udp, |ev| {
            // The server answers bob's first request with OK instead of RESET.
            let i = position(ev, |e| e.host == SERVER && payload_of(e) == "RESET 9876");
            let bob = match &ev[i].kind {
                EventKind::Send { to, .. } => *to,
                _ => unreachable!(),
            };
            set_payload(&mut ev[i], &format!("OK 9876 {} {}", bob.ip(), bob.port()));
        });
        assert!(got.contains(&GRANT_ONCE), "{got:?}");
    }

    #[test]
    fn a_reset_for_a_free_id_is_caught() {
        let s = load("01-established.toml");
        let got = broken(&s, Transport::Udp, |ev| {
            let i = position(ev, |e| {
                e.host == SERVER && payload_of(e).starts_with("OK 9876")
            });
            set_payload(&mut ev[i], "RESET 9876");
        });
        assert!(got.contains(&RESET_IN_USE), "{got:?}");
    }

    #[test]
    fn an_ok_with_the_servers_own_address_is_caught() {
        let s = load("01-established.toml");
        let got = broken(&s, Transport::Tcp, |ev| {
            let i = position(ev, |e| {
                e.host == SERVER && payload_of(e).starts_with("OK 9876")
            });
            set_payload(&mut ev[i], "OK 9876 192.168.0.1 5000");
        });
        assert!(got.contains(&OK_SOURCE), "{got:?}");
    }

    #[test]
    fn an_id_is_surely_in_use_until_the_ttl_less_the_early_margin() {
        let s = load("07-expiry-boundary.toml");
        let r = run(&s, Transport::Udp);
        let grants: Vec<Duration> = r
            .events
            .iter()
            .filter(|e| e.host == SERVER && payload_of(e).starts_with("OK "))
            .map(|e| e.at)
            .collect();
        assert!(grants.len() >= 2, "07 grants one ID twice, a TTL apart");
        // Shift every event after the first grant 100 ms earlier: the second grant comes before the TTL.
        let first = grants[0];
        let mut early = Run {
            events: r.events.clone(),
            ..r
        };
        for e in early.events.iter_mut().filter(|e| e.at > first) {
            e.at -= Duration::from_millis(100);
        }
        assert!(foreign_rules(&s, &early, &Judge::default()).contains(&GRANT_ONCE));
        let margin = Judge {
            tolerance: Tolerance {
                early: Duration::from_millis(100),
                ..Tolerance::default()
            },
            ..Judge::default()
        };
        assert!(!foreign_rules(&s, &early, &margin).contains(&GRANT_ONCE));
    }
}
