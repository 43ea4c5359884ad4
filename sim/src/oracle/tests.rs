//! The oracle against broken runs: each rule is shown a run that breaks it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use connid::lines::{ClientLine, ServerLine, Timestamp};
use connid::protocol::{self, Message};
use connid::Transport;

use super::server_view::{first_message, Piece};
use super::timing_checker::timestamps;
use super::*;
use crate::clock::epoch;
use crate::events::EventKind;
use crate::runner;

fn load(name: &str) -> Scenario {
    Scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name),
    )
    .unwrap()
}

fn run(scenario: &Scenario, t: Transport) -> Run {
    runner::run(scenario, t).unwrap()
}

fn rules(scenario: &Scenario, run: &Run) -> Vec<&'static str> {
    let mut r: Vec<_> = check(scenario, run).into_iter().map(|v| v.rule).collect();
    r.dedup();
    r
}

/// Applies `edit` to the events (then restores time order) and returns the rules broken.
fn broken(
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

fn position(events: &[Event], pred: impl Fn(&Event) -> bool) -> usize {
    events.iter().position(pred).expect("the event to edit")
}

fn is_out(e: &Event, host: &str, prefix: &str) -> bool {
    e.host == host && matches!(&e.kind, EventKind::Out(l) if l.starts_with(prefix))
}

fn payload_of(e: &Event) -> String {
    match &e.kind {
        EventKind::Send { payload, .. } => String::from_utf8_lossy(payload).into_owned(),
        _ => String::new(),
    }
}

fn set_payload(e: &mut Event, text: &str) {
    if let EventKind::Send { payload, .. } = &mut e.kind {
        *payload = text.as_bytes().to_vec();
    }
}

#[test]
fn every_scenario_in_the_suite_keeps_every_rule() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let scenario = Scenario::load(&path).unwrap();
        for &t in &scenario.transports {
            let r = run(&scenario, t);
            let found = check(&scenario, &r);
            assert!(found.is_empty(), "{} {t:?}: {found:#?}", path.display());
        }
    }
}

/// Moves the server's send that starts with `prefix` to `later` after where it was.
fn delay_reply(ev: &mut [Event], prefix: &str, later: Duration) {
    let i = position(ev, |e| {
        e.host == SERVER && payload_of(e).starts_with(prefix)
    });
    ev[i].at += later;
}

#[test]
fn a_split_request_granted_as_its_first_piece_is_caught() {
    let s = load("16-tcp-framing.toml");
    let got = broken(&s, Transport::Tcp, |ev| {
        // "HELLO 12" then "34": a server that took the first write alone answers OK 12.
        let i = position(ev, |e| {
            e.host == SERVER && payload_of(e).starts_with("OK 1234")
        });
        let text = payload_of(&ev[i]).replacen("OK 1234", "OK 12", 1);
        set_payload(&mut ev[i], &text);
    });
    assert!(got.contains(&OK_SOURCE), "{got:?}");
    assert!(got.contains(&ANSWERED), "{got:?}");
}

#[test]
fn a_reply_later_than_the_settle_time_is_caught() {
    let s = load("16-tcp-framing.toml");
    let tick = s.network.tick.0;
    // classic sent once and waits: its answer is due the settle time after its request.
    let got = broken(&s, Transport::Tcp, |ev| delay_reply(ev, "OK 5 ", tick * 2));
    assert_eq!(got, [ANSWERED]);
    // nl ended its request with a newline: its answer is due at once, not after a settle time.
    let settle = s.server.settle.0;
    let got = broken(&s, Transport::Tcp, |ev| delay_reply(ev, "OK 6 ", settle));
    assert_eq!(got, [ANSWERED]);
}

