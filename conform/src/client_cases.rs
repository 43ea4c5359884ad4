//! The client suite: the checker is the server and the keyboard. It answers each try as the case says
//! (OK, RESET, silence, a lost request, a reply for another ID, a malformed reply, a late OK to the
//! previous try's socket), types the next ID after each Connection Error, and judges the run with the
//! oracle's client rules.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use crate::clock::Instant;
use connid::lines::{ClientLine, Timestamp};
use connid::protocol::{self, ConnId};
use connid::{Clock, SystemClock, Transport};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::answering::{serve, Garble, Reply, ReplyKind, TryPlan, Twist};
use super::child::{Child, Printed, Unfinished};
use super::classify::{read, Meaning, Reading};
use super::play::shown;
use super::{
    judged_scenario, select, told_run, verdict, CaseResult, Fill, Level, OwnCheck, Pace, Program,
    Times, Verdict, LOOPBACK,
};
use connid_sim::events::{Event, EventKind, Recorder, Run};
use connid_sim::oracle::{
    CURRENT_TRY, ERROR_PER_TRY, ERROR_WHEN_DUE, IN_TIME, NEW_SOCKET, ONE_ENDING, PROMPT,
    REPLY_SOURCE, TIMESTAMPS, TRIES, TYPED_ID,
};
use connid_sim::scenario::{ClientSpec, Dur, Scenario, SERVER};

pub use crate::answering::CLIENT;

/// How the checker's server answers one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Reset,
    /// The request arrives and is never answered.
    Silent,
    /// The request is treated as lost on the way (UDP): never answered.
    Drop,
    /// First an OK for another ID, then (after a pause) the right OK.
    OtherIdFirst,
    /// First a malformed reply, then (after a pause) the right OK.
    MalformedFirst,
    /// First an OK for the previous try's ID to the previous try's socket, then the right OK.
    OldSocketLate,
    /// UDP: first an OK for the try's own ID from another port of the checker (a forgery, naming
    /// another address), then (after a pause) the right OK from the port asked.
    OtherPortFirst,
}

/// How long the wrong reply comes before the right one.
const WRONG_FIRST: Duration = Duration::from_millis(300);

/// One case of the client suite.
pub struct ClientCase {
    /// The requirement it checks: `client.<part>.<what>`.
    pub id: &'static str,
    /// The assignment's sentence it checks, in its exact words.
    pub quote: &'static str,
    /// How the case reads that sentence, where it goes beyond its words (printed apart from it).
    pub reading: &'static str,
    /// What a conforming client does in this case, in words.
    pub expect: &'static str,
    pub rules: &'static [&'static str],
    /// Whether it waits for the client's timeout (not run with `--quick`).
    pub long: bool,
    pub level: Level,
    pub udp_only: bool,
    /// The ID on the command line.
    pub first_id: &'static str,
    /// Typed after each Connection Error in turn.
    pub typed: &'static [&'static str],
    /// When the typed lines run out: end input, or keep it open (and type `4444` only into a prompt
    /// that shows, which a client with no try left must never show).
    pub end_input: bool,
    /// The answer to each try; tries beyond the list get OK.
    pub answers: &'static [Answer],
    /// What the case must see to judge at all: missing, it fails and says what was not seen.
    pub needs: &'static [Need],
    /// Judged on the lines as printed (the format requirements), not as read for their meaning.
    pub exact_lines: bool,
    /// A check of its own over the run, for what no oracle rule covers.
    pub own: Option<OwnCheck>,
}

/// An observation a client case needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A line that reads as Connection established.
    Established,
    /// A line that reads as Connection Failure.
    Failure,
    /// At least this many lines that read as Connection Error.
    Errors(usize),
    /// At least this many tries (requests from a new socket or for a new ID, or connections).
    Tries(usize),
}

pub(crate) const ESTABLISHED_QUOTE: &str = "If the client receives an OK message, it prints out a \u{201c}Connection established\u{201d} message, indicating the connectionID, its IP address, its port number, and the current timestamp. Then, the client exits gracefully after closing any open sockets";
pub(crate) const RETRY_QUOTE: &str = "it prints out a \u{201c}Connection Error\u{201d} message with the connection ID and the current timestamp, and asks the user to enter a new connection ID. Then, it retries to establish a connection again with a newly created socket and with this newly entered connection ID to the same server";
pub(crate) const FAILURE_QUOTE: &str = "After three tries to establish a connection without success to the same server, the client prints a \u{201c}Connection Failure\u{201d} message with the current timestamp and exits gracefully after closing any open sockets";
pub(crate) const TIMEOUT_QUOTE: &str = "If the client doesn\u{2019}t receive a reply within 15 seconds, it should timeout and follow the protocol below";
pub(crate) const RECEIVES_QUOTE: &str = "If the client receives an OK message, it prints out a \u{201c}Connection established\u{201d} message";
const FORMAT_QUOTE: &str = "Connection Error print out example: \u{201c}Connection Error 2678 on 2023- 01-16 06:06:06.123456\u{201d} ... After three tries, print out: \u{201c}Connection Failure on 2023-01-16 06:06:06.123456\u{201d}";

