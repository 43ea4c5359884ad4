//! The client's contract: at most `tries` tries, each on a new socket and for the ID given, one
//! Connection Error per failed try, prompts only while a try remains, exactly one ending in time, and
//! an established line only for an OK that reached the current try's socket.

use std::net::SocketAddr;
use std::time::Duration;

use connid::lines::ClientLine;
use connid::protocol::{self, ConnId, Message};
use connid::Transport;

use super::server_view::Reply;
use super::{
    Findings, Judge, Programs, CURRENT_TRY, ERROR_PER_TRY, ERROR_WHEN_DUE, IN_TIME, NEW_SOCKET,
    ONE_ENDING, PROMPT, REPLY_SOURCE, TRIES, TYPED_ID,
};
use crate::events::{secs, Event, EventKind, Run};
use crate::scenario::{ClientSpec, Scenario};

/// One try of a client, as seen from outside.
struct Try<'a> {
    first: &'a Event,
    id: Option<String>,
    local: Option<SocketAddr>,
    /// Where the try sent its request (or connected): the only address its reply may come from.
    asked: Option<SocketAddr>,
}

impl Try<'_> {
    /// Whether `r` reached this try's socket from anyone while the try ran (until `end`), and is for
    /// its ID.
    fn reached(&self, r: &Reply<'_>, end: Duration) -> bool {
        let arrived = matches!(
            r.event.kind,
            EventKind::Send { delivered: Some(at), .. } if at >= self.first.at && at <= end
        );
        arrived && Some(r.to) == self.local && self.id.as_deref() == Some(r.message.id().as_str())
    }
}

fn hello_id(payload: &[u8]) -> Option<String> {
    protocol::parse_request(payload)
        .ok()
        .map(|id| id.to_string())
}