#[test]
fn a_pause_of_exactly_the_settle_time_allows_either_framing() {
    let pieces_at = |gap_ms: u64| {
        let e = Event {
            at: Duration::ZERO,
            host: "p".into(),
            kind: EventKind::Crash,
        };
        let ms = Duration::from_millis;
        vec![
            (e.clone(), b"HELLO 12".to_vec(), ms(100)),
            (e, b"34".to_vec(), ms(100 + gap_ms)),
        ]
    };
    let settle = Duration::from_millis(200);
    let frame = |gap: u64, tie: bool| {
        let owned = pieces_at(gap);
        let pieces: Vec<Piece<'_>> = owned
            .iter()
            .map(|(e, b, t)| (e, b.as_slice(), *t))
            .collect();
        first_message(&pieces, settle, tie)
            .map(|(m, at, n)| (String::from_utf8(m).unwrap(), at.as_millis(), n))
    };
    assert_eq!(frame(199, true), Some(("HELLO 1234".into(), 499, 2)));
    assert_eq!(frame(200, false), Some(("HELLO 1234".into(), 500, 2)));
    assert_eq!(frame(200, true), Some(("HELLO 12".into(), 300, 1)));
    assert_eq!(frame(201, false), Some(("HELLO 12".into(), 300, 1)));
}

#[test]
fn a_line_outside_the_vocabulary_is_caught() {
    let s = load("02-reset-then-new-id.toml");
    for (host, prefix, garbled) in [
        ("bob", "Connection Error", "Connection Eror 9876"),
        (SERVER, "Server timed out", "Server timed out."),
    ] {
        let got = broken(&s, Transport::Udp, |ev| {
            let i = position(ev, |e| is_out(e, host, prefix));
            ev[i].kind = EventKind::Out(garbled.into());
        });
        assert!(got.contains(&LINES), "{host}: {got:?}");
    }
}

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
fn a_missing_error_line_is_caught() {
    let s = load("03-three-resets.toml");
    let got = broken(&s, Transport::Udp, |ev| {
        let i = position(ev, |e| is_out(e, "carol", "Connection Error b"));
        ev.remove(i);
    });
    assert!(got.contains(&ERROR_PER_TRY), "{got:?}");
}

#[test]
fn a_fourth_try_is_caught() {
    let s = load("04-unreachable-black-hole.toml");
    let got = broken(&s, Transport::Udp, |ev| {
        let i = position(ev, |e| is_out(e, "dave", "Connection Error 3"));
        let mut extra = ev
            .iter()
            .find(|e| e.host == "dave" && payload_of(e) == "HELLO 3")
            .unwrap()
            .clone();
        extra.at = ev[i].at;
        ev.insert(i + 1, extra);
    });
    assert!(got.contains(&TRIES), "{got:?}");
}

#[test]
fn a_prompt_without_a_try_left_is_caught() {
    let s = load("03-three-resets.toml");
    let got = broken(&s, Transport::Tcp, |ev| {
        let i = position(ev, |e| is_out(e, "carol", "Connection Error c"));
        let mut prompt = ev[i].clone();
        prompt.kind = EventKind::Prompt {
            prompt: "Enter a new connection ID: ".into(),
            typed: Some("d".into()),
            after: Duration::ZERO,
        };
        ev.insert(i + 1, prompt);
    });
    assert!(got.contains(&PROMPT), "{got:?}");
}

#[test]
fn a_reused_socket_is_caught() {
    let s = load("03-three-resets.toml");
    let got = broken(&s, Transport::Udp, |ev| {
        let first = ev
            .iter()
            .find(|e| e.host == "carol" && payload_of(e) == "HELLO a")
            .map(|e| match &e.kind {
                EventKind::Send { from, .. } => *from,
                _ => unreachable!(),
            })
            .unwrap();
        let i = position(ev, |e| e.host == "carol" && payload_of(e) == "HELLO b");
        if let EventKind::Send { from, .. } = &mut ev[i].kind {
            *from = first;
        }
    });
    assert!(got.contains(&NEW_SOCKET), "{got:?}");
}

