//! The virtual clock against real programs: every wait primitive of C's libc, Python, Node.js, Java
//! and connid's tokio binaries waits the virtual time asked (never 10 ms early, at most 50 ms late: the
//! real time the program runs between jumps counts too) and time jumps over it;
//! timers the clock does not make virtual, and a static binary, run at real time with the reason said.
//! The programs are in `tests/clock/`; each prints `NAME MONOTONIC_ELAPSED WALL_ELAPSED` per wait.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use conform::clock::{self, Report};

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clock")
}

/// Runs `argv` on a virtual clock to its end: what it printed, and what the clock reports.
fn on_clock(argv: &[String]) -> (String, Report) {
    let shown = argv.join(" ");
    let argv = argv.to_vec();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ((stdout, status), report) = runtime
        .block_on(clock::run_virtual(move || async move {
            let mut command = tokio::process::Command::new(&argv[0]);
            command
                .args(&argv[1..])
                .envs(clock::env())
                // As conform starts a program: in a process group of its own.
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .kill_on_drop(true);
            let child = command.spawn().expect("starts");
            clock::watch(child.id().expect("running"));
            let out = child.wait_with_output().await.expect("ends");
            (
                String::from_utf8_lossy(&out.stdout).into_owned(),
                out.status,
            )
        }))
        .expect("the virtual clock runs here");
    assert!(status.success(), "{shown} failed: {status:?}\n{stdout}");
    (stdout, report)
}

/// Each line's primitive and its two elapsed times.
fn waits(stdout: &str) -> Vec<(String, f64, f64)> {
    stdout
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 3, "{l}");
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

/// How early a wait may end: none, but for the clocks' reading.
const EARLY: f64 = 0.010;
/// How late a wait may end: the real time the program itself runs between jumps counts too, which on a
/// loaded machine reaches tens of milliseconds (11 ms past 10 ms seen beside four CPU hogs).
const LATE: f64 = 0.050;

/// Whether `took` seconds is the `asked` wait, as [`EARLY`] and [`LATE`] allow.
fn on_time(took: f64, asked: f64) -> bool {
    took >= asked - EARLY && took <= asked + LATE
}

/// Every primitive of `stdout` waited `asked` seconds by both clocks ([`on_time`]), and there were
/// `names`.
fn assert_exact(stdout: &str, asked: f64, names: &[&str]) {
    let got = waits(stdout);
    let printed: Vec<&str> = got.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(printed, names, "{stdout}");
    for (name, mono, wall) in &got {
        assert!(
            on_time(*mono, asked) && on_time(*wall, asked),
            "{name} waited {mono} s (wall {wall} s) of virtual time for {asked} s\n{stdout}"
        );
    }
}

fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// A scratch directory of this test process.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("conform-clock-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn compile_c(extra: &[&str], name: &str) -> PathBuf {
    compile("waits.c", extra, name)
}

/// `source` (of `tests/clock/`) compiled with `extra` flags into the scratch directory as `name`.
fn compile(source: &str, extra: &[&str], name: &str) -> PathBuf {
    let out = scratch().join(name);
    let status = std::process::Command::new("cc")
        .args(["-O1", "-pthread", "-o"])
        .arg(&out)
        .arg(here().join(source))
        .args(extra)
        .status()
        .expect("cc runs");
    assert!(status.success());
    out
}

const C_VIRTUAL: &[&str] = &[
    "nanosleep",
    "clock_nanosleep_rel",
    "clock_nanosleep_abs",
    "clock_nanosleep_realtime_abs",
    "sleep",
    "poll",
    "ppoll",
    "select",
    "pselect",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "pthread_cond_timedwait",
    "pthread_cond_timedwait_monotonic",
    "pthread_cond_clockwait",
    "sem_timedwait",
    "sem_clockwait",
    "pthread_mutex_timedlock",
    "pthread_mutex_clocklock",
    "futex_wait",
    "futex_wait_bitset",
    "futex_wait_bitset_realtime",
];

