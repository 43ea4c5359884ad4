//! A standard output closed under the program (`... | head`): the client and the server finish their
//! protocol and exit with their usual code, quietly; `load` stops at once, quietly, by SIGPIPE as `cat`
//! does. Each is given a pipe whose reading end is already closed.

use crate::common;

use std::net::UdpSocket;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{bin, finish, Running, PATIENCE};
use connid::stdout::closed_pipe;

/// Starts `cmd` with the closed pipe as its standard output, its stderr piped.
fn spawn_closed(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(closed_pipe().unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `cmd` to its end with the closed pipe as its standard output: its status and its stderr.
fn run_closed(cmd: Command) -> (ExitStatus, String) {
    let out = finish(spawn_closed(cmd));
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_client_finishes_its_protocol_and_exits_with_its_usual_code() {
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = fake.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut buf = [0u8; 64];
        let (n, from) = fake.recv_from(&mut buf).unwrap();
        fake.send_to(b"OK 1 127.0.0.1 4000", from).unwrap();
        buf[..n].to_vec()
    });
    let mut cmd = Command::new(bin("client"));
    cmd.args(["HELLO", "127.0.0.1", &addr.port().to_string(), "1"]);
    let (status, stderr) = run_closed(cmd);
    assert_eq!(server.join().unwrap(), b"HELLO 1");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn the_server_keeps_serving_and_exits_with_its_usual_code() {
    // Its stdout is closed, so it cannot say its port: it gets one the OS just handed out.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(bin("server"));
    cmd.args(["127.0.0.1", &port.to_string(), "--idle-timeout", "1"]);
    let child = spawn_closed(cmd);
    let ask = UdpSocket::bind("127.0.0.1:0").unwrap();
    ask.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let me = ask.local_addr().unwrap();
    let mut buf = [0u8; 64];
    // Asked until it answers (it may still be starting): it serves with its log closed.
    let deadline = Instant::now() + PATIENCE;
    let reply = loop {
        assert!(Instant::now() < deadline, "the server never answered");
        ask.send_to(b"HELLO 5", ("127.0.0.1", port)).unwrap();
        if let Ok((n, _)) = ask.recv_from(&mut buf) {
            break String::from_utf8_lossy(&buf[..n]).into_owned();
        }
    };
    assert_eq!(reply, format!("OK 5 127.0.0.1 {}", me.port()));
    let out = finish(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn load_stops_quietly_by_sigpipe() {
    let server = Running::server("udp", &[]);
    let mut cmd = Command::new(bin("load"));
    cmd.args(["127.0.0.1", &server.addr.port().to_string()])
        .args(["--duration", "0.2", "--clients", "2"]);
    let (status, stderr) = run_closed(cmd);
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?} {stderr}");
    assert_eq!(stderr, "");
}
