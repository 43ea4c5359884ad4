//! The server suite: the checker plays clients and raw peers against a server under test. Each case
//! names its requirement, quotes the assignment, and is judged on the oracle's rules for it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::clock::Instant;
use connid::{Clock, SystemClock, Transport};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::child::Child;
use super::play::{shown, End, Session};
use super::{
    judged_scenario, select, told_run, verdict, CaseResult, Fill, Level, OwnCheck, Pace, Program,
    Times, Verdict, LOOPBACK,
};
use connid_sim::events::{EventKind, Run};
use connid_sim::oracle::{ANSWERED, GRANT_ONCE, IDLE_EXIT, KEEPS_SERVING, OK_SOURCE, RESET_IN_USE};
use connid_sim::scenario::SERVER;

/// What a case plays; `Err` is a failure the oracle's rules do not cover (said in one line).
pub type Play = for<'a> fn(
    &'a mut Session,
    &'a mut Child,
    &'static str,
) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One case of the server suite.
pub struct ServerCase {
    /// The requirement it checks: `server.<part>.<what>`.
    pub id: &'static str,
    /// The assignment's sentence it checks, in its exact words.
    pub quote: &'static str,
    /// How the case reads that sentence, where it goes beyond its words (printed apart from it).
    pub reading: &'static str,
    /// What a conforming server does in this case, in words.
    pub expect: &'static str,
    /// What the checker sends the server in this case, in words.
    pub sends: &'static str,
    /// The oracle's rules it is judged on.
    pub rules: &'static [&'static str],
    /// Whether it waits for the TTL or the idle timeout (not run with `--quick`).
    pub long: bool,
    pub level: Level,
    pub tcp_only: bool,
    /// A parameter of its play (the malformed form).
    pub arg: &'static str,
    pub play: Play,
    /// A check of its own over the run, for what no oracle rule covers.
    pub own: Option<OwnCheck>,
    /// A requirement of another level judged on the same run (so it costs no run of its own).
    pub also: Option<Also>,
}

/// A second requirement judged, by a check of its own, on the run of the case that carries it.
pub struct Also {
    pub id: &'static str,
    pub quote: &'static str,
    pub reading: &'static str,
    pub expect: &'static str,
    pub level: Level,
    pub check: OwnCheck,
}

pub(crate) const OK_QUOTE: &str =
    "the server includes the client IP address and client port number in its return message";
pub(crate) const RESET_QUOTE: &str = "If the connectionID specified by the client is in use, your server responds with a RESET message. The RESET message starts with the string \u{201c}RESET\u{201d} and echoes back the client-provided connectionID";
pub(crate) const FREE_QUOTE: &str = "If the connectionID specified by the client is not in use, your server adds the connectionID to its list of in-use IDs and responds with an OK message";
const TTL_QUOTE: &str = "your server should timeout and remove connectionIDs that have been in its connectionID list for more than 30 seconds";
const IDLE_QUOTE: &str = "does not receive any requests from any clients for two minutes, your server should timeout and exit gracefully after closing any open sockets";
pub(crate) const ROBUST_QUOTE: &str = "server will keep a list of in-use connectionID and two types of response that the server will respond";
const ROBUST_READING: &str = "a request that is neither \u{201c}HELLO <id>\u{201d} form gets no OK (no ID is granted for it) and is no reason to stop serving";
const TCP_QUOTE: &str = "UDP and TCP are being studied and the topics of timeout.";

macro_rules! play {
    (|$s:ident, $c:ident, $a:ident| $body:block) => {{
        fn play<'a>(
            $s: &'a mut Session,
            $c: &'a mut Child,
            $a: &'static str,
        ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
            let _ = (&$c, &$a);
            Box::pin(async move { $body })
        }
        play as Play
    }};
}

/// A quick required case for either transport, with no parameter and no check of its own.
fn case(
    id: &'static str,
    quote: &'static str,
    sends: &'static str,
    expect: &'static str,
    rules: &'static [&'static str],
    play: Play,
) -> ServerCase {
    ServerCase {
        id,
        quote,
        reading: "",
        expect,
        sends,
        rules,
        long: false,
        level: Level::Required,
        tcp_only: false,
        arg: "",
        play,
        own: None,
        also: None,
    }
}