/// Every client case, in the order they are reported.
pub fn cases() -> Vec<ClientCase> {
    let case = |id, quote, expect, rules, answers, needs| ClientCase {
        id,
        quote,
        reading: "",
        expect,
        rules,
        long: false,
        level: Level::Required,
        udp_only: false,
        first_id: "1001",
        typed: &["1002", "1003"],
        end_input: false,
        answers,
        needs,
        exact_lines: false,
        own: None,
    };
    use Answer::*;
    vec![
        case(
            "client.established.own-address",
            ESTABLISHED_QUOTE,
            "on OK 1001: a Connection established line for 1001 with the address the client sent from, then an exit",
            &[CURRENT_TRY, ONE_ENDING, IN_TIME],
            &[Ok],
            &[Need::Established],
        ),
        case(
            "client.reset.error-then-prompt",
            RETRY_QUOTE,
            "on RESET 1001: a Connection Error line at once and a new try with the typed ID, which is established",
            &[
                ERROR_PER_TRY,
                ERROR_WHEN_DUE,
                PROMPT,
                ONE_ENDING,
                CURRENT_TRY,
            ],
            &[Reset, Ok],
            &[Need::Errors(1), Need::Tries(2), Need::Established],
        ),
        case(
            "client.retry.typed-id",
            RETRY_QUOTE,
            "the second try asks for 1002, the ID typed after the first Connection Error",
            &[TYPED_ID],
            &[Reset, Ok],
            &[Need::Tries(2)],
        ),
        case(
            "client.retry.new-socket",
            RETRY_QUOTE,
            "the second try comes from a new socket (a new source port, another UDP socket on the same port, or a new TCP connection)",
            &[NEW_SOCKET],
            &[Reset, Ok],
            &[Need::Tries(2)],
        ),
        case(
            "client.failure.after-three-tries",
            FAILURE_QUOTE,
            "three tries, each ended by a Connection Error, then Connection Failure and an exit: no fourth prompt or try (input stays open)",
            &[TRIES, ERROR_PER_TRY, ONE_ENDING, PROMPT],
            &[Reset, Reset, Reset, Reset],
            &[Need::Errors(3), Need::Tries(3), Need::Failure],
        ),
        ClientCase {
            end_input: true,
            reading: "after the third Connection Error no new ID is asked for: input ends there, and a prompt or a crash at the end of input is a failure",
            ..case(
                "client.failure.no-prompt-after-last-try",
                FAILURE_QUOTE,
                "after the third Connection Error: Connection Failure and an exit, with no prompt and no traceback, input being closed",
                &[PROMPT, ONE_ENDING],
                &[Reset, Reset, Reset],
                &[Need::Errors(3), Need::Failure],
            )
        },
        ClientCase {
            reading: "the parts in the sentence's order, in the form of the assignment's two examples: \u{201c}Connection established <id> <ip> <port> on YYYY-MM-DD HH:MM:SS.ffffff\u{201d}, stamped with the time it is printed",
            exact_lines: true,
            own: Some(established_form),
            ..case(
                "client.format.established",
                ESTABLISHED_QUOTE,
                "\u{201c}Connection established 1001 127.0.0.1 <port> on <now>\u{201d}, exactly",
                &[TIMESTAMPS],
                &[Ok],
                &[Need::Established],
            )
        },
        ClientCase {
            reading: "every Connection Error and Connection Failure line exactly in the examples' form (the space inside the first example's date read as a typo), stamped with the time it is printed",
            exact_lines: true,
            own: Some(error_and_failure_form),
            ..case(
                "client.format.error-and-failure",
                FORMAT_QUOTE,
                "\u{201c}Connection Error <id> on <now>\u{201d} after each of three RESETs, then \u{201c}Connection Failure on <now>\u{201d}, exactly",
                &[TIMESTAMPS],
                &[Reset, Reset, Reset],
                &[Need::Errors(3), Need::Failure],
            )
        },
        ClientCase {
            // The assignment never says what ending input means: robustness, as the manual has it.
            level: Level::Robustness,
            typed: &[],
            end_input: true,
            reading: "a user may end input (Ctrl-D) instead of typing an ID: the client ends gracefully, without a traceback",
            ..case(
                "client.failure.end-of-input",
                FAILURE_QUOTE,
                "input ends at the prompt after the first Connection Error: the client ends gracefully, without a traceback or another prompt",
                &[ONE_ENDING, PROMPT],
                &[Reset, Ok],
                &[Need::Errors(1)],
            )
        },
        ClientCase {
            level: Level::Robustness,
            reading: "an OK for another ID is not a reply to this request: the client keeps waiting for its own",
            ..case(
                "client.reply.other-id-ignored",
                RECEIVES_QUOTE,
                "OK 99999 first is ignored; OK 1001 0.3 s later is established",
                &[CURRENT_TRY, ERROR_WHEN_DUE],
                &[OtherIdFirst],
                &[Need::Established],
            )
        },
        ClientCase {
            level: Level::Robustness,
            reading: "a reply that is neither OK nor RESET in full (\u{201c}OK 1001\u{201d}) is no answer: the client keeps waiting",
            ..case(
                "client.reply.malformed-ignored",
                RECEIVES_QUOTE,
                "\u{201c}OK 1001\u{201d} (no address) first is ignored; the full OK 0.3 s later is established",
                &[CURRENT_TRY, ERROR_WHEN_DUE, ONE_ENDING],
                &[MalformedFirst],
                &[Need::Established],
            )
        },
        ClientCase {
            level: Level::Robustness,
            udp_only: true,
            reading: "over UDP anyone can send to the client's socket: only a reply from the address asked is the server's",
            ..case(
                "client.reply.other-port-ignored",
                RECEIVES_QUOTE,
                "a forged OK 1001 from another port is ignored; the OK from the server's port 0.3 s later is established",
                &[REPLY_SOURCE, CURRENT_TRY, ERROR_WHEN_DUE],
                &[OtherPortFirst],
                &[Need::Established],
            )
        },
        ClientCase {
            long: true,
            ..case(
                "client.timeout.error-at-timeout",
                TIMEOUT_QUOTE,
                "no reply: a Connection Error line when the timeout has passed, not before and not much after",
                &[ERROR_WHEN_DUE],
                &[Silent, Ok],
                &[Need::Errors(1)],
            )
        },
        ClientCase {
            long: true,
            udp_only: true,
            ..case(
                "client.timeout.lost-request-retried",
                TIMEOUT_QUOTE,
                "the request is lost: a Connection Error at the timeout, then a new try with the typed ID, which is established",
                &[ERROR_WHEN_DUE, ERROR_PER_TRY, ONE_ENDING],
                &[Drop, Ok],
                &[Need::Errors(1), Need::Tries(2), Need::Established],
            )
        },
        ClientCase {
            long: true,
            udp_only: true,
            level: Level::Robustness,
            reading: "a reply to the previous try's socket is not a reply to this try",
            ..case(
                "client.reply.late-to-old-socket-ignored",
                RETRY_QUOTE,
                "an OK for the first try sent late to its old socket is ignored; the second try's own OK is established",
                &[CURRENT_TRY],
                &[Silent, OldSocketLate],
                &[Need::Tries(2), Need::Established],
            )
        },
    ]
}

/// The client's lines on standard output, with when each was read.
fn client_lines(run: &Run) -> impl Iterator<Item = (&Event, &str)> {
    run.events
        .iter()
        .filter(|e| e.host == CLIENT)
        .filter_map(|e| match &e.kind {
            EventKind::Out(line) => Some((e, line.as_str())),
            _ => None,
        })
}

/// A line quoted with what differs from its exact form, or `None` if it is exact.
fn form_finding(line: &str, reading: &Reading) -> Option<String> {
    (!reading.differences.is_empty()).then(|| {
        format!(
            "{}: {}",
            shown(line.as_bytes()),
            reading.differences.join("; ")
        )
    })
}

