//! Liveness after healing, as TigerBeetle's simulator checks it: once the last fault is over and the
//! network has healed, the system must work again. Every client that starts after the heal is
//! answered by the server on its first try, unless the server has meanwhile exited by its idle
//! timeout (which `idle-exit-on-time` judges). Both times are the run's: when the heal was applied and
//! when the client started.

use std::time::Duration;

use connid::lines::ClientLine;
use connid::protocol::Message;

use super::server_view::Reply;
use super::{Findings, LIVENESS};
use crate::events::{secs, Event, EventKind, Run};
use crate::scenario::{Scenario, SERVER};

/// The liveness rule for every client that starts after the last heal, if no fault follows it.
pub(super) fn check(scenario: &Scenario, run: &Run, replies: &[Reply<'_>], found: &mut Findings) {
    let Some(healed) = run.healed_at() else {
        return;
    };
    let server_exits: Vec<Duration> = run
        .events
        .iter()
        .filter(|e| e.host == SERVER && matches!(e.kind, EventKind::Exit(_)) && e.at >= healed)
        .map(|e| e.at)
        .collect();
    let asks_the_server =
        |c: &&crate::scenario::ClientSpec| c.server.as_deref().is_none_or(|h| h == SERVER);
    for client in scenario
        .clients
        .iter()
        .filter(|c| run.started_at(&c.name).is_some_and(|at| at >= healed))
        .filter(asks_the_server)
    {
        let events: Vec<&Event> = run
            .events
            .iter()
            .filter(|e| e.host == client.name)
            .collect();
        let Some(start) = events
            .iter()
            .find(|e| matches!(e.kind, EventKind::Start(_)))
        else {
            continue;
        };
        // The first try's socket: where its request left from, or its connection's local end.
        let local = events.iter().find_map(|e| match &e.kind {
            EventKind::Send { from, .. } | EventKind::Connected { from, .. } => Some(*from),
            _ => None,
        });
        // The first try is over at its Connection Error, or when the client ends.
        let over = events
            .iter()
            .find(|e| match &e.kind {
                EventKind::Out(line) => {
                    matches!(line.parse::<ClientLine>(), Ok(ClientLine::Error { .. }))
                }
                EventKind::Exit(_) => true,
                _ => false,
            })
            .map_or(run.simulated, |e| e.at);
        let answered = replies.iter().any(|r| {
            let for_it = match &r.message {
                Message::Ok(id, _) | Message::Reset(id) => id.as_str() == client.id,
                _ => false,
            };
            let arrived = match r.event.kind {
                EventKind::Send {
                    delivered: Some(at),
                    ..
                } => at <= over,
                _ => false,
            };
            Some(r.to) == local && for_it && arrived
        });
        let server_exited = server_exits.iter().any(|&at| at <= over);
        if !answered && !server_exited {
            found.add(
                LIVENESS,
                over,
                format!(
                    "{} started after the network healed at {} and was not answered on its first try",
                    client.name,
                    secs(healed)
                ),
                &[start],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use connid::Transport;

    use crate::events::EventKind;
    use crate::oracle::test_support::*;
    use crate::oracle::*;

    #[test]
    fn a_client_unanswered_after_the_heal_is_caught() {
        let s = load("21-heal.toml");
        for t in Transport::ALL {
            // hugo's RESET is a reply too: without it, his first try was not answered.
            let got = broken(&s, t, unanswered("hugo"));
            assert!(got.contains(&LIVENESS), "{t}: {got:?}");
            let got = broken(&s, t, unanswered("hana"));
            assert!(got.contains(&LIVENESS), "{t}: {got:?}");
        }
    }

    #[test]
    fn liveness_is_not_required_after_a_later_fault_or_once_the_server_exited() {
        let mut s = load("21-heal.toml");
        let got = broken(&s, Transport::Udp, |ev| {
            unanswered("hugo")(ev);
            // The server exits (by its idle timer, as far as this rule knows) before hugo asks.
            let at = Duration::from_millis(20_550);
            ev.push(Event {
                at,
                host: SERVER.into(),
                kind: EventKind::Exit(0),
            });
        });
        assert!(!got.contains(&LIVENESS), "{got:?}");

        s.faults.push(crate::scenario::Fault {
            at: crate::scenario::Dur::secs(100),
            action: crate::scenario::Action::Loss,
            between: Some(["hana".into(), SERVER.into()]),
            oneway: false,
            rate: Some(0.0),
        });
        let got = broken(&s, Transport::Udp, unanswered("hugo"));
        assert!(!got.contains(&LIVENESS), "{got:?}");
        assert!(got.contains(&ANSWERED), "{got:?}");
    }
}
