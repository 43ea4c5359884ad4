//! The client suite: the checker is the server and the keyboard. It answers each try as the case says
//! (OK, RESET, silence, a lost request, a reply for another ID, a malformed reply, a late OK to the
//! previous try's socket), types the next ID after each Connection Error, and judges the run with the
//! oracle's client rules.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use connid::framing::{Frame, Framer};
use connid::lines::ClientLine;
use connid::protocol;
use connid::{Clock, SystemClock, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::child::Child;
use super::{
    judged_scenario, select, told_run, verdict, CaseResult, Fill, Level, OwnCheck, Program, Times,
    Timing, Verdict, LOOPBACK,
};
use crate::events::{EventKind, Recorder, Run};
use crate::oracle::{
    self, CURRENT_TRY, ERROR_PER_TRY, ERROR_WHEN_DUE, IN_TIME, NEW_SOCKET, ONE_ENDING, PROMPT,
    REPLY_SOURCE, TIMESTAMPS, TRIES, TYPED_ID,
};
use crate::scenario::{ClientSpec, Dur, Scenario, SERVER};

/// The client's host name in transcripts.
pub const CLIENT: &str = "client";

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

/// How long an unanswered TCP connection is held open: longer than any case.
const HOLD: Duration = Duration::from_secs(600);

/// How long the wrong reply comes before the right one.
const WRONG_FIRST: Duration = Duration::from_millis(300);

/// One case of the client suite.
pub struct ClientCase {
    /// The requirement it checks: `client.<part>.<what>`.
    pub id: &'static str,
    pub quote: &'static str,
    pub rules: &'static [&'static str],
    /// Whether it waits for the client's timeout (not run with `--quick`).
    pub long: bool,
    pub level: Level,
    pub udp_only: bool,
    /// The ID on the command line.
    pub first_id: &'static str,
    /// Typed after each Connection Error in turn.
    pub typed: &'static [&'static str],
    /// When the typed lines run out: end input, or keep it open and type one more line (which a
    /// client with no try left must never use).
    pub end_input: bool,
    /// The answer to each try; tries beyond the list get OK.
    pub answers: &'static [Answer],
    /// A check of its own over the run, for what no oracle rule covers.
    pub own: Option<OwnCheck>,
}

const ESTABLISHED_QUOTE: &str = "If the client receives an OK message, it prints out a \u{201c}Connection established\u{201d} message, indicating the connectionID, its IP address, its port number, and the current timestamp. Then, the client exits gracefully";
const RETRY_QUOTE: &str = "it prints out a \u{201c}Connection Error\u{201d} message with the connection ID and the current timestamp, and asks the user to enter a new connection ID. Then, it retries to establish a connection again with a newly created socket and with this newly entered connection ID";
const FAILURE_QUOTE: &str = "After three tries to establish a connection without success to the same server, the client prints a \u{201c}Connection Failure\u{201d} message with the current timestamp and exits gracefully";
const TIMEOUT_QUOTE: &str = "If the client doesn\u{2019}t receive a reply within 15 seconds, it should timeout and follow the protocol below";
/// The nearest sentence of the assignment, which does not say that the OK must come from the server
/// (over UDP anyone can send to the client's socket): the case's rule says it.
const SOURCE_QUOTE: &str = "If the client receives an OK message, it prints out a \u{201c}Connection established\u{201d} message";
const FORMAT_QUOTE: &str = "Connection Error print out example: \u{201c}Connection Error 2678 on 2023- 01-16 06:06:06.123456\u{201d}";