/// The established line is exactly in its form.
fn established_form(run: &Run, _: &Times) -> Result<(), String> {
    let found = client_lines(run).find_map(|(_, line)| {
        read(line)
            .filter(|r| r.meaning == Meaning::Established)
            .map(|r| (line, r))
    });
    match found.and_then(|(line, r)| form_finding(line, &r)) {
        Some(finding) => Err(finding),
        None => Ok(()),
    }
}

/// Every Connection Error and Connection Failure line is exactly in its form.
fn error_and_failure_form(run: &Run, _: &Times) -> Result<(), String> {
    let wrong: Vec<String> = client_lines(run)
        .filter_map(|(_, line)| {
            let r = read(line).filter(|r| r.meaning != Meaning::Established)?;
            form_finding(line, &r)
        })
        .collect();
    match wrong.as_slice() {
        [] => Ok(()),
        [one] => Err(one.clone()),
        [first, rest @ ..] => Err(format!(
            "{first} (and {} more line{} like it)",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        )),
    }
}

/// The client's tries in a run: a request from a new socket or for a new ID (UDP), a connection
/// (TCP).
pub(crate) fn tries(run: &Run) -> usize {
    let mut last: Option<(SocketAddr, Vec<u8>)> = None;
    let mut n = 0;
    for e in run.events.iter().filter(|e| e.host == CLIENT) {
        match &e.kind {
            EventKind::Connected { .. } => n += 1,
            EventKind::Send {
                transport: Transport::Udp,
                from,
                payload,
                ..
            } => {
                let this = (*from, payload.clone());
                if last.as_ref() != Some(&this) {
                    n += 1;
                    last = Some(this);
                }
            }
            _ => {}
        }
    }
    n
}

/// What the case needed to see and did not, each said with what was seen instead.
fn unseen(needs: &[Need], run: &Run) -> Vec<String> {
    let meanings = meanings(run);
    let count = |m: Meaning| meanings.iter().filter(|x| **x == m).count();
    let printed: Vec<String> = client_lines(run)
        .map(|(_, line)| shown(line.as_bytes()))
        .collect();
    let output = match printed.len() {
        0 => "it printed nothing on standard output".to_string(),
        n if n <= 3 => format!("it printed {}", printed.join(", ")),
        n => format!("its last lines: {}", printed[n - 3..].join(", ")),
    };
    let traceback = run.events.iter().any(|e| {
        e.host == CLIENT && matches!(&e.kind, EventKind::Err(line) if line.starts_with("Traceback"))
    });
    let end = run.events.iter().rev().find_map(|e| match e.kind {
        EventKind::Exit(code) if e.host == CLIENT => Some(format!("exited with code {code}")),
        EventKind::Crash if e.host == CLIENT => Some("was killed by a signal".to_string()),
        _ => None,
    });
    let end = match (end, traceback) {
        (Some(end), true) => format!("{end} after a traceback"),
        (Some(end), false) => end,
        (None, _) => "was still running when the case ended".to_string(),
    };
    let output = format!("{output}; it {end}");
    let (errors, tried) = (count(Meaning::Error), tries(run));
    let mut out = Vec::new();
    for need in needs {
        match *need {
            Need::Established if count(Meaning::Established) == 0 => out.push(format!(
                "no line that reads as Connection established ({output})"
            )),
            Need::Failure if count(Meaning::Failure) == 0 => out.push(format!(
                "no line that reads as Connection Failure ({output})"
            )),
            Need::Errors(n) if errors < n => out.push(match errors {
                0 => format!("no line that reads as Connection Error ({output})"),
                k => format!("{k} of the {n} Connection Error lines needed ({output})"),
            }),
            Need::Tries(n) if tried < n => out.push(match (tried, errors) {
                (1, 1..) => "no second try: nothing was sent from a new socket or for a new ID after the first Connection Error".to_string(),
                (k, _) => format!("{k} of the {n} tries needed were seen"),
            }),
            _ => {}
        }
    }
    out
}

/// What the client's lines mean, in order (a line that means none of the three left out).
fn meanings(run: &Run) -> Vec<Meaning> {
    client_lines(run)
        .filter_map(|(_, line)| read(line).map(|r| r.meaning))
        .collect()
}

