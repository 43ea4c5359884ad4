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
    /// The kernel's socket at `local` when the try sent from it, where it was seen (`conform`, UDP).
    inode: Option<u64>,
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

/// When a reply reached its destination (never, as far as a try can tell, if it did not).
fn delivered_at(r: &Reply<'_>) -> Duration {
    match r.event.kind {
        EventKind::Send {
            delivered: Some(at),
            ..
        } => at,
        _ => Duration::MAX,
    }
}

/// The ID a request asks for: in the `HELLO <id>` form, or in a wrong one that still starts with
/// `HELLO` (`HELLO <id> <host> <port>`, a bare `HELLO`: the ID is its second word, if any). A
/// request in a wrong form is still the client's try, so its timing and retries are judged; its
/// form is the server's to judge.
fn hello_id(payload: &[u8]) -> Option<String> {
    if let Ok(id) = protocol::parse_request(payload) {
        return Some(id.to_string());
    }
    let text = String::from_utf8_lossy(payload);
    let mut words = text.split_whitespace();
    (words.next() == Some("HELLO")).then(|| words.next().unwrap_or_default().to_string())
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
    let mut walk = Walk {
        ctx: Ctx {
            scenario,
            judge,
            spec,
            run,
            replies,
        },
        tries: Vec::new(),
        errors: 0,
        prompts: 0,
        input_ended: false,
        endings: Vec::new(),
        started: None,
        exit: None,
        inodes: Default::default(),
        traceback: None,
        next_id: spec.id.clone(),
    };
    for e in run.events.iter().filter(|e| e.host == spec.name) {
        walk.step(e, found);
    }
    let name = spec.name.as_str();
    if let (Some(e), Programs::Foreign) = (walk.traceback, judge.programs) {
        found.add(
            ONE_ENDING,
            e.at,
            format!("{name} does not end gracefully: it prints a traceback"),
            &[e],
        );
    }
    check_new_sockets(name, &walk.tries, found);
    let story = Story {
        tries: &walk.tries,
        prompts: walk.prompts,
        endings: &walk.endings,
        started: walk.started,
        exit: walk.exit,
    };
    check_ending(scenario, judge, spec, run, &story, found);
}

/// What one client's check reads: the scenario, how it is judged, the client, the run and the replies.
struct Ctx<'c, 'a> {
    scenario: &'c Scenario,
    judge: &'c Judge,
    spec: &'c ClientSpec,
    run: &'a Run,
    replies: &'c [Reply<'a>],
}

