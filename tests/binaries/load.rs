//! The load generator against our server (UDP and TCP) and against a server that answers garbage.

use crate::common;

use std::net::UdpSocket;
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::{bin, each_transport, run, Running};

fn load(addr: std::net::SocketAddr, extra: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new(bin("load"));
    cmd.args(["127.0.0.1", &addr.port().to_string(), "--json"])
        .args(extra);
    let out = run(cmd, "");
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn n(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[test]
fn unique_ids_are_all_granted_and_a_pool_gets_resets() {
    each_transport(|t| {
        let server = Running::server(t, &[]);
        let unique = load(
            server.addr,
            &["--transport", t, "--duration", "0.5", "--clients", "4"],
        );
        assert!(n(&unique, "sent") > 50, "{t}: {unique}");
        assert_eq!(n(&unique, "ok"), n(&unique, "sent"), "{t}: {unique}");
        assert_eq!(
            n(&unique, "reset") + n(&unique, "malformed") + n(&unique, "errors"),
            0
        );
        assert!(unique["latency_us"]["p50"].as_u64().unwrap() > 0);
        let per_second: u64 = unique["per_second"]
            .as_array()
            .expect("replies per second")
            .iter()
            .map(|n| n.as_u64().expect("a count"))
            .sum();
        assert_eq!(per_second, n(&unique, "ok"), "{t}: {unique}");
        let pool = load(
            server.addr,
            &["--transport", t, "--duration", "0.5", "--ids", "pool:3"],
        );
        assert!(n(&pool, "ok") <= 3, "{t}: {pool}");
        assert!(n(&pool, "reset") > 50, "{t}: {pool}");
        assert_eq!(
            n(&pool, "ok") + n(&pool, "reset") + n(&pool, "timeouts"),
            n(&pool, "sent")
        );
    });
}

#[test]
fn an_open_loop_rate_is_kept() {
    let server = Running::server("udp", &[]);
    let r = load(
        server.addr,
        &["--duration", "1", "--rate", "400", "--clients", "4"],
    );
    let sent = n(&r, "sent");
    assert!((300..=500).contains(&sent), "{r}");
    assert_eq!(n(&r, "ok"), sent);
}

#[test]
fn garbage_replies_are_counted_not_fatal() {
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = fake.local_addr().unwrap();
    thread::spawn(move || {
        fake.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 128];
        let mut i = 0u32;
        while let Ok((_, from)) = fake.recv_from(&mut buf) {
            i += 1;
            let reply: &[u8] = match i % 3 {
                0 => b"\xff\xfe garbage",
                1 => b"OK someone-else 1.2.3.4 5",
                _ => b"",
            };
            let _ = fake.send_to(reply, from);
        }
    });
    let r = load(
        addr,
        &["--duration", "0.3", "--clients", "2", "--timeout", "0.2"],
    );
    assert_eq!(n(&r, "ok") + n(&r, "reset"), 0, "{r}");
    assert!(n(&r, "malformed") + n(&r, "late") > 0, "{r}");
    assert_eq!(n(&r, "timeouts"), n(&r, "sent"), "{r}");
}

#[test]
fn tcp_replies_for_another_id_or_garbage_are_malformed() {
    use std::io::{Read, Write};
    let fake = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = fake.local_addr().unwrap();
    thread::spawn(move || {
        for (i, stream) in fake.incoming().flatten().enumerate() {
            let mut s = stream;
            let mut request = Vec::new();
            // `load` half-closes after its request: read to the end, then answer and close.
            let _ = s.read_to_end(&mut request);
            let reply: &[u8] = if i % 2 == 0 {
                b"OK someone-else 127.0.0.1 1"
            } else {
                b"\xff garbage"
            };
            let _ = s.write_all(reply);
        }
    });
    let r = load(
        addr,
        &["--transport", "tcp", "--duration", "0.3", "--clients", "2"],
    );
    assert!(n(&r, "sent") > 2, "{r}");
    assert_eq!(n(&r, "ok") + n(&r, "reset"), 0, "{r}");
    assert_eq!(n(&r, "malformed"), n(&r, "sent"), "{r}");
}

/// Against a socket that never answers, `load` still reports, and says on standard error that no
/// reply came in the first second and how few requests were answered.
#[test]
fn a_server_that_never_answers_is_warned_of() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    let out = Command::new(bin("load"))
        .args([
            "127.0.0.1",
            &port,
            "--duration",
            "1",
            "--timeout",
            "0.2",
            "--clients",
            "1",
        ])
        .output()
        .expect("load runs");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("load: warning: no reply came in the first second: is a server answering over udp there?\n"),
        "{stderr}"
    );
    assert!(stderr.contains("load: warning: only 0 of "), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("transport     udp (1 clients, "),
        "{stdout}"
    );
}
