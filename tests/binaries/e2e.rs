//! End to end through the built binaries, on 127.0.0.1 with OS-chosen ports, for UDP and for TCP.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, client, each_transport, Running, PATIENCE};

const BOTH: [&str; 2] = ["udp", "tcp"];

fn established(id: &str) -> String {
    format!(r"Connection established {id} 127\.0\.0\.1 \d+ on {{TS}}")
}

fn error(id: &str) -> String {
    format!("Connection Error {id} on {{TS}}")
}

const PROMPT_ECHO: &str = "Enter a new connection ID: ";

#[test]
fn established_on_the_first_try() {
    for t in BOTH {
        let mut server = Running::server(t, &[]);
        let out = client(server.addr, t, "9876", &[], "");
        assert_eq!(out.code, 0, "{t}: {out:?}");
        out.assert_lines(&[&established("9876")]);
        // The port the client printed is the one the server saw and logged.
        let port = out.stdout.split(' ').nth(4).unwrap().to_string();
        server.wait_for(&format!(
            r#"^{{TS}} 127\.0\.0\.1:{port} "HELLO 9876" -> OK 9876 127\.0\.0\.1 {port}$"#
        ));
    }
}

#[test]
fn reset_then_a_typed_id_is_established() {
    for t in BOTH {
        let server = Running::server(t, &[]);
        assert_eq!(client(server.addr, t, "9876", &[], "").code, 0);
        let out = client(server.addr, t, "9876", &[], "1234\n");
        assert_eq!(out.code, 0, "{t}: {out:?}");
        out.assert_lines(&[
            &error("9876"),
            &format!("{PROMPT_ECHO}1234"),
            &established("1234"),
        ]);
        assert!(out.stderr.contains("RESET"), "{}", out.stderr);
    }
}

#[test]
fn three_resets_give_three_errors_then_failure() {
    for t in BOTH {
        let server = Running::server(t, &[]);
        for id in ["a", "b", "c"] {
            assert_eq!(client(server.addr, t, id, &[], "").code, 0);
        }
        let out = client(server.addr, t, "a", &[], "b\nc\nnever-asked\n");
        assert_eq!(out.code, 1, "{t}: {out:?}");
        out.assert_lines(&[
            &error("a"),
            &format!("{PROMPT_ECHO}b"),
            &error("b"),
            &format!("{PROMPT_ECHO}c"),
            &error("c"),
            "Connection Failure on {TS}",
        ]);
    }
}

#[test]
fn three_timeouts_against_a_silent_udp_peer() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let out = client(addr, "udp", "1", &["--timeout", "0.2"], "2\n3\n");
    assert_eq!(out.code, 1, "{out:?}");
    out.assert_lines(&[
        &error("1"),
        &format!("{PROMPT_ECHO}2"),
        &error("2"),
        &format!("{PROMPT_ECHO}3"),
        &error("3"),
        "Connection Failure on {TS}",
    ]);
    assert_eq!(
        out.stderr.matches("no reply within 0.2 s").count(),
        3,
        "{}",
        out.stderr
    );
    // Each try came from a new socket.
    silent
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut buf = [0u8; 64];
    let mut sources = Vec::new();
    for expected in ["HELLO 1", "HELLO 2", "HELLO 3"] {
        let (n, from) = silent.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], expected.as_bytes());
        sources.push(from);
    }
    sources.dedup();
    assert_eq!(sources.len(), 3, "{sources:?}");
}

#[test]
fn three_timeouts_against_a_silent_tcp_peer() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    // Accept and hold every connection open without answering.
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for _ in 0..3 {
            let (mut s, _) = silent.accept().unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap();
            held.push((s, String::from_utf8_lossy(&buf[..n]).into_owned()));
        }
        held.into_iter().map(|(_, req)| req).collect::<Vec<_>>()
    });
    let out = client(addr, "tcp", "1", &["--timeout", "0.2"], "2\n3\n");
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.lines()
            .iter()
            .filter(|l| l.starts_with("Connection Error"))
            .count(),
        3
    );
    assert!(out
        .lines()
        .last()
        .unwrap()
        .starts_with("Connection Failure on "));
    assert_eq!(holder.join().unwrap(), ["HELLO 1", "HELLO 2", "HELLO 3"]);
}

