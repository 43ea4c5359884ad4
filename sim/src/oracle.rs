//! The oracle: the protocol's rules, checked over the events of one run.
//!
//! It is a pure function of the scenario and the recorded events; it never looks inside the client or
//! the server, only at what they sent, received and printed. Each rule has a name that failures print.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use connid::clock::format_timestamp;
use connid::framing::{Frame, Framer};
use connid::lines::{ClientLine, ClientNote, ServerLine, ServerNote};
use connid::protocol::{self, ConnId, Message};
use connid::Transport;

use crate::clock::epoch;
use crate::events::{Event, EventKind};
use crate::runner::Run;
use crate::scenario::{ClientSpec, Scenario, SERVER};
use crate::transcript::secs;

/// Rule 1: the server never grants an ID it granted less than TTL ago (same incarnation).
pub const GRANT_ONCE: &str = "grant-once-per-ttl";
/// Rule 1: the server answers RESET only for an ID in use.
pub const RESET_IN_USE: &str = "reset-only-in-use";
/// Rule 2: every OK carries the exact source address of the request it answers.
pub const OK_SOURCE: &str = "ok-carries-request-source";
/// Rule 3: a client makes at most `tries` tries.
pub const TRIES: &str = "at-most-tries";
/// Rule 3: one Connection Error per failed try, for that try's ID, and none for a try that succeeded.
pub const ERROR_PER_TRY: &str = "one-error-per-failed-try";
/// Rule 3: a prompt only after a failed try, when a try remains and input has not ended.
pub const PROMPT: &str = "prompt-only-when-a-try-remains";
/// Rule 3: a client ends with exactly one of established (exit 0) or failure (exit 1).
pub const ONE_ENDING: &str = "exactly-one-ending";
/// Rule 3: a client ends by its start + tries x timeout + typing time + one tick.
pub const IN_TIME: &str = "ends-in-time";
/// Rule 3: try 1 asks for the command line's ID, each later try for the ID typed before it.
pub const TYPED_ID: &str = "try-asks-for-the-given-id";
/// Rule 3: each try uses a new socket.
pub const NEW_SOCKET: &str = "new-socket-per-try";
/// Rule 4: a client that prints established received that OK, for that ID, on its current try's socket.
pub const CURRENT_TRY: &str = "established-on-current-try";
/// Rule 5: the server exits idle-timeout after the last request, not earlier and not later.
pub const IDLE_EXIT: &str = "idle-exit-on-time";
/// Rule 5: while the server runs, every well-formed request that reaches it is answered.
pub const ANSWERED: &str = "requests-answered";
/// Rule 6: every printed timestamp is the virtual time of the event.
pub const TIMESTAMPS: &str = "timestamps-are-virtual-time";
/// Rule 6: every line the client and the server print is a line of the vocabulary ([`connid::lines`]).
pub const LINES: &str = "lines-in-the-vocabulary";
/// Rule 7: the same seed gives the same events (checked by the explorer, which reruns seeds).
pub const DETERMINISM: &str = "determinism";

/// One broken rule, with the events that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub at: Duration,
    pub message: String,
    pub events: Vec<Event>,
}

struct Findings(Vec<Violation>);

impl Findings {
    fn add(&mut self, rule: &'static str, at: Duration, message: String, events: &[&Event]) {
        self.0.push(Violation {
            rule,
            at,
            message,
            events: events.iter().map(|e| (*e).clone()).collect(),
        });
    }
}

/// Checks every rule over one run; an empty result means the run kept them all.
pub fn check(scenario: &Scenario, run: &Run) -> Vec<Violation> {
    let mut found = Findings(Vec::new());
    let server_ip = run
        .hosts
        .iter()
        .find(|(h, _)| h == SERVER)
        .map(|(_, ip)| *ip);
    if let Some(ip) = server_ip {
        let server = SocketAddr::new(ip, scenario.server.port);
        let replies = server_replies(run);
        check_server(scenario, run, server, &replies, &mut found);
        for client in &scenario.clients {
            check_client(scenario, client, run, &replies, &mut found);
        }
    }
    check_lines(scenario, run, &mut found);
    check_timestamps(run, &mut found);
    found.0.sort_by_key(|v| v.at);
    found.0
}

