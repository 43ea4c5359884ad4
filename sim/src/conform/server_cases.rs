//! The server suite: the checker plays clients and raw peers against a server under test. Each case
//! names its requirement, quotes the assignment, and is judged on the oracle's rules for it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use connid::protocol::Message;
use connid::{Clock, SystemClock, Transport};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::child::Child;
use super::play::Session;
use super::{
    judged_scenario, select, told_run, verdict, CaseResult, Fill, Level, OwnCheck, Program, Times,
    Timing, Verdict, LOOPBACK,
};
use crate::events::{EventKind, Run};
use crate::oracle::{ANSWERED, GRANT_ONCE, IDLE_EXIT, KEEPS_SERVING, OK_SOURCE, RESET_IN_USE};
use crate::scenario::SERVER;

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
    /// The assignment's sentence it checks.
    pub quote: &'static str,
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
}

const OK_QUOTE: &str =
    "the server includes the client IP address and client port number in its return message";
const RESET_QUOTE: &str = "If the connectionID specified by the client is in use, your server responds with a RESET message ... and echoes back the client-provided connectionID";
const FREE_QUOTE: &str = "If the connectionID specified by the client is not in use, your server adds the connectionID to its list of in-use IDs and responds with an OK message";
const TTL_QUOTE: &str = "your server should timeout and remove connectionIDs that have been in its connectionID list for more than 30 seconds";
const IDLE_QUOTE: &str = "does not receive any requests from any clients for two minutes, your server should timeout and exit gracefully";
const ROBUST_QUOTE: &str = "server will keep a list of in-use connectionID and two types of response (a request that is neither is no reason to stop serving)";
const TCP_QUOTE: &str = "UDP and TCP are being studied (over TCP, one connection's silence or its framing must not cost another client its answer)";

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

/// A quick case for either transport, with no parameter and no check of its own.
fn case(
    id: &'static str,
    quote: &'static str,
    rules: &'static [&'static str],
    play: Play,
) -> ServerCase {
    ServerCase {
        id,
        quote,
        rules,
        long: false,
        level: Level::Required,
        tcp_only: false,
        arg: "",
        play,
        own: None,
    }
}

fn malformed_case(id: &'static str, form: &'static str) -> ServerCase {
    ServerCase {
        arg: form,
        level: Level::Robustness,
        ..case(
            id,
            ROBUST_QUOTE,
            &[KEEPS_SERVING, ANSWERED],
            play!(|s, c, form| {
                s.send("junk", &malformed(form)).await;
                s.pause(Duration::from_millis(100)).await;
                s.hello("c1", "8001").await;
                // Let an exit the junk caused be seen.
                c.wait(Duration::from_millis(200)).await;
                Ok(())
            }),
        )
    }
}

/// How far from the TTL the TTL cases ask, so each request is clearly on one side of it: the late
/// tolerance plus 0.1 s.
fn ttl_margin(times: &Times) -> Duration {
    times.tolerance.late + Duration::from_millis(100)
}