/// A robustness case over TCP only.
fn tcp_case(
    id: &'static str,
    reading: &'static str,
    sends: &'static str,
    expect: &'static str,
    play: Play,
) -> ServerCase {
    ServerCase {
        reading,
        level: Level::Robustness,
        tcp_only: true,
        ..case(id, TCP_QUOTE, sends, expect, &[ANSWERED], play)
    }
}

/// The malformed forms for which any OK is wrong: none of them names one ID in the `HELLO <id>` form.
/// (A 65-character ID and one that is not UTF-8 are connid's limits, not the assignment's: what a
/// server answers to them is not judged, only that it keeps serving.)
const NO_OK_FOR: [&str; 6] = ["bare", "space", "empty", "random", "extra", "verb"];

fn malformed_case(id: &'static str, form: &'static str) -> ServerCase {
    ServerCase {
        arg: form,
        level: Level::Robustness,
        reading: ROBUST_READING,
        ..case(
            id,
            ROBUST_QUOTE,
            malformed_sends(form),
            if NO_OK_FOR.contains(&form) {
                "no OK for the malformed request; the server keeps running and answers HELLO 8001 after it"
            } else {
                "the server keeps running and answers HELLO 8001 after the request (what it answers to the request itself is not judged)"
            },
            &[KEEPS_SERVING, ANSWERED],
            play!(|s, c, form| {
                let junk = malformed(form);
                let reply = s.send("junk", &junk).await;
                s.pause(Duration::from_millis(100)).await;
                s.hello("c1", "8001").await;
                // Let an exit the junk caused be seen.
                c.wait(Duration::from_millis(200)).await;
                match reply.bytes.starts_with(b"OK") && NO_OK_FOR.contains(&form) {
                    true => Err(format!(
                        "the server answered {} to the malformed request {}: an OK grants an ID no request validly named",
                        shown(&reply.bytes),
                        shown(&junk)
                    )),
                    false => Ok(()),
                }
            }),
        )
    }
}

/// What a malformed case sends: the form, then a valid request.
fn malformed_sends(form: &str) -> &'static str {
    match form {
        "bare" => "\u{201c}HELLO\u{201d} (no ID), then HELLO 8001 from another client",
        "space" => "\u{201c}HELLO \u{201d} (a space, no ID), then HELLO 8001 from another client",
        "empty" => "an empty request (over TCP, a connection closed for writing at once), then HELLO 8001 from another client",
        "random" => "2,000 random bytes, then HELLO 8001 from another client",
        "non-utf8" => "\u{201c}HELLO \u{201d} and three bytes that are not UTF-8, then HELLO 8001 from another client",
        "extra" => "\u{201c}HELLO 1 2\u{201d} (an extra field), then HELLO 8001 from another client",
        "verb" => "\u{201c}HELO 1\u{201d} (a wrong verb), then HELLO 8001 from another client",
        _ => "HELLO and a 65-character ID, then HELLO 8001 from another client",
    }
}

/// How far from the TTL the TTL cases ask, so each request is clearly on one side of it: the late
/// tolerance plus 0.1 s.
fn ttl_margin(times: &Times) -> Duration {
    times.tolerance.late + Duration::from_millis(100)
}

/// connid's convention: a server that exits idle says so, with a line printed once the idle timeout
/// has passed since the last request (any line).
fn says_it_timed_out(run: &Run, times: &Times) -> Result<(), String> {
    let last = run
        .events
        .iter()
        .filter(|e| e.host != SERVER && matches!(e.kind, EventKind::Send { .. }))
        .map(|e| e.at)
        .max()
        .unwrap_or_default();
    let from = last + times.idle.saturating_sub(times.tolerance.early);
    let Some(exit) = run
        .events
        .iter()
        .find(|e| e.host == SERVER && e.kind == EventKind::Exit(0))
    else {
        return Err(
            "the server did not exit (code 0) at all: no idle exit to say anything about"
                .to_string(),
        );
    };
    let said = run.events.iter().any(|e| {
        e.host == SERVER && e.at >= from && matches!(e.kind, EventKind::Out(_) | EventKind::Err(_))
    });
    match said {
        true => Ok(()),
        false => Err(format!(
            "the server exited (code 0) at {} without a line after {}",
            connid_sim::events::secs(exit.at),
            connid_sim::events::secs(from)
        )),
    }
}

