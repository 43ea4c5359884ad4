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
