//! The server's log accounts for every request it takes: each gets a line of its own, or is counted in
//! a summary line (requests not logged, by outcome; new IDs refused for a full table) at most a second
//! later, or at the server's exit if that comes sooner. Judged for connid's server in every life that
//! ends by its idle timeout, at every level but quiet.

use std::net::SocketAddr;
use std::time::Duration;

use connid::lines::{Outcome, ServerLine, Timestamp};
use connid::protocol::{self, Message};
use connid::server::LogLevel;
use connid::Transport;

use super::server_view::Incarnation;
use super::{Findings, Judge, Programs, LOG_ACCOUNTS};
use crate::events::{secs, Event, EventKind, Run};
use crate::scenario::{Scenario, SERVER};

/// How long a request may wait to be counted in a summary line.
const SECOND: Duration = Duration::from_secs(1);

/// What the log says of requests, in total and by outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    ok: u64,
    reset: u64,
    /// Every request, whatever its outcome (dropped and refused ones too).
    all: u64,
}

/// One line of the log about requests: when, whether it is a request's own line, and what it counts.
struct Entry<'a> {
    event: &'a Event,
    at: Duration,
    own: bool,
    counts: Counts,
    /// A summary's second: when it began, as printed.
    since: Option<Timestamp>,
}

/// The log's entries about requests in this life, in order.
fn entries<'a>(run: &'a Run, life: &Incarnation<'_>, exit: Duration) -> Vec<Entry<'a>> {
    let one = |ok, reset| Counts { ok, reset, all: 1 };
    run.events
        .iter()
        .filter(|e| e.host == SERVER && e.at >= life.start.at && e.at <= exit)
        .filter_map(|e| {
            let EventKind::Out(line) = &e.kind else {
                return None;
            };
            let parsed = line.parse::<ServerLine>().ok()?;
            let since = match &parsed {
                ServerLine::Unlogged { since, .. } => Some(*since),
                _ => None,
            };
            let (own, counts) = match parsed {
                ServerLine::Request { outcome, .. } => match outcome {
                    Outcome::Reply(Message::Ok(..)) => (true, one(1, 0)),
                    Outcome::Reply(_) => (true, one(0, 1)),
                    Outcome::Dropped(_) => (true, one(0, 0)),
                },
                ServerLine::Unlogged {
                    ok, reset, dropped, ..
                } => (
                    false,
                    Counts {
                        ok,
                        reset,
                        all: ok + reset + dropped,
                    },
                ),
                ServerLine::TableFull { refused, .. } => (
                    false,
                    Counts {
                        all: refused,
                        ..Counts::default()
                    },
                ),
                _ => return None,
            };
            Some(Entry {
                event: e,
                at: e.at,
                own,
                counts,
                since,
            })
        })
        .collect()
}

/// The requests the server took in this life, when, and the replies it decided: over UDP each
/// datagram that reached it, over TCP each connection it closed (after its line, its reply and its
/// linger). A datagram that arrived in the instant the life began or ended, or a connection closed
/// as it ended, may or may not have been a request taken; the server's own events count from its
/// start event on (a crash's closes in the same instant belong to the life before).
fn taken<'a>(
    server: SocketAddr,
    run: &'a Run,
    life: &Incarnation<'_>,
    exit: Duration,
) -> Taken<'a> {
    let born = run
        .events
        .iter()
        .position(|e| std::ptr::eq(e, life.start))
        .unwrap_or(0);
    let mut taken = Taken::default();
    for (i, e) in run.events.iter().enumerate() {
        let own = e.host == SERVER && i > born && e.at <= exit;
        let at = match (&e.kind, run.transport) {
            (
                EventKind::Send {
                    to,
                    delivered: Some(at),
                    ..
                },
                Transport::Udp,
            ) if *to == server && e.host != SERVER => *at,
            (EventKind::Close { .. }, Transport::Tcp) if own => e.at,
            (EventKind::Send { payload, .. } | EventKind::SendFailed { payload, .. }, _) if own => {
                match protocol::parse(payload) {
                    Ok(Message::Ok(..)) => taken.replies.ok += 1,
                    Ok(Message::Reset(_)) => taken.replies.reset += 1,
                    _ => {}
                }
                continue;
            }
            _ => continue,
        };
        if at < life.start.at || at > exit {
            continue;
        }
        // Over TCP, the connections closed in the instant of the exit may be ones the stopping
        // server cut off before their request was complete: not requests.
        let udp = run.transport == Transport::Udp;
        if at == exit || (udp && at == life.start.at) {
            taken.uncertain += 1;
        } else {
            taken.requests.push((at, e));
        }
    }
    taken.requests.sort_by_key(|(at, _)| *at);
    taken
}

