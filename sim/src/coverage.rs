//! What a run reached, and what its faults touched: the explorer's evidence that its seeds go where
//! the bugs would be.
//!
//! A [`Situation`] is a "sometimes" property: no run must reach it, but some run in a few thousand
//! should, or the generator never tests it. [`faults_touched`] tells, for each fault that starts
//! trouble, whether it changed anything: dropped, held or refused a message, or stopped a running
//! server. Both are read from the events alone, as the oracle reads them.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use connid::lines::{ClientLine, ServerLine};
use connid::protocol::{self, ConnId, Message};
use connid::Transport;

use crate::events::{Event, EventKind, Run};
use crate::net::NETWORK;
use crate::oracle::server_view::OpenConnections;
use crate::scenario::{Action, Scenario, SERVER};

/// A named situation some runs should reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Situation {
    /// The server answers RESET for an ID granted exactly one TTL earlier.
    ResetAtExactlyTheTtl,
    /// The server grants again an ID it granted one TTL and a little (at most 10 ms) earlier.
    RegrantJustAfterTheTtl,
    /// A restarted server grants an ID the crashed one had granted less than a TTL earlier.
    RegrantAfterCrash,
    /// A server reply for a client's try reaches (or is sent to) that try's socket after the try
    /// ended: a late reply to an old socket.
    LateReplyToOldSocket,
    /// A try ends in Connection Error at its timeout, with no answer.
    TryTimedOut,
    /// A try ends in Connection Error because the server answered RESET.
    TryReset,
    /// A client ends with Connection Failure after using every try.
    FailureAfterEveryTry,
    /// A client's input ends at the prompt, ending its retries.
    EndOfInputAtPrompt,
    /// A line typed at the prompt is not a valid ID.
    InvalidTypedId,
    /// A client receives an OK or RESET for another ID than its try's.
    ReplyForAnotherId,
    /// A client receives something that is not a reply at all.
    MalformedReplyToClient,
    /// UDP: a client receives an OK or RESET for its try's ID from another address than it asked.
    ForgedReply,
    /// The server drops a malformed request.
    MalformedRequestDropped,
    /// More malformed requests in one second than the server logs: it sums the rest up.
    LogLimitReached,
    /// TCP: a request reaches the server in two or more writes.
    SplitTcpRequest,
    /// TCP: a connection attempt is refused.
    ConnectionRefused,
    /// TCP: the server crashes while it holds an open connection.
    CrashWithTcpConnectionOpen,
    /// UDP: the network delivers a copy of a datagram.
    DuplicateDelivered,
    /// UDP: a datagram is overtaken by a later one on the same path.
    DatagramOvertaken,
    /// The server exits after its idle timeout.
    IdleExit,
    /// A client that starts after the network healed is answered.
    AnsweredAfterHeal,
    /// A receive (UDP) or an accept (TCP) of the server fails.
    ServerSocketError,
    /// The network refuses to send a reply of the server.
    ReplyNotSent,
    /// UDP: more requests reach the server in one instant than one receive batch holds.
    BurstPastOneBatch,
    /// TCP: a connection is made while the server already holds as many as it takes at once.
    ConnectionCapReached,
    /// The server's table holds its most IDs and refuses a new one.
    TableFull,
}

impl Situation {
    pub const ALL: [Situation; 26] = [
        Situation::ResetAtExactlyTheTtl,
        Situation::RegrantJustAfterTheTtl,
        Situation::RegrantAfterCrash,
        Situation::LateReplyToOldSocket,
        Situation::TryTimedOut,
        Situation::TryReset,
        Situation::FailureAfterEveryTry,
        Situation::EndOfInputAtPrompt,
        Situation::InvalidTypedId,
        Situation::ReplyForAnotherId,
        Situation::MalformedReplyToClient,
        Situation::ForgedReply,
        Situation::MalformedRequestDropped,
        Situation::LogLimitReached,
        Situation::SplitTcpRequest,
        Situation::ConnectionRefused,
        Situation::CrashWithTcpConnectionOpen,
        Situation::DuplicateDelivered,
        Situation::DatagramOvertaken,
        Situation::IdleExit,
        Situation::AnsweredAfterHeal,
        Situation::ServerSocketError,
        Situation::ReplyNotSent,
        Situation::BurstPastOneBatch,
        Situation::ConnectionCapReached,
        Situation::TableFull,
    ];

