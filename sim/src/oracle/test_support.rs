//! What the oracle's tests share: loading and running scenarios, the rules a run breaks, and edits
//! that break a clean run on purpose.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use connid::lines::Timestamp;
use connid::Transport;

use crate::clock::epoch;
use crate::events::EventKind;
use crate::oracle::*;
use crate::runner;

pub(super) fn load(name: &str) -> Scenario {
    Scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name),
    )
    .unwrap()
}

pub(super) fn run(scenario: &Scenario, t: Transport) -> Run {
    runner::run(scenario, t).unwrap()
}

pub(super) fn rules(scenario: &Scenario, run: &Run) -> Vec<&'static str> {
    let mut r: Vec<_> = check(scenario, run).into_iter().map(|v| v.rule).collect();
    r.dedup();
    r
}

/// Applies `edit` to the events (then restores time order) and returns the rules broken.
pub(super) fn broken(
    scenario: &Scenario,
    t: Transport,
    edit: impl FnOnce(&mut Vec<Event>),
) -> Vec<&'static str> {
    let mut r = run(scenario, t);
    assert_eq!(
        rules(scenario, &r),
        Vec::<&str>::new(),
        "the unedited run must be clean"
    );
    edit(&mut r.events);
    r.events.sort_by_key(|e| e.at);
    rules(scenario, &r)
}

pub(super) fn position(events: &[Event], pred: impl Fn(&Event) -> bool) -> usize {
    events.iter().position(pred).expect("the event to edit")
}

pub(super) fn is_out(e: &Event, host: &str, prefix: &str) -> bool {
    e.host == host && matches!(&e.kind, EventKind::Out(l) if l.starts_with(prefix))
}

pub(super) fn payload_of(e: &Event) -> String {
    match &e.kind {
        EventKind::Send { payload, .. } => String::from_utf8_lossy(payload).into_owned(),
        _ => String::new(),
    }
}

pub(super) fn set_payload(e: &mut Event, text: &str) {
    if let EventKind::Send { payload, .. } = &mut e.kind {
        *payload = text.as_bytes().to_vec();
    }
}

/// Moves the server's send that starts with `prefix` to `later` after where it was.
pub(super) fn delay_reply(ev: &mut [Event], prefix: &str, later: Duration) {
    let i = position(ev, |e| {
        e.host == SERVER && payload_of(e).starts_with(prefix)
    });
    ev[i].at += later;
}

/// The run of 18-idle-exit as a foreign server would show it: no lines of connid's vocabulary.
pub(super) fn foreign_idle_run(t: Transport) -> (Scenario, Run) {
    let s = load("18-idle-exit.toml");
    let mut r = run(&s, t);
    r.events
        .retain(|e| !(e.host == SERVER && matches!(e.kind, EventKind::Out(_))));
    (s, r)
}

pub(super) fn foreign(tolerance: Tolerance) -> Judge {
    Judge {
        tolerance,
        programs: Programs::Foreign,
    }
}

pub(super) fn foreign_rules(s: &Scenario, r: &Run, judge: &Judge) -> Vec<&'static str> {
    check_with(s, r, judge)
        .into_iter()
        .map(|v| v.rule)
        .collect()
}

/// A clean run of `name` over `t` with `host`'s `nth` Connection Error moved to `at(old time)` (its
/// timestamp with it; moved later, with everything after it), then `edit` applied; events back in
/// time order.
pub(super) fn error_moved(
    name: &str,
    t: Transport,
    host: &str,
    nth: usize,
    at: impl Fn(Duration) -> Duration,
    edit: impl FnOnce(&mut Vec<Event>),
) -> (Scenario, Run) {
    let s = load(name);
    let mut r = run(&s, t);
    assert_eq!(
        rules(&s, &r),
        Vec::<&str>::new(),
        "the unedited run must be clean"
    );
    let i = r
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| is_out(e, host, "Connection Error"))
        .map(|(i, _)| i)
        .nth(nth)
        .expect("the error to move");
    let new = at(r.events[i].at);
    let stamp = |d: Duration| {
        connid::clock::format_timestamp(epoch() + chrono::Duration::from_std(d).unwrap())
    };
    let (old, moved) = (stamp(r.events[i].at), stamp(new));
    if let EventKind::Out(line) = &mut r.events[i].kind {
        *line = line.replace(&old, &moved);
    }
    // Moved later, the rest of the story moves with it, so the error stays its own try's.
    let later = new.saturating_sub(r.events[i].at);
    let from = r.events[i].at;
    for e in r
        .events
        .iter_mut()
        .filter(|e| e.at > from || (e.at == from && !later.is_zero()))
    {
        e.at += later;
        if let EventKind::Send {
            delivered: Some(d), ..
        } = &mut e.kind
        {
            if *d >= from {
                *d += later;
            }
        }
    }
    r.simulated += later;
    r.events[i].at = new;
    edit(&mut r.events);
    r.events.sort_by_key(|e| e.at);
    (s, r)
}

