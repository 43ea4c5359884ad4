//! Interoperability with classic Python implementations of the assignment (standard library only):
//! their client against our server, our client against their server, over UDP and TCP. Two server
//! styles: the classic one (one `recv`, answer, close) and a line-reading one (reads until a newline
//! or the client's half-close, answers with a newline).

use crate::common;

use std::process::Command;

use common::{client, each_transport, interop_script, run, Running};

fn python_server(script: &str, transport: &str) -> Running {
    let mut cmd = Command::new("python3");
    cmd.arg(interop_script(script))
        .args(["127.0.0.1", "0", transport]);
    Running::start(cmd, r"listening on \w+ 127\.0\.0\.1:(\d+)")
}

fn classic_server(transport: &str) -> Running {
    python_server("classic_server.py", transport)
}

fn classic_client(server: &Running, transport: &str, id: &str, input: &str) -> common::Finished {
    classic_client_saying(server, transport, "HELLO", id, input)
}

/// The classic client with another verb than `HELLO` (it sends whatever it is given).
fn classic_client_saying(
    server: &Running,
    transport: &str,
    verb: &str,
    id: &str,
    input: &str,
) -> common::Finished {
    let mut cmd = Command::new("python3");
    cmd.arg(interop_script("classic_client.py")).args([
        verb,
        "127.0.0.1",
        &server.addr.port().to_string(),
        id,
        transport,
    ]);
    run(cmd, input)
}

#[test]
fn their_client_against_our_server() {
    each_transport(|t| {
        let mut server = Running::server(t, &[]);
        let first = classic_client(&server, t, "9876", "");
        assert_eq!(first.code, 0, "{t}: {first:?}");
        first.assert_lines(&[r"Connection established 9876 127\.0\.0\.1 \d+ on {TS}"]);
        server.wait_for(r#""HELLO 9876" -> OK 9876 127\.0\.0\.1 \d+$"#);
        // The ID is now taken: RESET, then the typed ID is granted.
        let second = classic_client(&server, t, "9876", "1234\n");
        assert_eq!(second.code, 0, "{t}: {second:?}");
        second.assert_lines(&[
            "Connection Error 9876 on {TS}",
            r"Enter a new connection ID: Connection established 1234 127\.0\.0\.1 \d+ on {TS}",
        ]);
        server.wait_for(r#""HELLO 9876" -> RESET 9876$"#);
    });
}

#[test]
fn our_client_against_their_server() {
    each_transport(|t| {
        let mut server = classic_server(t);
        let first = client(server.addr, t, "9876", &[], "");
        assert_eq!(first.code, 0, "{t}: {first:?}");
        first.assert_lines(&[r"Connection established 9876 127\.0\.0\.1 \d+ on {TS}"]);
        server.wait_for("^HELLO 9876 -> OK 9876 127.0.0.1 \\d+$");
        let second = client(server.addr, t, "9876", &[], "1234\n");
        assert_eq!(second.code, 0, "{t}: {second:?}");
        second.assert_lines(&[
            "Connection Error 9876 on {TS}",
            "Enter a new connection ID: 1234",
            r"Connection established 1234 127\.0\.0\.1 \d+ on {TS}",
        ]);
        server.wait_for("^HELLO 9876 -> RESET 9876$");
    });
}

#[test]
fn our_client_against_a_server_that_reads_to_a_newline_or_the_end() {
    each_transport(|t| {
        let mut server = python_server("newline_server.py", t);
        // Such a server answers only once the request has ended: our client half-closes after it.
        let first = client(
            server.addr,
            t,
            "9876",
            &["--timeout", "2", "--tries", "1"],
            "",
        );
        assert_eq!(first.code, 0, "{t}: {first:?}");
        first.assert_lines(&[r"Connection established 9876 127\.0\.0\.1 \d+ on {TS}"]);
        let port = first.stdout.split(' ').nth(4).unwrap().to_string();
        server.wait_for(&format!("^HELLO 9876 -> OK 9876 127.0.0.1 {port}$"));
        // RESET, then input ends: a failure, and the server recorded nothing for it.
        let second = client(
            server.addr,
            t,
            "9876",
            &["--timeout", "2", "--tries", "2"],
            "",
        );
        assert_eq!(second.code, 1, "{t}: {second:?}");
        second.assert_lines(&[
            "Connection Error 9876 on {TS}",
            "Enter a new connection ID: ",
            "Connection Failure on {TS}",
        ]);
        assert_eq!(server.next_line(), "HELLO 9876 -> RESET 9876", "{t}");
        // Nothing was granted behind the client's back after it gave up: the next line the server
        // prints is the next request's.
        let third = client(
            server.addr,
            t,
            "1234",
            &["--timeout", "2", "--tries", "1"],
            "",
        );
        assert_eq!(third.code, 0, "{t}: {third:?}");
        let line = server.next_line();
        assert!(line.starts_with("HELLO 1234 -> OK 1234 "), "{t}: {line}");
    });
}

#[test]
fn a_classic_tcp_client_is_answered_and_its_malformed_request_dropped_with_its_reason() {
    // One send, no newline, no half-close, then it waits: the server takes the request once nothing
    // more has come for the settle time (0.2 s), long before the line timeout (60 s). The classic
    // client gives up after its own 15 s, so its established line is the proof.
    let mut server = Running::server("tcp", &["--line-timeout", "60"]);
    let good = classic_client(&server, "tcp", "5555", "");
    assert_eq!(good.code, 0, "{good:?}");
    good.assert_lines(&[r"Connection established 5555 127\.0\.0\.1 \d+ on {TS}"]);
    server.wait_for(r#""HELLO 5555" -> OK 5555 127\.0\.0\.1 \d+$"#);

    let bad = classic_client_saying(&server, "tcp", "HELO", "1", "2\n3\n");
    assert_eq!(bad.code, 0, "the classic client ends normally: {bad:?}");
    bad.assert_lines(&[
        "Connection Error 1 on {TS}",
        "Enter a new connection ID: Connection Error 2 on {TS}",
        "Enter a new connection ID: Connection Error 3 on {TS}",
        "Connection Failure on {TS}",
    ]);
    // Each was dropped with its real reason, not for missing the line timeout.
    for id in ["1", "2", "3"] {
        server.wait_for(&format!(r#""HELO {id}" dropped: unknown verb "HELO"$"#));
    }
}