#[test]
fn every_libc_wait_takes_exactly_the_virtual_time_asked() {
    let program = compile_c(&[], "waits");
    let mut argv = vec![program.to_string_lossy().into_owned(), "120".into()];
    argv.extend(strings(C_VIRTUAL));
    let (stdout, report) = on_clock(&argv);
    assert_exact(&stdout, 120.0, C_VIRTUAL);
    assert!(report.jumps >= C_VIRTUAL.len() as u64, "{report:?}");
    assert_eq!(report.real_time, None);
    // usleep takes less than a second at a time (the program makes 0.9 s one call).
    let argv = strings(&[&program.to_string_lossy(), "0.9", "usleep"]);
    let (stdout, report) = on_clock(&argv);
    assert_exact(&stdout, 0.9, &["usleep"]);
    assert_eq!(report.real_time, None);
}

#[test]
fn time_holds_still_while_a_process_the_program_left_outside_its_tree_runs() {
    // The orphan spins for 0.3 s of CPU time, out of the program's tree (and, here, left a zombie
    // by an init that does not reap): time must not jump over its spin, and must jump again after.
    let program = compile("orphan.c", &[], "orphan");
    let real = std::time::Instant::now();
    let (stdout, report) = on_clock(&strings(&[&program.to_string_lossy(), "30"]));
    // Jumped over the root's sleep once the orphan was done (a generous bound: it takes a second).
    assert!(real.elapsed() < Duration::from_secs(20), "{stdout}");
    let took = |name: &str| -> f64 {
        let line = stdout.lines().find(|l| l.starts_with(name)).expect(name);
        line[name.len()..].trim().parse().unwrap()
    };
    let orphan = took("orphan ");
    assert!(
        (0.3..5.0).contains(&orphan),
        "the orphan's 0.3 s spin took {orphan} s of virtual time\n{stdout}"
    );
    assert!(on_time(took("root "), 30.0), "{stdout}");
    assert!(report.jumps >= 1, "{report:?}");
}

#[test]
fn timers_the_clock_does_not_see_run_at_real_time_and_say_so() {
    let program = compile_c(&[], "waits-unseen");
    for (name, why) in [
        ("recv_rcvtimeo", "SO_RCVTIMEO"),
        ("timerfd", "timerfd"),
        (
            "raw_nanosleep",
            "waited in nanosleep with a timeout the virtual clock did not see",
        ),
    ] {
        let argv = strings(&[&program.to_string_lossy(), "0.3", name]);
        let (stdout, report) = on_clock(&argv);
        let (_, mono, _) = waits(&stdout)[0].clone();
        // At real time, with the kernel's own granularity (SO_RCVTIMEO is timed in jiffies).
        assert!((0.29..0.5).contains(&mono), "{name}: {stdout}");
        let said = report.real_time.unwrap_or_default();
        assert!(said.contains(why), "{name}: {said}");
    }
}

#[test]
fn a_static_binary_runs_at_real_time_and_the_reason_names_it() {
    let program = compile_c(&["-static"], "waits-static");
    let argv = strings(&[&program.to_string_lossy(), "0.3", "nanosleep", "poll"]);
    let (stdout, report) = on_clock(&argv);
    assert_exact(&stdout, 0.3, &["nanosleep", "poll"]);
    let said = report.real_time.unwrap_or_default();
    assert!(
        said.contains("waits-static") && said.contains("without the virtual clock"),
        "{said}"
    );
}

const PYTHON: &[&str] = &[
    "time.sleep",
    "socket_timeout",
    "select",
    "selectors",
    "threading.Timer",
    "Event.wait",
    "Condition.wait",
    "queue.get",
    "Lock.acquire",
    "asyncio.sleep",
    "asyncio.wait_for",
];

#[test]
fn every_python_wait_takes_exactly_the_virtual_time_asked() {
    let script = here().join("waits.py");
    let argv = strings(&[support::python3(), &script.to_string_lossy(), "120"]);
    let (stdout, report) = on_clock(&argv);
    assert_exact(&stdout, 120.0, PYTHON);
    assert_eq!(report.real_time, None);
}

/// Whether `program` runs here; a warning if not, for the test that needs it.
fn have(program: &str, test: &str) -> bool {
    let found = std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        eprintln!("WARNING: no {program} on this machine; {test} is not checked here");
    }
    found
}

#[test]
fn every_node_wait_takes_exactly_the_virtual_time_asked() {
    if !have("node", "Node.js's waits") {
        return;
    }
    let script = here().join("waits.js");
    let argv = strings(&["node", &script.to_string_lossy(), "120"]);
    let (stdout, report) = on_clock(&argv);
    assert_exact(
        &stdout,
        120.0,
        &[
            "setTimeout",
            "setInterval",
            "dgram",
            "net",
            "timers/promises",
        ],
    );
    assert_eq!(report.real_time, None);
}