/// The server that exits idle says so: it prints a line once the idle timeout has passed since the last
/// request (any line: the assignment fixes none).
fn says_it_timed_out(run: &Run, times: &Times) -> Result<(), String> {
    let last = run
        .events
        .iter()
        .filter(|e| e.host != SERVER && matches!(e.kind, EventKind::Send { .. }))
        .map(|e| e.at)
        .max()
        .unwrap_or_default();
    let from = last + times.idle.saturating_sub(times.tolerance.early);
    let exited = run
        .events
        .iter()
        .any(|e| e.host == SERVER && e.kind == EventKind::Exit(0));
    let said = run.events.iter().any(|e| {
        e.host == SERVER && e.at >= from && matches!(e.kind, EventKind::Out(_) | EventKind::Err(_))
    });
    if exited && !said {
        return Err("the server exited idle without a line that says so".to_string());
    }
    Ok(())
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

/// Every server case, in the order they are reported.
pub fn cases() -> Vec<ServerCase> {
    vec![
        case(
            "server.ok.source-address",
            OK_QUOTE,
            &[OK_SOURCE, ANSWERED],
            play!(|s, c, a| {
                s.hello("c1", "1001").await;
                Ok(())
            }),
        ),
        case(
            "server.reset.in-use",
            RESET_QUOTE,
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
            own: Some(says_it_timed_out),
            ..case(
                "server.idle.exit",
                IDLE_QUOTE,
                &[IDLE_EXIT, KEEPS_SERVING],
                play!(|s, c, a| {
                    s.hello("c1", "6001").await;
                    let limit = s.times.idle + s.times.tolerance.idle_late + Duration::from_secs(1);
                    c.wait(limit).await;
                    Ok(())
                }),
            )
        },
        ServerCase {
            long: true,
            own: Some(says_it_timed_out),
            ..case(
                "server.idle.request-restarts-timer",
                IDLE_QUOTE,
                &[IDLE_EXIT, KEEPS_SERVING],
                play!(|s, c, a| {
                    s.hello("c1", "6101").await;
                    // Long enough apart that an exit timed from the first request is plainly early;
                    // short enough that the case ends soon after the plain idle-exit case.
                    s.pause((s.times.idle / 2).min(Duration::from_secs(10)))
                        .await;
                    s.hello("c2", "6102").await;
                    let limit = s.times.idle + s.times.tolerance.idle_late + Duration::from_secs(1);
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
            tcp_only: true,
            level: Level::Robustness,
            ..case(
                "server.tcp.silent-connection-blocks-no-one",
                TCP_QUOTE,
                &[ANSWERED],
                play!(|s, c, a| {
                    s.open_silent("silent").await;
                    s.pause(Duration::from_millis(50)).await;
                    s.hello("c1", "9001").await;
                    Ok(())
                }),
            )
        },
        ServerCase {
            tcp_only: true,
            level: Level::Robustness,
            ..case(
                "server.tcp.split-request",
                TCP_QUOTE,
                &[ANSWERED],
                play!(|s, c, a| {
                    s.tcp(
                        "c1",
                        &[b"HELLO 91", b"02\n"],
                        Duration::from_millis(50),
                        false,
                    )
                    .await;
                    Ok(())
                }),
            )
        },
        ServerCase {
            tcp_only: true,
            level: Level::Robustness,
            ..case(
                "server.tcp.ended-by-half-close",
                TCP_QUOTE,
                &[ANSWERED],
                play!(|s, c, a| {
                    s.tcp("c1", &[b"HELLO 9201"], Duration::ZERO, true).await;
                    Ok(())
                }),
            )
        },
        ServerCase {
            tcp_only: true,
            level: Level::Robustness,
            ..case(
                "server.tcp.reply-then-close",
                TCP_QUOTE,
                &[ANSWERED],
                play!(|s, c, a| {
                    let reply = s.tcp("c1", &[b"HELLO 9301\n"], Duration::ZERO, false).await;
                    match connid::protocol::parse(&reply.bytes) {
                        Ok(Message::Ok(..) | Message::Reset(_)) if !reply.closed => Err(format!(
                            "the server replied but did not close the connection within {} s",
                            s.reply_wait().as_secs_f64()
                        )),
                        _ => Ok(()),
                    }
                }),
            )
        },
    ]
}

/// A port for the server under test: free now, and below the system's ephemeral range, so that no
/// socket bound to port 0 elsewhere (another case's client, another program) can take it in the time
/// the server takes to start and bind it.
fn free_port(transport: Transport) -> std::io::Result<u16> {
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
/// can take the port from it between its bind and its listen: [`held_by`] is asked first.)
fn is_listening(transport: Transport, addr: SocketAddr) -> bool {
    let taken = |e: std::io::Error| e.kind() == std::io::ErrorKind::AddrInUse;
    match transport {
        Transport::Udp => std::net::UdpSocket::bind(addr).err().is_some_and(taken),
        Transport::Tcp => std::net::TcpListener::bind(addr).err().is_some_and(taken),
    }
}

/// Whether the process `pid` or one of its descendants holds a `transport` socket bound to `port` (TCP:
/// listening), as Linux's `/proc` tells; `None` where there is no `/proc/net` to ask. Unlike binding the
/// port ourselves, asking never takes the port from a server between its bind and its listen, and it
/// tells our child from another checker's server that picked the same port.
fn held_by(pid: u32, transport: Transport, port: u16) -> Option<bool> {
    if !std::path::Path::new("/proc/net").exists() {
        return None;
    }
    let tables: [&str; 2] = match transport {
        Transport::Udp => ["udp", "udp6"],
        Transport::Tcp => ["tcp", "tcp6"],
    };
    // Each row: `sl local_address rem_address st ... uid timeout inode`; the address is hex `IP:PORT`.
    let mut sockets = Vec::new();
    for table in tables {
        let Ok(text) = std::fs::read_to_string(format!("/proc/net/{table}")) else {
            continue;
        };
        let needle = format!(":{port:04X} ");
        for row in text.lines().skip(1).filter(|row| row.contains(&needle)) {
            let fields: Vec<&str> = row.split_whitespace().collect();
            let local_port = fields
                .get(1)
                .and_then(|a| a.rsplit_once(':'))
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            // A TCP server holds the port once it listens (state 0A); one that has only bound may
            // still fail to listen.
            let ready = transport == Transport::Udp || fields.get(3) == Some(&"0A");
            if let (Some(p), Some(inode), true) = (local_port, fields.get(9), ready) {
                if p == port && *inode != "0" {
                    sockets.push(format!("socket:[{inode}]"));
                }
            }
        }
    }
    let mut family = vec![pid];
    let mut next = 0;
    while let Some(&p) = family.get(next) {
        next += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            family.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    Some(family.iter().any(|p| {
        std::fs::read_dir(format!("/proc/{p}/fd")).is_ok_and(|fds| {
            fds.flatten().any(|fd| {
                std::fs::read_link(fd.path())
                    .is_ok_and(|link| sockets.iter().any(|s| link.as_os_str() == s.as_str()))
            })
        })
    }))
}

/// How often a case starts its server again on a new port when another process took the port first.
const PORT_TRIES: u32 = 3;

/// How long a server has to start listening.
const START_LIMIT: Duration = Duration::from_secs(10);

impl_case!(ServerCase, run_case);

/// Runs one case against a fresh child of `program`.
pub async fn run_case(
    case: &ServerCase,
    program: &Program,
    transport: Transport,
    timing: Timing,
) -> CaseResult {
    let times = timing.times();
    let mut result = CaseResult::new(case.id, case.quote, case.level, transport);
    // A server is started on a free port; if another process took that port first (our child then
    // fails to bind it), it is started again on another.
    let mut attempt = 0;
    let (port, server, start, epoch, mut session, mut child, listening) = loop {
        attempt += 1;
        let port = match free_port(transport) {
            Ok(port) => port,
            Err(e) => {
                result.verdict = Verdict::failed(format!("no free port on loopback: {e}"));
                return result;
            }
        };
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
        let (mut child, _) =
            match Child::spawn(&argv, SERVER, &session.recorder, start, Stdio::null(), None) {
                Ok(child) => child,
                Err(e) => {
                    result.verdict =
                        Verdict::failed(format!("cannot start {:?}: {e}", argv.join(" ")));
                    return result;
                }
            };
        let mut listening = false;
        while start.elapsed() < START_LIMIT && !child.has_exited() {
            // Asked off the runtime's threads: /proc/net can be long on a busy machine.
            let pid = child.pid();
            let held = tokio::task::spawn_blocking(move || {
                pid.and_then(|pid| held_by(pid, transport, port))
            })
            .await
            .ok()
            .flatten();
            listening = held.unwrap_or_else(|| is_listening(transport, server));
            if listening {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Our child could not have the port because another process holds it: try another port.
        if !listening
            && child.has_exited()
            && is_listening(transport, server)
            && attempt < PORT_TRIES
        {
            child.stop().await;
            continue;
        }
        break (port, server, start, epoch, session, child, listening);
    };
    let mut outcome = Ok(());
    if listening {
        let limit = times.ttl * 2 + times.idle + Duration::from_secs(30);
        match tokio::time::timeout(limit, (case.play)(&mut session, &mut child, case.arg)).await {
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
        result.verdict = match run.events.iter().find_map(|e| match e.kind {
            EventKind::Exit(code) => Some(code),
            _ => None,
        }) {
            Some(code) => Verdict::failed(format!(
                "the server exited with code {code} before it listened on {transport} {server}"
            )),
            None => Verdict::Unsupported(format!(
                "the server did not listen on {transport} {server} within {} s",
                START_LIMIT.as_secs()
            )),
        };
        return result;
    }
    let scenario = judged_scenario(case.id, port, timing);
    let outcome = outcome.and_then(|()| case.own.map_or(Ok(()), |own| own(&run, &times)));
    result.verdict = verdict(&scenario, &run, timing, case.rules, outcome);
    result
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
        if held_by(me, Transport::Udp, u).is_none() {
            return; // no /proc here: the probe alone decides
        }
        assert_eq!(held_by(me, Transport::Udp, u), Some(true));
        assert_eq!(held_by(me, Transport::Tcp, t), Some(true));
        // Another process holds neither.
        let mut other = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert_eq!(held_by(other.id(), Transport::Udp, u), Some(false));
        assert_eq!(held_by(other.id(), Transport::Tcp, t), Some(false));
        let _ = other.kill();
        let _ = other.wait();
        // Nor do we once they are closed.
        drop((udp, tcp));
        assert_eq!(held_by(me, Transport::Udp, u), Some(false));
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
