//! The server with a standard output nobody reads (a full pipe: `server | less` left unscrolled, a
//! paused terminal): it keeps answering, drops and counts the lines it cannot print, says how many
//! once output flows again or at its exit, and still stops at once on SIGTERM. Real sockets on
//! 127.0.0.1, ports the OS picks.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, each_transport, signal, PATIENCE};
use connid::lines::ServerLine;

/// How many requests each test sends.
const REQUESTS: usize = 20_000;

/// Starts the server logging every request, and reads only its first line (the port) from the pipe
/// that then stays unread.
fn start(transport: &str) -> (Child, BufReader<ChildStdout>, SocketAddr) {
    let mut child = Command::new(bin("server"))
        .args(["127.0.0.1", "0", "--transport", transport, "--log", "every"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut out = BufReader::with_capacity(128, child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let port = first.trim_end().rsplit_once(':').unwrap().1;
    let port: u16 = port.split(' ').next().unwrap().parse().unwrap();
    (child, out, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Asks for `id` and returns the reply.
fn ask(transport: &str, server: SocketAddr, udp: &UdpSocket, id: &str) -> String {
    let request = format!("HELLO {id}\n");
    let mut buf = [0u8; 256];
    if transport == "udp" {
        udp.send_to(request.as_bytes(), server).unwrap();
        let (n, _) = udp
            .recv_from(&mut buf)
            .expect("a reply within the patience");
        return String::from_utf8_lossy(&buf[..n]).into_owned();
    }
    let mut stream = TcpStream::connect(server).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("a reply");
    reply
}

/// Sends `n` requests for new IDs one after another, each waiting for its reply, and checks each
/// is granted.
fn paced(transport: &str, server: SocketAddr, from: usize, n: usize) {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(PATIENCE)).unwrap();
    for i in from..from + n {
        let reply = ask(transport, server, &udp, &format!("id{i}"));
        assert!(
            reply.starts_with(&format!("OK id{i} ")),
            "request {i}: {reply:?}"
        );
    }
}

/// What standard output and error hold: the server's lines, and the lines they say were dropped.
fn account(text: &str) -> (u64, u64) {
    let (mut printed, mut dropped) = (0, 0);
    for line in text.lines() {
        match line.parse::<ServerLine>() {
            Ok(ServerLine::LinesDropped { count }) => dropped += count,
            Ok(_) => printed += 1,
            Err(e) => panic!("{e}"),
        }
    }
    (printed, dropped)
}

/// Waits for the child to exit, within `bound`.
fn exited_within(child: &mut Child, bound: Duration) -> Option<Duration> {
    let asked = Instant::now();
    while asked.elapsed() < bound {
        if child.try_wait().unwrap().is_some() {
            return Some(asked.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

#[test]
fn a_server_nobody_reads_answers_every_request_and_stops_on_sigterm() {
    each_transport(|transport| {
        let (mut child, mut out, server) = start(transport);
        paced(transport, server, 0, REQUESTS);
        // Stalled: the pipe holds 64 KiB of the 1.7 MB of lines. SIGTERM still ends it at once.
        signal(child.id(), "TERM");
        let took = exited_within(&mut child, Duration::from_secs(10));
        assert!(
            took.is_some(),
            "{transport}: the server did not exit on SIGTERM"
        );
        eprintln!("{transport}: exited {took:?} after SIGTERM");
        let status = child.wait().unwrap();
        assert!(status.success(), "{transport}: {status}");
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        // Every line is printed or counted: the listening line, a line per request, the exit line.
        let (printed, dropped_out) = account(&text);
        let (none, dropped_err) = account(&err);
        assert_eq!(
            none, 0,
            "{transport}: standard error holds only the count: {err}"
        );
        assert!(
            dropped_err > 0,
            "{transport}: the count at the exit is on standard error"
        );
        assert_eq!(
            1 + printed + dropped_out + dropped_err,
            REQUESTS as u64 + 2,
            "{transport}: every line printed or counted"
        );
    });
}

/// The number in a request line's `HELLO id<n>`.
fn request_number(line: &str) -> Option<u64> {
    let (_, rest) = line.split_once("\"HELLO id")?;
    rest.split('\\').next()?.parse().ok()
}

#[test]
fn once_output_flows_again_the_count_of_dropped_lines_stands_at_the_gap() {
    let (mut child, out, server) = start("udp");
    paced("udp", server, 0, REQUESTS);
    // Now read: the lines written and held come out, with the count where lines are missing.
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in out.lines().map_while(Result::ok) {
            lines.push(line);
        }
        lines
    });
    std::thread::sleep(Duration::from_millis(300));
    paced("udp", server, REQUESTS, 1);
    signal(child.id(), "TERM");
    assert!(exited_within(&mut child, PATIENCE).is_some());
    let lines = reader.join().unwrap();
    let gaps: Vec<usize> = (0..lines.len())
        .filter(|&i| matches!(lines[i].parse(), Ok(ServerLine::LinesDropped { .. })))
        .collect();
    assert!(!gaps.is_empty(), "lines were dropped");
    for at in gaps {
        let Ok(ServerLine::LinesDropped { count }) = lines[at].parse() else {
            unreachable!()
        };
        let before = request_number(&lines[at - 1]).expect("a request line before the count");
        let after = request_number(&lines[at + 1]).expect("a request line after it");
        assert_eq!(
            after - before - 1,
            count,
            "{} / {} / {}",
            lines[at - 1],
            lines[at],
            lines[at + 1]
        );
    }
    assert!(lines[lines.len() - 2].contains(&format!("\"HELLO id{REQUESTS}\\n\" -> OK")));
    let (printed, dropped) = account(&lines.join("\n"));
    assert_eq!(1 + printed + dropped, REQUESTS as u64 + 3);
}
