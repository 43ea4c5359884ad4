//! Timing: every request answered as soon as it is complete, the idle exit exactly on time, and
//! every printed timestamp the wall-clock time of its event.

use connid::clock::format_timestamp;
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
/// tolerance before it was read).
pub(super) fn check_timestamps(judge: &Judge, run: &Run, found: &mut Findings) {
    let at = |d| run.epoch + chrono::Duration::from_std(d).unwrap_or_default();
    for e in &run.events {
        let (EventKind::Out(line) | EventKind::Err(line)) = &e.kind else {
            continue;
        };
        let expected = format_timestamp(at(e.at));
        let earliest = format_timestamp(at(e.at.saturating_sub(judge.tolerance.late)));
        for ts in timestamps(line) {
            // The fixed shape orders as text as it orders in time.
            if ts > expected.as_str() || ts < earliest.as_str() {
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
