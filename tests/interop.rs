//! Interoperability with classic Python implementations of the assignment (standard library only):
//! their client against our server, our client against their server, over UDP and TCP.

mod common;

use std::process::Command;

use common::{client, interop_script, run, Running};

const BOTH: [&str; 2] = ["udp", "tcp"];

fn classic_server(transport: &str) -> Running {
    let mut cmd = Command::new("python3");
    cmd.arg(interop_script("classic_server.py"))
        .args(["127.0.0.1", "0", transport]);
    Running::start(cmd, r"listening on \w+ 127\.0\.0\.1:(\d+)")
}

fn classic_client(server: &Running, transport: &str, id: &str, input: &str) -> common::Finished {
    let mut cmd = Command::new("python3");
    cmd.arg(interop_script("classic_client.py")).args([
        "HELLO",
        "127.0.0.1",
        &server.addr.port().to_string(),
        id,
        transport,
    ]);
    run(cmd, input)
}

#[test]
fn their_client_against_our_server() {
    for t in BOTH {
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
    }
}

#[test]
fn our_client_against_their_server() {
    for t in BOTH {
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
    }
}