/// Every client case, in the order they are reported.
pub fn cases() -> Vec<ClientCase> {
    let case = |id, quote, rules, answers| ClientCase {
        id,
        quote,
        rules,
        long: false,
        level: Level::Required,
        udp_only: false,
        first_id: "1001",
        typed: &["1002", "1003"],
        end_input: false,
        answers,
        own: None,
    };
    use Answer::*;
    vec![
        case(
            "client.established.own-address",
            ESTABLISHED_QUOTE,
            &[CURRENT_TRY, ONE_ENDING, IN_TIME],
            &[Ok],
        ),
        ClientCase {
            own: Some(established_timestamp_shape),
            ..case(
                "client.established.timestamp-format",
                FORMAT_QUOTE,
                &[TIMESTAMPS],
                &[Ok],
            )
        },
        case(
            "client.reset.error-then-prompt",
            RETRY_QUOTE,
            &[
                ERROR_PER_TRY,
                ERROR_WHEN_DUE,
                PROMPT,
                ONE_ENDING,
                CURRENT_TRY,
            ],
            &[Reset, Ok],
        ),
        case(
            "client.retry.typed-id",
            RETRY_QUOTE,
            &[TYPED_ID],
            &[Reset, Ok],
        ),
        case(
            "client.retry.new-socket",
            RETRY_QUOTE,
            &[NEW_SOCKET],
            &[Reset, Ok],
        ),
        case(
            "client.failure.after-three-tries",
            FAILURE_QUOTE,
            &[TRIES, ERROR_PER_TRY, ONE_ENDING],
            &[Reset, Reset, Reset, Reset],
        ),
        ClientCase {
            typed: &[],
            end_input: true,
            ..case(
                "client.failure.end-of-input",
                FAILURE_QUOTE,
                &[ONE_ENDING, PROMPT],
                &[Reset, Ok],
            )
        },
        ClientCase {
            level: Level::Robustness,
            ..case(
                "client.reply.other-id-ignored",
                TIMEOUT_QUOTE,
                &[CURRENT_TRY, ERROR_WHEN_DUE],
                &[OtherIdFirst],
            )
        },
        ClientCase {
            level: Level::Robustness,
            ..case(
                "client.reply.malformed-ignored",
                TIMEOUT_QUOTE,
                &[CURRENT_TRY, ERROR_WHEN_DUE, ONE_ENDING],
                &[MalformedFirst],
            )
        },
        ClientCase {
            level: Level::Robustness,
            udp_only: true,
            ..case(
                "client.reply.other-port-ignored",
                SOURCE_QUOTE,
                &[REPLY_SOURCE, CURRENT_TRY, ERROR_WHEN_DUE],
                &[OtherPortFirst],
            )
        },
        ClientCase {
            long: true,
            ..case(
                "client.timeout.error-at-timeout",
                TIMEOUT_QUOTE,
                &[ERROR_WHEN_DUE],
                &[Silent, Ok],
            )
        },
        ClientCase {
            long: true,
            udp_only: true,
            ..case(
                "client.timeout.lost-request-retried",
                TIMEOUT_QUOTE,
                &[ERROR_WHEN_DUE, ERROR_PER_TRY, ONE_ENDING],
                &[Drop, Ok],
            )
        },
        ClientCase {
            long: true,
            udp_only: true,
            level: Level::Robustness,
            ..case(
                "client.reply.late-to-old-socket-ignored",
                RETRY_QUOTE,
                &[CURRENT_TRY],
                &[Silent, OldSocketLate],
            )
        },
    ]
}

/// The established line ends in a timestamp of exactly the assignment's shape.
fn established_timestamp_shape(run: &Run, _: &Times) -> Result<(), String> {
    let line = run
        .events
        .iter()
        .filter(|e| e.host == CLIENT)
        .find_map(|e| match &e.kind {
            EventKind::Out(line) if line.starts_with("Connection established") => Some(line),
            _ => None,
        })
        .ok_or("the client printed no Connection established line")?;
    match oracle::timestamps(line).as_slice() {
        [ts] if line.ends_with(ts) => Ok(()),
        _ => Err(format!(
            "{line:?} does not end in a timestamp shaped YYYY-MM-DD HH:MM:SS.ffffff"
        )),
    }
}