/// See [`taken`].
#[derive(Default)]
struct Taken<'a> {
    requests: Vec<(Duration, &'a Event)>,
    /// Datagrams that reached the server in the instant it started or exited: taken or not.
    uncertain: u64,
    /// The OKs and RESETs it sent (or tried to).
    replies: Counts,
}

/// Rule 6: in each life of connid's server that ends by its idle timeout, the log accounts for every
/// request the server took, OKs and RESETs as sent, and within a second of each.
pub(super) fn check(
    scenario: &Scenario,
    judge: &Judge,
    run: &Run,
    server: SocketAddr,
    life: &Incarnation<'_>,
    found: &mut Findings,
) {
    let Some(exit_line) = life.timed_out else {
        return;
    };
    if judge.programs == Programs::Foreign || scenario.server.log == LogLevel::Quiet {
        return;
    }
    let exit = exit_line.at;
    let entries = entries(run, life, exit);
    let taken = taken(server, run, life, exit);
    let total = entries.iter().fold(Counts::default(), |sum, e| Counts {
        ok: sum.ok + e.counts.ok,
        reset: sum.reset + e.counts.reset,
        all: sum.all + e.counts.all,
    });
    let took = taken.requests.len() as u64;
    let all_accounted = total.all >= took && total.all <= took + taken.uncertain;
    if !all_accounted || (total.ok, total.reset) != (taken.replies.ok, taken.replies.reset) {
        found.add(
            LOG_ACCOUNTS,
            exit,
            format!(
                "the server took {took} requests{} and sent {} OK and {} RESET, but its log accounts for {} requests, {} OK and {} RESET (lines of their own and counts in summary lines)",
                if taken.uncertain > 0 { format!(" (and maybe {} more at its start or exit)", taken.uncertain) } else { String::new() },
                taken.replies.ok, taken.replies.reset, total.all, total.ok, total.reset
            ),
            &[exit_line],
        );
        return;
    }
    let tolerance = scenario.network.tick.0 + judge.tolerance.late;
    // A summary sums up the second that began at its `since`: printed when that second is over, or
    // at the exit if that comes first.
    for entry in &entries {
        let Some(since) = entry.since else { continue };
        let began = (since.0 - run.epoch).to_std().ok();
        let early = |b: Duration| entry.at + tolerance < b + SECOND && entry.at != exit;
        if began.is_none_or(|b| b > entry.at || entry.at > b + SECOND + tolerance || early(b)) {
            found.add(
                LOG_ACCOUNTS,
                entry.at,
                format!(
                    "the server prints at {} a summary of the second since {since}: it is printed when that second is over (or at the exit)",
                    secs(entry.at)
                ),
                &[entry.event],
            );
        }
    }
    // Each request without a line of its own is counted within a second: by then the counts printed
    // cover at least those taken by it without a line (a bound that never blames a prompt log).
    for (i, (at, event)) in taken.requests.iter().enumerate() {
        let own = entries.iter().filter(|e| e.own && e.at <= *at).count();
        let unlogged = (i + 1).saturating_sub(own) as u64;
        let by = (*at + SECOND + tolerance).min(exit);
        let counted: u64 = entries
            .iter()
            .filter(|e| !e.own && e.at <= by)
            .map(|e| e.counts.all)
            .sum();
        if counted < unlogged {
            found.add(
                LOG_ACCOUNTS,
                by,
                format!(
                    "by {} the server's summary lines count {counted} requests, but {unlogged} it took by {} have no line of their own: each is counted within a second",
                    secs(by),
                    secs(*at)
                ),
                &[event],
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use connid::Transport;

    use crate::events::{Event, EventKind};
    use crate::oracle::test_support::*;
    use crate::oracle::*;

    /// The server's lines that contain `what`, by position.
    fn lines_with(ev: &[Event], what: &str) -> Vec<usize> {
        (0..ev.len())
            .filter(|&i| {
                ev[i].host == SERVER && matches!(&ev[i].kind, EventKind::Out(l) if l.contains(what))
            })
            .collect()
    }

    fn edit_line(e: &mut Event, edit: impl FnOnce(&str) -> String) {
        if let EventKind::Out(line) = &mut e.kind {
            *line = edit(line);
        }
    }

    #[test]
    fn a_summary_lost_at_the_exit_or_miscounted_breaks_the_rule() {
        let s = load("32-log-summaries.toml");
        for t in Transport::ALL {
            // The exit's summary is not printed: the last request is counted nowhere.
            let got = broken(&s, t, |ev| {
                let last = *lines_with(ev, "requests not logged").last().unwrap();
                ev.remove(last);
            });
            assert_eq!(got, [LOG_ACCOUNTS], "lost over {t}");
            // An OK counted as a RESET: the total holds, the outcomes do not.
            let got = broken(&s, t, |ev| {
                let first = lines_with(ev, "requests not logged")[0];
                edit_line(&mut ev[first], |l| {
                    l.replace("(2 OK, 1 RESET", "(1 OK, 2 RESET")
                });
            });
            assert_eq!(got, [LOG_ACCOUNTS], "miscounted over {t}");
            // One request too many counted.
            let got = broken(&s, t, |ev| {
                let first = lines_with(ev, "requests not logged")[0];
                edit_line(&mut ev[first], |l| {
                    l.replace("4 requests", "5 requests")
                        .replace("1 dropped", "2 dropped")
                });
            });
            assert_eq!(got, [LOG_ACCOUNTS], "overcounted over {t}");
            // A summary of a second that began more than a second before it.
            let got = broken(&s, t, |ev| {
                let first = lines_with(ev, "requests not logged")[0];
                edit_line(&mut ev[first], |l| {
                    l.replace(
                        "since 2023-01-16 06:06:00.000000",
                        "since 2023-01-16 06:05:59.900000",
                    )
                });
            });
            assert_eq!(got, [LOG_ACCOUNTS], "a long second over {t}");
        }
    }

    #[test]
    fn a_refusal_counted_late_or_never_breaks_the_rule() {
        let s = load("33-table-full-reports.toml");
        for t in Transport::ALL {
            // A summary printed before its second is over, when a report of refusals falls due.
            let got = broken(&s, t, |ev| {
                let summary = lines_with(ev, "requests not logged")[1];
                let report = lines_with(ev, "table full")[1];
                let at = ev[report].at;
                ev[summary].at = at;
                let stamp = |e: &Event| match &e.kind {
                    EventKind::Out(l) => l[..26].to_string(),
                    _ => String::new(),
                };
                let (old, new) = (stamp(&ev[summary]), stamp(&ev[report]));
                edit_line(&mut ev[summary], |l| l.replacen(&old, &new, 1));
            });
            assert_eq!(got, [LOG_ACCOUNTS], "early over {t}");
            // The report due a second after the first comes only at the exit, with both counts.
            let got = broken(&s, t, |ev| {
                let reports = lines_with(ev, "table full");
                assert_eq!(reports.len(), 3, "{t}");
                edit_line(&mut ev[reports[2]], |l| {
                    l.replace(": 1 new IDs", ": 2 new IDs")
                });
                ev.remove(reports[1]);
            });
            assert_eq!(got, [LOG_ACCOUNTS], "late over {t}");
            // The report at the exit is not printed.
            let got = broken(&s, t, |ev| {
                let reports = lines_with(ev, "table full");
                ev.remove(reports[2]);
            });
            assert_eq!(got, [LOG_ACCOUNTS], "never over {t}");
        }
    }

    #[test]
    fn a_request_line_missing_breaks_the_rule_and_a_quiet_server_is_not_judged() {
        let mut s = load("33-table-full-reports.toml");
        s.server.log = connid::server::LogLevel::Auto;
        for t in Transport::ALL {
            let edit = |ev: &mut Vec<Event>| {
                let reset = lines_with(ev, "-> RESET 1")[0];
                ev.remove(reset);
            };
            assert_eq!(broken(&s, t, edit), [LOG_ACCOUNTS], "{t}");
        }
        s.server.log = connid::server::LogLevel::Quiet;
        let mut r = run(&s, Transport::Udp);
        assert_eq!(lines_with(&r.events, " -> ").len(), 0, "quiet");
        let reports = lines_with(&r.events, "table full");
        assert_eq!(
            reports.len(),
            3,
            "a quiet server still reports a full table"
        );
        r.events.remove(reports[2]);
        assert_eq!(rules(&s, &r), Vec::<&str>::new());
    }
}