/// The bytes of a malformed form.
pub fn malformed(form: &str) -> Vec<u8> {
    match form {
        "bare" => b"HELLO".to_vec(),
        "space" => b"HELLO ".to_vec(),
        "empty" => Vec::new(),
        "random" => {
            let mut bytes = vec![0; 2000];
            ChaCha8Rng::seed_from_u64(2000).fill_bytes(&mut bytes);
            bytes
        }
        "non-utf8" => b"HELLO \xff\xfe\xfd".to_vec(),
        "extra" => b"HELLO 1 2".to_vec(),
        "verb" => b"HELO 1".to_vec(),
        _ => format!("HELLO {}", "7".repeat(65)).into_bytes(),
    }
}

/// How long the case that waits for an idle exit waits: past the timeout and its late tolerance.
fn idle_limit(times: &Times) -> Duration {
    times.idle + times.tolerance.idle_late + Duration::from_secs(1)
}

/// Every server case, in the order they are reported.
pub fn cases() -> Vec<ServerCase> {
    vec![
        case(
            "server.ok.source-address",
            OK_QUOTE,
            "HELLO 1001 from a client",
            "OK 1001 naming the IP address and port the request came from",
            &[OK_SOURCE, ANSWERED],
            play!(|s, c, a| {
                s.hello("c1", "1001").await;
                Ok(())
            }),
        ),
        case(
            "server.reset.in-use",
            RESET_QUOTE,
            "HELLO 2001 from a client, then HELLO 2001 from another",
            "OK for the first HELLO 2001, RESET 2001 for the second, from another client",
            &[GRANT_ONCE, ANSWERED],
            play!(|s, c, a| {
                s.hello("c1", "2001").await;
                s.hello("c2", "2001").await;
                Ok(())
            }),
        ),
        case(
            "server.ok.independent-ids",
            FREE_QUOTE,
            "HELLO 3001 from a client, then HELLO 3002 from another",
            "OK for HELLO 3001 and OK for HELLO 3002: one ID in use does not make another one in use",
            &[RESET_IN_USE, ANSWERED],
            play!(|s, c, a| {
                s.hello("c1", "3001").await;
                s.hello("c2", "3002").await;
                Ok(())
            }),
        ),
        ServerCase {
            long: true,
            ..case(
                "server.ttl.expires",
                TTL_QUOTE,
                "HELLO 4001; HELLO 4001 from a second client just before the TTL has passed, and from a third just after",
                "OK 4001, RESET 4001 just before the TTL has passed, OK 4001 again just after",
                &[GRANT_ONCE, RESET_IN_USE, ANSWERED],
                play!(|s, c, a| {
                    let (ttl, margin) = (s.times.ttl, ttl_margin(&s.times));
                    let granted = s.start.elapsed();
                    s.hello("c1", "4001").await;
                    s.until(granted + ttl - margin).await;
                    s.hello("c2", "4001").await;
                    s.until(granted + ttl + margin).await;
                    s.hello("c3", "4001").await;
                    Ok(())
                }),
            )
        },
        ServerCase {
            long: true,
            ..case(
                "server.ttl.reset-does-not-refresh",
                TTL_QUOTE,
                "HELLO 5001; HELLO 5001 from a second client at half the TTL, and from a third just after the TTL from the first",
                "OK 5001, RESET 5001 at half the TTL, OK 5001 once the TTL from the first OK has passed (a RESET does not extend the reservation)",
                &[RESET_IN_USE, ANSWERED],
                play!(|s, c, a| {
                    let (ttl, margin) = (s.times.ttl, ttl_margin(&s.times));
                    let granted = s.start.elapsed();
                    s.hello("c1", "5001").await;
                    s.until(granted + ttl / 2).await;
                    s.hello("c2", "5001").await;
                    s.until(granted + ttl + margin).await;
                    s.hello("c3", "5001").await;
                    Ok(())
                }),
            )
        },
        ServerCase {
            long: true,
            also: Some(Also {
                id: "server.idle.says-so",
                quote: IDLE_QUOTE,
                reading: "connid prints a line when it exits idle; the assignment asks for the exit, not for a line",
                expect: "a line (any) printed at the idle exit",
                level: Level::Convention,
                check: says_it_timed_out,
            }),
            ..case(
                "server.idle.exit",
                IDLE_QUOTE,
                "HELLO 6001, then nothing for the idle timeout and its late margin",
                "an answer to HELLO 6001, then an exit (code 0) once the idle timeout has passed since it, not before",
                &[IDLE_EXIT, KEEPS_SERVING],
                play!(|s, c, a| {
                    s.hello("c1", "6001").await;
                    let limit = idle_limit(&s.times);
                    c.wait(limit).await;
                    Ok(())
                }),
            )
        },
        ServerCase {
            long: true,
            ..case(
                "server.idle.request-restarts-timer",
                IDLE_QUOTE,
                "HELLO 6101, HELLO 6102 half the idle timeout later (10 s at most), then nothing",
                "an exit (code 0) the idle timeout after the second request, not after the first",
                &[IDLE_EXIT, KEEPS_SERVING],
                play!(|s, c, a| {
                    s.hello("c1", "6101").await;
                    // Long enough apart that an exit timed from the first request is plainly early;
                    // short enough that the case ends soon after the plain idle-exit case.
                    s.pause((s.times.idle / 2).min(Duration::from_secs(10)))
                        .await;
                    s.hello("c2", "6102").await;
                    let limit = idle_limit(&s.times);
                    c.wait(limit).await;
                    Ok(())
                }),
            )
        },
        malformed_case("server.malformed.bare-hello", "bare"),
        malformed_case("server.malformed.hello-space", "space"),
        malformed_case("server.malformed.empty", "empty"),
        malformed_case("server.malformed.random-2000-bytes", "random"),
        malformed_case("server.malformed.non-utf8", "non-utf8"),
        malformed_case("server.malformed.extra-fields", "extra"),
        malformed_case("server.malformed.wrong-verb", "verb"),
        malformed_case("server.malformed.65-character-id", "long"),
        ServerCase {
            reading: "over TCP, the request as the assignment's client sends it: one write of \u{201c}HELLO <id>\u{201d}, no line ending, no half-close, the connection left open for the reply",
            tcp_only: true,
            ..case(
                "server.tcp.classic-request",
                FREE_QUOTE,
                "\u{201c}HELLO 9401\u{201d} in one write, no line ending, the connection left open",
                "an answer to HELLO 9401, sent in one write with no line ending while the connection stays open",
                &[ANSWERED],
                play!(|s, c, a| {
                    let reply = s.tcp("c1", &[b"HELLO 9401"], Duration::ZERO, false).await;
                    s.expect_answer("c1", "HELLO 9401 (no line ending, no half-close)", "9401", &reply);
                    Ok(())
                }),
            )
        },
        tcp_case(
            "server.tcp.newline-ended",
            "a request may end with a line ending (\u{201c}HELLO 9501\\n\u{201d}, as from a terminal or a line-based client): it is not part of the ID",
            "\u{201c}HELLO 9501\\n\u{201d} in one write",
            "an answer for ID 9501 to \u{201c}HELLO 9501\\n\u{201d}",
            play!(|s, c, a| {
                let reply = s.tcp("c1", &[b"HELLO 9501\n"], Duration::ZERO, false).await;
                s.expect_answer("c1", "\"HELLO 9501\\n\"", "9501", &reply);
                Ok(())
            }),
        ),
        tcp_case(
            "server.tcp.silent-connection-blocks-no-one",
            "over TCP, one client's connection that stays open and silent must not cost another client its answer",
            "a connection that stays open and silent, then HELLO 9001 on another",
            "an answer to HELLO 9001 while another connection stays open and silent",
            play!(|s, c, a| {
                s.open_silent("silent").await;
                s.pause(Duration::from_millis(50)).await;
                s.hello("c1", "9001").await;
                Ok(())
            }),
        ),
        tcp_case(
            "server.tcp.split-request",
            "TCP is a byte stream: a request may arrive in more than one piece",
            "\u{201c}HELLO 91\u{201d} and \u{201c}02\u{201d} written 50 ms apart, then a half-close",
            "one answer, for ID 9102, to \u{201c}HELLO 91\u{201d} and \u{201c}02\u{201d} written 50 ms apart, then a half-close",
            play!(|s, c, a| {
                let gap = Duration::from_millis(50);
                let reply = s.tcp("c1", &[b"HELLO 91", b"02"], gap, true).await;
                s.expect_answer("c1", "HELLO 9102 in two pieces", "9102", &reply);
                Ok(())
            }),
        ),
        tcp_case(
            "server.tcp.ended-by-half-close",
            "a client may end its request by closing its side of the connection (a half-close)",
            "HELLO 9201, then a half-close",
            "an answer to HELLO 9201, ended by a half-close",
            play!(|s, c, a| {
                let reply = s.tcp("c1", &[b"HELLO 9201"], Duration::ZERO, true).await;
                s.expect_answer("c1", "HELLO 9201 (then a half-close)", "9201", &reply);
                Ok(())
            }),
        ),
        tcp_case(
                "server.tcp.reply-then-close",
                "the server closes a connection once it has answered it, so a client that reads until the end of the stream is not left hanging",
                "HELLO 9301 in one write, no line ending, the connection left open",
                "the answer to HELLO 9301 (one write, no line ending, no half-close), then the server closes the connection",
                play!(|s, c, a| {
                    let reply = s.tcp("c1", &[b"HELLO 9301"], Duration::ZERO, false).await;
                    let wait = s.reply_wait();
                    if s.expect_answer("c1", "HELLO 9301 (no line ending, no half-close)", "9301", &reply).is_some()
                        && reply.end == End::Waited
                    {
                        return Err(format!(
                            "the server answered {} but did not close the connection within {} s",
                            shown(&reply.bytes),
                            wait.as_secs_f64()
                        ));
                    }
                    Ok(())
                }),
        ),
    ]
}