/// One client's events walked in order: what they have shown so far.
struct Walk<'c, 'a> {
    ctx: Ctx<'c, 'a>,
    tries: Vec<Try<'a>>,
    errors: usize,
    prompts: u32,
    input_ended: bool,
    /// Each established (true) or failure (false) line.
    endings: Vec<(&'a Event, bool)>,
    started: Option<Duration>,
    exit: Option<(&'a Event, u8)>,
    traceback: Option<&'a Event>,
    /// The ID the next try must ask for: the first, then the last valid one typed.
    next_id: String,
    /// The socket last seen at each of the client's addresses (`conform`'s `SocketInode` events).
    inodes: std::collections::HashMap<SocketAddr, u64>,
}

impl<'a> Walk<'_, 'a> {
    fn name(&self) -> &str {
        self.ctx.spec.name.as_str()
    }

    /// Takes in one event of the client's.
    fn step(&mut self, e: &'a Event, found: &mut Findings) {
        let new_try = match (&e.kind, self.ctx.run.transport) {
            (EventKind::Send { payload, .. }, Transport::Udp) => hello_id(payload).is_some(),
            (EventKind::Connect { .. }, Transport::Tcp) => true,
            _ => false,
        };
        if new_try {
            self.new_try(e, found);
        }
        match &e.kind {
            EventKind::Start(_) => self.started = Some(e.at),
            EventKind::Send {
                payload, from, to, ..
            } => self.sent(e, payload, *from, *to, found),
            EventKind::Connect { to } => {
                if let Some(t) = self.tries.last_mut() {
                    t.asked = Some(*to);
                }
            }
            EventKind::SocketInode { local, inode } => {
                self.inodes.insert(*local, *inode);
            }
            EventKind::Connected { from, .. } => {
                if let Some(t) = self.tries.last_mut() {
                    t.local = Some(*from);
                }
            }
            EventKind::Out(line) => match line.parse::<ClientLine>() {
                Ok(ClientLine::Error { id, .. }) => self.error_line(e, &id, found),
                Ok(ClientLine::Established { id, addr, .. }) => {
                    self.established_line(e, Message::Ok(id, addr), found)
                }
                Ok(ClientLine::Failure { .. }) => self.failure_line(e, found),
                // Invalid-ID lines need no check here; a line outside the vocabulary is `LINES`'s.
                Ok(ClientLine::InvalidId { .. }) | Err(_) => {}
            },
            EventKind::Prompt { typed, .. } => {
                self.prompt(e, found);
                self.typed(typed.as_deref());
            }
            // Typed unasked: the client reads it with its next input, prompt or not.
            EventKind::Keyboard(typed) => self.typed(typed.as_deref()),
            EventKind::Exit(code) => self.exit = Some((e, *code)),
            EventKind::Err(line) if line.starts_with("Traceback") => {
                self.traceback = self.traceback.or(Some(e));
            }
            _ => {}
        }
    }

    /// A request (UDP) or a connection (TCP) that starts a try: within the tries allowed, with input
    /// still open, and after a Connection Error for the try before.
    fn new_try(&mut self, e: &'a Event, found: &mut Findings) {
        let name = self.name().to_string();
        let n = self.tries.len() + 1;
        let allowed = self.ctx.spec.tries;
        if n > allowed as usize {
            found.add(
                TRIES,
                e.at,
                format!("{name} starts try {n} of at most {allowed}"),
                &[e],
            );
        }
        if self.input_ended {
            found.add(
                PROMPT,
                e.at,
                format!("{name} tries again after input ended"),
                &[e],
            );
        }
        if self.errors != self.tries.len() {
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
        self.tries.push(Try {
            first: e,
            id: Some(self.next_id.clone()),
            local: None,
            inode: None,
            asked: None,
        });
    }

    /// A datagram or bytes sent: a request names the try's ID, and gives its socket and address.
    fn sent(
        &mut self,
        e: &'a Event,
        payload: &[u8],
        from: SocketAddr,
        to: SocketAddr,
        found: &mut Findings,
    ) {
        let name = self.name().to_string();
        let n = self.tries.len();
        if let (Some(t), Some(id)) = (self.tries.last_mut(), hello_id(payload)) {
            if t.id.as_deref() != Some(id.as_str()) {
                found.add(
                    TYPED_ID,
                    e.at,
                    format!(
                        "{name} asks for {id} on try {n} instead of {}",
                        t.id.as_deref().unwrap_or("?")
                    ),
                    &[e],
                );
            }
            if t.local.is_none() {
                t.local = Some(from);
                t.inode = self.inodes.get(&from).copied();
            }
            t.asked.get_or_insert(to);
        }
    }

    /// A Connection Error line: one per try, for the current ID, when the try is over.
    fn error_line(&mut self, e: &'a Event, id: &ConnId, found: &mut Findings) {
        self.errors += 1;
        let c = &self.ctx;
        if let Some(t) = self.tries.last() {
            check_error_due(c.scenario, c.judge, c.spec, c.run, c.replies, t, e, found);
        }
        let current = self.tries.last().and_then(|t| t.id.as_deref());
        if self.errors != self.tries.len() || current != Some(id.as_str()) {
            found.add(
                ERROR_PER_TRY,
                e.at,
                format!(
                    "{} prints Connection Error {id} as error {} after {} tries (current ID {})",
                    self.name(),
                    self.errors,
                    self.tries.len(),
                    current.unwrap_or("none: no try yet")
                ),
                &[e],
            );
        }
    }

    /// An established line: for an OK that reached the current try, after an error for each try before.
    fn established_line(&mut self, e: &'a Event, printed: Message, found: &mut Findings) {
        self.endings.push((e, true));
        check_established(
            self.name(),
            &printed,
            e,
            &self.tries,
            self.ctx.replies,
            found,
        );
        if self.errors + 1 != self.tries.len() {
            found.add(
                ERROR_PER_TRY,
                e.at,
                format!(
                    "{} is established on try {} after {} errors",
                    self.name(),
                    self.tries.len(),
                    self.errors
                ),
                &[e],
            );
        }
    }

    /// A Connection Failure line: after an error for every try, the tries used up or input ended.
    fn failure_line(&mut self, e: &'a Event, found: &mut Findings) {
        self.endings.push((e, false));
        let allowed = self.ctx.spec.tries;
        let used_up = self.tries.len() == allowed as usize || self.input_ended;
        if self.errors != self.tries.len() || !used_up {
            found.add(
                ERROR_PER_TRY,
                e.at,
                format!(
                    "{} fails after {} of {allowed} tries with {} errors (input ended: {})",
                    self.name(),
                    self.tries.len(),
                    self.errors,
                    self.input_ended
                ),
                &[e],
            );
        }
    }

    /// A prompt: only after an error, while a try remains, input is open and nothing has ended.
    fn prompt(&mut self, e: &'a Event, found: &mut Findings) {
        self.prompts += 1;
        let allowed = self.errors == self.tries.len()
            && !self.tries.is_empty()
            && self.tries.len() < self.ctx.spec.tries as usize
            && !self.input_ended
            && self.endings.is_empty();
        if !allowed {
            found.add(
                PROMPT,
                e.at,
                format!(
                    "{} prompts after {} of {} tries, {} errors (input ended: {})",
                    self.name(),
                    self.tries.len(),
                    self.ctx.spec.tries,
                    self.errors,
                    self.input_ended
                ),
                &[e],
            );
        }
    }

    /// What was typed (`None`: end of input): a valid ID is the next try's.
    fn typed(&mut self, typed: Option<&str>) {
        match typed.map(str::trim) {
            None => self.input_ended = true,
            Some(line) if ConnId::new(line).is_ok() => self.next_id = line.to_string(),
            Some(_) => {}
        }
    }
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
    let tolerance = judge.tolerance;
    // The try's own first answer, an OK from the address asked that reached its socket in good time:
    // the try succeeded, and a Connection Error for it is one too many.
    let answered = replies
        .iter()
        .filter(|r| t.reached(r, e.at) && Some(r.from) == t.asked)
        .min_by_key(|r| delivered_at(r));
    if let Some(ok) = answered.filter(|r| matches!(r.message, Message::Ok(..))) {
        let at = delivered_at(ok);
        if at + scenario.network.tick.0 + tolerance.late < e.at {
            found.add(
                ERROR_PER_TRY,
                e.at,
                format!(
                    "{name} prints Connection Error for try {} though its answer, {}, reached its socket {} s before",
                    t.id.as_deref().unwrap_or("?"),
                    ok.message,
                    secs(e.at - at)
                ),
                &[t.first, ok.event, e],
            );
        }
    }
    let due = t.first.at + spec.timeout.0;
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

/// Rule 3: each try on a new socket: one at another address, or (where `conform` saw the kernel's
/// sockets) another socket at the same address.
fn check_new_sockets(name: &str, tries: &[Try<'_>], found: &mut Findings) {
    for (i, t) in tries.iter().enumerate() {
        let same = |p: &&Try<'_>| {
            let other_socket = matches!((p.inode, t.inode), (Some(a), Some(b)) if a != b);
            p.local.is_some() && p.local == t.local && !other_socket
        };
        if let Some(earlier) = tries[..i].iter().find(same) {
            let socket = t.local.map_or_else(String::new, |a| a.to_string());
            let socket = match t.inode {
                Some(inode) => format!("{socket} (the kernel's socket {inode})"),
                None => socket,
            };
            found.add(
                NEW_SOCKET,
                t.first.at,
                format!(
                    "{name}'s try {} reuses the socket {socket} of try {}",
                    i + 1,
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
    // A foreign program's clock starts at its first try: how long a real interpreter takes to start
    // (seconds, on a loaded machine) is not the protocol's to judge. connid's own starts at once.
    let first_try = tries.first().map(|t| t.first.at);
    let start = match (judge.programs, first_try) {
        (Programs::Foreign, Some(first)) => first,
        _ => started.unwrap_or(spec.start.0),
    };
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use connid::lines::ClientLine;
    use connid::lines::Timestamp;
    use connid::protocol;
    use connid::protocol::Message;
    use connid::Transport;

    use crate::clock::epoch;
    use crate::events::EventKind;
    use crate::oracle::test_support::*;
    use crate::oracle::*;

    #[test]
    fn a_request_in_a_wrong_form_that_starts_with_hello_is_still_a_try() {
        let id = |p: &[u8]| super::hello_id(p);
        assert_eq!(id(b"HELLO 7").as_deref(), Some("7"));
        assert_eq!(id(b"HELLO 7 127.0.0.1 5000").as_deref(), Some("7"));
        assert_eq!(id(b"HELLO").as_deref(), Some(""));
        assert_eq!(id(b"HELO 7"), None);
        assert_eq!(id(b"hello 7"), None);
        assert_eq!(id(b""), None);
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

    /// carol's second request (`HELLO b`) sent from her first socket's address, and before each of
    /// her first two requests a `SocketInode` event for its address saying which kernel socket it is.
    fn port_used_again(inodes: [u64; 2]) -> Vec<&'static str> {
        let s = load("03-three-resets.toml");
        broken(&s, Transport::Udp, |ev| {
            let is_request = |e: &Event, id: &str| e.host == "carol" && payload_of(e) == id;
            let i = position(ev, |e| is_request(e, "HELLO a"));
            let EventKind::Send { from: first, .. } = ev[i].kind else {
                unreachable!()
            };
            let mut seen = ev[i].clone();
            seen.kind = EventKind::SocketInode {
                local: first,
                inode: inodes[0],
            };
            ev.insert(i, seen);
            let j = position(ev, |e| is_request(e, "HELLO b"));
            if let EventKind::Send { from, .. } = &mut ev[j].kind {
                *from = first;
            }
            let mut seen = ev[j].clone();
            seen.kind = EventKind::SocketInode {
                local: first,
                inode: inodes[1],
            };
            ev.insert(j, seen);
        })
    }

    #[test]
    fn a_new_socket_on_an_old_port_is_a_new_socket_where_the_kernels_socket_is_seen() {
        let got = port_used_again([7, 8]);
        assert!(!got.contains(&NEW_SOCKET), "{got:?}");
        let got = port_used_again([7, 7]);
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
    fn a_foreign_clients_deadline_counts_from_its_first_try_and_connids_from_its_start() {
        // dave starts 3 s before his first try (a slow interpreter): everything else moves 3 s later,
        // the epoch 3 s earlier, so every printed timestamp still matches its moment.
        let s = load("04-unreachable-black-hole.toml");
        let mut r = run(&s, Transport::Udp);
        let shift = Duration::from_secs(3);
        for e in &mut r.events {
            e.at += shift;
            if let EventKind::Send {
                delivered: Some(at),
                ..
            } = &mut e.kind
            {
                *at += shift;
            }
        }
        r.epoch -= chrono::Duration::seconds(3);
        r.simulated += shift;
        let start = position(&r.events, |e| {
            e.host == "dave" && matches!(e.kind, EventKind::Start(_))
        });
        r.events[start].at = Duration::ZERO;
        r.events.sort_by_key(|e| e.at);
        let connid: Vec<&str> = check(&s, &r).into_iter().map(|v| v.rule).collect();
        assert!(connid.contains(&IN_TIME), "{connid:?}");
        let judge = foreign(Tolerance::default());
        let foreign = foreign_rules(&s, &r, &judge);
        assert!(!foreign.contains(&IN_TIME), "{foreign:?}");
    }

    #[test]
    fn a_try_for_another_id_than_typed_is_caught() {
        let s = load("02-reset-then-new-id.toml");
        let got = broken(&s, Transport::Udp, |ev| {
            let i = position(ev, |e| e.host == "bob" && payload_of(e) == "HELLO 1234");
            set_payload(&mut ev[i], "HELLO 9876");
        });
        assert!(got.contains(&TYPED_ID), "{got:?}");
        // Its finding says the two IDs as they are, not as Rust writes an Option.
        let mut r = run(&s, Transport::Udp);
        let i = position(&r.events, |e| {
            e.host == "bob" && payload_of(e) == "HELLO 1234"
        });
        set_payload(&mut r.events[i], "HELLO 9876");
        let found = check(&s, &r);
        let typed = found.iter().find(|v| v.rule == TYPED_ID).unwrap();
        assert_eq!(typed.message, "bob asks for 9876 on try 2 instead of 1234");
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
    fn transports_matter_for_tries() {
        // Over TCP a try begins with its connect; the oracle must count those, not sends.
        let s = load("17-unreachable-refused.toml");
        let r = run(&s, Transport::Tcp);
        assert!(check(&s, &r).is_empty());
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
    fn an_error_for_a_try_its_own_ok_reached_is_one_too_many() {
        // 02: bob's first try gets RESET 9876 and errs at once. Here the error comes `gap` later,
        // and (if `ok`) the RESET is an OK for 9876 to his socket, which he ignored.
        let bob_errs = |gap: Duration, ok: bool| {
            let to_ok = move |ev: &mut Vec<Event>| {
                if !ok {
                    return;
                }
                // The reply, moved with the error, is put back where it came.
                let i = position(ev, |e| payload_of(e) == "RESET 9876");
                let at = ev[i].at - gap;
                let EventKind::Send { to, delivered, .. } = &mut ev[i].kind else {
                    unreachable!("a reply is sent");
                };
                *delivered = delivered.map(|d| d - gap);
                let reply = format!("OK 9876 {} {}", to.ip(), to.port());
                ev[i].at = at;
                set_payload(&mut ev[i], &reply);
            };
            let name = "02-reset-then-new-id.toml";
            error_moved(name, Transport::Udp, "bob", 0, |at| at + gap, to_ok)
        };
        let (s, r) = bob_errs(Duration::from_secs(1), true);
        let got = check_with(&s, &r, &Judge::default());
        let ignored: Vec<_> = got.iter().filter(|v| v.rule == ERROR_PER_TRY).collect();
        assert_eq!(ignored.len(), 1, "{got:?}");
        assert!(
            ignored[0]
                .message
                .contains("bob prints Connection Error for try 9876 though its answer, OK 9876 ")
                && ignored[0]
                    .message
                    .ends_with("reached its socket 1.000000 s before"),
            "{}",
            ignored[0].message
        );
        // A tick is the margin a reply may take to be acted on on the simulator's exact clock: one
        // tick after the OK is not too late, two are.
        let tick = load("02-reset-then-new-id.toml").network.tick.0;
        for (gap, flagged) in [(tick, false), (tick * 2, true)] {
            let (s, r) = bob_errs(gap, true);
            assert_eq!(rules(&s, &r).contains(&ERROR_PER_TRY), flagged, "{gap:?}");
        }
        // A foreign program is allowed its lateness on top: 0.3 s after the OK is within 0.5 s.
        let late = foreign(Tolerance {
            late: Duration::from_millis(500),
            ..Tolerance::default()
        });
        for (gap, flagged) in [
            (Duration::from_millis(300), false),
            (Duration::from_millis(700), true),
        ] {
            let (s, r) = bob_errs(gap, true);
            let got = foreign_rules(&s, &r, &late);
            assert_eq!(got.contains(&ERROR_PER_TRY), flagged, "{gap:?}");
        }
        // The RESET itself, or an OK at the very moment of the error: no finding.
        for (gap, ok) in [(Duration::from_secs(1), false), (Duration::ZERO, true)] {
            let (s, r) = bob_errs(gap, ok);
            assert!(!rules(&s, &r).contains(&ERROR_PER_TRY), "{gap:?} {ok}");
        }
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
}
