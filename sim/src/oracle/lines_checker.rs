//! Every line the server and the clients print is a line of the vocabulary ([`connid::lines`]).

use connid::lines::{ClientLine, ClientNote, ServerLine, ServerNote};

use super::{Findings, Judge, Programs, LINES};
use crate::events::{EventKind, Run};
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