/// A port for the server under test: free now, and below the system's ephemeral range, so that no
/// socket bound to port 0 elsewhere (another case's client, another program) can take it in the time
/// the server takes to start and bind it.
pub(super) fn free_port(transport: Transport) -> std::io::Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .filter(|low| (2048..=65535).contains(low))
        .unwrap_or(32768);
    let (first, span) = (low / 2, low / 2);
    // Processes checking at once start at different places of the range.
    let start = std::process::id().wrapping_mul(7919);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = first + start.wrapping_add(n) % span;
        let addr = SocketAddr::new(LOOPBACK, u16::try_from(port).unwrap_or(0));
        let free = match transport {
            Transport::Udp => std::net::UdpSocket::bind(addr).is_ok(),
            Transport::Tcp => std::net::TcpListener::bind(addr).is_ok(),
        };
        if free {
            return Ok(addr.port());
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no free port below the ephemeral range",
    ))
}

/// Whether something listens on `addr`: binding it ourselves fails. (While a server is starting, this
/// can take the port from it between its bind and its listen: [`holds`] is asked first.)
fn is_listening(transport: Transport, addr: SocketAddr) -> bool {
    let taken = |e: std::io::Error| e.kind() == std::io::ErrorKind::AddrInUse;
    match transport {
        Transport::Udp => std::net::UdpSocket::bind(addr).err().is_some_and(taken),
        Transport::Tcp => std::net::TcpListener::bind(addr).err().is_some_and(taken),
    }
}

