//! The oracle: the protocol's rules, checked over the events of one run.
//!
//! It is a pure function of the scenario and the recorded events; it never looks inside the client or
//! the server, only at what they sent, received and printed (read through [`connid::lines`]). Each
//! rule has a name that failures print. One checker per part of the protocol, as in TigerBeetle's
//! simulator: `table_checker` (the server's table), `client_checker` (the client's contract),
//! `timing_checker` (answers, the idle exit and timestamps on time), `cap_checker` (the TCP
//! connection cap), `log_checker` (the server's log counts every request), `lines_checker` (every printed line in the vocabulary, every socket error
//! reported) and `liveness_checker` (after a heal, clients are answered), over what `server_view`
//! reconstructs of the server.

use std::net::SocketAddr;
use std::time::Duration;

use crate::events::{Event, Run};
use crate::scenario::{Scenario, SERVER};

mod cap_checker;
mod client_checker;
mod lines_checker;
mod liveness_checker;
mod log_checker;
pub(crate) mod server_view;
mod table_checker;
#[cfg(test)]
mod test_support;
mod timing_checker;

pub use timing_checker::timestamps;

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
/// Rule 3: a try ends in Connection Error when it is over: on a RESET for its ID, a refused or closed
/// connection, or the timeout; not sooner, and not later than the timeout.
pub const ERROR_WHEN_DUE: &str = "error-when-due";
/// Rule 3: a client ends by its start + tries x timeout + typing time + one tick.
pub const IN_TIME: &str = "ends-in-time";
/// Rule 3: try 1 asks for the command line's ID, each later try for the ID typed before it.
pub const TYPED_ID: &str = "try-asks-for-the-given-id";
/// Rule 3: each try uses a new socket.
pub const NEW_SOCKET: &str = "new-socket-per-try";
/// Rule 4: a client that prints established received that OK, for that ID, on its current try's socket.
pub const CURRENT_TRY: &str = "established-on-current-try";
/// Rule 4: a try ends on an OK or a RESET only from the address it sent its request to; a forged
/// reply from another host or port is ignored.
pub const REPLY_SOURCE: &str = "reply-only-from-the-asked-address";
/// Rule 5: the server exits idle-timeout after the last request, not earlier and not later.
pub const IDLE_EXIT: &str = "idle-exit-on-time";
/// Rule 5: while the server runs, every well-formed request that reaches it is answered.
pub const ANSWERED: &str = "requests-answered";
/// Rule 6: every printed timestamp is the virtual time of the event.
pub const TIMESTAMPS: &str = "timestamps-are-virtual-time";
/// Rule 6: every line the client and the server print is a line of the vocabulary ([`connid::lines`]).
pub const LINES: &str = "lines-in-the-vocabulary";
/// Rule 5: the server exits only by its idle timeout: never with an error code.
pub const KEEPS_SERVING: &str = "server-keeps-serving";
/// Liveness: after the network heals (and no fault follows), every client that starts is answered
/// by the server on its first try, unless the server exits by its idle timeout first.
pub const LIVENESS: &str = "answered-after-healing";
/// Rule 5: the server holds at most `max_ids` IDs in use at once: a new ID is granted only while fewer
/// are, and gets no reply while the table is full.
pub const IDS_CAPPED: &str = "ids-capped";
/// Rule 5: over TCP the server holds at most `max_connections` connections at once.
pub const CONNECTIONS_CAPPED: &str = "connections-capped";
/// Rule 6: the server reports every socket error it meets (a failed receive or accept, a reply not
/// sent), each by its own line, at once.
pub const SOCKET_ERRORS: &str = "socket-errors-reported";
/// Rule 6: the server's log accounts for every request it takes: a line of its own, or a count in a
/// summary line within a second (at its exit at the latest).
pub const LOG_ACCOUNTS: &str = "log-accounts-for-every-request";
/// Rule 7: the same seed gives the same events (checked by the explorer, which reruns seeds).
pub const DETERMINISM: &str = "determinism";