/// The run as the oracle judges meaning: each client line that reads as one of the three is put in
/// its exact form, a part it leaves out filled in from what the client did (the ID of its last
/// request, the address of the OK it was sent, the time it was printed). So a client is judged on
/// its timing, sockets and IDs, not on its spelling, which the format cases judge.
pub(crate) fn as_meant(run: &Run) -> (Run, Vec<(String, &'static str)>) {
    let mut meant = run.clone();
    // Each established line's message (`OK <id> <ip> <port>`) with a part conform filled in, and
    // which part.
    let mut filled = Vec::new();
    let mut last_id: Option<String> = None;
    let mut last_ok: Option<(String, SocketAddr)> = None;
    for e in &mut meant.events {
        match &e.kind {
            EventKind::Send { payload, .. } if e.host == CLIENT => {
                if let Ok(id) = protocol::parse_request(payload) {
                    last_id = Some(id.to_string());
                }
            }
            EventKind::Send { payload, .. } if e.host == SERVER => {
                if let Ok(protocol::Message::Ok(id, addr)) = protocol::parse(payload) {
                    last_ok = Some((id.to_string(), addr));
                }
            }
            EventKind::Out(line) if e.host == CLIENT => {
                let Some(r) = read(line) else {
                    continue;
                };
                let at =
                    Timestamp(r.at.unwrap_or(
                        run.epoch + chrono::Duration::from_std(e.at).unwrap_or_default(),
                    ));
                // The ID as printed where it is the one expected (an ID may end in punctuation the
                // lenient reading leaves out), else as read leniently, else the one expected.
                let id = |fallback: Option<String>| match (&r.raw_id, &fallback) {
                    (Some(raw), Some(expected)) if raw == expected => raw.clone(),
                    _ => r.id.clone().or(fallback).unwrap_or_default(),
                };
                // The same line in its exact form, written by connid's own line types; one whose ID
                // is no ID stays as printed.
                let line = match r.meaning {
                    Meaning::Error => ConnId::new(&id(last_id.clone()))
                        .ok()
                        .map(|id| ClientLine::Error { id, at }),
                    Meaning::Failure => Some(ClientLine::Failure { at }),
                    Meaning::Established => {
                        let addr = r
                            .addr
                            .or_else(|| last_ok.as_ref().map(|(_, a)| *a))
                            .unwrap_or_else(|| SocketAddr::new(LOOPBACK, 0));
                        let id = ConnId::new(&id(last_ok.as_ref().map(|(id, _)| id.clone()))).ok();
                        let part = match (r.id.is_none(), r.addr.is_none()) {
                            (true, true) => Some("the ID and the address"),
                            (true, false) => Some("the ID"),
                            (false, true) => Some("the address"),
                            (false, false) => None,
                        };
                        if let (Some(part), Some(id)) = (part, &id) {
                            filled.push((format!("OK {id} {} {}", addr.ip(), addr.port()), part));
                        }
                        id.map(|id| ClientLine::Established { id, addr, at })
                    }
                };
                if let Some(line) = line {
                    e.kind = EventKind::Out(line.to_string());
                }
            }
            _ => {}
        }
    }
    (meant, filled)
}

/// `text` with each established line's message conform filled in (`filled`, from [`as_meant`])
/// marked as inferred: what was inferred is never shown as printed.
pub(crate) fn mark_filled(text: &str, filled: &[(String, &'static str)]) -> String {
    filled
        .iter()
        .fold(text.to_string(), |text, (message, part)| {
            text.replace(
                &format!("({message})"),
                &format!("({message}, {part} inferred by conform: the line printed none)"),
            )
        })
}

/// `verdict` with each message that shows an established line conform filled in marked so: what
/// was inferred is never shown as printed.
fn marked(verdict: Verdict, filled: &[(String, &'static str)]) -> Verdict {
    let mark = |text: &str| mark_filled(text, filled);
    match verdict {
        Verdict::Fail { reason, details } => Verdict::Fail {
            reason: mark(&reason),
            details: details
                .into_iter()
                .map(|d| crate::Finding {
                    message: mark(&d.message),
                    ..d
                })
                .collect(),
        },
        other => other,
    }
}

/// The scenario a client case is judged against: one client with the case's IDs and the timers.
/// The scenario a client run named `name` is judged against: one client with `first_id`, the lines
/// typed and the timers.
pub(crate) fn scenario(
    name: &str,
    first_id: &str,
    port: u16,
    pace: Pace,
    typed: Vec<String>,
) -> Scenario {
    let times = pace.times();
    let mut s = judged_scenario(name, port, pace);
    s.clients.push(ClientSpec {
        name: CLIENT.to_string(),
        start: Dur(Duration::ZERO),
        id: first_id.to_string(),
        typed,
        typing: Dur(Duration::ZERO),
        timeout: Dur(times.timeout),
        tries: times.tries,
        settle: Dur(connid::defaults::SETTLE),
        server: None,
    });
    s
}

impl Answer {
    /// The plan the checker's server answers a try by.
    pub fn plan(self) -> TryPlan {
        let at = |after_ms, what| Reply { after_ms, what };
        let right_after = |wrong| TryPlan {
            lost: false,
            replies: vec![
                at(0, wrong),
                at(WRONG_FIRST.as_millis() as u64, ReplyKind::Ok),
            ],
        };
        match self {
            Answer::Ok => TryPlan::ok(),
            Answer::Reset => TryPlan {
                lost: false,
                replies: vec![at(0, ReplyKind::Reset)],
            },
            Answer::Silent => TryPlan::default(),
            Answer::Drop => TryPlan {
                lost: true,
                replies: Vec::new(),
            },
            Answer::OtherIdFirst => right_after(ReplyKind::OkOther(Twist::Distinct)),
            Answer::MalformedFirst => right_after(ReplyKind::Malformed(Garble::NoAddress)),
            Answer::OldSocketLate => right_after(ReplyKind::OldSocket),
            Answer::OtherPortFirst => right_after(ReplyKind::OtherPort),
        }
    }

    /// What the checker does with a try, in words.
    fn words(self) -> &'static str {
        match self {
            Answer::Ok => "OK",
            Answer::Reset => "RESET",
            Answer::Silent => "no answer",
            Answer::Drop => "the request lost",
            Answer::OtherIdFirst => "an OK for another ID, then the OK",
            Answer::MalformedFirst => "a malformed reply, then the OK",
            Answer::OldSocketLate => "an OK for the try before to its socket, then the OK",
            Answer::OtherPortFirst => "an OK from another port, then the OK",
        }
    }
}

impl ClientCase {
    /// What the case gives the client.
    pub fn plan(&self) -> ClientPlan {
        ClientPlan {
            first_id: self.first_id.to_string(),
            typed: self.typed.iter().map(|t| t.to_string()).collect(),
            end_input: self.end_input,
            tries: self.answers.iter().map(|a| a.plan()).collect(),
        }
    }

    /// Every result of the case before it has run, from its own (`blank`): that one alone.
    fn blank_results(&self, blank: CaseResult) -> Vec<CaseResult> {
        vec![blank]
    }

    /// What the checker gives the client in this case, in words: the ID on its command line, the
    /// answer to each try, and what it types.
    pub fn sends(&self) -> String {
        let answers: Vec<&str> = self.answers.iter().map(|a| a.words()).collect();
        let typed = match (self.typed, self.end_input) {
            ([], true) => "input ends at the first prompt".to_string(),
            (typed, end) => format!(
                "{} typed after the Connection Errors, then input {}",
                typed.join(" and "),
                if end { "ends" } else { "stays open" }
            ),
        };
        format!(
            "ID {} on the command line; to its tries: {}; {typed}",
            self.first_id,
            answers.join(", ")
        )
    }

    fn result_count(&self) -> usize {
        1
    }

    /// About how long the case takes: a timeout per unanswered try, a moment per prompt, and a second
    /// to start and stop the client.
    fn wall_estimate(&self, times: &Times) -> Duration {
        let unanswered = self
            .answers
            .iter()
            .filter(|a| matches!(a, Answer::Silent | Answer::Drop))
            .count() as u32;
        times.timeout * unanswered
            + Duration::from_millis(200) * self.answers.len() as u32
            + Duration::from_secs(1)
    }
}

impl_case!(ClientCase, run_case);

/// How long the keyboard waits after a Connection Error for the client to ask for input before it
/// types anyway (a client may read its input in a way the keyboard cannot see: `select` on it, say).
const PROMPT_WAIT: Duration = Duration::from_millis(700);

/// How often the keyboard looks whether the client asks for input while a Connection Error waits
/// for its answer.
const ASK_LOOK: Duration = Duration::from_millis(2);

/// The checker's keyboard: what it types into the client, recorded with the prompt it answers. It
/// types after a Connection Error, once, when the client reads its input ([`crate::asking`]), never
/// because some text looks like a prompt.
struct Keyboard<'a> {
    plan: &'a ClientPlan,
    stdin: Option<tokio::process::ChildStdin>,
    recorder: &'a Recorder,
    start: Instant,
    /// The lines typed so far.
    typed: Vec<String>,
}

impl Keyboard<'_> {
    /// What to give the client next: the next line to type, or `None` to end input; `Some(None)`
    /// when there is nothing to give unasked.
    fn next(&self, asked: bool) -> Option<Option<String>> {
        match self.plan.typed.get(self.typed.len()) {
            Some(id) => Some(Some(id.to_string())),
            None if self.plan.end_input => Some(None),
            // Input stays open: only a client that asks gets a line (which no client with no try
            // left should ask for).
            None if asked => Some(Some("4444".to_string())),
            None => None,
        }
    }

    async fn give(&mut self, input: Option<String>) {
        match &input {
            Some(line) => {
                if let Some(stdin) = self.stdin.as_mut() {
                    let _ = stdin.write_all(format!("{line}\n").as_bytes()).await;
                    crate::clock::sent();
                    let _ = stdin.flush().await;
                }
                self.typed.push(line.clone());
            }
            None => {
                self.stdin = None;
                crate::clock::input_ended();
            }
        }
    }

    /// Answers the Connection Error owed: the client asked for input (`asked`), or showed text
    /// without a line ending and waited; either way that text, taken from `shown`, is the prompt
    /// answered. Types unasked when it neither asked nor showed any.
    async fn answer(&mut self, shown: &Unfinished, asked: bool) {
        match shown.take().await {
            Some((at, prompt)) => self.prompt(at, prompt).await,
            None if asked => self.prompt(self.start.elapsed(), String::new()).await,
            None => self.unasked().await,
        }
    }

    /// The client asks for input, showing `prompt` since `at`: answer it, and record it with the
    /// answer.
    async fn prompt(&mut self, at: Duration, prompt: String) {
        let input = if self.stdin.is_some() {
            self.next(true).flatten()
        } else {
            None
        };
        self.give(input.clone()).await;
        let after = self.start.elapsed().saturating_sub(at);
        self.recorder.record(
            at,
            CLIENT,
            EventKind::Prompt {
                prompt,
                typed: input,
                after,
            },
        );
    }

    /// The client did not ask after a Connection Error: type the next line (or end input) unasked.
    async fn unasked(&mut self) {
        if self.stdin.is_none() {
            return;
        }
        if let Some(input) = self.next(false) {
            self.give(input.clone()).await;
            self.recorder
                .record(self.start.elapsed(), CLIENT, EventKind::Keyboard(input));
        }
    }
}

/// Runs one case against a fresh child of `program`, the checker serving on a free port.
pub async fn run_case(
    case: &ClientCase,
    program: &Program,
    transport: Transport,
    pace: Pace,
) -> Vec<CaseResult> {
    vec![run_one(case, program, transport, pace).await]
}

async fn run_one(
    case: &ClientCase,
    program: &Program,
    transport: Transport,
    pace: Pace,
) -> CaseResult {
    let times = pace.times();
    let mut result = CaseResult::new(case.id, case.quote, case.level, transport)
        .described(case.reading, case.expect)
        .sending(case.sends());
    let played = match play_client(&case.plan(), program, transport, pace).await {
        Ok(played) => played,
        Err(why) => {
            result.verdict = Verdict::failed(why);
            return result;
        }
    };
    let ClientPlayed {
        recorder,
        start,
        epoch,
        port,
        typed,
        sent,
        stderr,
    } = played;
    result.stderr = stderr;
    let run = told_run(&mut result, &recorder, &[SERVER, CLIENT], start, epoch);
    result.verdict = judge_run(case, program, transport, pace, port, &run, typed, &sent);
    result.absent = !reached(&run);
    if matches!(result.verdict, Verdict::Fail { .. }) && !result.absent {
        result.shortfall = owner_of_unmet(case.needs, &run)
            .or_else(|| asked_after_last_try(&result.verdict, times.tries));
    }
    result
}

/// What the checker gives a client in one run: the ID on its command line, the lines it types after
/// each Connection Error, whether input then ends, and how its server answers each try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPlan {
    pub first_id: String,
    pub typed: Vec<String>,
    /// When the typed lines run out: end input, or keep it open (and type `4444` only into a prompt
    /// that shows).
    pub end_input: bool,
    /// How each try is answered; tries beyond the list get an OK at once.
    pub tries: Vec<TryPlan>,
}

/// What one run of a client recorded, not yet judged.
pub struct ClientPlayed {
    pub recorder: Recorder,
    pub start: Instant,
    /// The wall clock's reading at `start`.
    pub epoch: chrono::NaiveDateTime,
    /// The checker's server's port.
    pub port: u16,
    /// What the keyboard typed.
    pub typed: Vec<String>,
    /// Where the client sent, as the clock's library saw it.
    pub sent: Vec<crate::clock::Sent>,
    pub stderr: String,
}

/// Runs a fresh child of `program` against the checker's server answering as `plan` says, the
/// keyboard typing as it says, until the client ends or has surely had time to. `Err` says why it
/// could not be run at all.
pub async fn play_client(
    plan: &ClientPlan,
    program: &Program,
    transport: Transport,
    pace: Pace,
) -> Result<ClientPlayed, String> {
    // The checker waits in real time; the program's own timers (passed as arguments) are its own.
    let times = pace.times();
    let recorder = Recorder::new();
    let start = Instant::now();
    let epoch = SystemClock.now();
    let (port, server_task) = serve(transport, plan.tries.clone(), &recorder, start)
        .await
        .map_err(|e| format!("cannot serve on loopback: {e}"))?;
    let fill = Fill {
        ip: LOOPBACK,
        port,
        transport,
        times: pace.times(),
        id: plan.first_id.clone(),
    };
    let argv = program.command(&fill);
    let (printed_tx, mut printed) = mpsc::unbounded_channel();
    let spawned = Child::spawn(
        program.launch(&argv),
        CLIENT,
        &recorder,
        start,
        Stdio::piped(),
        Some(printed_tx),
    );
    let (mut child, stdin) = match spawned {
        Ok(spawned) => spawned,
        Err(e) => {
            server_task.abort();
            return Err(format!("cannot start {}: {e}", argv.join(" ")));
        }
    };
    let mut keyboard = Keyboard {
        plan,
        stdin,
        recorder: &recorder,
        start,
        typed: Vec::new(),
    };
    let limit =
        times.timeout * (times.tries + 1) + PROMPT_WAIT * times.tries + Duration::from_secs(5);
    let deadline = Instant::now() + limit;
    converse(&mut printed, &mut keyboard, &child, deadline).await;
    let typed = std::mem::take(&mut keyboard.typed);
    drop(keyboard);
    child
        .wait(deadline.saturating_duration_since(Instant::now()))
        .await;
    let stderr = child.stop().await;
    // Where it sent, as the clock's library saw it: what says a client sent to a port of its own.
    let sent = crate::clock::sends();
    // Replies still being sent finish, so their events are in the record.
    crate::clock::sleep(Duration::from_millis(50)).await;
    server_task.abort();
    Ok(ClientPlayed {
        recorder,
        start,
        epoch,
        port,
        typed,
        sent,
        stderr,
    })
}

/// `client.failure.after-three-tries`, which owns it, if `verdict` failed for a prompt after the
/// last of `tries` tries: asking for another ID once no try is left is one defect, failed once.
fn asked_after_last_try(verdict: &Verdict, tries: u32) -> Option<&'static str> {
    let Verdict::Fail { details, .. } = verdict else {
        return None;
    };
    let after_last = format!(" prompts after {tries} of {tries} tries");
    details
        .iter()
        .any(|d| d.rule == Some(PROMPT) && d.message.contains(&after_last))
        .then_some("client.failure.after-three-tries")
}