    /// The name the explorer prints.
    pub fn name(self) -> &'static str {
        match self {
            Situation::ResetAtExactlyTheTtl => "reset-at-exactly-the-ttl",
            Situation::RegrantJustAfterTheTtl => "regrant-just-after-the-ttl",
            Situation::RegrantAfterCrash => "regrant-after-crash",
            Situation::LateReplyToOldSocket => "late-reply-to-old-socket",
            Situation::TryTimedOut => "try-timed-out",
            Situation::TryReset => "try-reset",
            Situation::FailureAfterEveryTry => "failure-after-every-try",
            Situation::EndOfInputAtPrompt => "end-of-input-at-prompt",
            Situation::InvalidTypedId => "invalid-typed-id",
            Situation::ReplyForAnotherId => "reply-for-another-id",
            Situation::MalformedReplyToClient => "malformed-reply-to-client",
            Situation::ForgedReply => "forged-reply",
            Situation::MalformedRequestDropped => "malformed-request-dropped",
            Situation::LogLimitReached => "log-limit-reached",
            Situation::SplitTcpRequest => "split-tcp-request",
            Situation::ConnectionRefused => "connection-refused",
            Situation::CrashWithTcpConnectionOpen => "crash-with-tcp-connection-open",
            Situation::DuplicateDelivered => "duplicate-delivered",
            Situation::DatagramOvertaken => "datagram-overtaken",
            Situation::IdleExit => "idle-exit",
            Situation::AnsweredAfterHeal => "answered-after-heal",
            Situation::ServerSocketError => "server-socket-error",
            Situation::ReplyNotSent => "reply-not-sent",
            Situation::BurstPastOneBatch => "burst-past-one-batch",
            Situation::ConnectionCapReached => "connection-cap-reached",
            Situation::TableFull => "table-full",
        }
    }

    /// The transport it needs, if only one can reach it.
    pub fn only_over(self) -> Option<Transport> {
        match self {
            Situation::SplitTcpRequest
            | Situation::ConnectionRefused
            | Situation::CrashWithTcpConnectionOpen
            | Situation::ConnectionCapReached => Some(Transport::Tcp),
            Situation::ReplyForAnotherId
            | Situation::MalformedReplyToClient
            | Situation::ForgedReply
            | Situation::LogLimitReached
            | Situation::DuplicateDelivered
            | Situation::DatagramOvertaken
            | Situation::BurstPastOneBatch => Some(Transport::Udp),
            _ => None,
        }
    }
}

/// One try of a client: when it began, its socket, its ID, and when it ended in Connection Error (if
/// it did).
struct Try {
    began: Duration,
    local: Option<SocketAddr>,
    /// Where the request went (UDP): the only address a reply may come from.
    asked: Option<SocketAddr>,
    id: String,
    failed: Option<Duration>,
}

/// Each client's tries, by name.
type Clients = [(String, Vec<Try>)];

/// Each client's tries, in order.
fn tries(run: &Run, scenario: &Scenario) -> Vec<(String, Vec<Try>)> {
    scenario
        .clients
        .iter()
        .map(|c| {
            let mut tries: Vec<Try> = Vec::new();
            for e in run.events.iter().filter(|e| e.host == c.name) {
                match &e.kind {
                    EventKind::Send {
                        from, to, payload, ..
                    } if run.transport == Transport::Udp => {
                        if let Ok(id) = protocol::parse_request(payload) {
                            tries.push(Try {
                                began: e.at,
                                local: Some(*from),
                                asked: Some(*to),
                                id: id.to_string(),
                                failed: None,
                            });
                        }
                    }
                    EventKind::Connect { to } => tries.push(Try {
                        began: e.at,
                        local: None,
                        asked: Some(*to),
                        id: String::new(),
                        failed: None,
                    }),
                    EventKind::Connected { from, .. } => {
                        if let Some(t) = tries.last_mut() {
                            t.local = Some(*from);
                        }
                    }
                    EventKind::Send { payload, .. } => {
                        if let (Some(t), Ok(id)) =
                            (tries.last_mut(), protocol::parse_request(payload))
                        {
                            t.id = id.to_string();
                        }
                    }
                    EventKind::Out(line) => {
                        if let Ok(ClientLine::Error { .. }) = line.parse::<ClientLine>() {
                            if let Some(t) = tries.last_mut() {
                                t.failed = Some(e.at);
                            }
                        }
                    }
                    _ => {}
                }
            }
            (c.name.clone(), tries)
        })
        .collect()
}