/// The replies the checker sends for one try: after how long, to where, what, and whether from another
/// port than the one asked.
fn replies(
    answer: Answer,
    id: &str,
    from: SocketAddr,
    previous: Option<&(SocketAddr, String)>,
) -> Vec<(Duration, SocketAddr, String, bool)> {
    let ok = |id: &str, to: SocketAddr| format!("OK {id} {} {}", to.ip(), to.port());
    // From the port asked, as every reply but a forgery.
    let asked = |delay, to, text| (delay, to, text, false);
    let other = if id == "99999" { "99998" } else { "99999" };
    match answer {
        Answer::Ok => vec![asked(Duration::ZERO, from, ok(id, from))],
        Answer::Reset => vec![asked(Duration::ZERO, from, format!("RESET {id}"))],
        Answer::Silent | Answer::Drop => Vec::new(),
        Answer::OtherIdFirst => vec![
            asked(Duration::ZERO, from, ok(other, from)),
            asked(WRONG_FIRST, from, ok(id, from)),
        ],
        Answer::MalformedFirst => vec![
            asked(Duration::ZERO, from, format!("OK {id}")),
            asked(WRONG_FIRST, from, ok(id, from)),
        ],
        Answer::OldSocketLate => {
            let mut out: Vec<_> = previous
                .map(|(old, old_id)| asked(Duration::ZERO, *old, ok(old_id, *old)))
                .into_iter()
                .collect();
            out.push(asked(WRONG_FIRST, from, ok(id, from)));
            out
        }
        Answer::OtherPortFirst => vec![
            (Duration::ZERO, from, format!("OK {id} 10.9.9.9 9"), true),
            asked(WRONG_FIRST, from, ok(id, from)),
        ],
    }
}

/// The checker's UDP server: a new try is a request from a new socket or for a new ID.
async fn serve_udp(
    socket: UdpSocket,
    recorder: Recorder,
    start: Instant,
    answers: &'static [Answer],
) {
    let Ok(server) = socket.local_addr() else {
        return;
    };
    let mut tries: Vec<(SocketAddr, String)> = Vec::new();
    let mut buf = vec![0; 65_536];
    while let Ok((n, from)) = socket.recv_from(&mut buf).await {
        let at = start.elapsed();
        let bytes = &buf[..n];
        let id = protocol::parse_request(bytes).ok().map(|i| i.to_string());
        let is_new = id.as_ref().is_some_and(|id| {
            tries
                .last()
                .is_none_or(|(a, last)| *a != from || last != id)
        });
        if let (true, Some(id)) = (is_new, &id) {
            tries.push((from, id.clone()));
        }
        let n_try = tries.len().saturating_sub(1);
        let answer = answers.get(n_try).copied().unwrap_or(Answer::Ok);
        if answer == Answer::Drop {
            // Lost on the way, as far as the client can tell.
            recorder.send(at, CLIENT, Transport::Udp, from, server, bytes);
            continue;
        }
        recorder.send_arrived(at, CLIENT, Transport::Udp, from, server, bytes);
        let Some(id) = id else {
            continue;
        };
        let previous = n_try.checked_sub(1).and_then(|i| tries.get(i));
        for (delay, to, text, elsewhere) in replies(answer, &id, from, previous) {
            tokio::time::sleep(delay).await;
            let at = start.elapsed();
            // A forgery leaves from another socket of the checker: the client must see its source.
            let other = match elsewhere {
                true => UdpSocket::bind((LOOPBACK, 0)).await.ok(),
                false => None,
            };
            let out = other.as_ref().unwrap_or(&socket);
            let Ok(source) = out.local_addr() else {
                continue;
            };
            if out.send_to(text.as_bytes(), to).await.is_ok() {
                recorder.send_arrived(at, SERVER, Transport::Udp, source, to, text.as_bytes());
            }
        }
    }
}

/// The checker's TCP server: each connection is a try.
async fn serve_tcp(
    listener: TcpListener,
    recorder: Recorder,
    start: Instant,
    answers: &'static [Answer],
) {
    let Ok(server) = listener.local_addr() else {
        return;
    };
    let mut n_try = 0;
    while let Ok((stream, peer)) = listener.accept().await {
        let at = start.elapsed();
        recorder.record(at, CLIENT, EventKind::Connect { to: server });
        recorder.record(
            at,
            CLIENT,
            EventKind::Connected {
                from: peer,
                to: server,
            },
        );
        let answer = answers.get(n_try).copied().unwrap_or(Answer::Ok);
        n_try += 1;
        tokio::spawn(serve_connection(
            stream,
            peer,
            server,
            recorder.clone(),
            start,
            answer,
        ));
    }
}