/// Whether the client reached the checker's server at all (sent to it, or connected).
pub(crate) fn reached(run: &Run) -> bool {
    run.events.iter().any(|e| {
        e.host == CLIENT && matches!(e.kind, EventKind::Send { .. } | EventKind::Connected { .. })
    })
}

/// The case whose requirement covers the first need of `needs` the run does not meet: a Connection
/// established is `client.established.own-address`'s; a second try (and the errors and tries that
/// come only with it) `client.reset.error-then-prompt`'s; a third try and the Connection Failure
/// `client.failure.after-three-tries`'s. Those cases come first in the report, so a client that
/// lacks one of them fails there once and every later case that needed it is not judged.
fn owner_of_unmet(needs: &[Need], run: &Run) -> Option<&'static str> {
    let meanings = meanings(run);
    let count = |m: Meaning| meanings.iter().filter(|x| **x == m).count();
    let tried = tries(run);
    // A third try is after-three-tries' once a second one was seen; a second, error-then-prompt's.
    let retries = |n: usize| match tried >= 2 && n >= 3 {
        true => "client.failure.after-three-tries",
        false => "client.reset.error-then-prompt",
    };
    needs.iter().find_map(|need| match *need {
        Need::Established if count(Meaning::Established) == 0 => {
            Some("client.established.own-address")
        }
        Need::Failure if count(Meaning::Failure) == 0 => Some(retries(3)),
        Need::Errors(n) if count(Meaning::Error) < n => Some(retries(n)),
        Need::Tries(n) if tried < n => Some(retries(n)),
        _ => None,
    })
}

