//! Helpers for end-to-end tests: run the built binaries (and the classic Python peers) on 127.0.0.1
//! with ports the OS picks, feed them input, and collect what they print.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use regex::Regex;

/// The timestamp format every program prints.
pub const TS: &str = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}";

/// How long any single step may take before a test gives up (generous: CI machines are shared).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Runs `check` over UDP and over TCP at once, each in a thread of its own: most of a check is
/// waiting on a real timer. A panic in either fails the test (with the transport in its message, as
/// each check says).
pub fn each_transport(check: impl Fn(&'static str) + Sync) {
    thread::scope(|scope| {
        for t in ["udp", "tcp"] {
            let check = &check;
            scope.spawn(move || check(t));
        }
    });
}

pub fn re(pattern: &str) -> Regex {
    Regex::new(&pattern.replace("{TS}", TS)).unwrap()
}

pub fn bin(name: &str) -> PathBuf {
    match name {
        "client" => PathBuf::from(env!("CARGO_BIN_EXE_client")),
        "server" => PathBuf::from(env!("CARGO_BIN_EXE_server")),
        "load" => PathBuf::from(env!("CARGO_BIN_EXE_load")),
        other => panic!("no binary {other}"),
    }
}

pub fn interop_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

/// A running server process whose output lines are collected as they arrive.
pub struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    pub addr: SocketAddr,
}

impl Running {
    /// Starts `cmd`, then waits for the line announcing the port (matched by `port_re`'s group 1).
    pub fn start(mut cmd: Command, port_re: &str) -> Running {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start server");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut running = Running {
            child,
            lines,
            seen: Vec::new(),
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        let first = running.wait_for(port_re);
        let port: u16 = re(port_re).captures(&first).unwrap()[1].parse().unwrap();
        running.addr.set_port(port);
        running
    }

    /// Starts our server with extra arguments on 127.0.0.1, port 0.
    pub fn server(transport: &str, extra: &[&str]) -> Running {
        let mut cmd = Command::new(bin("server"));
        cmd.args(["127.0.0.1", "0", "--transport", transport])
            .args(extra);
        Running::start(cmd, r"listening on \w+ 127\.0\.0\.1:(\d+)")
    }

    /// Waits for the next line matching `pattern` (skipping others) and returns it.
    pub fn wait_for(&mut self, pattern: &str) -> String {
        let wanted = re(pattern);
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted.is_match(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no line matching {pattern:?}; saw {:#?}", self.seen),
            }
        }
    }

    /// Waits for the next line, whatever it is.
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(_) => panic!("no further line; saw {:#?}", self.seen),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`"INT"`, `"TERM"`) with the system's `kill`.
    pub fn signal(&self, name: &str) {
        signal(self.child.id(), name);
    }

    /// Waits for the process to exit; returns its exit code and every line it printed.
    pub fn wait_exit(mut self) -> (i32, Vec<String>) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit; saw {:#?}",
                self.seen
            );
            thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        (status.code().unwrap_or(-1), self.seen.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished client printed.
#[derive(Debug)]
pub struct Finished {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Asserts that stdout's lines match `patterns` one to one.
    pub fn assert_lines(&self, patterns: &[&str]) {
        let lines = self.lines();
        assert_eq!(
            lines.len(),
            patterns.len(),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        for (line, pattern) in lines.iter().zip(patterns) {
            let anchored = format!("^{pattern}$");
            assert!(
                re(&anchored).is_match(line),
                "{line:?} !~ {anchored:?}\nstdout:\n{}",
                self.stdout
            );
        }
    }
}

/// Runs a command to its end with `input` on stdin.
pub fn run(mut cmd: Command, input: &str) -> Finished {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start process");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    // Written from a thread so a program that never reads cannot block the test.
    thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = finish(child);
    Finished {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Waits for `child` to exit (killing it and failing the test after [`PATIENCE`]) and collects
/// what it printed.
pub fn finish(mut child: std::process::Child) -> std::process::Output {
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not finish within {PATIENCE:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// Runs our client against `addr` with ID `id`, extra arguments and typed `input`.
pub fn client(
    addr: SocketAddr,
    transport: &str,
    id: &str,
    extra: &[&str],
    input: &str,
) -> Finished {
    let mut cmd = Command::new(bin("client"));
    cmd.args([
        "HELLO",
        &addr.ip().to_string(),
        &addr.port().to_string(),
        id,
    ])
    .args(["--transport", transport])
    .args(extra);
    run(cmd, input)
}

/// Sends a signal (`"INT"`, `"TERM"`) to a process with the system's `kill`.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid}");
}

/// Resident memory of a process in KiB, from /proc.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// Open file descriptors of a process, from /proc.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc fd")
        .count()
}