fn sent(e: &Event) -> Option<(SocketAddr, SocketAddr, &[u8], Option<Duration>)> {
    match &e.kind {
        EventKind::Send {
            from,
            to,
            payload,
            delivered,
            ..
        } => Some((*from, *to, payload.as_slice(), *delivered)),
        _ => None,
    }
}

/// UDP: whether more datagrams than one receive batch holds reached the server at one instant.
fn burst_past_one_batch(run: &Run) -> bool {
    if run.transport != Transport::Udp {
        return false;
    }
    let Some(server) = run.hosts.first().map(|(_, ip)| *ip) else {
        return false;
    };
    let mut arrivals: Vec<Duration> = run
        .events
        .iter()
        .filter_map(|e| match sent(e) {
            Some((_, to, _, Some(at))) if to.ip() == server && e.host != SERVER => Some(at),
            _ => None,
        })
        .collect();
    arrivals.sort_unstable();
    arrivals
        .chunk_by(|a, b| a == b)
        .any(|same| same.len() > connid::net::BATCH)
}

/// TCP: whether a client or peer connected while the server held its `max_connections`.
fn connection_cap_reached(run: &Run, scenario: &Scenario) -> bool {
    if run.transport != Transport::Tcp {
        return false;
    }
    let mut open = OpenConnections::default();
    run.events.iter().any(|e| {
        if e.host == SERVER {
            open.follow(&e.kind);
            return false;
        }
        matches!(e.kind, EventKind::Connected { .. })
            && open.len() >= scenario.server.max_connections
    })
}

/// The situations `run` reached.
pub fn situations(scenario: &Scenario, run: &Run) -> BTreeSet<Situation> {
    let clients = tries(run, scenario);
    let mut found = BTreeSet::new();
    found.extend(server_grants(scenario, run));
    found.extend(server_lines(run));
    found.extend(at_clients_sockets(run, &clients));
    found.extend(how_tries_ended(scenario, run, &clients));
    found.extend(single_events(run));
    for (happened, situation) in [
        (
            crash_with_connection_open(run),
            Situation::CrashWithTcpConnectionOpen,
        ),
        (burst_past_one_batch(run), Situation::BurstPastOneBatch),
        (
            connection_cap_reached(run, scenario),
            Situation::ConnectionCapReached,
        ),
        (overtaken(run), Situation::DatagramOvertaken),
        (split_tcp_request(run, scenario), Situation::SplitTcpRequest),
        (
            answered_after_heal(run, &clients),
            Situation::AnsweredAfterHeal,
        ),
    ] {
        if happened {
            found.insert(situation);
        }
    }
    found
}

/// The server's grants and resets of an ID, per incarnation and across crashes: a regrant after a
/// crash, a regrant just after the TTL, a RESET at exactly the TTL.
fn server_grants(scenario: &Scenario, run: &Run) -> BTreeSet<Situation> {
    let ttl = scenario.server.id_ttl.0;
    let mut found = BTreeSet::new();
    let mut granted: Vec<(ConnId, Duration, usize)> = Vec::new();
    let mut life = 0usize;
    for e in run.events.iter().filter(|e| e.host == SERVER) {
        let payload = match &e.kind {
            EventKind::Start(_) => {
                life += 1;
                continue;
            }
            EventKind::Send { payload, .. } => payload,
            _ => continue,
        };
        match protocol::parse(payload) {
            Ok(Message::Ok(id, _)) => {
                let last = granted.iter().rev().find(|(g, _, _)| *g == id);
                if let Some((_, at, in_life)) = last {
                    let age = e.at.saturating_sub(*at);
                    if *in_life != life && age < ttl {
                        found.insert(Situation::RegrantAfterCrash);
                    }
                    if *in_life == life && age > ttl && age <= ttl + Duration::from_millis(10) {
                        found.insert(Situation::RegrantJustAfterTheTtl);
                    }
                }
                granted.push((id, e.at, life));
            }
            Ok(Message::Reset(id)) => {
                let last = granted.iter().rev().find(|(g, _, _)| *g == id);
                if last.is_some_and(|(_, at, l)| *l == life && e.at - *at == ttl) {
                    found.insert(Situation::ResetAtExactlyTheTtl);
                }
            }
            _ => {}
        }
    }
    found
}