/// The verdict on a client's run: failed where it never reached the checker's server (saying where
/// it was seen sending instead, if it was), else the oracle's on the case's rules.
#[allow(clippy::too_many_arguments)]
fn judge_run(
    case: &ClientCase,
    program: &Program,
    transport: Transport,
    pace: Pace,
    port: u16,
    run: &Run,
    typed: Vec<String>,
    sent: &[crate::clock::Sent],
) -> Verdict {
    if !reached(run) {
        let found: Vec<(Transport, u16, String)> = sent
            .iter()
            .map(|s| (s.transport, s.port, s.to_string()))
            .collect();
        let given = std::net::SocketAddr::new(LOOPBACK, port);
        let seen = ("the client sent to", "to");
        return match crate::elsewhere(seen, &found, program, transport, given) {
            Some(why) => Verdict::failed(why),
            None => Verdict::failed(format!(
                "the client never reached the checker's server over {transport} 127.0.0.1:{port} ({})",
                crate::ONE_TRANSPORT
            )),
        };
    }
    let scenario = scenario(case.id, case.first_id, port, pace, typed);
    let own = case.own.map_or(Ok(()), |own| own(run, &pace.times()));
    let (meant, filled) = as_meant(run);
    let judged = if case.exact_lines { run } else { &meant };
    let mut unseen = unseen(case.needs, run);
    // What the case did not see may be for want of an answer to a request in a wrong form: said
    // first, as the cause.
    if let (false, Some(request)) = (unseen.is_empty(), wrong_request(run)) {
        unseen.insert(
            0,
            format!(
                "its request {request} is not in the form HELLO <id>, so the checker's server, as one that follows the assignment, did not answer it"
            ),
        );
    }
    marked(
        verdict(&scenario, judged, pace, case.rules, unseen, own),
        &filled,
    )
}

/// The first request the client sent that is not in the `HELLO <id>` form, as shown.
fn wrong_request(run: &Run) -> Option<String> {
    run.events.iter().find_map(|e| match &e.kind {
        EventKind::Send { payload, .. }
            if e.host == CLIENT && protocol::parse_request(payload).is_err() =>
        {
            Some(shown(payload))
        }
        _ => None,
    })
}

/// Reads what the client prints until it ends or `deadline` (its lines are recorded as they come),
/// and has the keyboard answer each Connection Error: when the client asks for input, or after
/// [`PROMPT_WAIT`] if it does not.
async fn converse(
    printed: &mut mpsc::UnboundedReceiver<Printed>,
    keyboard: &mut Keyboard<'_>,
    child: &Child,
    deadline: Instant,
) {
    // Set by a Connection Error the keyboard has not answered yet: until when it waits for the
    // client to ask.
    let mut owed: Option<Instant> = None;
    loop {
        if owed.is_some() && child.pid().is_some_and(crate::asking::asking) {
            owed = None;
            keyboard.answer(child.unfinished(), true).await;
            continue;
        }
        let wake = owed.map_or(deadline, |t| t.min(deadline).min(Instant::now() + ASK_LOOK));
        let next = tokio::select! {
            next = printed.recv() => match next {
                Some(p) => Some(p),
                None => break,
            },
            _ = crate::clock::sleep_until(wake) => None,
        };
        let now = Instant::now();
        match next {
            None if now >= deadline => break,
            None if owed.is_some_and(|t| now >= t) => {
                owed = None;
                keyboard.answer(child.unfinished(), false).await;
            }
            None => {}
            Some(Printed(_, text)) if read(&text).is_some_and(|r| r.meaning == Meaning::Error) => {
                if owed.is_some() {
                    keyboard.answer(child.unfinished(), false).await;
                }
                owed = Some(now + PROMPT_WAIT);
            }
            Some(_) => {}
        }
    }
}