#[test]
fn a_refused_tcp_connection_fails_the_try_at_once() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // The listener is closed: connecting is refused.
    let out = client(addr, "tcp", "1", &["--tries", "2"], "2\n");
    assert_eq!(out.code, 1, "{out:?}");
    out.assert_lines(&[
        &error("1"),
        &format!("{PROMPT_ECHO}2"),
        &error("2"),
        "Connection Failure on {TS}",
    ]);
    assert!(out.stderr.contains("network error"), "{}", out.stderr);
}

#[test]
fn the_id_is_free_again_after_its_ttl() {
    each_transport(|t| {
        let server = Running::server(t, &["--id-ttl", "0.5"]);
        assert_eq!(client(server.addr, t, "77", &[], "").code, 0);
        let held = client(server.addr, t, "77", &["--tries", "1"], "");
        assert_eq!(held.code, 1, "{t}: {held:?}");
        held.assert_lines(&[&error("77"), "Connection Failure on {TS}"]);
        std::thread::sleep(Duration::from_millis(700));
        let again = client(server.addr, t, "77", &[], "");
        assert_eq!(again.code, 0, "{t}: {again:?}");
    });
}

#[test]
fn the_server_exits_after_its_idle_timeout() {
    each_transport(|t| {
        let mut server = Running::server(t, &["--idle-timeout", "0.5"]);
        assert_eq!(client(server.addr, t, "1", &[], "").code, 0);
        server.wait_for("Server timed out after 0.5 s without requests on {TS}$");
        let (code, _) = server.wait_exit();
        assert_eq!(code, 0, "{t}");
    });
}

#[test]
fn malformed_datagrams_get_no_reply_and_the_server_keeps_serving() {
    let mut server = Running::server("udp", &[]);
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let huge = vec![b'A'; 600];
    let bad: [&[u8]; 8] = [
        b"",
        b"\xff\xfe",
        &huge,
        b"HELO 1",
        b"HELLO",
        b"HELLO 1 2",
        b"HELLO a b c",
        b"RESET 1",
    ];
    for datagram in bad {
        peer.send_to(datagram, server.addr).unwrap();
        server.wait_for(r#"dropped: "#);
    }
    let mut buf = [0u8; 128];
    assert!(
        peer.recv_from(&mut buf).is_err(),
        "a malformed datagram was answered"
    );
    peer.send_to(b"HELLO ok\n", server.addr).unwrap();
    peer.set_read_timeout(Some(common::PATIENCE)).unwrap();
    let (n, _) = peer.recv_from(&mut buf).unwrap();
    let port = peer.local_addr().unwrap().port();
    assert_eq!(
        std::str::from_utf8(&buf[..n]).unwrap(),
        format!("OK ok 127.0.0.1 {port}")
    );
}

#[test]
fn a_malformed_tcp_request_is_closed_without_reply_and_the_server_keeps_serving() {
    let mut server = Running::server("tcp", &[]);
    let mut bad = TcpStream::connect(server.addr).unwrap();
    bad.write_all(b"GARBAGE\n").unwrap();
    bad.set_read_timeout(Some(common::PATIENCE)).unwrap();
    let mut reply = Vec::new();
    bad.read_to_end(&mut reply).unwrap();
    assert!(reply.is_empty(), "{reply:?}");
    server.wait_for(r#""GARBAGE\\n" dropped: unknown verb "GARBAGE""#);
    let out = client(server.addr, "tcp", "x", &[], "");
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn bad_arguments_exit_2_with_one_clear_line() {
    let cases: [&[&str]; 10] = [
        &["HI", "127.0.0.1", "5000", "1"],
        &["HELLO", "127.0.0.1", "0", "1"],
        &["HELLO", "127.0.0.1", "70000", "1"],
        &["HELLO", "not-an-ip", "5000", "1"],
        &["HELLO", "::1::", "5000", "1"],
        &["HELLO", "127.0.0.1", "5000", "has space"],
        &["HELLO", "127.0.0.1", "5000", "1", "--timeout", "0"],
        &["HELLO", "127.0.0.1", "5000", "1", "--timeout", "-1"],
        &["HELLO", "127.0.0.1", "5000", "1", "--tries", "0"],
        &["HELLO", "127.0.0.1", "5000"],
    ];
    for args in cases {
        let mut cmd = std::process::Command::new(common::bin("client"));
        cmd.args(args);
        let out = common::run(cmd, "");
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stdout.is_empty());
        assert!(
            out.stderr.starts_with("error: "),
            "{args:?}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
    }
    let server_cases: [&[&str]; 5] = [
        &["127.0.0.1", "70000"],
        &["localhost", "5000"],
        &["127.0.0.1", "5000", "--id-ttl", "0"],
        &["127.0.0.1", "5000", "--idle-timeout", "-5"],
        &["127.0.0.1", "5000", "--transport", "sctp"],
    ];
    for args in server_cases {
        let mut cmd = std::process::Command::new(common::bin("server"));
        cmd.args(args);
        let out = common::run(cmd, "");
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.starts_with("error: "),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn a_server_that_cannot_bind_exits_2() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut cmd = std::process::Command::new(common::bin("server"));
    cmd.args(["127.0.0.1", &port]);
    let out = common::run(cmd, "");
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("server: cannot listen on udp 127.0.0.1:"),
        "{}",
        out.stderr
    );
}

#[test]
fn replies_for_other_ids_or_malformed_are_ignored_over_udp() {
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = fake.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let (n, from) = fake.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"HELLO 1");
        for reply in ["OK 2 1.2.3.4 5", "garbage \u{1}", "RESET 2"] {
            fake.send_to(reply.as_bytes(), from).unwrap();
        }
        fake.send_to(b"OK 1 10.9.8.7 4321\n", from).unwrap();
    });
    let out = client(addr, "udp", "1", &[], "");
    server.join().unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    out.assert_lines(&[r"Connection established 1 10\.9\.8\.7 4321 on {TS}"]);
    assert_eq!(out.stderr.matches("ignored").count(), 3, "{}", out.stderr);
}