#[test]
fn a_reply_taken_from_an_old_socket_is_caught() {
    // quin's second try is established; pretend the OK that reached the old socket was taken.
    let s = load("11-late-reply.toml");
    let got = broken(&s, Transport::Udp, |ev| {
        let i = position(ev, |e| is_out(e, "quin", "Connection established 2"));
        let old = ev
            .iter()
            .find(|e| e.host == SERVER && payload_of(e).starts_with("OK 1 "))
            .unwrap();
        let Ok(Message::Ok(id, addr)) = protocol::parse(payload_of(old).as_bytes()) else {
            panic!("an OK");
        };
        let at = Timestamp(epoch() + chrono::Duration::from_std(ev[i].at).unwrap());
        let line = ClientLine::Established { id, addr, at };
        ev[i].kind = EventKind::Out(line.to_string());
    });
    assert!(got.contains(&CURRENT_TRY), "{got:?}");
}

#[test]
fn a_late_or_an_early_server_exit_is_caught() {
    let s = load("18-idle-exit.toml");
    for shift in [-1i64, 1] {
        let got = broken(&s, Transport::Udp, |ev| {
            let i = position(ev, |e| is_out(e, SERVER, "Server timed out"));
            let at = ev[i].at;
            let moved = if shift < 0 {
                at - Duration::from_secs(1)
            } else {
                at + Duration::from_secs(1)
            };
            let stamp = Timestamp(epoch() + chrono::Duration::from_std(moved).unwrap());
            let idle = Duration::from_secs(120);
            let line = ServerLine::TimedOut { idle, at: stamp };
            ev[i].kind = EventKind::Out(line.to_string());
            for e in ev.iter_mut().filter(|e| e.host == SERVER && e.at == at) {
                e.at = moved;
            }
        });
        assert!(got.contains(&IDLE_EXIT), "{shift}: {got:?}");
    }
}

#[test]
fn a_server_that_never_exits_is_caught() {
    let s = load("01-established.toml");
    let got = broken(&s, Transport::Udp, |ev| {
        ev.retain(|e| {
            !(e.host == SERVER
                && (is_out(e, SERVER, "Server timed out") || matches!(e.kind, EventKind::Exit(_))))
        });
    });
    assert!(got.contains(&IDLE_EXIT), "{got:?}");
}

#[test]
fn an_unanswered_request_is_caught() {
    let s = load("09-same-instant.toml");
    let got = broken(&s, Transport::Udp, |ev| {
        let i = position(ev, |e| e.host == SERVER && payload_of(e) == "RESET 7");
        ev.remove(i);
    });
    assert!(got.contains(&ANSWERED), "{got:?}");
}

#[test]
fn a_wrong_timestamp_is_caught() {
    let s = load("01-established.toml");
    let got = broken(&s, Transport::Udp, |ev| {
        let i = position(ev, |e| is_out(e, "alice", "Connection established"));
        if let EventKind::Out(line) = &mut ev[i].kind {
            *line = line.replace("06:06:00.001000", "06:06:00.001001");
        }
    });
    assert_eq!(got, [TIMESTAMPS]);
}

#[test]
fn a_late_ending_and_a_missing_ending_are_caught() {
    let s = load("04-unreachable-black-hole.toml");
    let late = broken(&s, Transport::Udp, |ev| {
        for e in ev
            .iter_mut()
            .filter(|e| e.host == "dave" && e.at == Duration::from_secs(45))
        {
            e.at += Duration::from_secs(1);
            if let EventKind::Out(line) = &mut e.kind {
                *line = line.replace("06:06:45.000000", "06:06:46.000000");
            }
        }
    });
    assert!(late.contains(&IN_TIME), "{late:?}");
    let missing = broken(&s, Transport::Udp, |ev| {
        let i = position(ev, |e| is_out(e, "dave", "Connection Failure"));
        ev.remove(i);
    });
    assert!(missing.contains(&ONE_ENDING), "{missing:?}");
}

#[test]
fn a_try_for_another_id_than_typed_is_caught() {
    let s = load("02-reset-then-new-id.toml");
    let got = broken(&s, Transport::Udp, |ev| {
        let i = position(ev, |e| e.host == "bob" && payload_of(e) == "HELLO 1234");
        set_payload(&mut ev[i], "HELLO 9876");
    });
    assert!(got.contains(&TYPED_ID), "{got:?}");
}