pub(super) fn judged(s: &Scenario, r: &Run, judge: &Judge) -> Vec<Violation> {
    check_with(s, r, judge)
        .into_iter()
        .filter(|v| v.rule == ERROR_WHEN_DUE)
        .collect()
}

pub(super) fn crash_at(at: Duration) -> impl FnOnce(&mut Vec<Event>) {
    move |ev| {
        ev.push(Event {
            at,
            host: SERVER.into(),
            kind: EventKind::Crash,
        })
    }
}

/// 02 over TCP with bob's RESET turned into junk, so only a close of his connection can end his first
/// try early: the close `close` makes (by `host`, of the connection to `peer`) is added at the reply.
pub(super) fn reset_replaced_by_close(
    close: impl Fn(SocketAddr, SocketAddr) -> (String, EventKind),
) -> Vec<Violation> {
    let (s, r) = error_moved(
        "02-reset-then-new-id.toml",
        Transport::Tcp,
        "bob",
        0,
        |at| at,
        |ev| {
            let i = position(ev, |e| {
                e.host == SERVER && payload_of(e).starts_with("RESET ")
            });
            set_payload(&mut ev[i], "RESXT");
            let EventKind::Send { from, to, .. } = ev[i].kind.clone() else {
                unreachable!()
            };
            let at = ev[i].at;
            // Only the close added here may end the try.
            ev.retain(|e| {
                !matches!(e.kind, EventKind::Close { local, peer } if local == to || peer == to)
            });
            let (host, kind) = close(from, to);
            ev.push(Event { at, host, kind });
        },
    );
    judged(&s, &r, &Judge::default())
}

/// 02 over UDP with the RESET of bob's first try changed by `edit`: the ERROR_WHEN_DUE findings.
pub(super) fn reset_changed(edit: impl FnOnce(&mut Event)) -> Vec<Violation> {
    let (s, r) = error_moved(
        "02-reset-then-new-id.toml",
        Transport::Udp,
        "bob",
        0,
        |at| at,
        |ev| {
            let i = position(ev, |e| {
                e.host == SERVER && payload_of(e).starts_with("RESET ")
            });
            edit(&mut ev[i]);
        },
    );
    judged(&s, &r, &Judge::default())
}

/// Drops the server's reply to `host` from the record, as if the server had never answered it.
pub(super) fn unanswered(host: &'static str) -> impl FnOnce(&mut Vec<Event>) {
    move |ev| {
        let addr = ev
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::Send { from, .. } | EventKind::Connected { from, .. }
                    if e.host == host =>
                {
                    Some(*from)
                }
                _ => None,
            })
            .expect("the client's socket");
        ev.retain(|e| {
            !(e.host == SERVER && matches!(&e.kind, EventKind::Send { to, .. } if *to == addr))
        });
    }
}

/// Scenario 30 with ann's note on ignoring `forged` (a payload mallory sends her) replaced by
/// `line`, as if she had taken it: the rules broken.
pub(super) fn forged_taken(forged: &str, line: impl Fn(&str) -> String) -> Vec<&'static str> {
    let s = load("30-forged-replies.toml");
    broken(&s, Transport::Udp, |ev| {
        let sent = position(ev, |e| e.host == "mallory" && payload_of(e) == forged);
        let EventKind::Send {
            delivered: Some(at),
            ..
        } = ev[sent].kind
        else {
            panic!("mallory's {forged} was delivered");
        };
        let i = position(ev, |e| {
            e.host == "ann"
                && e.at == at
                && matches!(&e.kind, EventKind::Err(n) if n.starts_with("ignored a datagram"))
        });
        let stamp = Timestamp(epoch() + chrono::Duration::from_std(at).unwrap()).to_string();
        ev[i].kind = EventKind::Out(line(&stamp));
        // What she did after: nothing more of the real try, and the ending that forged reply makes.
        ev.retain(|e| !(e.host == "ann" && e.at > at));
        let exit = if forged.starts_with("OK") { 0 } else { 1 };
        if exit == 1 {
            ev.push(Event {
                at,
                host: "ann".into(),
                kind: EventKind::Out(format!("Connection Failure on {stamp}")),
            });
        }
        ev.push(Event {
            at,
            host: "ann".into(),
            kind: EventKind::Exit(exit),
        });
    })
}