/// A message the server sent, decoded.
struct Reply<'a> {
    event: &'a Event,
    to: SocketAddr,
    message: Message,
}

fn server_replies(run: &Run) -> Vec<Reply<'_>> {
    run.events
        .iter()
        .filter(|e| e.host == SERVER)
        .filter_map(|event| match &event.kind {
            EventKind::Send { to, payload, .. } => {
                protocol::parse(payload).ok().map(|message| Reply {
                    event,
                    to: *to,
                    message,
                })
            }
            _ => None,
        })
        .collect()
}

/// A request the server read: who sent it, which ID it asks for, and when.
struct Request<'a> {
    from: SocketAddr,
    /// The ID asked for. Over TCP, two when a pause between two writes equals the settle time
    /// exactly, so either framing is right.
    ids: Vec<ConnId>,
    /// When its first byte reached the server.
    first: Duration,
    /// By when it was complete: when it arrived (UDP), when its newline arrived, or at the latest
    /// the settle time after its last byte (TCP: the sender's half-close may end it sooner).
    at: Duration,
    /// Whether the server had to answer it: not if its line timeout may have run out first.
    due: bool,
    /// The sends it came in.
    sends: Vec<&'a Event>,
}

/// One write on a TCP connection: the send, its bytes, and when they reached the server.
type Piece<'a> = (&'a Event, &'a [u8], Duration);

/// Every well-formed request that reached the server: each datagram over UDP, the first message of
/// each connection over TCP (framed as the server frames it, from the writes and when they arrived).
fn server_requests<'a>(scenario: &Scenario, run: &'a Run, server: SocketAddr) -> Vec<Request<'a>> {
    let delivered = run.events.iter().filter_map(|e| match &e.kind {
        EventKind::Send {
            to,
            from,
            payload,
            delivered: Some(at),
            ..
        } if *to == server => Some((e, *from, payload.as_slice(), *at)),
        _ => None,
    });
    if run.transport == Transport::Udp {
        return delivered
            .filter_map(|(e, from, payload, at)| {
                let id = protocol::parse_request(payload).ok()?;
                Some(Request {
                    from,
                    ids: vec![id],
                    first: at,
                    at,
                    due: true,
                    sends: vec![e],
                })
            })
            .collect();
    }
    // One connection per source address: turmoil never reuses an ephemeral port within a run.
    let mut connections: Vec<(SocketAddr, Vec<Piece<'_>>)> = Vec::new();
    for (e, from, payload, at) in delivered {
        match connections.iter_mut().find(|(f, _)| *f == from) {
            Some((_, pieces)) => pieces.push((e, payload, at)),
            None => connections.push((from, vec![(e, payload, at)])),
        }
    }
    let settle = scenario.server.settle.0;
    let line_timeout = scenario.server.line_timeout.0;
    connections
        .into_iter()
        .filter_map(|(from, pieces)| {
            let accepted = run
                .events
                .iter()
                .rev()
                .find(|e| {
                    e.host == SERVER
                        && e.at <= pieces[0].2
                        && matches!(e.kind, EventKind::Accepted { from: f, .. } if f == from)
                })
                .map_or(pieces[0].2, |e| e.at);
            let framings =
                [false, true].map(|tie_settles| first_message(&pieces, settle, tie_settles));
            let mut ids: Vec<ConnId> = Vec::new();
            let mut at = Duration::ZERO;
            let mut used = 0;
            for (message, complete, n) in framings.into_iter().flatten() {
                if let Ok(id) = protocol::parse_request(&message) {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                    at = at.max(complete);
                    used = used.max(n);
                }
            }
            (!ids.is_empty()).then(|| Request {
                from,
                ids,
                first: pieces[0].2,
                at,
                due: at < accepted + line_timeout,
                sends: pieces[..used].iter().map(|(e, ..)| *e).collect(),
            })
        })
        .collect()
}