#[test]
fn a_wrong_exit_code_is_caught() {
    let s = load("13-end-of-input.toml");
    let got = broken(&s, Transport::Tcp, |ev| {
        let i = position(ev, |e| {
            e.host == "tess" && matches!(e.kind, EventKind::Exit(_))
        });
        ev[i].kind = EventKind::Exit(0);
    });
    assert_eq!(got, [ONE_ENDING]);
}

#[test]
fn timestamps_are_found_anywhere_in_a_line() {
    assert_eq!(
        timestamps("2023-01-16 06:06:00.050000 x on 2023-01-16 06:06:01.000001"),
        ["2023-01-16 06:06:00.050000", "2023-01-16 06:06:01.000001"]
    );
    assert!(timestamps("no time 2023-01-16 06:06").is_empty());
}

#[test]
fn different_event_lists_break_determinism() {
    let s = load("01-established.toml");
    let a = run(&s, Transport::Udp);
    let mut b = run(&s, Transport::Udp);
    assert_eq!(same_events(&a, &b), None);
    b.events.pop();
    assert_eq!(same_events(&a, &b).map(|v| v.rule), Some(DETERMINISM));
}

#[test]
fn transports_matter_for_tries() {
    // Over TCP a try begins with its connect; the oracle must count those, not sends.
    let s = load("17-unreachable-refused.toml");
    let r = run(&s, Transport::Tcp);
    assert!(check(&s, &r).is_empty());
}

/// The run of 18-idle-exit as a foreign server would show it: no lines of connid's vocabulary.
fn foreign_idle_run(t: Transport) -> (Scenario, Run) {
    let s = load("18-idle-exit.toml");
    let mut r = run(&s, t);
    r.events
        .retain(|e| !(e.host == SERVER && matches!(e.kind, EventKind::Out(_))));
    (s, r)
}

fn foreign(tolerance: Tolerance) -> Judge {
    Judge {
        tolerance,
        programs: Programs::Foreign,
    }
}

fn foreign_rules(s: &Scenario, r: &Run, judge: &Judge) -> Vec<&'static str> {
    check_with(s, r, judge)
        .into_iter()
        .map(|v| v.rule)
        .collect()
}

#[test]
fn a_foreign_server_is_judged_by_what_reached_it_and_how_it_exited() {
    for t in Transport::ALL {
        let (s, r) = foreign_idle_run(t);
        let exact = foreign(Tolerance::default());
        assert_eq!(foreign_rules(&s, &r, &exact), Vec::<&str>::new(), "{t}");
        // Connid's own server must print that it timed out.
        assert_eq!(rules(&s, &r), [IDLE_EXIT], "{t}");

        let exit = position(&r.events, |e| {
            e.host == SERVER && e.kind == EventKind::Exit(0)
        });
        let mut failed = Run {
            events: r.events.clone(),
            ..r
        };
        failed.events[exit].kind = EventKind::Exit(1);
        assert_eq!(foreign_rules(&s, &failed, &exact), [KEEPS_SERVING], "{t}");
    }
}