#[test]
fn every_java_wait_takes_exactly_the_virtual_time_asked() {
    if !have("java", "Java's waits") {
        return;
    }
    // 1 s each, not 120: the JVM's own service threads wake every 50 ms (each a jump, and a burst
    // of the JVM's work: 16 ms of real time a jump here), so its virtual time goes at about 3 s a
    // second (BENCHMARKS.md). Each wait is still 20 jumps long.
    let source = here().join("Waits.java");
    let argv = strings(&["java", &source.to_string_lossy(), "1"]);
    let (stdout, report) = on_clock(&argv);
    assert_exact(
        &stdout,
        1.0,
        &[
            "Thread.sleep",
            "Object.wait",
            "Socket.setSoTimeout",
            "ServerSocket.setSoTimeout",
            "ScheduledExecutorService",
            "LockSupport.parkNanos",
            "CountDownLatch.await",
        ],
    );
    assert_eq!(report.real_time, None);
}

/// connid's own server (tokio) on the virtual clock: its 120 s idle timer fires at 120 s.
#[test]
fn a_tokio_servers_idle_timer_fires_at_its_exact_virtual_time() {
    let server = support::connid_binary("server");
    let argv = strings(&[&server, "127.0.0.1", "0"]);
    let (stdout, report) = on_clock(&argv);
    // "<date> <time> listening ..." first, "... on <date> <time>" last: 120 s apart by its own clock.
    let first = stdout.lines().next().unwrap();
    let last = stdout.lines().last().unwrap();
    let at = |s: &str| {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    };
    let started = at(&first[..26]);
    let ended = at(&last[last.len() - 26..]);
    let took = (ended - started).num_microseconds().unwrap() as f64 / 1e6;
    assert!(on_time(took, 120.0), "{took}\n{stdout}");
    assert!(report.jumps >= 1, "{report:?}");
    assert!(Duration::from_secs_f64(took) >= Duration::from_secs(119));
}

/// A reply sent just before time could jump is never jumped over: 1,000 round trips with a Python
/// echo that pauses 0.1 to 3 ms (a timed wait: a deadline just ahead, often passing while the
/// controller looks) before each reply, each waited for with a 100 s timeout on the virtual clock,
/// no reply later than 10 s of virtual time (a jump over it would make it 100 s; scheduling on a
/// loaded machine, a few hundred milliseconds at worst).
#[test]
fn a_reply_in_flight_is_never_jumped_over() {
    const ECHO: &str = "import socket, sys, time\n\
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        s.bind(('127.0.0.1', 0))\n\
        print(s.getsockname()[1], flush=True)\n\
        while True:\n\
        \x20   data, peer = s.recvfrom(100)\n\
        \x20   if data == b'end': break\n\
        \x20   time.sleep(int.from_bytes(data, 'big') % 30 * 0.0001 + 0.0001)\n\
        \x20   s.sendto(data, peer)\n";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (slowest, report) = runtime
        .block_on(clock::run_virtual(|| async {
            use tokio::io::AsyncBufReadExt;
            let mut child = tokio::process::Command::new(support::python3())
                .args(["-c", ECHO])
                .envs(clock::env())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            clock::watch(child.id().unwrap());
            let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
            let port: u16 = lines.next_line().await.unwrap().unwrap().parse().unwrap();
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            socket.connect(("127.0.0.1", port)).await.unwrap();
            let mut slowest = Duration::ZERO;
            let mut buf = [0u8; 100];
            for i in 0..1000u32 {
                let sent = clock::Instant::now();
                socket.send(&i.to_be_bytes()).await.unwrap();
                let got = clock::timeout(Duration::from_secs(100), socket.recv(&mut buf)).await;
                assert_eq!(got.ok().and_then(|r| r.ok()), Some(4), "round trip {i}");
                assert_eq!(buf[..4], i.to_be_bytes());
                slowest = slowest.max(sent.elapsed());
            }
            socket.send(b"end").await.unwrap();
            child.wait().await.unwrap();
            slowest
        }))
        .unwrap();
    assert!(slowest < Duration::from_secs(10), "{slowest:?} {report:?}");
    assert!(report.jumps > 0, "{report:?}");
}