/// The first message of a TCP connection, from its writes as they arrived: the message, by when it
/// was complete, and how many writes it took. A pause of exactly the settle time ends the message if
/// `tie_settles`.
fn first_message(
    pieces: &[Piece<'_>],
    settle: Duration,
    tie_settles: bool,
) -> Option<(Vec<u8>, Duration, usize)> {
    let mut framer = Framer::new();
    let mut last = Duration::ZERO;
    for (i, (_, bytes, at)) in pieces.iter().enumerate() {
        let gap = at.saturating_sub(last);
        if i > 0 && framer.can_settle() && (gap > settle || (gap == settle && tie_settles)) {
            return framer.settle().map(|m| (m, last + settle, i));
        }
        framer.extend(bytes);
        match framer.next_frame() {
            Frame::Message(m) => return Some((m, *at, i + 1)),
            Frame::TooLong(_) => return None,
            Frame::Incomplete => {}
        }
        last = *at;
    }
    framer.settle().map(|m| (m, last + settle, pieces.len()))
}

/// One life of the server software, from a start to its exit, a crash, or the end of the run.
struct Incarnation<'a> {
    start: &'a Event,
    end: Option<&'a Event>,
    timed_out: Option<&'a Event>,
    activity: Vec<&'a Event>,
}

fn incarnations(run: &Run) -> Vec<Incarnation<'_>> {
    let mut lives: Vec<Incarnation<'_>> = Vec::new();
    for e in run.events.iter().filter(|e| e.host == SERVER) {
        match &e.kind {
            EventKind::Start(_) => lives.push(Incarnation {
                start: e,
                end: None,
                timed_out: None,
                activity: Vec::new(),
            }),
            _ => {
                let Some(life) = lives.last_mut().filter(|l| l.end.is_none()) else {
                    continue;
                };
                match &e.kind {
                    EventKind::Exit(_) | EventKind::Crash => life.end = Some(e),
                    EventKind::Out(line) => match line.parse::<ServerLine>() {
                        Ok(ServerLine::TimedOut { .. }) => life.timed_out = Some(e),
                        Ok(ServerLine::Request { .. }) => life.activity.push(e),
                        _ => {}
                    },
                    EventKind::Accepted { .. } => life.activity.push(e),
                    _ => {}
                }
            }
        }
    }
    lives
}