#[test]
fn the_idle_exit_may_be_as_late_as_the_tolerance_says_and_no_later() {
    let (s, mut r) = foreign_idle_run(Transport::Udp);
    let exit = position(&r.events, |e| {
        e.host == SERVER && e.kind == EventKind::Exit(0)
    });
    r.events[exit].at += Duration::from_secs(2);
    r.simulated += Duration::from_secs(2);
    let loose = foreign(Tolerance {
        idle_late: Duration::from_secs(2),
        ..Tolerance::default()
    });
    assert_eq!(foreign_rules(&s, &r, &loose), Vec::<&str>::new());
    let tight = foreign(Tolerance {
        idle_late: Duration::from_millis(1_999),
        ..Tolerance::default()
    });
    assert_eq!(foreign_rules(&s, &r, &tight), [IDLE_EXIT]);
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

/// A clean run of `name` over `t` with `host`'s `nth` Connection Error moved to `at(old time)` (its
/// timestamp with it; moved later, with everything after it), then `edit` applied; events back in
/// time order.
fn error_moved(
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

fn judged(s: &Scenario, r: &Run, judge: &Judge) -> Vec<Violation> {
    check_with(s, r, judge)
        .into_iter()
        .filter(|v| v.rule == ERROR_WHEN_DUE)
        .collect()
}

fn crash_at(at: Duration) -> impl FnOnce(&mut Vec<Event>) {
    move |ev| {
        ev.push(Event {
            at,
            host: SERVER.into(),
            kind: EventKind::Crash,
        })
    }
}

#[test]
fn an_error_before_the_timeout_or_after_it_is_caught() {
    let secs = Duration::from_secs;
    let exact = Judge::default();
    // dave's tries in 04 each time out: at 15, 30 and 45 s.
    let (s, r) = error_moved(
        "04-unreachable-black-hole.toml",
        Transport::Udp,
        "dave",
        1,
        |_| secs(20),
        |_| {},
    );
    let early = judged(&s, &r, &exact);
    assert_eq!(early.len(), 1, "{early:?}");
    assert!(
        early[0]
            .message
            .contains("after 5 s, before its timeout of 15 s"),
        "{}",
        early[0].message
    );
    let (s, r) = error_moved(
        "05-request-lost.toml",
        Transport::Udp,
        "erin",
        0,
        |at| at + secs(1),
        |_| {},
    );
    assert_eq!(judged(&s, &r, &exact).len(), 1);
    // A tick late is on time; a moment more is not.
    let tick = load("05-request-lost.toml").network.tick.0;
    let (s, r) = error_moved(
        "05-request-lost.toml",
        Transport::Udp,
        "erin",
        0,
        |at| at + tick,
        |_| {},
    );
    assert_eq!(judged(&s, &r, &exact), []);
    let (s, r) = error_moved(
        "05-request-lost.toml",
        Transport::Udp,
        "erin",
        0,
        |at| at + tick + Duration::from_micros(1),
        |_| {},
    );
    assert_eq!(judged(&s, &r, &exact).len(), 1);
}

#[test]
fn an_error_within_the_tolerance_is_on_time() {
    let ms = Duration::from_millis;
    let loose = foreign(Tolerance {
        early: ms(1000),
        late: ms(1000),
        ..Tolerance::default()
    });
    for (shift, flagged) in [(-500i64, false), (-1500, true), (500, false), (1500, true)] {
        let (s, r) = error_moved(
            "05-request-lost.toml",
            Transport::Udp,
            "erin",
            0,
            |at| {
                if shift < 0 {
                    at - ms(shift.unsigned_abs())
                } else {
                    at + ms(shift.unsigned_abs())
                }
            },
            |_| {},
        );
        assert_eq!(!judged(&s, &r, &loose).is_empty(), flagged, "{shift} ms");
    }
}

#[test]
fn a_crash_during_the_try_lets_it_end_early_and_one_before_does_not() {
    let secs = Duration::from_secs;
    let name = "04-unreachable-black-hole.toml";
    // dave's second try runs from 15 s to its timeout at 30 s; its error moves to 20 s.
    let (s, r) = error_moved(
        name,
        Transport::Udp,
        "dave",
        1,
        |_| secs(20),
        crash_at(secs(16)),
    );
    assert_eq!(judged(&s, &r, &Judge::default()), []);
    let (s, r) = error_moved(
        name,
        Transport::Udp,
        "dave",
        1,
        |_| secs(20),
        crash_at(secs(1)),
    );
    assert_eq!(judged(&s, &r, &Judge::default()).len(), 1);
}

/// 02 over TCP with bob's RESET turned into junk, so only a close of his connection can end his first
/// try early: the close `close` makes (by `host`, of the connection to `peer`) is added at the reply.
fn reset_replaced_by_close(
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

#[test]
fn only_the_server_closing_the_tries_connection_lets_it_end_early() {
    let by_server = |server: SocketAddr, bob: SocketAddr| {
        (
            SERVER.to_string(),
            EventKind::Close {
                local: server,
                peer: bob,
            },
        )
    };
    assert_eq!(reset_replaced_by_close(by_server), []);
    let by_bob = |server: SocketAddr, bob: SocketAddr| {
        (
            "bob".to_string(),
            EventKind::Close {
                local: bob,
                peer: server,
            },
        )
    };
    assert_eq!(reset_replaced_by_close(by_bob).len(), 1);
    let another = |server: SocketAddr, bob: SocketAddr| {
        let other = SocketAddr::new(bob.ip(), bob.port().wrapping_add(1));
        (
            SERVER.to_string(),
            EventKind::Close {
                local: server,
                peer: other,
            },
        )
    };
    assert_eq!(reset_replaced_by_close(another).len(), 1);
}

#[test]
fn an_error_at_once_after_a_reset_is_due() {
    // 02: bob's first try gets RESET and errs at once; 03: three RESETs in a row.
    for name in ["02-reset-then-new-id.toml", "03-three-resets.toml"] {
        let s = load(name);
        for t in Transport::ALL {
            assert!(
                !rules(&s, &run(&s, t)).contains(&ERROR_WHEN_DUE),
                "{name} {t}"
            );
        }
    }
}

#[test]
fn a_foreign_client_may_end_a_failure_with_0_but_not_with_a_traceback() {
    let s = load("03-three-resets.toml");
    let mut r = run(&s, Transport::Udp);
    let exit = position(&r.events, |e| e.kind == EventKind::Exit(1));
    let host = r.events[exit].host.clone();
    r.events[exit].kind = EventKind::Exit(0);
    let judge = foreign(Tolerance::default());
    assert_eq!(rules(&s, &r), [ONE_ENDING], "connid's client fails with 1");
    assert_eq!(foreign_rules(&s, &r, &judge), Vec::<&str>::new());
    let at = r.events[exit].at;
    r.events.insert(
        exit,
        Event {
            at,
            host,
            kind: EventKind::Err("Traceback (most recent call last):".into()),
        },
    );
    assert_eq!(foreign_rules(&s, &r, &judge), [ONE_ENDING]);
}

#[test]
fn every_rule_has_one_statement() {
    let mut names: Vec<&str> = RULES.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), RULES.len());
    for rule in [
        GRANT_ONCE,
        RESET_IN_USE,
        OK_SOURCE,
        TRIES,
        ERROR_PER_TRY,
        PROMPT,
        ONE_ENDING,
        IN_TIME,
        TYPED_ID,
        NEW_SOCKET,
        CURRENT_TRY,
        IDLE_EXIT,
        ANSWERED,
        KEEPS_SERVING,
        ERROR_WHEN_DUE,
        TIMESTAMPS,
        LINES,
        LIVENESS,
        DETERMINISM,
    ] {
        assert!(
            rule_statement(rule).is_some_and(|s| !s.is_empty()),
            "{rule}"
        );
    }
    assert_eq!(rule_statement("no-such-rule"), None);
}

#[test]
fn only_what_reaches_a_foreign_server_restarts_its_idle_timer() {
    let exact = foreign(Tolerance::default());
    let secs = Duration::from_secs;
    // A datagram to another address at 150 s does not restart it.
    let (s, mut r) = foreign_idle_run(Transport::Udp);
    let lee = r
        .events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Send { from, .. } if e.host == "lee" => Some(*from),
            _ => None,
        })
        .unwrap();
    let elsewhere = SocketAddr::new(lee.ip(), 9);
    r.events.push(Event {
        at: secs(150),
        host: "lee".into(),
        kind: EventKind::Send {
            msg: 999,
            transport: Transport::Udp,
            from: lee,
            to: elsewhere,
            payload: b"ping".to_vec(),
            delivered: Some(secs(150)),
        },
    });
    r.events.sort_by_key(|e| e.at);
    assert_eq!(foreign_rules(&s, &r, &exact), Vec::<&str>::new());

    // Nor does a connection to another address.
    let (s, mut r) = foreign_idle_run(Transport::Tcp);
    r.events.push(Event {
        at: secs(150),
        host: "lee".into(),
        kind: EventKind::Connected {
            from: lee,
            to: elsewhere,
        },
    });
    r.events.sort_by_key(|e| e.at);
    assert_eq!(foreign_rules(&s, &r, &exact), Vec::<&str>::new());

    // But a connection that reaches it does, even with nothing sent on it (the connection came a
    // moment before the request did, so the exit is that much later than due).
    let (s, mut r) = foreign_idle_run(Transport::Tcp);
    r.events
        .retain(|e| !(e.host == "lee" && matches!(e.kind, EventKind::Send { .. })));
    let loose = foreign(Tolerance {
        idle_late: secs(1),
        ..Tolerance::default()
    });
    assert!(!foreign_rules(&s, &r, &loose).contains(&IDLE_EXIT));
}