/// What the server's log says happened: a request dropped, the drop log's limit, an idle exit, a full
/// table.
fn server_lines(run: &Run) -> BTreeSet<Situation> {
    run.events
        .iter()
        .filter(|e| e.host == SERVER)
        .filter_map(|e| match &e.kind {
            EventKind::Out(line) => match line.parse::<ServerLine>() {
                Ok(ServerLine::Unlogged { .. }) => Some(Situation::LogLimitReached),
                Ok(ServerLine::Request {
                    outcome: connid::lines::Outcome::Dropped(_),
                    ..
                }) => Some(Situation::MalformedRequestDropped),
                Ok(ServerLine::TimedOut { .. }) => Some(Situation::IdleExit),
                Ok(ServerLine::TableFull { .. }) => Some(Situation::TableFull),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Whether the server crashed while a TCP connection to it was open.
fn crash_with_connection_open(run: &Run) -> bool {
    let mut open = OpenConnections::default();
    run.events.iter().filter(|e| e.host == SERVER).any(|e| {
        let crashed = matches!(e.kind, EventKind::Crash) && open.len() > 0;
        open.follow(&e.kind);
        crashed
    })
}

/// What reached a try's socket: a reply that came after the try had failed, a reply for another ID,
/// one from another address than the one asked, a malformed one.
fn at_clients_sockets(run: &Run, clients: &Clients) -> BTreeSet<Situation> {
    let mut found = BTreeSet::new();
    for t in clients.iter().flat_map(|(_, tries)| tries) {
        let Some(local) = t.local else { continue };
        for e in &run.events {
            let Some((from, to, payload, delivered)) = sent(e) else {
                continue;
            };
            if to != local {
                continue;
            }
            let arrived = delivered.unwrap_or(e.at);
            if e.host == SERVER && t.failed.is_some_and(|f| arrived > f) {
                found.insert(Situation::LateReplyToOldSocket);
            }
            if delivered.is_none() || e.host == SERVER {
                continue;
            }
            match protocol::parse(payload) {
                Ok(Message::Ok(id, _) | Message::Reset(id)) if id.as_str() != t.id => {
                    found.insert(Situation::ReplyForAnotherId);
                }
                Ok(Message::Ok(..) | Message::Reset(_)) if Some(from) != t.asked => {
                    found.insert(Situation::ForgedReply);
                }
                Ok(Message::Hello(_)) | Err(_) => {
                    found.insert(Situation::MalformedReplyToClient);
                }
                Ok(_) => {}
            }
        }
    }
    found
}

/// How the clients' tries ended: by a RESET for their ID, at their timeout, and every try of a client
/// failed.
fn how_tries_ended(scenario: &Scenario, run: &Run, clients: &Clients) -> BTreeSet<Situation> {
    let mut found = BTreeSet::new();
    for (name, tries) in clients {
        let spec = scenario.clients.iter().find(|c| &c.name == name);
        for t in tries {
            let (Some(local), Some(failed)) = (t.local, t.failed) else {
                continue;
            };
            let reset = run.events.iter().any(|e| {
                e.host == SERVER
                    && matches!(sent(e), Some((_, to, payload, Some(at)))
                        if to == local && at <= failed
                            && matches!(protocol::parse(payload), Ok(Message::Reset(id)) if id.as_str() == t.id))
            });
            if reset {
                found.insert(Situation::TryReset);
            }
            if spec.is_some_and(|s| failed == t.began + s.timeout.0) {
                found.insert(Situation::TryTimedOut);
            }
        }
        let failed_all = spec.is_some_and(|s| {
            tries.len() == s.tries as usize && tries.iter().all(|t| t.failed.is_some())
        });
        if failed_all {
            found.insert(Situation::FailureAfterEveryTry);
        }
    }
    found
}

/// Situations one event shows on its own: input ended at a prompt, an invalid typed ID, a refused
/// connection, a server socket error, a reply never sent, a duplicate delivered.
fn single_events(run: &Run) -> BTreeSet<Situation> {
    run.events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Prompt { typed: None, .. } => Some(Situation::EndOfInputAtPrompt),
            EventKind::Prompt {
                typed: Some(line), ..
            } if ConnId::new(line).is_err() => Some(Situation::InvalidTypedId),
            EventKind::ConnectFailed { .. } => Some(Situation::ConnectionRefused),
            EventKind::SocketError { .. } if e.host == SERVER => Some(Situation::ServerSocketError),
            EventKind::SendFailed { .. } if e.host == SERVER => Some(Situation::ReplyNotSent),
            EventKind::Send {
                delivered: Some(_), ..
            } if e.host == NETWORK => Some(Situation::DuplicateDelivered),
            _ => None,
        })
        .collect()
}

/// Whether some datagram arrived before one sent earlier on the same path.
fn overtaken(run: &Run) -> bool {
    if run.transport != Transport::Udp {
        return false;
    }
    let mut seen: Vec<(SocketAddr, SocketAddr, Duration)> = Vec::new();
    for e in &run.events {
        let Some((from, to, _, Some(arrived))) = sent(e) else {
            continue;
        };
        if seen
            .iter()
            .any(|&(f, t, a)| f == from && t == to && a > arrived)
        {
            return true;
        }
        seen.push((from, to, arrived));
    }
    false
}

/// Whether a request reached the server over TCP in two or more writes.
fn split_tcp_request(run: &Run, scenario: &Scenario) -> bool {
    if run.transport != Transport::Tcp {
        return false;
    }
    let Some(server) = server_addr(run, scenario) else {
        return false;
    };
    let mut writes: Vec<(SocketAddr, usize)> = Vec::new();
    for e in &run.events {
        if let Some((from, to, _, Some(_))) = sent(e) {
            if to == server {
                match writes.iter_mut().find(|(f, _)| *f == from) {
                    Some((_, n)) => *n += 1,
                    None => writes.push((from, 1)),
                }
            }
        }
    }
    writes.iter().any(|&(_, n)| n >= 2)
}

fn server_addr(run: &Run, scenario: &Scenario) -> Option<SocketAddr> {
    run.hosts
        .iter()
        .find(|(h, _)| h == SERVER)
        .map(|(_, ip)| SocketAddr::new(*ip, scenario.server.port))
}

/// Whether a client that started after the last heal got an answer from the server.
fn answered_after_heal(run: &Run, clients: &[(String, Vec<Try>)]) -> bool {
    let Some(healed) = run.healed_at() else {
        return false;
    };
    clients.iter().any(|(name, tries)| {
        let late = run.started_at(name).is_some_and(|at| at >= healed);
        let local = tries.first().and_then(|t| t.local);
        late && run.events.iter().any(|e| {
            e.host == SERVER && matches!(sent(e), Some((_, to, _, Some(_))) if Some(to) == local)
        })
    })
}

/// For each fault that starts trouble (hold, partition, loss above 0, crash), in timeline order:
/// its kind, and whether it touched anything (a message dropped, held or refused on its link while it
/// lasted; a running server stopped).
pub fn faults_touched(scenario: &Scenario, run: &Run) -> Vec<(&'static str, bool)> {
    let host_of = |addr: SocketAddr| -> Option<&str> {
        run.hosts
            .iter()
            .find(|(_, ip)| *ip == addr.ip())
            .map(|(h, _)| h.as_str())
    };
    let mut faults: Vec<_> = scenario.faults.iter().collect();
    faults.sort_by_key(|f| f.at);
    let mut out = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let start = f.at.0;
        // Where the trouble ends: the matching release, repair, loss change or heal, or the run's end.
        let ends = |end: &dyn Fn(&crate::scenario::Fault) -> bool| {
            faults[i + 1..]
                .iter()
                .find(|g| g.action == Action::Heal || end(g))
                .map_or(run.simulated, |g| g.at.0)
        };
        let same_link = |g: &crate::scenario::Fault| g.between == f.between;
        let (kind, touched) = match f.action {
            Action::Crash => {
                let stopped = run
                    .events
                    .iter()
                    .any(|e| e.host == SERVER && e.at == start && e.kind == EventKind::Crash);
                ("crash", stopped)
            }
            Action::Hold | Action::Partition | Action::Loss => {
                if f.action == Action::Loss && f.rate.unwrap_or_default() <= 0.0 {
                    continue;
                }
                let end = match f.action {
                    Action::Hold => ends(&|g| g.action == Action::Release && same_link(g)),
                    Action::Partition => ends(&|g| g.action == Action::Repair && same_link(g)),
                    _ => ends(&|g| g.action == Action::Loss && same_link(g)),
                };
                let Some([a, b]) = f.between.as_ref() else {
                    continue;
                };
                let on_link = |from: &str, to: &str| {
                    (from == a && to == b) || (!f.oneway && from == b && to == a)
                };
                let touched = run.events.iter().any(|e| {
                    if e.at < start || e.at >= end {
                        return false;
                    }
                    match &e.kind {
                        EventKind::Send {
                            from,
                            to,
                            delivered,
                            ..
                        } => {
                            let (Some(h1), Some(h2)) = (host_of(*from), host_of(*to)) else {
                                return false;
                            };
                            on_link(h1, h2)
                                && match f.action {
                                    Action::Hold => delivered.is_none_or(|d| d >= end),
                                    _ => delivered.is_none(),
                                }
                        }
                        // A connect waits out a hold, and a partition refuses it.
                        EventKind::Connect { to } if f.action == Action::Hold => {
                            host_of(*to).is_some_and(|h| on_link(&e.host, h))
                        }
                        EventKind::ConnectFailed { to, .. } if f.action == Action::Partition => {
                            host_of(*to).is_some_and(|h| on_link(&e.host, h))
                        }
                        _ => false,
                    }
                });
                let kind = match f.action {
                    Action::Hold => "hold",
                    Action::Partition => "partition",
                    _ => "loss",
                };
                (kind, touched)
            }
            Action::Release | Action::Repair | Action::Restart | Action::Heal => continue,
        };
        out.push((kind, touched));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    use crate::runner;

    fn load(name: &str) -> Scenario {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        Scenario::load(&dir.join(name)).unwrap()
    }

    fn reached(s: &Scenario, t: Transport) -> BTreeSet<Situation> {
        situations(s, &runner::run(s, t).unwrap())
    }

    fn parse(text: &str) -> Scenario {
        Scenario::parse(text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn the_scenario_suite_reaches_the_situations_it_is_about() {
        use Situation::*;
        let udp = Transport::Udp;
        let tcp = Transport::Tcp;
        let cases: [(&str, Transport, &[Situation]); 21] = [
            (
                "03-three-resets.toml",
                udp,
                &[TryReset, FailureAfterEveryTry],
            ),
            ("04-unreachable-black-hole.toml", udp, &[TryTimedOut]),
            (
                "07-expiry-boundary.toml",
                udp,
                &[ResetAtExactlyTheTtl, RegrantJustAfterTheTtl],
            ),
            ("08-idle-exit-no-requests.toml", tcp, &[IdleExit]),
            ("10-crash-restart.toml", udp, &[RegrantAfterCrash]),
            (
                "11-late-reply.toml",
                udp,
                &[LateReplyToOldSocket, TryTimedOut],
            ),
            ("13-end-of-input.toml", udp, &[EndOfInputAtPrompt]),
            ("14-malformed.toml", udp, &[MalformedRequestDropped]),
            ("16-tcp-framing.toml", tcp, &[SplitTcpRequest]),
            ("17-unreachable-refused.toml", tcp, &[ConnectionRefused]),
            ("19-invalid-typed-id.toml", udp, &[InvalidTypedId]),
            (
                "20-replies-for-another-id.toml",
                udp,
                &[ReplyForAnotherId, MalformedReplyToClient],
            ),
            ("21-heal.toml", tcp, &[AnsweredAfterHeal]),
            (
                "22-duplicates-and-reordering.toml",
                udp,
                &[DuplicateDelivered],
            ),
            ("23-flood.toml", udp, &[LogLimitReached]),
            (
                "27-socket-errors.toml",
                udp,
                &[ServerSocketError, ReplyNotSent],
            ),
            ("25-connection-cap.toml", tcp, &[ConnectionCapReached]),
            ("26-burst.toml", udp, &[BurstPastOneBatch]),
            ("30-forged-replies.toml", udp, &[ForgedReply]),
            ("31-a-full-table.toml", tcp, &[TableFull]),
            (
                "27-socket-errors.toml",
                tcp,
                &[ServerSocketError, ReplyNotSent],
            ),
        ];
        for (file, t, expected) in cases {
            let got = reached(&load(file), t);
            for x in expected {
                assert!(got.contains(x), "{file} over {t}: {x:?} not in {got:?}");
            }
        }
        // A plain exchange reaches nothing but the idle exit.
        assert_eq!(
            reached(&load("01-established.toml"), udp),
            BTreeSet::from([IdleExit])
        );
    }

    #[test]
    fn a_crash_mid_exchange_and_an_overtaken_datagram_are_seen() {
        let crash = parse(
            "transports = [\"tcp\"]\n[[clients]]\nname = \"a\"\nstart = \"1s\"\nid = \"1\"\ntries = 1\n\
             [[faults]]\nat = \"1002ms\"\naction = \"crash\"\n",
        );
        assert!(reached(&crash, Transport::Tcp).contains(&Situation::CrashWithTcpConnectionOpen));
        let mut before = crash.clone();
        before.faults[0].at = crate::scenario::Dur(Duration::from_millis(1001));
        assert!(!reached(&before, Transport::Tcp).contains(&Situation::CrashWithTcpConnectionOpen));

        let overtaken = parse(
            "[network]\nreorder = 1.0\nreorder_delay = \"50ms\"\nseed = 3\n\
             [[peers]]\nname = \"p\"\nsends = [\"a\", \"b\", \"c\", \"d\"]\n",
        );
        assert!(reached(&overtaken, Transport::Udp).contains(&Situation::DatagramOvertaken));
        let mut in_order = overtaken.clone();
        in_order.network.reorder = 0.0;
        assert!(!reached(&in_order, Transport::Udp).contains(&Situation::DatagramOvertaken));
    }

    #[test]
    fn a_fault_touched_something_only_if_it_dropped_held_or_refused_or_stopped() {
        let s = load("12-partition-heals.toml");
        for t in Transport::ALL {
            let run = runner::run(&s, t).unwrap();
            assert_eq!(faults_touched(&s, &run), [("partition", true)], "{t}");
        }
        assert_eq!(
            faults_touched(
                &load("11-late-reply.toml"),
                &runner::run(&load("11-late-reply.toml"), Transport::Udp).unwrap()
            ),
            [("hold", true)]
        );
        // Trouble on a link nobody uses, a crash of a stopped server, and loss nobody meets.
        let idle = parse(
            "[[clients]]\nname = \"a\"\nstart = \"1s\"\nid = \"1\"\n[[clients]]\nname = \"b\"\nid = \"2\"\n\
             [[faults]]\nat = \"0\"\naction = \"hold\"\nbetween = [\"b\", \"server\"]\n\
             [[faults]]\nat = \"0\"\naction = \"release\"\nbetween = [\"b\", \"server\"]\n\
             [[faults]]\nat = \"2s\"\naction = \"partition\"\nbetween = [\"a\", \"server\"]\n\
             [[faults]]\nat = \"3s\"\naction = \"crash\"\n\
             [[faults]]\nat = \"4s\"\naction = \"crash\"\n\
             [[faults]]\nat = \"5s\"\naction = \"loss\"\nbetween = [\"a\", \"server\"]\nrate = 1.0\n",
        );
        for t in Transport::ALL {
            let run = runner::run(&idle, t).unwrap();
            assert_eq!(
                faults_touched(&idle, &run),
                [
                    ("hold", false),
                    ("partition", false),
                    ("crash", true),
                    ("crash", false),
                    ("loss", false)
                ],
                "{t}"
            );
        }
    }
}