/// Whether `held` (what a server and its descendants hold, [`crate::sockets::held`]) has a
/// `transport` socket bound to `port` (TCP: listening). Unlike binding the port ourselves, asking
/// never takes the port from a server between its bind and its listen, and it tells our child from
/// another checker's server that picked the same port.
fn holds(held: &[crate::sockets::Held], transport: Transport, port: u16) -> bool {
    held.iter()
        .any(|h| h.transport == transport && h.local.port() == port)
}

/// How often a case starts its server again on a new port when another process took the port first.
const PORT_TRIES: u32 = 3;

/// How long a server has to start listening.
const START_LIMIT: Duration = Duration::from_secs(10);

impl ServerCase {
    /// Every result of the case before it has run, from its own (`blank`): that one and the
    /// requirement judged on its run, if it has one.
    fn blank_results(&self, blank: CaseResult) -> Vec<CaseResult> {
        let also = self.also.as_ref().map(|also| {
            CaseResult {
                id: also.id,
                quote: also.quote,
                level: also.level,
                ..blank.clone()
            }
            .described(also.reading, also.expect)
        });
        std::iter::once(blank).chain(also).collect()
    }

    /// What the checker sends the server in this case, in words.
    pub fn sends(&self) -> String {
        self.sends.to_string()
    }

