//! Abuse on real sockets (127.0.0.1, bounded in count and time): floods of bad input, slow and idle
//! TCP peers, hostile servers, and signals. The server must keep serving and stay bounded; the client
//! must never hang past its timeout.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{client, re, Running, PATIENCE};
use connid::lines::{Outcome, ServerLine};
use connid::Message;

/// Every malformed shape the protocol names, as datagrams.
fn malformed(i: usize) -> Vec<u8> {
    match i % 8 {
        0 => Vec::new(),
        1 => vec![0xff, 0x00, 0xfe, (i % 256) as u8],
        2 => vec![b'A'; 600 + i % 1000],
        3 => format!("HELO {i}").into_bytes(),
        4 => format!("HELLO {}", "x".repeat(65)).into_bytes(),
        5 => format!("HELLO {i} extra").into_bytes(),
        6 => b"HELLO".to_vec(),
        _ => format!("RESET {i}").into_bytes(),
    }
}

#[test]
fn a_udp_flood_of_garbage_does_not_stop_good_requests_or_grow_memory() {
    let server = Running::server("udp", &[]);
    let bad = UdpSocket::bind("127.0.0.1:0").unwrap();
    let good = UdpSocket::bind("127.0.0.1:0").unwrap();
    good.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let good_port = good.local_addr().unwrap().port();
    let ask = |id: &str| {
        good.send_to(format!("HELLO {id}").as_bytes(), server.addr)
            .unwrap();
        let mut buf = [0u8; 128];
        let (n, _) = good
            .recv_from(&mut buf)
            .expect("a good request is answered");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // Warm up, then measure.
    assert_eq!(ask("warm"), format!("OK warm 127.0.0.1 {good_port}"));
    let before = common::rss_kib(server.pid());
    let mut sent = 0;
    for round in 0..200 {
        for _ in 0..100 {
            bad.send_to(&malformed(sent), server.addr).unwrap();
            sent += 1;
        }
        // Each good request waits behind the garbage in the socket's queue and is still answered.
        let id = format!("g{round}");
        assert_eq!(ask(&id), format!("OK {id} 127.0.0.1 {good_port}"));
    }
    assert_eq!(sent, 20_000);
    assert_eq!(ask("g0"), "RESET g0");
    let after = common::rss_kib(server.pid());
    assert!(
        after < before + 4 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    // Request lines at most 20 a second, the rest counted in a summary line per second: every
    // request, good or bad, is logged or counted, and the lines stay few.
    let (_, lines) = {
        server.signal("TERM");
        server.wait_exit()
    };
    let (mut ok, mut reset, mut dropped, mut own_lines) = (0, 0, 0, 0);
    for line in &lines {
        match line.parse::<ServerLine>() {
            Ok(ServerLine::Request { outcome, .. }) => {
                own_lines += 1;
                match outcome {
                    Outcome::Reply(Message::Ok(..)) => ok += 1,
                    Outcome::Reply(_) => reset += 1,
                    Outcome::Dropped(_) => dropped += 1,
                }
            }
            Ok(ServerLine::Unlogged {
                ok: o,
                reset: r,
                dropped: d,
                ..
            }) => {
                (ok, reset, dropped) = (ok + o, reset + r, dropped + d);
            }
            _ => {}
        }
    }
    assert!(
        own_lines < 2_000,
        "{own_lines} request lines for 20,202 requests"
    );
    assert_eq!(
        (ok, reset, dropped),
        (201, 1, 20_000),
        "every request is logged or counted"
    );
}

#[test]
fn idle_and_slow_tcp_peers_are_cut_off_and_a_good_client_is_still_served() {
    let mut server = Running::server("tcp", &["--line-timeout", "1", "--max-connections", "1100"]);
    let pid = server.pid();
    let baseline = common::open_fds(pid);
    // 500 peers that connect and say nothing; 500 that send an unfinished line, a byte at a time.
    let silent: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let mut slow: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    for s in &mut slow {
        s.write_all(b"HELLO").unwrap();
    }
    let started = Instant::now();
    // Served on its first try, within its own 5 s timeout: no Connection Error before it.
    let out = client(server.addr, "tcp", "good", &["--timeout", "5"], "");
    assert_eq!(out.code, 0, "{out:?}");
    out.assert_lines(&[r"Connection established good 127\.0\.0\.1 \d+ on {TS}"]);
    // While they hang on, the server holds at most one descriptor per connection.
    let busy = common::open_fds(pid);
    assert!(
        busy <= baseline + 1100,
        "{busy} descriptors open (baseline {baseline})"
    );
    for s in &mut slow {
        let _ = s.write_all(b" ");
    }
    // After the line timeout every one of them is closed by the server: reads see the end.
    for mut s in silent.into_iter().chain(slow) {
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "a cut-off peer got a reply");
    }
    // Not before the line timeout (1 s; a lower bound, which a busy machine only makes easier to
    // meet). The 100 ms slack: `started` was read after the peers connected.
    let cut = started.elapsed();
    assert!(
        cut >= Duration::from_millis(900),
        "cut off after {cut:?}, before the line timeout"
    );
    // (The log shows some of them: dropped-request lines are rate-limited.)
    server.wait_for(r#"" dropped: request not complete within 1 s$"#);
    // Descriptors return to the baseline once they are all closed.
    let deadline = Instant::now() + PATIENCE;
    while common::open_fds(pid) > baseline && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(
        common::open_fds(pid) <= baseline,
        "descriptors did not return to {baseline}"
    );
}

#[test]
fn the_connection_cap_holds_and_waiting_peers_are_served_later() {
    let server = Running::server("tcp", &["--line-timeout", "0.5", "--max-connections", "10"]);
    let pid = server.pid();
    let baseline = common::open_fds(pid);
    let idle: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(200));
    let held = common::open_fds(pid) - baseline;
    assert!(held <= 10, "{held} connections accepted with a cap of 10");
    // The ones in the backlog are accepted as slots free up, and a good client gets through.
    let out = client(server.addr, "tcp", "late", &["--timeout", "10"], "");
    assert_eq!(out.code, 0, "{out:?}");
    drop(idle);
}

/// A hostile UDP server answering every request with `reply`; it stops after a second of quiet.
fn udp_hostile(reply: Vec<u8>) -> std::net::SocketAddr {
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = fake.local_addr().unwrap();
    thread::spawn(move || {
        fake.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut buf = [0u8; 64];
        while let Ok((_, from)) = fake.recv_from(&mut buf) {
            let _ = fake.send_to(&reply, from);
        }
    });
    addr
}

#[test]
fn the_client_survives_hostile_udp_replies_and_times_out() {
    for (reply, why) in [
        (
            vec![b'x'; 65_000],
            "ignored a malformed reply (message over 512 bytes",
        ),
        (
            b"OK 1 999.1.1.1 5".to_vec(),
            "ignored a malformed reply (bad IP address",
        ),
        (
            b"OK 2 1.2.3.4 5".to_vec(),
            "ignored a reply for another request: OK 2",
        ),
    ] {
        let addr = udp_hostile(reply);
        // Its one try ends by its own timer ("no reply within 0.3 s" below), whatever came.
        let out = client(addr, "udp", "1", &["--timeout", "0.3", "--tries", "1"], "");
        assert_eq!(out.code, 1, "{out:?}");
        out.assert_lines(&["Connection Error 1 on {TS}", "Connection Failure on {TS}"]);
        assert!(out.stderr.contains(why), "{}", out.stderr);
        assert!(
            out.stderr.contains("no reply within 0.3 s"),
            "{}",
            out.stderr
        );
    }
}

/// A hostile TCP server: on each connection, reads the request, then runs `answer`.
fn tcp_hostile(answer: fn(TcpStream)) -> std::net::SocketAddr {
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = fake.local_addr().unwrap();
    thread::spawn(move || {
        for stream in fake.incoming().flatten() {
            thread::spawn(move || {
                let mut s = stream;
                let mut buf = [0u8; 64];
                let _ = s.read(&mut buf);
                answer(s);
            });
        }
    });
    addr
}

#[test]
fn the_client_survives_hostile_tcp_servers() {
    type Answer = fn(TcpStream);
    let cases: [(Answer, &str); 3] = [
        // Accepts, reads, closes without a word: the try fails at once.
        (
            |s| drop(s),
            "the server closed the connection without a reply",
        ),
        // 64 KiB of garbage, then the close.
        (
            |mut s| {
                let _ = s.write_all(&vec![b'z'; 64 * 1024]);
            },
            "the server closed the connection without a reply",
        ),
        // A reply that never ends.
        (
            |mut s| {
                let chunk = [b'y'; 4096];
                while s.write_all(&chunk).is_ok() {}
            },
            "no reply within 0.5 s",
        ),
    ];
    for (answer, why) in cases {
        let addr = tcp_hostile(answer);
        // Each try ends as its reason says (at once, or by the client's own 0.5 s timer).
        let out = client(
            addr,
            "tcp",
            "1",
            &["--timeout", "0.5", "--tries", "2"],
            "2\n",
        );
        assert_eq!(out.code, 1, "{why}: {out:?}");
        out.assert_lines(&[
            "Connection Error 1 on {TS}",
            "Enter a new connection ID: 2",
            "Connection Error 2 on {TS}",
            "Connection Failure on {TS}",
        ]);
        assert_eq!(out.stderr.matches(why).count(), 2, "{}", out.stderr);
    }
}

#[test]
fn sigint_and_sigterm_stop_the_server_with_a_final_line_and_exit_0() {
    for (sig, name) in [("INT", "SIGINT"), ("TERM", "SIGTERM")] {
        for transport in ["udp", "tcp"] {
            let mut server = Running::server(transport, &[]);
            assert_eq!(client(server.addr, transport, "1", &[], "").code, 0);
            server.signal(sig);
            server.wait_for(&format!("^Server stopped by {name} on {{TS}}$"));
            let (code, _) = server.wait_exit();
            assert_eq!(code, 0, "{transport} {name}");
        }
    }
}

/// A client stopped mid-try ends well before the 30 s its try would otherwise wait: half of it, so
/// a loaded machine's delays (seconds at worst) cannot fail the test, and a client that ignored the
/// signal until its timeout still would.
const STOPPED_AT_ONCE: Duration = Duration::from_secs(15);

#[test]
fn a_signal_stops_the_client_mid_try_and_at_the_prompt() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    // Mid-try: waiting 30 s for a reply that never comes.
    let mut child = waiting_client(addr.port(), "30");
    let mut buf = [0u8; 64];
    silent.set_read_timeout(Some(PATIENCE)).unwrap();
    silent.recv_from(&mut buf).expect("the client's request");
    let started = Instant::now();
    common::signal(child.id(), "INT");
    let out = wait_output(&mut child);
    assert_eq!(out.0, 1);
    assert!(
        re("^Connection Failure on {TS}\n$").is_match(&out.1),
        "{:?}",
        out.1
    );
    assert!(out.2.contains("stopped by SIGINT"), "{}", out.2);
    assert!(
        started.elapsed() < STOPPED_AT_ONCE,
        "stopped after {:?}, as if at its 30 s timeout",
        started.elapsed()
    );

    // At the prompt, with standard input open and nothing typed.
    let mut child = waiting_client(addr.port(), "0.2");
    silent.recv_from(&mut buf).expect("the client's request");
    thread::sleep(Duration::from_millis(600));
    common::signal(child.id(), "TERM");
    let out = wait_output(&mut child);
    assert_eq!(out.0, 1, "{out:?}");
    let lines: Vec<&str> = out.1.lines().collect();
    assert_eq!(lines.len(), 3, "{:?}", out.1);
    assert!(
        re("^Connection Error 1 on {TS}$").is_match(lines[0]),
        "{:?}",
        out.1
    );
    assert_eq!(lines[1], "Enter a new connection ID: ");
    assert!(
        re("^Connection Failure on {TS}$").is_match(lines[2]),
        "{:?}",
        out.1
    );
    assert!(out.2.contains("stopped by SIGTERM"), "{}", out.2);
}

/// Our client asking for ID 1 with standard input open (and nothing typed), its output piped.
fn waiting_client(port: u16, timeout: &str) -> std::process::Child {
    Command::new(common::bin("client"))
        .args([
            "HELLO",
            "127.0.0.1",
            &port.to_string(),
            "1",
            "--timeout",
            timeout,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (bounded) for a child to exit: (code, stdout, stderr).
fn wait_output(child: &mut std::process::Child) -> (i32, String, String) {
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the client did not exit");
        thread::sleep(Duration::from_millis(10));
    }
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap().code().unwrap_or(-1), out, err)
}