/// Reads one request from a connection (framed as connid's server frames it), answers it, closes.
async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    server: SocketAddr,
    recorder: Recorder,
    start: Instant,
    answer: Answer,
) {
    let settle = connid::defaults::SETTLE;
    let mut framer = Framer::new();
    let mut buf = [0u8; 2048];
    let message = loop {
        let wait = if framer.can_settle() {
            settle
        } else {
            Duration::from_secs(3600)
        };
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break framer.settle(),
            Ok(Ok(n)) => {
                let at = start.elapsed();
                recorder.send_arrived(at, CLIENT, Transport::Tcp, peer, server, &buf[..n]);
                framer.extend(&buf[..n]);
                match framer.next_frame() {
                    Frame::Message(m) => break Some(m),
                    Frame::TooLong(_) => break None,
                    Frame::Incomplete => {}
                }
            }
            Err(_) => break framer.settle(),
        }
    };
    let id = message.and_then(|m| protocol::parse_request(&m).ok());
    if let Some(id) = id {
        let planned = replies(answer, id.as_str(), peer, None);
        let last = planned.len();
        // Over TCP every reply comes on the connection: a reply from elsewhere is a UDP matter.
        for (i, (delay, _, text, _)) in planned.into_iter().enumerate() {
            tokio::time::sleep(delay).await;
            // A reply that another follows ends with a newline, so a reader can tell them apart.
            let text = if i + 1 < last {
                format!("{text}\n")
            } else {
                text
            };
            let at = start.elapsed();
            if stream.write_all(text.as_bytes()).await.is_err() {
                break;
            }
            recorder.send_arrived(at, SERVER, Transport::Tcp, server, peer, text.as_bytes());
        }
    }
    if matches!(answer, Answer::Silent | Answer::Drop) {
        // Held open and unanswered (a half-close by the client reads as the end of its request, not of
        // the connection) until the client has surely given up; the case ends before.
        tokio::time::sleep(HOLD).await;
        return;
    }
    let _ = stream.shutdown().await;
    recorder.record(
        start.elapsed(),
        SERVER,
        EventKind::Close {
            local: server,
            peer,
        },
    );
}

/// The scenario a client case is judged against: one client with the case's IDs and the timers.
fn scenario(case: &ClientCase, port: u16, timing: Timing, typed: Vec<String>) -> Scenario {
    let times = timing.times();
    let mut s = judged_scenario(case.id, port, timing);
    s.clients.push(ClientSpec {
        name: CLIENT.to_string(),
        start: Dur(Duration::ZERO),
        id: case.first_id.to_string(),
        typed,
        typing: Dur(Duration::ZERO),
        timeout: Dur(times.timeout),
        tries: times.tries,
        settle: Dur(connid::defaults::SETTLE),
        server: None,
    });
    s
}

impl_case!(ClientCase, run_case);