    fn result_count(&self) -> usize {
        1 + usize::from(self.also.is_some())
    }

    /// About how long the case takes: its waits, and a second to start and stop the server.
    fn wall_estimate(&self, times: &Times) -> Duration {
        let start_and_stop = Duration::from_secs(1);
        let waits = match self.id {
            "server.ttl.expires" | "server.ttl.reset-does-not-refresh" => {
                times.ttl + ttl_margin(times)
            }
            "server.idle.exit" => times.idle,
            "server.idle.request-restarts-timer" => {
                times.idle + (times.idle / 2).min(Duration::from_secs(10))
            }
            _ => Duration::ZERO,
        };
        waits + start_and_stop
    }
}

impl_case!(ServerCase, run_case);

/// Runs one case against a fresh child of `program`: its result, and that of the requirement judged on
/// the same run, if it has one.
pub async fn run_case(
    case: &ServerCase,
    program: &Program,
    transport: Transport,
    pace: Pace,
) -> Vec<CaseResult> {
    let result = run_one(case, program, transport, pace).await;
    let Some(also) = &case.also else {
        return vec![result.0];
    };
    let mut second = CaseResult {
        id: also.id,
        quote: also.quote,
        level: also.level,
        verdict: Verdict::Pass,
        ..result.0.clone()
    }
    .described(also.reading, also.expect);
    second.verdict = match (&result.0.verdict, &result.1) {
        (Verdict::Unsupported(why), _) => Verdict::Unsupported(why.clone()),
        (_, Some(run)) => match (also.check)(run, &pace.times()) {
            Ok(()) => Verdict::Pass,
            Err(why) => Verdict::failed(why),
        },
        (_, None) => result.0.verdict.clone(),
    };
    vec![result.0, second]
}

/// Runs one case: its result, and the run it was judged on (`None` if the server never listened).
async fn run_one(
    case: &ServerCase,
    program: &Program,
    transport: Transport,
    pace: Pace,
) -> (CaseResult, Option<Run>) {
    // The checker waits in real time; the program's own timers (passed as arguments) are its own.
    let times = pace.times();
    let mut result = CaseResult::new(case.id, case.quote, case.level, transport)
        .described(case.reading, case.expect)
        .sending(case.sends());
    let started = match start_server(program, transport, pace).await {
        Ok(started) => started,
        Err(why) => {
            result.verdict = Verdict::failed(why);
            return (result, None);
        }
    };
    let Started {
        port,
        server,
        start,
        epoch,
        mut session,
        mut child,
        listening,
        elsewhere,
    } = started;
    let mut outcome = Ok(());
    if listening {
        let limit = times.ttl * 2 + times.idle + Duration::from_secs(30);
        match crate::clock::timeout(limit, (case.play)(&mut session, &mut child, case.arg)).await {
            Ok(played) => outcome = played,
            Err(_) => outcome = Err(format!("the case did not end within {} s", limit.as_secs())),
        }
    }
    result.stderr = child.stop().await;
    let hosts: Vec<&str> = std::iter::once(SERVER)
        .chain(session.hosts.iter().copied())
        .collect();
    let run = told_run(&mut result, &session.recorder, &hosts, start, epoch);
    if !listening {
        result.verdict = not_listening(&run, &elsewhere, program, transport, server);
        result.absent = true;
        return (result, None);
    }
    let scenario = judged_scenario(case.id, port, pace);
    let outcome = outcome.and_then(|()| case.own.map_or(Ok(()), |own| own(&run, &pace.times())));
    let unseen = std::mem::take(&mut session.unseen);
    result.verdict = verdict(&scenario, &run, pace, case.rules, unseen, outcome);
    (result, Some(run))
}