/// What each rule requires, in a sentence: the "expected" of a conform report.
pub const RULES: &[(&str, &str)] = &[
    (GRANT_ONCE, "the server never grants an ID it granted less than the TTL ago"),
    (RESET_IN_USE, "the server answers RESET only for an ID in use"),
    (OK_SOURCE, "every OK carries the source address and port of the request it answers"),
    (TRIES, "a client makes at most its number of tries (three)"),
    (ERROR_PER_TRY, "one Connection Error per failed try, for that try's ID (none for a try its own OK reached), then a new try while one remains"),
    (PROMPT, "a prompt only after a failed try, while a try remains and input has not ended"),
    (ONE_ENDING, "a client ends with exactly one of Connection established (exit 0) or Connection Failure, gracefully"),
    (IN_TIME, "a client ends by its start plus its tries times the timeout"),
    (TYPED_ID, "try 1 asks for the command line's ID, each later try for the ID typed before it"),
    (NEW_SOCKET, "each try uses a new socket"),
    (CURRENT_TRY, "a client prints established only for an OK for its own ID that reached its current try's socket"),
    (REPLY_SOURCE, "a try ends on an OK or a RESET only from the address it sent its request to, never on a reply from another host or port"),
    (IDLE_EXIT, "the server exits the idle timeout after its last request, not earlier and not later"),
    (ANSWERED, "every well-formed request that reaches the running server is answered at once"),
    (KEEPS_SERVING, "the server exits only by its idle timeout, never with an error"),
    (IDS_CAPPED, "the server holds at most its max_ids IDs in use: a new ID gets no reply while the table is full"),
    (CONNECTIONS_CAPPED, "over TCP the server holds at most its max_connections connections at once"),
    (ERROR_WHEN_DUE, "a try ends in Connection Error only when it is over: on a RESET for its ID, a refused or closed connection, or the timeout"),
    (TIMESTAMPS, "every printed timestamp is the time it was printed"),
    (LINES, "every printed line is a line of the vocabulary"),
    (SOCKET_ERRORS, "the server reports every socket error it meets at once: a failed receive or accept, a reply not sent"),
    (LOG_ACCOUNTS, "the server's log accounts for every request it takes: a line of its own, or a count in a summary line within a second (at its exit at the latest)"),
    (LIVENESS, "after the network heals, every client that starts is answered on its first try while the server runs"),
    (DETERMINISM, "the same seed gives the same events"),
];

/// The sentence of `rule` in [`RULES`].
pub fn rule_statement(rule: &str) -> Option<&'static str> {
    RULES
        .iter()
        .find(|(name, _)| *name == rule)
        .map(|(_, s)| *s)
}

/// How loosely times are compared: exactly in the simulator (virtual time has no noise), with margins on
/// real sockets, where a program's timers, its start-up and the checker's own readings all drift.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tolerance {
    /// How much sooner than its exact time a timer may fire (an ID expire, a server time out).
    pub early: Duration,
    /// How much later than its exact time a timer may fire, a reply come or a timestamp read.
    pub late: Duration,
    /// How much later the idle exit may come.
    pub idle_late: Duration,
}

/// Whose programs are judged: connid's own, whose every printed line and exit code is part of its
/// contract, or any program that speaks the protocol. Of those, only what the assignment fixes is
/// judged: the replies, the timers, a client's three lines (established, error, failure) and that it
/// ends gracefully (exit 0 when established; no traceback).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Programs {
    #[default]
    Connid,
    Foreign,
}

/// How a run is judged: the simulator's is exact, for connid's own server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Judge {
    pub tolerance: Tolerance,
    pub programs: Programs,
}

/// One broken rule, with the events that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub at: Duration,
    pub message: String,
    pub events: Vec<Event>,
}

/// The violations found so far.
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

/// How binding a rule is beyond the simulator, where connid's own programs keep every rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleLevel {
    /// The assignment's: every implementation must keep it (`conform` judges it).
    Required,
    /// The assignment's, where a peer does what the assignment does not speak of (a reply from
    /// another address): `conform` judges it as robustness.
    Robustness,
    /// connid's own contract beyond the assignment (its printed vocabulary, its log, its caps, its
    /// determinism): the simulator holds connid to it; `conform` does not judge other programs by it.
    Connid,
}