fn check_server(
    scenario: &Scenario,
    run: &Run,
    server: SocketAddr,
    replies: &[Reply<'_>],
    found: &mut Findings,
) {
    let ttl = scenario.server.id_ttl.0;
    let idle = scenario.server.idle_timeout.0;
    let tick = scenario.network.tick.0;
    let requests = server_requests(scenario, run, server);
    for life in incarnations(run) {
        let t0 = life.start.at;
        let t1 = life.end.map_or(run.simulated, |e| e.at);
        let inside = |t: Duration| t >= t0 && t <= t1;

        // Rule 1, and rule 2's address.
        let mut granted: HashMap<&ConnId, &Event> = HashMap::new();
        for reply in replies.iter().filter(|r| inside(r.event.at)) {
            let at = reply.event.at;
            match &reply.message {
                Message::Ok(id, addr) => {
                    if let Some(before) = granted.get(id).filter(|b| at - b.at <= ttl) {
                        found.add(
                            GRANT_ONCE,
                            at,
                            format!(
                                "the server granted {id} at {} though it granted it at {} (age {} s, TTL {} s)",
                                secs(at),
                                secs(before.at),
                                (at - before.at).as_secs_f64(),
                                ttl.as_secs_f64()
                            ),
                            &[before, reply.event],
                        );
                    }
                    granted.insert(id, reply.event);
                    let asked = requests.iter().any(|r| {
                        r.from == *addr && r.ids.contains(id) && r.first <= at && inside(r.first)
                    });
                    if *addr != reply.to || !asked {
                        found.add(
                            OK_SOURCE,
                            at,
                            format!(
                                "OK for {id} names {addr}, but it went to {} and no HELLO {id} came from {addr}",
                                reply.to
                            ),
                            &[reply.event],
                        );
                    }
                }
                Message::Reset(id) => {
                    let last = granted.get(id);
                    if last.is_none_or(|b| at - b.at > ttl) {
                        let why = last.map_or_else(
                            || "never granted since the server started".to_string(),
                            |b| {
                                format!(
                                    "granted at {}, age {} s > TTL {} s",
                                    secs(b.at),
                                    (at - b.at).as_secs_f64(),
                                    ttl.as_secs_f64()
                                )
                            },
                        );
                        let mut shown: Vec<&Event> = last.into_iter().copied().collect();
                        shown.push(reply.event);
                        found.add(
                            RESET_IN_USE,
                            at,
                            format!(
                                "the server answered RESET {id} at {} but {id} was free ({why})",
                                secs(at)
                            ),
                            &shown,
                        );
                    }
                }
                Message::Hello(_) => {}
            }
        }

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
            if !answered {
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

        // Rule 5: the idle exit.
        let last = life.activity.last().map_or(t0, |e| e.at.max(t0));
        let due = last + idle;
        match life.timed_out {
            Some(exit) if exit.at != due => {
                let mut shown: Vec<&Event> = life.activity.last().into_iter().copied().collect();
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
            None if due < t1 => {
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
}

/// One try of a client, as seen from outside.
struct Try<'a> {
    first: &'a Event,
    id: Option<String>,
    local: Option<SocketAddr>,
}

fn hello_id(payload: &[u8]) -> Option<String> {
    protocol::parse_request(payload)
        .ok()
        .map(|id| id.to_string())
}

fn check_client(
    scenario: &Scenario,
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
            });
        }
        match &e.kind {
            EventKind::Start(_) => started = Some(e.at),
            EventKind::Send { payload, from, .. } => {
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
            EventKind::Exit(code) => exit = Some((e, *code)),
            _ => {}
        }
    }

    // Rule 3: each try on a new socket.
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

    // Rule 3: exactly one ending, with its exit code, in time.
    let start = started.unwrap_or(spec.start.0);
    let tries_made = u32::try_from(tries.len()).unwrap_or(u32::MAX);
    let deadline =
        start + spec.timeout.0 * tries_made + spec.typing.0 * prompts + scenario.network.tick.0;
    if endings.is_empty() && run.hit_limit && run.simulated <= deadline {
        return; // cut off by the scenario's limit before it was due
    }
    match (endings.as_slice(), exit) {
        ([(end, ok)], Some((exit_event, code))) => {
            let expected = if *ok { 0 } else { 1 };
            if code != expected {
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
    let taken = replies.iter().find(|r| {
        let EventKind::Send {
            delivered: Some(at),
            ..
        } = &r.event.kind
        else {
            return false;
        };
        r.message == *printed
            && current.is_some_and(|t| {
                Some(r.to) == t.local
                    && *at >= t.first.at
                    && *at <= e.at
                    && t.id.as_deref() == Some(r.message.id().as_str())
            })
    });
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

/// Rule 6: every line the server and the clients print parses as a line of the vocabulary.
fn check_lines(scenario: &Scenario, run: &Run, found: &mut Findings) {
    let is_client = |host: &str| scenario.clients.iter().any(|c| c.name == host);
    for e in &run.events {
        let problem = match (&e.kind, e.host.as_str()) {
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

/// Every `YYYY-MM-DD HH:MM:SS.ffffff` in a line.
fn timestamps(line: &str) -> Vec<&str> {
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

/// Rule 6.
fn check_timestamps(run: &Run, found: &mut Findings) {
    for e in &run.events {
        let (EventKind::Out(line) | EventKind::Err(line)) = &e.kind else {
            continue;
        };
        let expected =
            format_timestamp(epoch() + chrono::Duration::from_std(e.at).unwrap_or_default());
        for ts in timestamps(line) {
            if ts != expected {
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

/// Whether two runs recorded the same events (rule 7), as a violation if not.
pub fn same_events(first: &Run, again: &Run) -> Option<Violation> {
    if first.events == again.events {
        return None;
    }
    let at = first
        .events
        .iter()
        .zip(&again.events)
        .position(|(a, b)| a != b)
        .unwrap_or(first.events.len().min(again.events.len()));
    let events: Vec<Event> = first
        .events
        .get(at)
        .into_iter()
        .chain(again.events.get(at))
        .cloned()
        .collect();
    Some(Violation {
        rule: DETERMINISM,
        at: events.first().map_or(Duration::ZERO, |e| e.at),
        message: format!(
            "two runs of the same seed differ at event {at} ({} and {} events in all)",
            first.events.len(),
            again.events.len()
        ),
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner;
    use connid::lines::Timestamp;
    use connid::Transport;
    use std::path::Path;

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
                *line = line.replace("06:06:00.050000", "06:06:00.050001");
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
}