/// A server started for a case (or an explored session): where, when, the checker's side and the
/// child, and whether it listened where it was told (what it held instead if not).
pub(crate) struct Started {
    pub port: u16,
    pub server: SocketAddr,
    pub start: Instant,
    pub epoch: chrono::NaiveDateTime,
    pub session: Session,
    pub child: Child,
    pub listening: bool,
    pub elsewhere: Vec<crate::sockets::Held>,
}

/// Starts `program` as a server on a free port and waits for it to listen; if another process took
/// that port first (our child then fails to bind it), starts it again on another. `Err` says why it
/// could not be started at all.
pub(crate) async fn start_server(
    program: &Program,
    transport: Transport,
    pace: Pace,
) -> Result<Started, String> {
    let times = pace.times();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_port(transport).map_err(|e| format!("no free port on loopback: {e}"))?;
        let server = SocketAddr::new(LOOPBACK, port);
        let fill = Fill {
            ip: LOOPBACK,
            port,
            transport,
            times,
            id: String::new(),
        };
        let start = Instant::now();
        let epoch = SystemClock.now();
        let session = Session::new(transport, server, times, start);
        let argv = program.command(&fill);
        let (mut child, _) = Child::spawn(
            program.launch(&argv),
            SERVER,
            &session.recorder,
            start,
            Stdio::null(),
            None,
        )
        .map_err(|e| format!("cannot start {}: {e}", argv.join(" ")))?;
        let (listening, elsewhere) = await_listening(&child, start, transport, server).await;
        // Our child could not have the port because another process holds it: try another port.
        if !listening
            && child.has_exited()
            && is_listening(transport, server)
            && attempt < PORT_TRIES
        {
            child.stop().await;
            continue;
        }
        return Ok(Started {
            port,
            server,
            start,
            epoch,
            session,
            child,
            listening,
            elsewhere,
        });
    }
}

/// Waits up to [`START_LIMIT`] (while it runs) for the server `child` to listen on `server`: whether
/// it did, and what it was last seen to hold instead if it did not.
async fn await_listening(
    child: &Child,
    start: Instant,
    transport: Transport,
    server: SocketAddr,
) -> (bool, Vec<crate::sockets::Held>) {
    let mut pause = Duration::from_millis(1);
    // Asked off the runtime's threads: /proc/net can be long on a busy machine.
    let ask = |over: &'static [Transport]| {
        let pid = child.pid();
        crate::clock::blocking(move || pid.and_then(|p| crate::sockets::held_over(p, over)))
    };
    let only: &'static [Transport] = match transport {
        Transport::Udp => &[Transport::Udp],
        Transport::Tcp => &[Transport::Tcp],
    };
    let mut elsewhere = Vec::new();
    while start.elapsed() < START_LIMIT && !child.has_exited() {
        let held = ask(only).await.flatten();
        let listening = match &held {
            Some(held) => holds(held, transport, server.port()),
            None => is_listening(transport, server),
        };
        if listening {
            return (true, elsewhere);
        }
        if let Some(held) = held.filter(|h| !h.is_empty()) {
            elsewhere = held;
        }
        crate::clock::sleep(pause).await;
        // Looked at often while a server usually starts (an interpreter takes tens of milliseconds),
        // then less: each look asks the kernel for the sockets it holds.
        pause = if pause < Duration::from_millis(20) {
            pause + Duration::from_millis(1)
        } else {
            (pause * 2).min(Duration::from_millis(500))
        };
    }
    // Where it listened instead, on either transport, if it still runs: what the verdict says.
    if let Some(held) = ask(&Transport::ALL)
        .await
        .flatten()
        .filter(|h| !h.is_empty())
    {
        elsewhere = held;
    }
    (false, elsewhere)
}