/// Rules 3 and 4 for one client.
pub(super) fn check(
    scenario: &Scenario,
    judge: &Judge,
    spec: &ClientSpec,
    run: &Run,
    replies: &[Reply<'_>],
    found: &mut Findings,
) {
    let name = spec.name.as_str();
    let events: Vec<&Event> = run.events.iter().filter(|e| e.host == name).collect();
    let mut tries: Vec<Try<'_>> = Vec::new();
    let mut errors = 0usize;
    let mut prompts = 0u32;
    let mut input_ended = false;
    let mut endings: Vec<(&Event, bool)> = Vec::new();
    let mut started: Option<Duration> = None;
    let mut exit: Option<(&Event, u8)> = None;
    let mut traceback: Option<&Event> = None;
    let mut next_id = spec.id.clone();

    for &e in &events {
        let new_try = match (&e.kind, run.transport) {
            (EventKind::Send { payload, .. }, Transport::Udp) => hello_id(payload).is_some(),
            (EventKind::Connect { .. }, Transport::Tcp) => true,
            _ => false,
        };
        if new_try {
            let n = tries.len() + 1;
            if n > spec.tries as usize {
                found.add(
                    TRIES,
                    e.at,
                    format!("{name} starts try {n} of at most {}", spec.tries),
                    &[e],
                );
            }
            if input_ended {
                found.add(
                    PROMPT,
                    e.at,
                    format!("{name} tries again after input ended"),
                    &[e],
                );
            }
            if errors != tries.len() {
                found.add(
                    ERROR_PER_TRY,
                    e.at,
                    format!(
                        "{name} starts try {n} without a Connection Error for try {}",
                        n - 1
                    ),
                    &[e],
                );
            }
            tries.push(Try {
                first: e,
                id: Some(next_id.clone()),
                local: None,
                asked: None,
            });
        }
        match &e.kind {
            EventKind::Start(_) => started = Some(e.at),
            EventKind::Send {
                payload, from, to, ..
            } => {
                let n = tries.len();
                if let (Some(t), Some(id)) = (tries.last_mut(), hello_id(payload)) {
                    if t.id.as_deref() != Some(id.as_str()) {
                        found.add(
                            TYPED_ID,
                            e.at,
                            format!("{name} asks for {id} on try {n} instead of {:?}", t.id),
                            &[e],
                        );
                    }
                    t.local.get_or_insert(*from);
                    t.asked.get_or_insert(*to);
                }
            }
            EventKind::Connect { to } => {
                if let Some(t) = tries.last_mut() {
                    t.asked = Some(*to);
                }
            }
            EventKind::Connected { from, .. } => {
                if let Some(t) = tries.last_mut() {
                    t.local = Some(*from);
                }
            }
            EventKind::Out(line) => match line.parse::<ClientLine>() {
                Ok(ClientLine::Error { id, .. }) => {
                    errors += 1;
                    if let Some(t) = tries.last() {
                        check_error_due(scenario, judge, spec, run, replies, t, e, found);
                    }
                    let current = tries.last().and_then(|t| t.id.as_deref());
                    if errors != tries.len() || current != Some(id.as_str()) {
                        found.add(
                            ERROR_PER_TRY,
                            e.at,
                            format!(
                                "{name} prints Connection Error {id} as error {errors} after {} tries (current ID {current:?})",
                                tries.len()
                            ),
                            &[e],
                        );
                    }
                }
                Ok(ClientLine::Established { id, addr, .. }) => {
                    endings.push((e, true));
                    let printed = Message::Ok(id, addr);
                    check_established(name, &printed, e, &tries, replies, found);
                    if errors + 1 != tries.len() {
                        found.add(
                            ERROR_PER_TRY,
                            e.at,
                            format!(
                                "{name} is established on try {} after {errors} errors",
                                tries.len()
                            ),
                            &[e],
                        );
                    }
                }
                Ok(ClientLine::Failure { .. }) => {
                    endings.push((e, false));
                    let used_up = tries.len() == spec.tries as usize || input_ended;
                    if errors != tries.len() || !used_up {
                        found.add(
                            ERROR_PER_TRY,
                            e.at,
                            format!(
                                "{name} fails after {} of {} tries with {errors} errors (input ended: {input_ended})",
                                tries.len(),
                                spec.tries
                            ),
                            &[e],
                        );
                    }
                }
                // Invalid-ID lines need no check here; a line outside the vocabulary is `LINES`'s.
                Ok(ClientLine::InvalidId { .. }) | Err(_) => {}
            },
            EventKind::Prompt { typed, .. } => {
                prompts += 1;
                let allowed = errors == tries.len()
                    && !tries.is_empty()
                    && tries.len() < spec.tries as usize
                    && !input_ended
                    && endings.is_empty();
                if !allowed {
                    found.add(
                        PROMPT,
                        e.at,
                        format!(
                            "{name} prompts after {} of {} tries, {errors} errors (input ended: {input_ended})",
                            tries.len(),
                            spec.tries
                        ),
                        &[e],
                    );
                }
                match typed.as_deref().map(str::trim) {
                    None => input_ended = true,
                    Some(line) if ConnId::new(line).is_ok() => next_id = line.to_string(),
                    Some(_) => {}
                }
            }
            // Typed unasked: the client reads it with its next input, prompt or not.
            EventKind::Keyboard(typed) => match typed.as_deref().map(str::trim) {
                None => input_ended = true,
                Some(line) if ConnId::new(line).is_ok() => next_id = line.to_string(),
                Some(_) => {}
            },
            EventKind::Exit(code) => exit = Some((e, *code)),
            EventKind::Err(line) if line.starts_with("Traceback") => {
                traceback = traceback.or(Some(e));
            }
            _ => {}
        }
    }
    if let (Some(e), Programs::Foreign) = (traceback, judge.programs) {
        found.add(
            ONE_ENDING,
            e.at,
            format!("{name} does not end gracefully: it prints a traceback"),
            &[e],
        );
    }

    check_new_sockets(name, &tries, found);
    let story = Story {
        tries: &tries,
        prompts,
        endings: &endings,
        started,
        exit,
    };
    check_ending(scenario, judge, spec, run, &story, found);
}

/// Rule 3: the Connection Error `e` of try `t` comes when the try is over: at once on a RESET for its
/// ID, a refused connection or one the server closed, and otherwise at the timeout (within the
/// tolerance, and a tick late at most).
#[allow(clippy::too_many_arguments)]
fn check_error_due(
    scenario: &Scenario,
    judge: &Judge,
    spec: &ClientSpec,
    run: &Run,
    replies: &[Reply<'_>],
    t: &Try<'_>,
    e: &Event,
    found: &mut Findings,
) {
    let name = spec.name.as_str();
    let during = |at: Duration| at >= t.first.at && at <= e.at;
    let resets = || {
        replies
            .iter()
            .filter(|r| matches!(r.message, Message::Reset(_)) && t.reached(r, e.at))
    };
    let reset = resets().any(|r| Some(r.from) == t.asked);
    let ended_by_network = run.events.iter().any(|x| {
        during(x.at)
            && match &x.kind {
                EventKind::ConnectFailed { .. } => x.host == name,
                EventKind::Close { peer, .. } => x.host != name && Some(*peer) == t.local,
                EventKind::Crash => x.host != name,
                _ => false,
            }
    });
    let due = t.first.at + spec.timeout.0;
    let tolerance = judge.tolerance;
    let waited = (e.at - t.first.at).as_secs_f64();
    let early = !reset && !ended_by_network && e.at + tolerance.early < due;
    // Ended early on a RESET that is not from the address asked: a forged one was taken.
    let forged = if early { resets().next() } else { None };
    if let Some(forged) = forged {
        found.add(
            REPLY_SOURCE,
            e.at,
            format!(
                "{name} gives up on try {} after {waited} s on {} from {}, not from {} where it sent its request",
                t.id.as_deref().unwrap_or("?"),
                forged.message,
                forged.from,
                t.asked.map_or_else(|| "?".to_string(), |a| a.to_string())
            ),
            &[t.first, forged.event, e],
        );
    } else if early {
        found.add(
            ERROR_WHEN_DUE,
            e.at,
            format!(
                "{name} gives up on try {} after {waited} s, before its timeout of {} s, with no RESET for its ID and no refused or closed connection",
                t.id.as_deref().unwrap_or("?"),
                spec.timeout.0.as_secs_f64()
            ),
            &[t.first, e],
        );
    }
    if e.at > due + scenario.network.tick.0 + tolerance.late {
        found.add(
            ERROR_WHEN_DUE,
            e.at,
            format!(
                "{name} gives up on try {} after {waited} s, later than its timeout of {} s",
                t.id.as_deref().unwrap_or("?"),
                spec.timeout.0.as_secs_f64()
            ),
            &[t.first, e],
        );
    }
}

/// What the walk over one client's events found, for the checks that need all of it.
struct Story<'s, 'a> {
    tries: &'s [Try<'a>],
    prompts: u32,
    /// Each established (true) or failure (false) line.
    endings: &'s [(&'a Event, bool)],
    started: Option<Duration>,
    exit: Option<(&'a Event, u8)>,
}