#[test]
fn connids_server_must_say_it_timed_out_and_counts_accepted_connections() {
    let s = load("18-idle-exit.toml");
    // Without its timed-out line, an exit with 0 is not an idle exit.
    let mut r = run(&s, Transport::Udp);
    r.events.retain(|e| {
        !(e.host == SERVER
            && matches!(&e.kind, EventKind::Out(l) if matches!(l.parse(), Ok(ServerLine::TimedOut { .. }))))
    });
    assert_eq!(rules(&s, &r), [IDLE_EXIT]);
    // A connection accepted at 110 s restarts the timer: the exit at 220 s is then early.
    let mut r = run(&s, Transport::Tcp);
    let accepted = r
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Accepted { .. }))
        .cloned()
        .unwrap();
    r.events.push(Event {
        at: Duration::from_secs(110),
        ..accepted
    });
    r.events.sort_by_key(|e| e.at);
    assert_eq!(rules(&s, &r), [IDLE_EXIT]);
}

/// 02 over UDP with the RESET of bob's first try changed by `edit`: the ERROR_WHEN_DUE findings.
fn reset_changed(edit: impl FnOnce(&mut Event)) -> Vec<Violation> {
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

#[test]
fn only_a_reset_for_the_tries_id_on_its_socket_lets_it_end_early() {
    assert_eq!(reset_changed(|_| {}), []);
    assert_eq!(reset_changed(|e| set_payload(e, "RESET 9999")).len(), 1);
    let elsewhere = reset_changed(|e| {
        if let EventKind::Send { to, .. } = &mut e.kind {
            to.set_port(to.port().wrapping_add(1));
        }
    });
    assert_eq!(elsewhere.len(), 1);
}

/// Drops the server's reply to `host` from the record, as if the server had never answered it.
fn unanswered(host: &'static str) -> impl FnOnce(&mut Vec<Event>) {
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

#[test]
fn a_client_asking_a_peer_is_judged_by_that_peers_replies() {
    let s = load("24-a-server-that-answers-wrongly.toml");
    // vic takes the peer's OK for 9 on her first try, as if it answered her request for 3.
    let got = broken(&s, Transport::Udp, |ev| {
        let i = position(ev, |e| {
            e.host == "vic" && matches!(&e.kind, EventKind::Err(n) if n.contains("OK 9"))
        });
        let at = ev[i].at;
        let (ip, port) = ("192.168.0.2", 49152);
        ev[i].kind = EventKind::Out(format!(
            "Connection established 9 {ip} {port} on {}",
            Timestamp(epoch() + chrono::Duration::from_std(at).unwrap())
        ));
    });
    assert!(got.contains(&CURRENT_TRY), "{got:?}");

    // Answered at once, she is established by the peer's OK: judged by its replies, that is right.
    let mut quick = s.clone();
    quick.peers[0].gap = crate::scenario::Dur::default();
    let r = run(&quick, Transport::Udp);
    assert!(
        r.events
            .iter()
            .any(|e| is_out(e, "vic", "Connection established 3 ")),
        "{:#?}",
        r.events
    );
    assert_eq!(rules(&quick, &r), Vec::<&str>::new());
}

#[test]
fn a_socket_error_the_server_does_not_report_breaks_the_rule() {
    let s = load("27-socket-errors.toml");
    for t in Transport::ALL {
        // Each kind of report removed in turn: the error it reported is then unreported.
        for report in ["receive error: ", "accept error: ", "reply not sent: "] {
            let made = run(&s, t).events.iter().any(|e| {
                e.host == SERVER
                    && matches!(&e.kind, EventKind::Out(l) | EventKind::Err(l) if l.contains(report))
            });
            if !made {
                continue;
            }
            let got = broken(&s, t, |events| {
                let i = position(events, |e| {
                    e.host == SERVER
                        && matches!(&e.kind, EventKind::Out(l) | EventKind::Err(l) if l.contains(report))
                });
                events.remove(i);
            });
            assert_eq!(got, [SOCKET_ERRORS], "{report:?} removed over {t}");
        }
        // A report with another reason is not this error's.
        let got = broken(&s, t, |events| {
            let i = position(events, |e| {
                e.host == SERVER
                    && matches!(&e.kind, EventKind::Out(l) if l.contains("reply not sent"))
            });
            if let EventKind::Out(line) = &mut events[i].kind {
                *line = line.replace("(simulated)", "(elsewhere)");
            }
        });
        assert_eq!(got, [SOCKET_ERRORS], "another reason over {t}");
    }
}

#[test]
fn a_reply_the_network_refused_still_counts_as_an_answer() {
    let s = load("27-socket-errors.toml");
    for t in Transport::ALL {
        let r = run(&s, t);
        let refused = r
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::SendFailed { .. }))
            .count();
        assert!(refused >= 2, "the scenario refuses replies over {t}");
        // Without them, the requests they answered would be unanswered.
        let got = broken(&s, t, |events| {
            events.retain(|e| !matches!(e.kind, EventKind::SendFailed { .. }));
        });
        assert!(got.contains(&ANSWERED), "{got:?} over {t}");
    }
}

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