/// The verdict on a server that never listened where it was told: failed, saying where it was seen
/// listening instead, that it exited, or that it listened nowhere.
fn not_listening(
    run: &Run,
    elsewhere: &[crate::sockets::Held],
    program: &Program,
    transport: Transport,
    server: SocketAddr,
) -> Verdict {
    let exit = run.events.iter().find_map(|e| match e.kind {
        EventKind::Exit(code) => Some(code),
        _ => None,
    });
    let found: Vec<(Transport, u16, String)> = elsewhere
        .iter()
        .map(|h| (h.transport, h.local.port(), h.to_string()))
        .collect();
    let seen = ("the server listens on", "on");
    match (
        crate::elsewhere(seen, &found, program, transport, server),
        exit,
    ) {
        (Some(why), _) => Verdict::failed(why),
        (None, Some(code)) => Verdict::failed(format!(
            "the server exited with code {code} before it listened on {transport} {server}"
        )),
        (None, None) => Verdict::failed(format!(
            "the server did not listen on {transport} {server} within {} s ({})",
            START_LIMIT.as_secs(),
            crate::ONE_TRANSPORT
        )),
    }
}

/// The cases that run for these options, with their transports, in report order.
pub fn selected(
    transports: &[Transport],
    quick: bool,
    only: Option<&str>,
) -> Vec<(ServerCase, Transport)> {
    select(transports, quick, only, cases, |c, t| {
        c.tcp_only && t != Transport::Tcp
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_held_by_the_process_that_bound_it_and_no_other() {
        let udp = std::net::UdpSocket::bind(SocketAddr::new(LOOPBACK, 0)).unwrap();
        let tcp = std::net::TcpListener::bind(SocketAddr::new(LOOPBACK, 0)).unwrap();
        let (u, t) = (
            udp.local_addr().unwrap().port(),
            tcp.local_addr().unwrap().port(),
        );
        let me = std::process::id();
        let held = |pid| crate::sockets::held(pid).unwrap_or_default();
        if crate::sockets::held(me).is_none() {
            return; // no /proc here: the probe alone decides
        }
        assert!(holds(&held(me), Transport::Udp, u));
        assert!(holds(&held(me), Transport::Tcp, t));
        // Not on the other transport.
        assert!(!holds(&held(me), Transport::Tcp, u) || u == t);
        // Another process holds neither.
        let mut other = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(!holds(&held(other.id()), Transport::Udp, u));
        assert!(!holds(&held(other.id()), Transport::Tcp, t));
        let _ = other.kill();
        let _ = other.wait();
        // Nor do we once they are closed.
        drop((udp, tcp));
        assert!(!holds(&held(me), Transport::Udp, u));
    }

    #[test]
    fn quick_leaves_out_the_long_cases_and_udp_the_tcp_ones() {
        let quick = selected(&[Transport::Udp], true, None);
        assert!(quick.iter().all(|(c, _)| !c.long && !c.tcp_only));
        let all = selected(&Transport::ALL, false, None);
        assert!(all.len() > quick.len() * 2);
        let only = selected(&Transport::ALL, false, Some("server.ttl"));
        assert_eq!(only.len(), 4);
    }

    #[test]
    fn each_malformed_form_is_its_own_bytes() {
        let forms = [
            "bare", "space", "empty", "random", "non-utf8", "extra", "verb", "long",
        ];
        let bytes: Vec<Vec<u8>> = forms.iter().map(|f| malformed(f)).collect();
        for (i, b) in bytes.iter().enumerate() {
            assert!(connid::protocol::parse_request(b).is_err(), "{}", forms[i]);
            assert_eq!(bytes.iter().filter(|o| *o == b).count(), 1);
        }
        assert_eq!(malformed("random").len(), 2000);
        assert_eq!(malformed("long").len(), "HELLO ".len() + 65);
    }
}