impl RuleLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleLevel::Required => "required",
            RuleLevel::Robustness => "robustness",
            RuleLevel::Connid => "connid",
        }
    }
}

/// The level of `rule` (an ID of [`RULES`]).
pub fn rule_level(rule: &str) -> RuleLevel {
    match rule {
        REPLY_SOURCE => RuleLevel::Robustness,
        LINES | SOCKET_ERRORS | LOG_ACCOUNTS | IDS_CAPPED | CONNECTIONS_CAPPED | LIVENESS
        | DETERMINISM => RuleLevel::Connid,
        _ => RuleLevel::Required,
    }
}

/// Every rule as the Markdown table the manual holds (`docs/src/rules.md`, kept equal by a test).
pub fn rules_markdown() -> String {
    let mut out = String::from("| rule | level | what it checks |\n|---|---|---|\n");
    for (rule, statement) in RULES {
        let level = rule_level(rule).as_str();
        out.push_str(&format!("| `{rule}` | {level} | {statement} |\n"));
    }
    out
}

/// Checks every rule over one simulated run; an empty result means the run kept them all.
pub fn check(scenario: &Scenario, run: &Run) -> Vec<Violation> {
    check_with(scenario, run, &Judge::default())
}

/// Checks every rule over one run, as `judge` says; an empty result means the run kept them all.
pub fn check_with(scenario: &Scenario, run: &Run, judge: &Judge) -> Vec<Violation> {
    let mut found = Findings(Vec::new());
    let server_ip = run
        .hosts
        .iter()
        .find(|(h, _)| h == SERVER)
        .map(|(_, ip)| *ip);
    if let Some(ip) = server_ip {
        let server = SocketAddr::new(ip, scenario.server.port);
        let replies = server_view::replies(run);
        let requests = server_view::requests(scenario, run, server);
        for life in server_view::incarnations(run, server, judge.programs) {
            table_checker::check(scenario, judge, &life, &requests, &replies, &mut found);
            timing_checker::check_answered(scenario, judge, &life, &requests, &replies, &mut found);
            timing_checker::check_idle_exit(scenario, judge, &life, &mut found);
            log_checker::check(scenario, judge, run, server, &life, &mut found);
        }
        for client in &scenario.clients {
            // What reached the client from anyone: only what came from the address a try asked
            // (the server, or a peer playing one) may end that try.
            let sent = server_view::messages(run, |h| h != client.name);
            client_checker::check(scenario, judge, client, run, &sent, &mut found);
        }
        liveness_checker::check(scenario, run, &replies, &mut found);
    }
    cap_checker::check(scenario, judge, run, &mut found);
    lines_checker::check(scenario, judge, run, &mut found);
    lines_checker::check_socket_errors(judge, run, &mut found);
    timing_checker::check_timestamps(judge, run, &mut found);
    found.0.sort_by_key(|v| v.at);
    found.0
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
    use std::path::Path;

    use connid::Transport;

    use crate::oracle::test_support::*;
    use crate::oracle::*;

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
    fn every_rule_has_one_statement() {
        let mut names: Vec<&str> = RULES.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RULES.len());
        for rule in [
            GRANT_ONCE,
            RESET_IN_USE,
            OK_SOURCE,
            TRIES,
            ERROR_PER_TRY,
            PROMPT,
            ONE_ENDING,
            IN_TIME,
            TYPED_ID,
            NEW_SOCKET,
            CURRENT_TRY,
            IDLE_EXIT,
            ANSWERED,
            KEEPS_SERVING,
            ERROR_WHEN_DUE,
            TIMESTAMPS,
            LINES,
            LIVENESS,
            DETERMINISM,
        ] {
            assert!(
                rule_statement(rule).is_some_and(|s| !s.is_empty()),
                "{rule}"
            );
        }
        assert_eq!(rule_statement("no-such-rule"), None);
    }
}