/// Rule 3: each try on a new socket.
fn check_new_sockets(name: &str, tries: &[Try<'_>], found: &mut Findings) {
    for (i, t) in tries.iter().enumerate() {
        if let Some(earlier) = tries[..i]
            .iter()
            .find(|p| p.local.is_some() && p.local == t.local)
        {
            found.add(
                NEW_SOCKET,
                t.first.at,
                format!(
                    "{name}'s try {} reuses the socket {} of try {}",
                    i + 1,
                    t.local.map_or_else(String::new, |a| a.to_string()),
                    tries
                        .iter()
                        .position(|p| std::ptr::eq(p, earlier))
                        .map_or(0, |k| k + 1)
                ),
                &[earlier.first, t.first],
            );
        }
    }
}

/// Rule 3: exactly one ending, with its exit code, in time.
fn check_ending(
    scenario: &Scenario,
    judge: &Judge,
    spec: &ClientSpec,
    run: &Run,
    story: &Story<'_, '_>,
    found: &mut Findings,
) {
    let name = spec.name.as_str();
    let Story {
        tries,
        prompts,
        endings,
        started,
        exit,
    } = *story;
    let start = started.unwrap_or(spec.start.0);
    let tries_made = u32::try_from(tries.len()).unwrap_or(u32::MAX);
    let deadline = start
        + spec.timeout.0 * tries_made
        + spec.typing.0 * prompts
        + scenario.network.tick.0
        + judge.tolerance.late;
    if endings.is_empty() && run.hit_limit && run.simulated <= deadline {
        return; // cut off by the scenario's limit before it was due
    }
    match (endings, exit) {
        ([(end, ok)], Some((exit_event, code))) => {
            // Any program may end a failure "gracefully" with 0; connid's says so with 1.
            let expected_ok = match (ok, judge.programs) {
                (true, _) => code == 0,
                (false, Programs::Connid) => code == 1,
                (false, Programs::Foreign) => code <= 1,
            };
            if !expected_ok {
                found.add(
                    ONE_ENDING,
                    exit_event.at,
                    format!(
                        "{name} exits {code} after printing that it {}",
                        if *ok { "is established" } else { "failed" }
                    ),
                    &[end, exit_event],
                );
            }
            if end.at > deadline {
                found.add(
                    IN_TIME,
                    end.at,
                    format!(
                        "{name} ends at {}, after its deadline {} ({} tries of {} s, {prompts} prompts of {} s, from {})",
                        secs(end.at),
                        secs(deadline),
                        tries.len(),
                        spec.timeout.0.as_secs_f64(),
                        spec.typing.0.as_secs_f64(),
                        secs(start)
                    ),
                    &[end],
                );
            }
        }
        _ => {
            let shown: Vec<&Event> = endings
                .iter()
                .map(|(e, _)| *e)
                .chain(exit.map(|(e, _)| e))
                .collect();
            found.add(
                ONE_ENDING,
                shown.first().map_or(run.simulated, |e| e.at),
                format!(
                    "{name} ends with {} Connection established/Failure lines and {} exit",
                    endings.len(),
                    if exit.is_some() { "an" } else { "no" }
                ),
                &shown,
            );
        }
    }
}

/// Rule 4: the printed `<id> <ip> <port>` came in an OK for that ID, on the current try's socket.
fn check_established(
    name: &str,
    printed: &Message,
    e: &Event,
    tries: &[Try<'_>],
    replies: &[Reply<'_>],
    found: &mut Findings,
) {
    let current = tries.last();
    let reached =
        |r: &&Reply<'_>| r.message == *printed && current.is_some_and(|t| t.reached(r, e.at));
    let taken = replies
        .iter()
        .filter(reached)
        .find(|r| current.is_some_and(|t| Some(r.from) == t.asked));
    let forged = replies.iter().find(reached);
    if let (None, Some(forged)) = (taken, forged) {
        found.add(
            REPLY_SOURCE,
            e.at,
            format!(
                "{name} prints established ({printed}) for an OK from {}, not from {} where try {} sent its request",
                forged.from,
                current
                    .and_then(|t| t.asked)
                    .map_or_else(|| "?".to_string(), |a| a.to_string()),
                tries.len()
            ),
            &[forged.event, e],
        );
        return;
    }
    if taken.is_none() {
        found.add(
            CURRENT_TRY,
            e.at,
            format!(
                "{name} prints established ({printed}) but no such OK reached the socket of its try {} ({})",
                tries.len(),
                current
                    .and_then(|t| t.local)
                    .map_or_else(|| "no socket".to_string(), |a| a.to_string())
            ),
            &[e],
        );
    }
}