/// Runs one case against a fresh child of `program`, the checker serving on a free port.
pub async fn run_case(
    case: &ClientCase,
    program: &Program,
    transport: Transport,
    timing: Timing,
) -> CaseResult {
    let times = timing.times();
    let mut result = CaseResult::new(case.id, case.quote, case.level, transport);
    let fail = Verdict::failed;
    let recorder = Recorder::new();
    let start = Instant::now();
    let epoch = SystemClock.now();
    let any = SocketAddr::new(LOOPBACK, 0);
    let bound = match transport {
        Transport::Udp => UdpSocket::bind(any).await.and_then(|s| {
            let port = s.local_addr()?.port();
            Ok((
                port,
                tokio::spawn(serve_udp(s, recorder.clone(), start, case.answers)),
            ))
        }),
        Transport::Tcp => TcpListener::bind(any).await.and_then(|l| {
            let port = l.local_addr()?.port();
            Ok((
                port,
                tokio::spawn(serve_tcp(l, recorder.clone(), start, case.answers)),
            ))
        }),
    };
    let (port, server_task) = match bound {
        Ok(bound) => bound,
        Err(e) => {
            result.verdict = fail(format!("cannot serve on loopback: {e}"));
            return result;
        }
    };
    let fill = Fill {
        ip: LOOPBACK,
        port,
        transport,
        times,
        id: case.first_id.to_string(),
    };
    let argv = program.command(&fill);
    let (lines_tx, mut lines) = mpsc::unbounded_channel();
    let spawned = Child::spawn(
        &argv,
        CLIENT,
        &recorder,
        start,
        Stdio::piped(),
        Some(lines_tx),
    );
    let (mut child, stdin) = match spawned {
        Ok(spawned) => spawned,
        Err(e) => {
            server_task.abort();
            result.verdict = fail(format!("cannot start {:?}: {e}", argv.join(" ")));
            return result;
        }
    };
    // The keyboard: the next ID after each Connection Error, then the end of input or one line more.
    let mut stdin = stdin;
    let mut typed: Vec<String> = Vec::new();
    let mut errors = 0;
    let limit = times.timeout * (times.tries + 1) + Duration::from_secs(5);
    let deadline = Instant::now() + limit;
    loop {
        let line = tokio::select! {
            line = lines.recv() => line,
            _ = tokio::time::sleep_until(deadline) => None,
        };
        let Some((at, line)) = line else {
            break;
        };
        if !matches!(line.parse::<ClientLine>(), Ok(ClientLine::Error { .. })) {
            continue;
        }
        // The prompt a client shows has no newline to be seen by: it counts as shown with the error.
        errors += 1;
        match case.typed.get(errors - 1) {
            Some(id) => {
                if let Some(input) = stdin.as_mut() {
                    let _ = input.write_all(format!("{id}\n").as_bytes()).await;
                    let _ = input.flush().await;
                }
                typed.push(id.to_string());
                recorder.record(
                    at,
                    CLIENT,
                    EventKind::Prompt {
                        prompt: String::new(),
                        typed: Some(id.to_string()),
                        after: Duration::ZERO,
                    },
                );
            }
            None if case.end_input => {
                if stdin.take().is_some() {
                    recorder.record(
                        at,
                        CLIENT,
                        EventKind::Prompt {
                            prompt: String::new(),
                            typed: None,
                            after: Duration::ZERO,
                        },
                    );
                }
            }
            None => {
                if let Some(input) = stdin.as_mut() {
                    let _ = input.write_all(b"4444\n").await;
                    let _ = input.flush().await;
                }
            }
        }
    }
    child
        .wait(deadline.saturating_duration_since(Instant::now()))
        .await;
    result.stderr = child.stop().await;
    // Replies still being sent finish, so their events are in the record.
    tokio::time::sleep(Duration::from_millis(50)).await;
    server_task.abort();
    let run = told_run(&mut result, &recorder, &[SERVER, CLIENT], start, epoch);
    let reached = run.events.iter().any(|e| {
        e.host == CLIENT && matches!(e.kind, EventKind::Send { .. } | EventKind::Connected { .. })
    });
    if !reached {
        result.verdict = Verdict::Unsupported(format!(
            "the client never reached the checker's server over {transport} 127.0.0.1:{port}"
        ));
        return result;
    }
    let scenario = scenario(case, port, timing, typed);
    let own = case.own.map_or(Ok(()), |own| own(&run, &times));
    result.verdict = verdict(&scenario, &run, timing, case.rules, own);
    result
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

    #[test]
    fn a_wrong_reply_comes_first_and_the_right_one_after_a_pause() {
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let old: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(
            replies(Answer::OtherIdFirst, "7", from, None),
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
            replies(
                Answer::OldSocketLate,
                "8",
                from,
                Some(&(old, "7".to_string()))
            ),
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
            replies(Answer::OtherPortFirst, "7", from, None),
            [
                (Duration::ZERO, from, "OK 7 10.9.9.9 9".to_string(), true),
                (WRONG_FIRST, from, "OK 7 127.0.0.1 5000".to_string(), false)
            ]
        );
        assert!(replies(Answer::Drop, "7", from, None).is_empty());
        assert_eq!(replies(Answer::Reset, "7", from, None)[0].2, "RESET 7");
        assert!(protocol::parse(
            replies(Answer::MalformedFirst, "7", from, None)[0]
                .2
                .as_bytes()
        )
        .is_err());
    }
}