/// The client cases that run for these options, with their transports, in report order.
pub fn selected(
    transports: &[Transport],
    quick: bool,
    only: Option<&str>,
) -> Vec<(ClientCase, Transport)> {
    select(transports, quick, only, cases, |c, t| {
        c.udp_only && t != Transport::Udp
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answering::outgoing;

    #[test]
    fn a_wrong_reply_comes_first_and_the_right_one_after_a_pause() {
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let old: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let sent = |answer: Answer, id: &str, previous: Option<&(SocketAddr, String)>| {
            outgoing(&answer.plan(), id, from, previous)
                .into_iter()
                .map(|o| (o.after, o.to, o.text, o.elsewhere))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            sent(Answer::OtherIdFirst, "7", None),
            [
                (
                    Duration::ZERO,
                    from,
                    "OK 99999 127.0.0.1 5000".to_string(),
                    false
                ),
                (WRONG_FIRST, from, "OK 7 127.0.0.1 5000".to_string(), false)
            ]
        );
        assert_eq!(
            sent(Answer::OldSocketLate, "8", Some(&(old, "7".to_string()))),
            [
                (
                    Duration::ZERO,
                    old,
                    "OK 7 127.0.0.1 4000".to_string(),
                    false
                ),
                (WRONG_FIRST, from, "OK 8 127.0.0.1 5000".to_string(), false)
            ]
        );
        // The forgery: the right ID, another address, from another port; then the right OK.
        assert_eq!(
            sent(Answer::OtherPortFirst, "7", None),
            [
                (Duration::ZERO, from, "OK 7 10.9.9.9 9".to_string(), true),
                (WRONG_FIRST, from, "OK 7 127.0.0.1 5000".to_string(), false)
            ]
        );
        assert!(sent(Answer::Drop, "7", None).is_empty() && Answer::Drop.plan().lost);
        assert!(sent(Answer::Silent, "7", None).is_empty() && !Answer::Silent.plan().lost);
        assert_eq!(sent(Answer::Reset, "7", None)[0].2, "RESET 7");
        assert_eq!(sent(Answer::Ok, "7", None)[0].2, "OK 7 127.0.0.1 5000");
        let malformed = sent(Answer::MalformedFirst, "7", None);
        assert!(protocol::parse(malformed[0].2.as_bytes()).is_err());
    }

    fn run(events: Vec<(f64, &str, EventKind)>) -> Run {
        Run {
            transport: Transport::Udp,
            hosts: vec![(SERVER.into(), LOOPBACK), (CLIENT.into(), LOOPBACK)],
            events: events
                .into_iter()
                .map(|(at, host, kind)| Event {
                    at: Duration::from_secs_f64(at),
                    host: host.into(),
                    kind,
                })
                .collect(),
            epoch: chrono::NaiveDate::from_ymd_opt(2026, 12, 2)
                .unwrap()
                .and_hms_opt(10, 0, 0)
                .unwrap(),
            simulated: Duration::from_secs(2),
            hit_limit: false,
            steps: 0,
        }
    }

    fn send(from: &str, to: &str, payload: &str) -> EventKind {
        EventKind::Send {
            msg: 0,
            transport: Transport::Udp,
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
            payload: payload.as_bytes().to_vec(),
            delivered: Some(Duration::ZERO),
        }
    }

    fn out(line: &str) -> EventKind {
        EventKind::Out(line.to_string())
    }

    /// Every line printed in `run`, by anyone, in order.
    fn printed(run: Run) -> Vec<String> {
        run.events
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::Out(line) => Some(line),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_try_is_a_request_from_a_new_socket_or_for_a_new_id() {
        let (a, b, s) = ("127.0.0.1:4000", "127.0.0.1:4001", "127.0.0.1:5000");
        let r = run(vec![
            (0.1, CLIENT, send(a, s, "HELLO 1")),
            (0.2, CLIENT, send(a, s, "HELLO 1")),
            (0.3, SERVER, send(s, a, "RESET 1")),
            (0.4, CLIENT, send(a, s, "HELLO 2")),
            (0.5, CLIENT, send(b, s, "HELLO 2")),
        ]);
        assert_eq!(tries(&r), 3);
    }

    #[test]
    fn what_a_case_did_not_see_is_said_with_what_the_client_did() {
        let (a, s) = ("127.0.0.1:4000", "127.0.0.1:5000");
        let r = run(vec![
            (0.1, CLIENT, send(a, s, "HELLO 1001")),
            (0.2, CLIENT, out("Connection error 1001")),
            (
                0.3,
                CLIENT,
                EventKind::Err("Traceback (most recent call last):".into()),
            ),
            (0.4, CLIENT, EventKind::Exit(1)),
        ]);
        let needs = [
            Need::Established,
            Need::Failure,
            Need::Errors(1),
            Need::Errors(3),
            Need::Tries(1),
            Need::Tries(2),
        ];
        let seen = "it printed \"Connection error 1001\"; it exited with code 1 after a traceback";
        assert_eq!(
            unseen(&needs, &r),
            [
                format!("no line that reads as Connection established ({seen})"),
                format!("no line that reads as Connection Failure ({seen})"),
                format!("1 of the 3 Connection Error lines needed ({seen})"),
                "no second try: nothing was sent from a new socket or for a new ID after the first Connection Error".to_string(),
            ]
        );
        let silent = run(vec![(0.1, CLIENT, send(a, s, "HELLO 1001"))]);
        assert_eq!(
            unseen(&[Need::Errors(1), Need::Tries(3)], &silent),
            [
                "no line that reads as Connection Error (it printed nothing on standard output; it was still running when the case ended)".to_string(),
                "1 of the 3 tries needed were seen".to_string(),
            ]
        );
    }

    #[test]
    fn an_id_that_ends_in_punctuation_is_read_as_printed() {
        let (a, s) = ("127.0.0.1:4000", "127.0.0.1:5000");
        let r = run(vec![
            (0.1, CLIENT, send(a, s, "HELLO [a]:(")),
            (
                0.2,
                CLIENT,
                out("Connection Error [a]:( on 2026-12-02 10:00:00.200000"),
            ),
            (0.3, CLIENT, send(a, s, "HELLO (b),")),
            (0.4, SERVER, send(s, a, "OK (b), 127.0.0.1 4000")),
            (
                0.5,
                CLIENT,
                out("Connection established (b), 127.0.0.1 4000 on 2026-12-02 10:00:00.500000"),
            ),
            // Punctuation around an ID that is not the one asked is still left out.
            (
                0.6,
                CLIENT,
                out("Connection Error: (b)x, on 2026-12-02 10:00:00.600000"),
            ),
        ]);
        let (meant, _) = as_meant(&r);
        assert_eq!(
            printed(meant),
            [
                "Connection Error [a]:( on 2026-12-02 10:00:00.200000",
                "Connection established (b), 127.0.0.1 4000 on 2026-12-02 10:00:00.500000",
                "Connection Error b)x on 2026-12-02 10:00:00.600000",
            ]
        );
    }

    #[test]
    fn lines_are_judged_for_their_meaning_with_missing_parts_filled_in() {
        let (a, s) = ("127.0.0.1:4000", "127.0.0.1:5000");
        let r = run(vec![
            (0.1, CLIENT, send(a, s, "HELLO 1001")),
            (1.5, CLIENT, out("Connection Timeout")),
            (1.6, CLIENT, send(a, s, "HELLO 1002")),
            (1.7, SERVER, send(s, a, "OK 1002 127.0.0.1 4000")),
            (1.8, CLIENT, out("Connection established  1002")),
            (1.9, CLIENT, out("bye")),
            (1.95, SERVER, out("Connection Error 7")),
        ]);
        let (meant, filled) = as_meant(&r);
        // What was inferred is said so wherever a finding shows it.
        assert_eq!(
            filled,
            [("OK 1002 127.0.0.1 4000".to_string(), "the address")]
        );
        let said = marked(
            Verdict::failed("client prints established (OK 1002 127.0.0.1 4000) late".into()),
            &filled,
        );
        assert_eq!(
            said,
            Verdict::failed("client prints established (OK 1002 127.0.0.1 4000, the address inferred by conform: the line printed none) late".into())
        );
        assert_eq!(
            printed(meant),
            [
                "Connection Error 1001 on 2026-12-02 10:00:01.500000",
                "Connection established 1002 127.0.0.1 4000 on 2026-12-02 10:00:01.800000",
                "bye",
                "Connection Error 7",
            ]
        );
    }

    #[test]
    fn over_tcp_a_try_is_a_connection() {
        let (a, s) = (
            "127.0.0.1:4000".parse().unwrap(),
            "127.0.0.1:5000".parse().unwrap(),
        );
        let connected = || EventKind::Connected { from: a, to: s };
        let r = run(vec![(0.1, CLIENT, connected()), (0.2, CLIENT, connected())]);
        assert_eq!(tries(&r), 2);
    }

    #[test]
    fn a_need_that_is_met_says_nothing_and_long_output_shows_its_last_lines() {
        let (a, s) = ("127.0.0.1:4000", "127.0.0.1:5000");
        let r = run(vec![
            (0.1, CLIENT, send(a, s, "HELLO 1001")),
            (0.2, CLIENT, out("one")),
            (0.3, CLIENT, out("two")),
            (
                0.4,
                CLIENT,
                out("Connection Error 1001 on 2026-12-02 10:00:00.400000"),
            ),
            (
                0.5,
                CLIENT,
                out("Connection Failure on 2026-12-02 10:00:00.500000"),
            ),
            (
                0.6,
                SERVER,
                EventKind::Err("Traceback (most recent call last):".into()),
            ),
            (0.8, CLIENT, EventKind::Exit(0)),
            (0.9, SERVER, EventKind::Exit(3)),
            (0.9, SERVER, EventKind::Crash),
        ]);
        assert!(unseen(&[Need::Failure, Need::Errors(1), Need::Tries(1)], &r).is_empty());
        assert_eq!(
            unseen(&[Need::Established], &r),
            ["no line that reads as Connection established (its last lines: \"two\", \"Connection Error 1001 on 2026-12-02 10:00:00.400000\", \"Connection Failure on 2026-12-02 10:00:00.500000\"; it exited with code 0)"]
        );
        let done = run(vec![(
            0.1,
            CLIENT,
            out("Connection established 1 127.0.0.1 4000 on 2026-12-02 10:00:00.100000"),
        )]);
        assert!(unseen(&[Need::Established], &done).is_empty());
        let killed = run(vec![(0.1, CLIENT, EventKind::Crash)]);
        assert_eq!(
            unseen(&[Need::Established], &killed),
            ["no line that reads as Connection established (it printed nothing on standard output; it was killed by a signal)"]
        );
    }

    #[test]
    fn the_format_cases_quote_each_line_that_differs_and_pass_exact_ones() {
        let exact = run(vec![
            (
                0.1,
                CLIENT,
                out("Connection Error 1 on 2026-12-02 10:00:00.100000"),
            ),
            (
                0.2,
                CLIENT,
                out("Connection Failure on 2026-12-02 10:00:00.200000"),
            ),
            (
                0.3,
                CLIENT,
                out("Connection established 1 127.0.0.1 4000 on 2026-12-02 10:00:00.300000"),
            ),
        ]);
        let times = crate::Timing::Scaled.times();
        assert_eq!(error_and_failure_form(&exact, &times), Ok(()));
        assert_eq!(established_form(&exact, &times), Ok(()));
        let loose = run(vec![
            (0.1, CLIENT, out("Connection error 1")),
            (0.2, CLIENT, out("Connection Error 2")),
            (0.25, CLIENT, out("Connection Error 3")),
            (0.3, CLIENT, out("Connection established  1 127.0.0.1 4000")),
        ]);
        assert_eq!(
            error_and_failure_form(&loose, &times),
            Err("\"Connection error 1\": `error` instead of `Error`; no timestamp (and 2 more lines like it)".to_string())
        );
        let two = run(vec![
            (0.1, CLIENT, out("Connection Error 1")),
            (0.2, CLIENT, out("Connection Failure")),
        ]);
        assert_eq!(
            error_and_failure_form(&two, &times),
            Err("\"Connection Error 1\": no timestamp (and 1 more line like it)".to_string())
        );
        assert_eq!(
            established_form(&loose, &times),
            Err("\"Connection established  1 127.0.0.1 4000\": 2 spaces after `established`; no timestamp".to_string())
        );
    }
}
