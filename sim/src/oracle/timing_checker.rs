//! Timing: every request answered as soon as it is complete, the idle exit exactly on time, and
//! every printed timestamp the wall-clock time of its event.

use connid::clock::format_timestamp;
use connid::lines::ServerLine;
use connid::protocol::{ConnId, Message};

use super::server_view::{Incarnation, Reply, Request};
use super::{Findings, Judge, Programs, ANSWERED, IDLE_EXIT, KEEPS_SERVING, TIMESTAMPS};
use crate::events::{secs, Event, EventKind, Run};
use crate::scenario::Scenario;

/// Rule 5: every request read in this life is answered as soon as it is complete (within a tick and
/// the tolerance).
pub(super) fn check_answered(
    scenario: &Scenario,
    judge: &Judge,
    life: &Incarnation<'_>,
    requests: &[Request<'_>],
    replies: &[Reply<'_>],
    found: &mut Findings,
) {
    let tick = scenario.network.tick.0 + judge.tolerance.late;
    let inside = |t| life.contains(t);
    let t1 = life.end_at;
    // Rule 5: every request read is answered as soon as it is complete.
    for request in requests
        .iter()
        .filter(|r| r.due && inside(r.first) && inside(r.at) && r.at < t1)
    {
        let answered = replies.iter().any(|r| {
            r.to == request.from
                && request.ids.contains(r.message.id())
                && r.event.at >= request.first
                && r.event.at <= request.at + tick
                && !matches!(r.message, Message::Hello(_))
        });
        // A new ID that meets a full table gets no reply (`ids-capped` judges the table).
        let refused =
            || super::table_checker::full_for(scenario, life, replies, &request.ids, request.at);
        if !answered && !refused() {
            let ids: Vec<&str> = request.ids.iter().map(ConnId::as_str).collect();
            found.add(
                ANSWERED,
                request.at,
                format!(
                    "HELLO {} from {} was complete at the server by {} and got no answer",
                    ids.join(" or "),
                    request.from,
                    secs(request.at)
                ),
                &request.sends,
            );
        }
    }
}

/// Rule 5: the server exits exactly the idle timeout after the last request of this life (within the
/// tolerance), and never with an error.
pub(super) fn check_idle_exit(
    scenario: &Scenario,
    judge: &Judge,
    life: &Incarnation<'_>,
    found: &mut Findings,
) {
    if let Some(
        end @ Event {
            kind: EventKind::Exit(code @ 1..),
            ..
        },
    ) = life.end
    {
        found.add(
            KEEPS_SERVING,
            end.at,
            format!("the server exited with code {code} at {}", secs(end.at)),
            &[end],
        );
        return;
    }
    let idle = scenario.server.idle_timeout.0;
    let tolerance = judge.tolerance;
    let (t0, t1) = (life.start.at, life.end_at);
    // Rule 5: the idle exit.
    let last = life
        .activity
        .iter()
        .map(|(at, _)| *at)
        .max()
        .map_or(t0, |at| at.max(t0));
    let due = last + idle;
    // A program seen from outside exits 0 at its idle timeout; one that exits 0 before it is due
    // (at a junk request, say) has stopped serving, whatever its code.
    if let (Some(exit), Programs::Foreign) = (life.timed_out, judge.programs) {
        if exit.at + tolerance.early < due {
            found.add(
                KEEPS_SERVING,
                exit.at,
                format!(
                    "the server exited (code 0) at {}, before its idle timeout was due at {} (last request {}): an early exit is no idle exit",
                    secs(exit.at),
                    secs(due),
                    secs(last)
                ),
                &[exit],
            );
        }
    }
    match life.timed_out {
        Some(exit) if exit.at + tolerance.early < due || exit.at > due + tolerance.idle_late => {
            let mut shown: Vec<&Event> =
                life.activity.last().map(|(_, e)| *e).into_iter().collect();
            shown.push(exit);
            found.add(
                    IDLE_EXIT,
                    exit.at,
                    format!(
                        "the server timed out at {}, but its last request was at {} and the idle timeout is {} s (due {})",
                        secs(exit.at),
                        secs(last),
                        idle.as_secs_f64(),
                        secs(due)
                    ),
                    &shown,
                );
        }
        None if matches!(life.end.map(|e| &e.kind), Some(EventKind::Exit(0))) => {
            let end = life.end.unwrap_or(life.start);
            found.add(
                IDLE_EXIT,
                end.at,
                format!("the server exited at {} without timing out", secs(end.at)),
                &[end],
            );
        }
        None if due + tolerance.idle_late < t1 => {
            found.add(
                IDLE_EXIT,
                due,
                format!(
                    "the server should have timed out at {} (last request {}) but ran on to {}",
                    secs(due),
                    secs(last),
                    secs(t1)
                ),
                &[life.start],
            );
        }
        _ => {}
    }
}

/// Every `YYYY-MM-DD HH:MM:SS.ffffff` in a line.
pub fn timestamps(line: &str) -> Vec<&str> {
    const SHAPE: &[u8; 26] = b"dddd-dd-dd dd:dd:dd.dddddd";
    let bytes = line.as_bytes();
    (0..bytes.len().saturating_sub(SHAPE.len() - 1))
        .filter(|&i| {
            SHAPE.iter().zip(&bytes[i..]).all(|(s, b)| match s {
                b'd' => b.is_ascii_digit(),
                other => other == b,
            })
        })
        .map(|i| &line[i..i + SHAPE.len()])
        .collect()
}

/// Rule 6: every timestamp in a printed line is the wall-clock time of its event (printed at most the
/// late tolerance before it was read, and at most the early one after: real clocks drift).
pub(super) fn check_timestamps(judge: &Judge, run: &Run, found: &mut Findings) {
    let at = |d| run.epoch + chrono::Duration::from_std(d).unwrap_or_default();
    for e in &run.events {
        let (EventKind::Out(line) | EventKind::Err(line)) = &e.kind else {
            continue;
        };
        let expected = format_timestamp(at(e.at));
        let earliest = format_timestamp(at(e.at.saturating_sub(judge.tolerance.late)));
        // On real clocks the wall clock the program prints and the monotonic one a run is timed by
        // drift apart while the system slews or steps its time (by milliseconds, seen in CI): a line
        // may read a little after the moment it was read. The simulator's judge has no margin.
        let latest = format_timestamp(at(e.at + judge.tolerance.early));
        // A summary line's second timestamp is when the second it sums up began (judged by
        // `log-accounts-for-every-request`), not when it was printed.
        let mut stamps = timestamps(line);
        if matches!(line.parse(), Ok(ServerLine::Unlogged { .. })) {
            stamps.truncate(1);
        }
        for ts in stamps {
            // The fixed shape orders as text as it orders in time.
            if ts > latest.as_str() || ts < earliest.as_str() {
                found.add(
                    TIMESTAMPS,
                    e.at,
                    format!(
                        "{} prints {ts} at virtual time {} ({expected})",
                        e.host,
                        secs(e.at)
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
    use std::time::Duration;

    use connid::lines::ServerLine;
    use connid::lines::Timestamp;
    use connid::Transport;

    use crate::clock::epoch;
    use crate::events::EventKind;
    use crate::oracle::test_support::*;
    use crate::oracle::timing_checker::timestamps;
    use crate::oracle::*;

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
                    && (is_out(e, SERVER, "Server timed out")
                        || matches!(e.kind, EventKind::Exit(_))))
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
    fn a_foreign_timestamp_may_run_ahead_of_its_reading_by_the_early_margin_and_no_more() {
        // Seen in CI: a Python client's wall clock 0.4 ms ahead of the checker's monotonic one while
        // the system slewed its time. A program's own clock may run that far ahead; a wrong time not.
        let s = load("01-established.toml");
        let r = run(&s, Transport::Udp);
        let judge = foreign(Tolerance {
            early: Duration::from_millis(500),
            late: Duration::from_millis(900),
            idle_late: Duration::from_secs(5),
        });
        let ahead = |by: Duration| {
            let mut r = run(&s, Transport::Udp);
            let i = position(&r.events, |e| is_out(e, "alice", "Connection established"));
            let at = r.events[i].at;
            let printed = connid::clock::format_timestamp(
                epoch() + chrono::Duration::from_std(at + by).unwrap(),
            );
            if let EventKind::Out(line) = &mut r.events[i].kind {
                let (rest, _) = line.rsplit_once(" on ").unwrap();
                *line = format!("{rest} on {printed}");
            }
            foreign_rules(&s, &r, &judge)
        };
        assert!(!foreign_rules(&s, &r, &judge).contains(&TIMESTAMPS));
        assert!(!ahead(Duration::from_micros(400)).contains(&TIMESTAMPS));
        assert!(!ahead(Duration::from_millis(499)).contains(&TIMESTAMPS));
        assert!(ahead(Duration::from_millis(600)).contains(&TIMESTAMPS));
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
}