#[test]
fn a_tcp_reply_is_taken_without_waiting_for_the_close() {
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = fake.local_addr().unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (mut s, _) = fake.accept().unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"HELLO 1");
        s.write_all(b"OK 2 1.2.3.4 5\njunk\r\nOK 1 10.9.8.7 4321")
            .unwrap();
        // Keep the connection open until the client has finished.
        let _ = done_rx.recv_timeout(common::PATIENCE);
    });
    let out = client(addr, "tcp", "1", &[], "");
    done_tx.send(()).unwrap();
    server.join().unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    out.assert_lines(&[r"Connection established 1 10\.9\.8\.7 4321 on {TS}"]);
    assert_eq!(out.stderr.matches("ignored").count(), 2, "{}", out.stderr);
}

#[test]
fn a_reply_from_another_address_than_the_server_is_ignored_over_udp() {
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    let forger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (addr, forged_from) = (fake.local_addr().unwrap(), forger.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let (n, from) = fake.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"HELLO 1");
        // Right ID, wrong sender: a forged RESET and a forged OK must not end the try.
        forger.send_to(b"RESET 1", from).unwrap();
        forger.send_to(b"OK 1 6.6.6.6 666", from).unwrap();
        // Sent after the forgeries on loopback, so read after them.
        fake.send_to(b"OK 1 10.9.8.7 4321", from).unwrap();
    });
    let out = client(addr, "udp", "1", &[], "");
    server.join().unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    out.assert_lines(&[r"Connection established 1 10\.9\.8\.7 4321 on {TS}"]);
    let note = format!("ignored a datagram from {forged_from}, not the server {addr}");
    assert_eq!(out.stderr.matches(&note).count(), 2, "{}", out.stderr);
}

/// README's first command, as a newcomer runs it (built binaries in place of `cargo build`): twice in
/// a row, each run ends by itself (its server exits 2 s after the request, so nothing holds the
/// caller's pipe) and the second is not disturbed by the first.
#[test]
fn readme_first_command_runs_again_at_once_and_leaves_nothing_running() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("## Two commands\n\n```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("README's first command");
    let dir = bin("server").parent().unwrap().display().to_string();
    let command = block
        .replace("cargo build --release && ", "")
        .replace("./target/release/", &format!("{dir}/"));
    assert!(
        command.contains(&format!("{dir}/server 127.0.0.1 0")),
        "{command}"
    );
    for run in 1..=2 {
        let started = Instant::now();
        let out = Command::new("sh")
            .args(["-c", &command])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "run {run}: {text}");
        assert!(started.elapsed() < PATIENCE, "run {run} ended");
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains(" listening on udp 127.0.0.1:"),
            "run {run}: {text}"
        );
        assert!(
            lines[1].starts_with("Connection established 9876 127.0.0.1 "),
            "run {run}: {text}"
        );
        assert!(
            lines[2].contains("\"HELLO 9876\" -> OK 9876 127.0.0.1 "),
            "run {run}: {text}"
        );
        assert!(
            lines[3].starts_with("Server timed out after 2 s without requests on "),
            "run {run}: {text}"
        );
    }
}
