//! Every line the server and the clients print is a line of the vocabulary ([`connid::lines`]), and
//! the server reports every socket error it meets.

use connid::lines::{ClientLine, ClientNote, ServerLine, ServerNote};

use super::{Findings, Judge, Programs, LINES, SOCKET_ERRORS};
use crate::events::{secs, Event, EventKind, Run, SocketOp};
use crate::scenario::{Scenario, SERVER};

/// Rule 6: every line connid's server and clients print parses as a line of the vocabulary (other
/// programs may print what they like besides the lines the assignment fixes).
pub(super) fn check(scenario: &Scenario, judge: &Judge, run: &Run, found: &mut Findings) {
    let is_client = |host: &str| scenario.clients.iter().any(|c| c.name == host);
    for e in &run.events {
        let problem = match (&e.kind, e.host.as_str()) {
            _ if judge.programs == Programs::Foreign => None,
            (EventKind::Out(line), SERVER) => line.parse::<ServerLine>().err(),
            (EventKind::Err(line), SERVER) => line.parse::<ServerNote>().err(),
            (EventKind::Out(line), host) if is_client(host) => line.parse::<ClientLine>().err(),
            (EventKind::Err(line), host) if is_client(host) => line.parse::<ClientNote>().err(),
            _ => None,
        };
        if let Some(problem) = problem {
            found.add(
                LINES,
                e.at,
                format!("{} prints a line outside the vocabulary: {problem}", e.host),
                &[e],
            );
        }
    }
}

/// Every socket error the network gave the server is reported at once, each by its own line: a
/// failed receive or accept on standard error, a reply that could not be sent on standard output.
pub(super) fn check_socket_errors(judge: &Judge, run: &Run, found: &mut Findings) {
    let mut used = vec![false; run.events.len()];
    for e in run.events.iter().filter(|e| e.host == SERVER) {
        let reports = |line: &Event| match (&e.kind, &line.kind) {
            (EventKind::SocketError { op, why }, EventKind::Err(text)) => {
                match (op, text.parse::<ServerNote>()) {
                    (SocketOp::Receive, Ok(ServerNote::ReceiveError { why: w, .. }))
                    | (SocketOp::Accept, Ok(ServerNote::AcceptError { why: w, .. })) => w == *why,
                    _ => false,
                }
            }
            (EventKind::SendFailed { to, why, .. }, EventKind::Out(text)) => matches!(
                text.parse::<ServerLine>(),
                Ok(ServerLine::ReplyNotSent { peer, why: w, .. }) if peer == *to && w == *why
            ),
            _ => false,
        };
        let (what, op) = match &e.kind {
            EventKind::SocketError { op, .. } => ("a failed", op.to_string()),
            EventKind::SendFailed { to, .. } => ("a failed reply to", to.to_string()),
            _ => continue,
        };
        let report = run.events.iter().enumerate().position(|(i, line)| {
            !used[i]
                && line.host == SERVER
                && line.at >= e.at
                && line.at <= e.at + judge.tolerance.late
                && reports(line)
        });
        match report {
            Some(i) => used[i] = true,
            None => found.add(
                SOCKET_ERRORS,
                e.at,
                format!(
                    "the server met {what} {op} at {} and did not report it",
                    secs(e.at)
                ),
                &[e],
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use connid::Transport;

    use crate::events::EventKind;
    use crate::oracle::test_support::*;
    use crate::oracle::*;

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
}