/// Scenario 30 with ann's note on ignoring `forged` (a payload mallory sends her) replaced by
/// `line`, as if she had taken it: the rules broken.
fn forged_taken(forged: &str, line: impl Fn(&str) -> String) -> Vec<&'static str> {
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

#[test]
fn a_try_ended_by_a_reply_from_another_host_is_caught() {
    let got = forged_taken("RESET 1", |ts| format!("Connection Error 1 on {ts}"));
    assert_eq!(got, [REPLY_SOURCE], "a forged RESET taken");
    let got = forged_taken("OK 1 6.6.6.6 666", |ts| {
        format!("Connection established 1 6.6.6.6 666 on {ts}")
    });
    assert_eq!(got, [REPLY_SOURCE], "a forged OK taken");
}

#[test]
fn a_reply_from_another_port_of_the_asked_host_ends_no_try() {
    let s = load("30-forged-replies.toml");
    let got = broken(&s, Transport::Udp, |ev| {
        let i = position(ev, |e| {
            e.host == "vic"
                && matches!(&e.kind, EventKind::Err(n) if n.starts_with("ignored a datagram"))
        });
        let at = ev[i].at;
        let stamp = Timestamp(epoch() + chrono::Duration::from_std(at).unwrap());
        ev[i].kind = EventKind::Out(format!(
            "Connection established 3 192.168.0.3 49152 on {stamp}"
        ));
        ev.retain(|e| !(e.host == "vic" && e.at > at));
        ev.push(Event {
            at,
            host: "vic".into(),
            kind: EventKind::Exit(0),
        });
    });
    assert_eq!(got, [REPLY_SOURCE]);
}

#[test]
fn a_new_id_granted_from_a_full_table_is_caught() {
    let s = load("31-a-full-table.toml");
    for t in Transport::ALL {
        // The server answers cat's first try (refused: the table is full) with an OK after all.
        let got = broken(&s, t, |ev| {
            let refused = position(ev, |e| {
                e.host == SERVER && matches!(&e.kind, EventKind::Out(l) if l.contains("table full"))
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
