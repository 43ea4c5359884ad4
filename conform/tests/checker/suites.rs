//! `conform` against real programs over loopback, with the timers scaled so each suite takes seconds:
//! connid's own server and client and correct Python ones pass every case, the classic Python peers
//! fail exactly the cases they do not implement, and each seeded defect fails exactly its own
//! requirement.

use crate::support::{self, root};

use support::connid_binary;

use std::process::Command;

use conform::{self, Options, Program, Timing, Verdict};
use connid::Transport;

fn program(argv: &[&str]) -> Program {
    Program::new(argv.iter().map(|a| a.to_string()).collect())
}

fn python(script: &str, rest: &[&str]) -> Program {
    let script = root().join(script).to_string_lossy().into_owned();
    let mut argv = vec![support::python3(), script.as_str()];
    argv.extend_from_slice(rest);
    program(&argv)
}

fn options(transports: &[Transport], quick: bool, timing: Timing) -> Options {
    Options {
        transports: transports.to_vec(),
        quick,
        only: None,
        jobs: 4,
        timing,
        virtual_clock: true,
    }
}

#[derive(Clone, Copy)]
enum Suite {
    Server,
    Client,
}

/// The failed cases of the server suite as `id [transport]`, sorted; every other case must have passed.
fn failed(program: &Program, options: &Options) -> Vec<String> {
    failed_in(Suite::Server, program, options)
}

/// The failed cases of `suite`, as [`failed`].
fn failed_in(suite: Suite, program: &Program, options: &Options) -> Vec<String> {
    judged(suite, program, options)
        .into_iter()
        .map(|(case, _)| case)
        .collect()
}

/// The failed cases of `suite` as `id [transport]`, each with its reason, sorted; every other case
/// must have passed.
fn judged(suite: Suite, program: &Program, options: &Options) -> Vec<(String, String)> {
    let results = results_of(suite, program, options);
    let mut failed = Vec::new();
    for r in &results {
        match &r.verdict {
            Verdict::Pass => {}
            Verdict::Fail { reason, .. } => {
                failed.push((format!("{} [{}]", r.id, r.transport), reason.clone()))
            }
            Verdict::Unsupported(why) => panic!("{} [{}] unsupported: {why}", r.id, r.transport),
            Verdict::NotJudged { on, why } => failed.push((
                format!("{} [{}]", r.id, r.transport),
                format!("not judged: {}", Verdict::not_judged(on, why)),
            )),
        }
    }
    failed.sort();
    if !failed.is_empty() {
        eprintln!("{}", conform::report::failures(&results));
    }
    failed
}

/// Every result of `suite` against `program`, in report order.
fn results_of(suite: Suite, program: &Program, options: &Options) -> Vec<conform::CaseResult> {
    // One suite at a time across this file's tests: each runs `jobs` programs at once already, and
    // a margin of the virtual clock is the real time a program takes to act, which two dozen Python
    // programs at once on two cores would stretch past it.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        match suite {
            Suite::Server => conform::run_server_suite(program, options, |_| {}).await,
            Suite::Client => conform::run_client_suite(program, options, |_| {}).await,
        }
    });
    assert!(!results.is_empty());
    results
}

/// The cases a defect fails, each with text its reason must contain.
type Expected<'a> = &'a [(&'a str, &'a str)];

/// Runs `suite` against each fixture defect in turn, and checks that it fails exactly the cases
/// expected of it, each with a reason that names what was seen (contains the given text). In turn,
/// not at once: a dozen Python programs starting together on two cores are late by seconds, and the
/// cases judge time.
fn each_defect_fails(
    suite: Suite,
    fixture: fn(&str) -> Program,
    defects: &[(&str, &Options, Expected)],
) {
    let mut wrong = Vec::new();
    for &(defect, options, expected) in defects {
        let got = judged(suite, &fixture(defect), options);
        let names: Vec<&str> = got.iter().map(|(case, _)| case.as_str()).collect();
        let mut want: Vec<&str> = expected.iter().map(|(case, _)| *case).collect();
        want.sort_unstable();
        if names != want {
            wrong.push(format!("{defect}: failed {names:#?}\nexpected {want:#?}"));
            continue;
        }
        for (case, reason) in &got {
            let needle = expected
                .iter()
                .find(|(c, _)| c == case)
                .map_or("", |(_, n)| *n);
            if !reason.contains(needle) {
                wrong.push(format!(
                    "{defect}: {case}: the reason {reason:?} does not say {needle:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn fixture(defect: &str) -> Program {
    python(
        "tests/conform/server.py",
        &["{ip}", "{port}", "{transport}", "{ttl}", "{idle}", defect],
    )
}

#[test]
fn connids_own_server_passes_every_case_on_both_transports() {
    let server = connid_binary("server");
    let p = program(&[
        &server,
        "{ip}",
        "{port}",
        "--transport",
        "{transport}",
        "--id-ttl",
        "{ttl}",
        "--idle-timeout",
        "{idle}",
    ]);
    assert_eq!(
        failed(&p, &options(&Transport::ALL, false, Timing::Scaled)),
        Vec::<String>::new()
    );
}

#[test]
fn a_correct_python_server_passes_every_case_on_both_transports() {
    assert_eq!(
        failed(
            &fixture(""),
            &options(&Transport::ALL, false, Timing::Scaled)
        ),
        Vec::<String>::new()
    );
}

/// A correct server written with threads: socketserver's, the idle exit by a `threading.Timer`,
/// expiry by a thread in `Event.wait(1.0)`; Python waits there in `sem_clockwait` and
/// `pthread_cond_clockwait`, which the virtual clock must see. The assignment's own timers.
#[test]
fn a_correct_threaded_python_server_passes_every_case_on_both_transports() {
    let threaded = python(
        "tests/conform/threaded_server.py",
        &["{ip}", "{port}", "{transport}", "30", "120"],
    );
    // With the reasons, so that a wrong failure says what was seen.
    assert_eq!(
        judged(
            Suite::Server,
            &threaded,
            &options(&Transport::ALL, false, Timing::Exact)
        ),
        Vec::<(String, String)>::new()
    );
}

#[test]
fn the_classic_python_server_fails_exactly_what_it_does_not_implement() {
    // It decodes every request as UTF-8 (and dies on anything else) and reads one recv() per TCP
    // connection, in the main thread.
    let p = python(
        "tests/interop/classic_server.py",
        &["{ip}", "{port}", "{transport}"],
    );
    assert_eq!(
        failed(&p, &options(&Transport::ALL, true, Timing::Exact)),
        [
            "server.malformed.non-utf8 [tcp]",
            "server.malformed.non-utf8 [udp]",
            "server.malformed.random-2000-bytes [tcp]",
            "server.malformed.random-2000-bytes [udp]",
            "server.tcp.silent-connection-blocks-no-one [tcp]",
            "server.tcp.split-request [tcp]",
        ]
    );
}

/// The commonest mistake, a port written into the program, once passed as "unsupported" (exit 0),
/// and its verdict hung on `--jobs`. Now the first case of each transport, run first and alone,
/// fails and says where the server did listen, whatever `--jobs`; every other case is not judged
/// for it.
#[test]
fn a_server_that_ignores_its_port_fails_once_saying_where_it_listened() {
    let ignores = fixture("ignores-port");
    let cases = conform::server_cases::selected(&Transport::ALL, true, None).len();
    for jobs in [1, 4] {
        let run = Options {
            jobs,
            ..options(&Transport::ALL, true, Timing::Scaled)
        };
        let judged = judged(Suite::Server, &ignores, &run);
        assert_eq!(judged.len(), cases, "jobs {jobs}: {judged:?}");
        elsewhere_once(
            &judged,
            "server.ok.source-address",
            "the server listens on",
            "on",
        );
    }
    // A command that does not pass {transport}: over TCP it serves UDP, and the reason says so.
    let udp_always = python(
        "tests/conform/server.py",
        &["{ip}", "{port}", "udp", "30", "120"],
    );
    let only = Options {
        only: Some("server.ok.source-address".into()),
        ..options(&[Transport::Tcp], true, Timing::Exact)
    };
    let judged = judged(Suite::Server, &udp_always, &only);
    assert_eq!(judged.len(), 1, "{judged:?}");
    let (case, reason) = &judged[0];
    assert_eq!(case, "server.ok.source-address [tcp]");
    assert!(
        reason.starts_with("the server listens on udp 127.0.0.1:")
            && reason.contains(", not on tcp 127.0.0.1:")
            && reason.ends_with(": its command line has no {transport} to tell it which"),
        "{reason}"
    );
}

/// Of `judged` (every case of a run over both transports), the first case of each transport fails
/// saying where the program was (`seen`, then the transport, ...) instead of the port it was given,
/// and every other case is not judged for that.
fn elsewhere_once(judged: &[(String, String)], first: &str, seen: &str, prep: &str) {
    for (case, reason) in judged {
        let transport = if case.ends_with("[udp]") {
            "udp"
        } else {
            "tcp"
        };
        let why = format!("{seen} {transport} 127.0.0.1:");
        let elsewhere = format!(", not {prep} the port it was given, ");
        if *case == format!("{first} [{transport}]") {
            assert!(
                reason.starts_with(&why) && reason.contains(&elsewhere),
                "{case}: {reason}"
            );
        } else {
            let not_judged = format!("not judged: depends on {first} ({why}");
            assert!(
                reason.starts_with(&not_judged) && reason.contains(&elsewhere),
                "{case}: {reason}"
            );
        }
    }
}

/// Every time a reason gives is in the program's time, the transcript's: a server that never answers
/// is said to give "no reply within W s", and in the transcript the case ends W s after its request
/// (once, on libfaketime, the reason's 1.3 s sat beside a 13 s gap).
#[test]
fn a_reasons_time_is_the_transcripts_time() {
    let silent = program(&[
        support::python3(),
        "-c",
        "import socket,sys,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind((sys.argv[1],int(sys.argv[2]))); print('listening',flush=True); time.sleep(300)",
        "{ip}",
        "{port}",
    ]);
    let only = Options {
        only: Some("server.ok.source-address".into()),
        ..options(&[Transport::Udp], true, Timing::Exact)
    };
    let r = &results_of(Suite::Server, &silent, &only)[0];
    let Verdict::Fail { reason, .. } = &r.verdict else {
        panic!("{:?}", r.verdict);
    };
    let wait: f64 = reason
        .split("no reply within ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(" s"))
        .unwrap_or_else(|| panic!("{reason}"))
        .parse()
        .unwrap();
    let at = |prefix: &str| -> f64 {
        let line = r.transcript.lines().find(|l| l.contains(prefix)).unwrap();
        line.split_whitespace().next().unwrap().parse().unwrap()
    };
    let sent = at("  c1      send ");
    let ended: f64 = r
        .transcript
        .lines()
        .find_map(|l| l.strip_prefix("# end at "))
        .and_then(|l| l.split(':').next())
        .unwrap()
        .parse()
        .unwrap();
    // No sooner than the wait it names, and not ten times later either (a generous twice).
    assert!(
        ended - sent >= wait && ended - sent <= wait * 2.0,
        "{reason}\n{}",
        r.transcript
    );
}

/// A program never seen on a transport at all (here one that only sleeps) fails the first case of
/// each transport with a hint for a one-transport program; nothing else of it runs or is judged.
/// `unsupported` is left for a command a manifest does not give.
#[test]
fn a_program_seen_nowhere_fails_once_per_transport_with_a_hint() {
    let sleeper = program(&["sleep", "300"]);
    let quick = options(&Transport::ALL, true, Timing::Exact);
    for (suite, first, said) in [
        (
            Suite::Server,
            "server.ok.source-address",
            "the server did not listen on",
        ),
        (
            Suite::Client,
            "client.established.own-address",
            "the client never reached the checker's server over",
        ),
    ] {
        let judged = judged(suite, &sleeper, &quick);
        for (case, reason) in &judged {
            let transport = &case[case.len() - 4..case.len() - 1];
            if *case == format!("{first} [{transport}]") {
                assert!(
                    reason.starts_with(&format!("{said} {transport} 127.0.0.1:"))
                        && reason.ends_with(&format!("({})", conform::ONE_TRANSPORT)),
                    "{case}: {reason}"
                );
            } else {
                assert!(
                    reason.starts_with(&format!("not judged: depends on {first} ({said}")),
                    "{case}: {reason}"
                );
            }
        }
        let firsts = judged.iter().filter(|(c, _)| c.starts_with(first)).count();
        assert_eq!(firsts, 2, "{judged:?}");
    }
}

#[test]
fn each_seeded_defect_fails_exactly_its_own_requirement() {
    let udp = options(&[Transport::Udp], false, Timing::Scaled);
    let tcp = options(&[Transport::Tcp], false, Timing::Scaled);
    let quick_udp = options(&[Transport::Udp], true, Timing::Scaled);
    let quick_tcp = options(&[Transport::Tcp], true, Timing::Scaled);
    // Each seen in a real submission.
    let malformed = |reason: &'static str| -> Vec<(&'static str, &'static str)> {
        [
            "server.malformed.bare-hello [udp]",
            "server.malformed.empty [udp]",
            "server.malformed.extra-fields [udp]",
            "server.malformed.hello-space [udp]",
            "server.malformed.random-2000-bytes [udp]",
            "server.malformed.wrong-verb [udp]",
        ]
        .into_iter()
        .map(|case| (case, reason))
        .collect()
    };
    // It exits 0 on junk, which passed every malformed case while only a non-zero exit counted. It
    // grants a 65-character ID and (decoding with replacement) the non-UTF-8 one, so those two
    // cases have no junk for it.
    let exit_0 = malformed("server-keeps-serving: the server exited (code 0) at");
    // Its listening socket is closed for 60 s after the first connection: every later client is
    // refused, which once passed as a request never judged.
    let refused = "c2 sent HELLO";
    let mut listener: Vec<(&str, &str)> = vec![
        (
            "server.reset.in-use [tcp]",
            "c2 sent HELLO 2001: the connection was refused",
        ),
        ("server.ok.independent-ids [tcp]", refused),
        ("server.ttl.expires [tcp]", refused),
        ("server.ttl.reset-does-not-refresh [tcp]", refused),
        ("server.idle.exit [tcp]", "idle-exit-on-time"),
        ("server.idle.says-so [tcp]", "did not exit"),
        ("server.idle.request-restarts-timer [tcp]", refused),
        (
            "server.tcp.silent-connection-blocks-no-one [tcp]",
            "c1 sent HELLO 9001: the connection was refused",
        ),
    ];
    for form in [
        "bare-hello",
        "hello-space",
        "empty",
        "random-2000-bytes",
        "non-utf8",
        "extra-fields",
        "wrong-verb",
        "65-character-id",
    ] {
        let case: &'static str = format!("server.malformed.{form} [tcp]").leak();
        listener.push((case, "c1 sent HELLO 8001: the connection was refused"));
    }
    each_defect_fails(
        Suite::Server,
        fixture,
        &[
            (
                "crash-on-one-word",
                &udp,
                &[(
                    "server.malformed.bare-hello [udp]",
                    "server-keeps-serving: the server exited with code 1",
                )],
            ),
            (
                "own-port",
                &udp,
                &[(
                    "server.ok.source-address [udp]",
                    "ok-carries-request-source: OK for 1001 names",
                )],
            ),
            (
                "never-expires",
                &udp,
                &[
                    ("server.ttl.expires [udp]", "4001"),
                    ("server.ttl.reset-does-not-refresh [udp]", "5001"),
                ],
            ),
            // Its idle exit prints nothing: the assignment asks for the exit only, so only connid's
            // convention fails.
            (
                "silent-exit",
                &udp,
                &[("server.idle.says-so [udp]", "without a line")],
            ),
            (
                "one-tcp-at-a-time",
                &tcp,
                &[(
                    "server.tcp.silent-connection-blocks-no-one [tcp]",
                    "c1 sent HELLO 9001: no reply within",
                )],
            ),
            ("exit-0-on-junk", &udp, &exit_0),
            // The assignment's own client sends one write with no line ending and waits: a server that
            // waits for a newline or the end of the stream never answers it.
            (
                "waits-for-newline",
                &quick_tcp,
                &[
                    (
                        "server.tcp.classic-request [tcp]",
                        "c1 sent HELLO 9401 (no line ending, no half-close): no reply within",
                    ),
                    (
                        "server.tcp.reply-then-close [tcp]",
                        "c1 sent HELLO 9301 (no line ending, no half-close): no reply within",
                    ),
                ],
            ),
            ("listener-closed", &tcp, &listener),
            (
                "grants-empty-id",
                &quick_udp,
                &[(
                    "server.malformed.hello-space [udp]",
                    "the server answered \"OK  127.0.0.1 ",
                )],
            ),
            (
                "any-verb",
                &quick_udp,
                &[(
                    "server.malformed.wrong-verb [udp]",
                    "the server answered \"OK 1 127.0.0.1 ",
                )],
            ),
        ],
    );
}

#[test]
fn the_binary_prints_a_line_per_case_and_exits_1_on_a_failure_2_on_bad_arguments() {
    let conform = env!("CARGO_BIN_EXE_conform");
    let script = root().join("tests/conform/server.py");
    let script = script.to_string_lossy();
    let dir = std::env::temp_dir().join(format!("conform-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, junit, markdown) = (dir.join("r.json"), dir.join("r.xml"), dir.join("r.md"));
    let html = dir.join("r.html");
    let out = Command::new(conform)
        .args([
            "server",
            "--quick",
            "--only",
            "server.ok",
            "--transport",
            "udp",
        ])
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .arg("--junit")
        .arg(&junit)
        .arg("--markdown")
        .arg(&markdown)
        .arg("--")
        .args([
            support::python3(),
            &script,
            "{ip}",
            "{port}",
            "{transport}",
            "30",
            "120",
            "own-port",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "✘ server.ok.source-address [udp, required]: ok-carries-request-source: OK for 1001 names"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("✔ server.ok.independent-ids [udp, required]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("assignment: \u{201c}the server includes the client IP address"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("\nexpected: OK 1001 naming the IP address and port the request came from\n"),
        "{stdout}"
    );
    // First what will run (on the virtual clock by default where it is supported) and about how long
    // it takes, then each case in suite order.
    let plan = if conform::clock::supported() {
        "conform server: 2 cases over udp on the virtual clock, "
    } else {
        "conform server: 2 cases over udp, "
    };
    assert!(
        stdout.lines().take(2).any(|l| l.starts_with(plan)),
        "{stdout}"
    );
    let ok = stdout.find("server.ok.source-address [udp").unwrap();
    let independent = stdout.find("server.ok.independent-ids [udp").unwrap();
    assert!(ok < independent, "{stdout}");
    assert!(
        stdout.ends_with("required 1/2 passed, 0 unsupported\n"),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!((&json["passed"], &json["failed"]), (&1.into(), &1.into()));
    let junit = std::fs::read_to_string(&junit).unwrap();
    assert!(
        junit.contains("tests=\"2\" failures=\"1\" skipped=\"0\""),
        "{junit}"
    );
    let markdown = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        markdown.contains("## ✘ `server.ok.source-address` over udp (required)"),
        "{markdown}"
    );
    assert!(
        markdown.contains("```mermaid\nsequenceDiagram"),
        "{markdown}"
    );
    // The HTML of one run is a matrix of one row: two cells, the failure with its diagram.
    let html = std::fs::read_to_string(&html).unwrap();
    assert_eq!(
        support::html_check::check(&html),
        support::html_check::Checked {
            cells: 2,
            details: 2,
            failures: 1,
            diagrams: 2
        }
    );
    assert!(html.contains("<title>conform server</title>"), "{html}");
    let _ = std::fs::remove_dir_all(&dir);

    let scaled_without_timers = Command::new(conform)
        .args([
            "server", "--timing", "scaled", "--", "python3", &script, "{ip}", "{port}",
        ])
        .output()
        .unwrap();
    assert_eq!(scaled_without_timers.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&scaled_without_timers.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: --timing scaled needs {ttl}"),
        "{stderr}"
    );

    // A usage error names what is missing, on one line.
    let no_command = Command::new(conform).args(["server"]).output().unwrap();
    assert_eq!(no_command.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&no_command.stderr),
        "error: the following required arguments were not provided: <CMD ARGS>... (see --help)\n"
    );
    let nothing = Command::new(conform).output().unwrap();
    assert_eq!(nothing.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&nothing.stderr),
        "error: name what to check: conform server, conform client or conform matrix (or conform --list) (see --help)\n"
    );

    // Speeds by libfaketime are gone: only the virtual clock or real time.
    let sped_up = Command::new(conform)
        .args(["server", "--speed", "10", "--", "python3", &script])
        .output()
        .unwrap();
    assert_eq!(sped_up.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&sped_up.stderr);
    assert!(
        stderr.contains("\"10\" is not auto (the virtual clock) or 1 (real time)"),
        "{stderr}"
    );

    // A run that would run nothing is a usage error, not an empty success.
    for (args, said) in [
        (
            &["--only", "nothing-matches"][..],
            "error: no case over udp and tcp matches --only nothing-matches (",
        ),
        (
            &["--quick", "--only", "server.ttl"][..],
            "error: --quick leaves out every case --only server.ttl matches (",
        ),
    ] {
        let empty = Command::new(conform)
            .arg("server")
            .args(args)
            .args(["--", "python3", &script])
            .output()
            .unwrap();
        assert_eq!(empty.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&empty.stderr);
        assert!(
            stderr.starts_with(said) && stderr.lines().count() == 1,
            "{stderr}"
        );
    }

    // A program that does not exist: one line, exit 2, no case run.
    let missing = Command::new(conform)
        .args(["server", "--", "no-such-program-here", "{ip}", "{port}"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&missing.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "error: cannot start no-such-program-here: no such program on PATH (see --help)\n"
    );
    // And in a manifest, named with its implementation, before anything runs.
    let dir = std::env::temp_dir().join(format!("conform-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("class.toml");
    std::fs::write(
        &manifest,
        "[[implementation]]\nname = \"pat\"\nserver = \"./server.sh {ip} {port}\"\n",
    )
    .unwrap();
    let missing = Command::new(conform)
        .args(["matrix", manifest.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&missing.stdout), "");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr
            .contains(": pat: the server command for udp: cannot start ./server.sh: no such file"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn client_fixture(defect: &str) -> Program {
    python(
        "tests/conform/client.py",
        &[
            "HELLO",
            "{ip}",
            "{port}",
            "{id}",
            "{transport}",
            "{timeout}",
            defect,
        ],
    )
}

#[test]
fn connids_own_client_passes_every_case_on_both_transports() {
    let client = connid_binary("client");
    let p = program(&[
        &client,
        "HELLO",
        "{ip}",
        "{port}",
        "{id}",
        "--transport",
        "{transport}",
        "--timeout",
        "{timeout}",
    ]);
    let all = options(&Transport::ALL, false, Timing::Scaled);
    assert_eq!(failed_in(Suite::Client, &p, &all), Vec::<String>::new());
}

#[test]
fn a_correct_python_client_passes_every_case_on_both_transports() {
    let all = options(&Transport::ALL, false, Timing::Scaled);
    assert_eq!(
        failed_in(Suite::Client, &client_fixture(""), &all),
        Vec::<String>::new()
    );
}

/// A client that prints "Enter a new connection ID" as a line and then calls `input(">> ")` is typed
/// one ID per prompt (the keyboard types when it reads, not when text looks like a prompt), and
/// what it prints after the typed ID is a line of its own.
#[test]
fn a_client_that_prints_its_prompt_as_a_line_then_reads_is_typed_once_per_prompt() {
    let all = options(&Transport::ALL, false, Timing::Scaled);
    assert_eq!(
        failed_in(Suite::Client, &client_fixture("line-then-prompt"), &all),
        Vec::<String>::new()
    );
    typed_when_asked(&client_fixture("line-then-prompt"), ">> ");
}

/// A client whose every try opens a new UDP socket that gets the port of the try before (the system
/// may choose it again once the old socket is closed; this one binds it so) uses a new socket every
/// try: judged by the socket, not by its port.
#[test]
fn a_new_socket_on_the_last_tries_port_is_still_a_new_socket() {
    let all = options(&Transport::ALL, false, Timing::Scaled);
    assert_eq!(
        failed_in(Suite::Client, &client_fixture("same-port"), &all),
        Vec::<String>::new()
    );
}

/// A Node.js client whose readline interface watches its input all along (an event loop asleep in
/// epoll on descriptor 0): typed once per prompt, when it asks.
#[test]
fn a_correct_node_client_passes_every_case_on_both_transports() {
    let script = root().join("tests/conform/client.js");
    let p = program(&[
        "node",
        &script.to_string_lossy(),
        "HELLO",
        "{ip}",
        "{port}",
        "{id}",
        "{transport}",
        "{timeout}",
    ]);
    let all = options(&Transport::ALL, false, Timing::Scaled);
    assert_eq!(failed_in(Suite::Client, &p, &all), Vec::<String>::new());
    // It was seen asking: each ID typed answers its prompt, none typed unasked.
    typed_when_asked(&p, "Enter a new connection ID: ");
}

/// In `program`'s run of `client.retry.typed-id` over UDP, the ID was typed into `prompt` as soon
/// as the client read its input: well before the keyboard would have typed unasked (0.7 s, on the
/// virtual clock), and never unasked.
fn typed_when_asked(program: &Program, prompt: &str) {
    let typed = Options {
        only: Some("client.retry.typed-id".into()),
        ..options(&[Transport::Udp], true, Timing::Scaled)
    };
    let run = &results_of(Suite::Client, program, &typed)[0];
    let shown = format!("client  prompt     {prompt}1002");
    let line = run
        .transcript
        .lines()
        .find(|l| l.contains(&shown))
        .unwrap_or_else(|| panic!("no {shown:?} in\n{}", run.transcript));
    let later: f64 = line
        .split("(typed ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .map_or(0.0, |s| s.parse().unwrap());
    assert!(later < 0.35, "typed {later} s after the prompt: {line}");
    assert!(!run.transcript.contains("keyboard"), "{}", run.transcript);
}

#[test]
fn the_classic_python_client_fails_exactly_what_it_does_not_implement() {
    // It takes the first reply as the answer (a reply for another ID, a malformed one, or one from
    // another port ends the try at once), and input() at the end of input raises.
    let p = python(
        "tests/interop/classic_client.py",
        &["HELLO", "{ip}", "{port}", "{id}", "{transport}"],
    );
    assert_eq!(
        failed_in(
            Suite::Client,
            &p,
            &options(&Transport::ALL, true, Timing::Exact)
        ),
        [
            "client.failure.end-of-input [tcp]",
            "client.failure.end-of-input [udp]",
            "client.reply.malformed-ignored [tcp]",
            "client.reply.malformed-ignored [udp]",
            "client.reply.other-id-ignored [tcp]",
            "client.reply.other-id-ignored [udp]",
            "client.reply.other-port-ignored [udp]",
        ]
    );
}

/// A client that sends to a port of its own choosing fails its first case on each transport, saying
/// where it sent (as the clock's library saw it), instead of passing as "unsupported"; every other
/// case is not judged for it.
#[test]
fn a_client_that_ignores_its_port_fails_once_saying_where_it_sent() {
    let ignores = client_fixture("ignores-port");
    let cases = conform::client_cases::selected(&Transport::ALL, true, None).len();
    let failures = judged(
        Suite::Client,
        &ignores,
        &options(&Transport::ALL, true, Timing::Scaled),
    );
    assert_eq!(failures.len(), cases, "{failures:?}");
    elsewhere_once(
        &failures,
        "client.established.own-address",
        "the client sent to",
        "to",
    );
    // A command that does not pass {transport}: over TCP it sends UDP, and the reason says so.
    let udp_always = python(
        "tests/conform/client.py",
        &["HELLO", "{ip}", "{port}", "{id}", "udp", "15"],
    );
    let only = Options {
        only: Some("client.established.own-address".into()),
        ..options(&[Transport::Tcp], true, Timing::Exact)
    };
    let judged = judged(Suite::Client, &udp_always, &only);
    assert_eq!(judged.len(), 1, "{judged:?}");
    assert!(
        judged[0].1.starts_with("the client sent to udp 127.0.0.1:")
            && judged[0]
                .1
                .ends_with(": its command line has no {transport} to tell it which"),
        "{judged:?}"
    );
}

/// Seen in a real submission: a client that sends `HELLO <id> <host> <port>` with a 60 s timeout. Its
/// requests were never counted as tries, so its timeout was never judged (the timeout case passed);
/// now they are, and the request's form is named as the cause of what it never got.
#[test]
fn a_client_whose_request_has_extra_fields_is_judged_on_its_timeout() {
    let run = options(&[Transport::Udp], false, Timing::Scaled);
    let judged = judged(Suite::Client, &client_fixture("extra-fields"), &run);
    let reason = |case: &str| {
        judged
            .iter()
            .find(|(c, _)| c == case)
            .map(|(_, r)| r.as_str())
            .unwrap_or_else(|| panic!("{case} did not fail: {judged:?}"))
    };
    assert!(
        reason("client.timeout.error-at-timeout [udp]")
            .contains("s, later than its timeout of 3 s"),
        "{judged:?}"
    );
    assert!(
        reason("client.established.own-address [udp]")
            .starts_with("its request \"HELLO 1001 127.0.0.1 ")
            && reason("client.established.own-address [udp]")
                .contains("\" is not in the form HELLO <id>"),
        "{judged:?}"
    );
}

#[test]
fn each_seeded_client_defect_fails_exactly_its_own_requirement() {
    let all = options(&Transport::ALL, false, Timing::Scaled);
    let both = |case: &str, reason: &'static str| -> [(&'static str, &'static str); 2] {
        [
            (format!("{case} [tcp]").leak(), reason),
            (format!("{case} [udp]").leak(), reason),
        ]
    };
    let cases = |parts: &[&[(&'static str, &'static str)]]| -> Vec<(&'static str, &'static str)> {
        parts.concat()
    };
    // The time itself is real time (a 1 s timeout ends a hair before or after 1 s): not asserted.
    let too_early = "s, before its timeout of 3 s, with no RESET for its ID";
    let short = cases(&[
        &both("client.timeout.error-at-timeout", too_early),
        &[("client.timeout.lost-request-retried [udp]", too_early)],
    ]);
    // 12 s by its own timer, which starts a moment before its request leaves: 11.999... or 12.00...
    let too_late = "s, later than its timeout of 3 s";
    // Seen in a real submission: `Connection Error 1001` (no timestamp) at 60 s passed the timeout case
    // when only exact lines were read.
    let late = cases(&[
        &both("client.timeout.error-at-timeout", too_late),
        &[("client.timeout.lost-request-retried [udp]", too_late)],
        &both(
            "client.format.error-and-failure",
            "\"Connection Error 1001\": no timestamp",
        ),
    ]);
    // Seen: it reuses its socket and prints `Connection error`, so nothing was typed, no second try
    // happened, and the socket case passed on nothing.
    let reuses = cases(&[
        &[("client.retry.new-socket [udp]", "new-socket-per-try")],
        &both(
            "client.format.error-and-failure",
            "`error` instead of `Error`",
        ),
    ]);
    // The missing second try fails once, in the case that owns it; every other case that needs a
    // second try is not judged and says why (they once passed on nothing, then all failed for it).
    let no_second = "no second try: nothing was sent";
    let owner = "not judged: depends on client.reset.error-then-prompt (";
    let never = cases(&[
        &both("client.reset.error-then-prompt", no_second),
        &both("client.retry.new-socket", owner),
        &both("client.retry.typed-id", owner),
        &[("client.reply.late-to-old-socket-ignored [udp]", owner)],
        &both("client.failure.after-three-tries", owner),
        &both("client.failure.no-prompt-after-last-try", owner),
        &both("client.format.error-and-failure", owner),
        &[("client.timeout.lost-request-retried [udp]", owner)],
    ]);
    // Asking for an ID once no try is left fails once, in the case that owns it; what follows from
    // it elsewhere (a prompt with input closed, a fourth try instead of a Connection Failure) is not
    // judged for it.
    let last_try = "not judged: depends on client.failure.after-three-tries (";
    let four = cases(&[
        &both(
            "client.failure.after-three-tries",
            "prompts after 3 of 3 tries",
        ),
        &both("client.failure.no-prompt-after-last-try", last_try),
        &both("client.format.error-and-failure", last_try),
    ]);
    // Seen: a prompt after the last try, typed into (and the typed text not even shown), and a
    // traceback at the end of input.
    let prompts = cases(&[
        &both(
            "client.failure.after-three-tries",
            "prompt-only-when-a-try-remains",
        ),
        &both("client.failure.no-prompt-after-last-try", last_try),
        &both("client.failure.end-of-input", "traceback"),
    ]);
    // Seen: `Connection established  99999 ...` for another ID's OK passed when only exact lines
    // were read.
    let other_id = cases(&[
        &both(
            "client.reply.other-id-ignored",
            "established-on-current-try",
        ),
        &both(
            "client.format.established",
            "2 spaces after `established`; no timestamp",
        ),
    ]);
    let any_source = [(
        "client.reply.other-port-ignored [udp]",
        "reply-only-from-the-asked-address",
    )];
    each_defect_fails(
        Suite::Client,
        client_fixture,
        &[
            ("short-timeout", &all, &short),
            ("late-unstamped", &all, &late),
            ("reuses-socket", &all, &reuses),
            ("never-reprompts", &all, &never),
            ("four-tries", &all, &four),
            ("prompts-at-the-end", &all, &prompts),
            ("takes-other-id", &all, &other_id),
            ("takes-any-source", &all, &any_source),
        ],
    );
}

#[test]
fn a_robustness_failure_fails_the_run_only_with_strict() {
    // The classic client takes a forged OK from another port: a robustness case, which the
    // assignment's sentences do not demand.
    let conform = env!("CARGO_BIN_EXE_conform");
    let script = root().join("tests/interop/classic_client.py");
    let run = |strict: bool| {
        let mut cmd = Command::new(conform);
        cmd.args(["client", "--quick", "--only", "client.reply.other-port"]);
        if strict {
            cmd.arg("--strict");
        }
        cmd.arg("--")
            .args([support::python3(), &script.to_string_lossy()])
            .args(["HELLO", "{ip}", "{port}", "{id}", "{transport}"]);
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stdout) = run(false);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("✘ client.reply.other-port-ignored [udp, robustness]: reply-only-from-the-asked-address: client prints established (OK 1001 10.9.9.9 9) for an OK from 127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(
            "robustness 0/1 passed, 0 unsupported\nrobustness failures do not fail the run (--strict counts robustness)\n"
        ),
        "{stdout}"
    );
    let (code, stdout) = run(true);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.ends_with("robustness 0/1 passed, 0 unsupported\n"),
        "{stdout}"
    );
}

/// The processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(marker))
        .collect()
}

#[test]
fn a_program_behind_a_wrapper_that_does_not_exec_is_stopped_with_its_wrapper() {
    // `bash -c '...; echo done'` keeps bash as the child and the server as its child. Killing only
    // bash left the server holding the case's pipes until its own idle exit (two minutes): one quick
    // case took 120 s. The whole process group is killed now.
    let script = root().join("tests/conform/server.py");
    let marker = format!("wrapped-{}", std::process::id());
    let line = format!(
        "python3 {} {{ip}} {{port}} {{transport}} 30 120 {marker}; echo done",
        script.display()
    );
    let p = program(&["bash", "-c", &line]);
    let mut o = options(&[Transport::Udp], true, Timing::Exact);
    o.only = Some("server.ok.source-address".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        // Generous: the case itself takes a second or two; the broken runner took 120 s.
        tokio::time::timeout(
            std::time::Duration::from_secs(60),
            conform::run_server_suite(&p, &o, |_| {}),
        )
        .await
        .expect("the case ends without waiting for the server's idle exit")
    });
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0].verdict,
        Verdict::Pass,
        "{}",
        results[0].transcript
    );
    let left = processes_with(&marker);
    assert!(left.is_empty(), "still running: {left:?}");
}

/// The virtual clock's promise: at the assignment's own timers, a timer 1 s off fails its case and
/// the exact one passes, for connid's binaries and for the Python fixtures, on both transports.
#[test]
fn on_the_virtual_clock_a_timer_one_second_off_fails_and_the_exact_one_passes() {
    if !conform::clock::supported() {
        eprintln!("WARNING: the virtual clock is not supported here; its exactness is not checked");
        return;
    }
    let only = |pattern: &str| Options {
        only: Some(pattern.into()),
        ..options(&Transport::ALL, false, Timing::Exact)
    };
    let server = connid_binary("server");
    let connid_server = |extra: &[&str]| {
        let mut argv = vec![
            server.as_str(),
            "{ip}",
            "{port}",
            "--transport",
            "{transport}",
        ];
        argv.extend_from_slice(extra);
        program(&argv)
    };
    let python_server = |ttl: &str, idle: &str| {
        python(
            "tests/conform/server.py",
            &["{ip}", "{port}", "{transport}", ttl, idle],
        )
    };
    let both = |case: &str| vec![format!("{case} [tcp]"), format!("{case} [udp]")];
    let ttl = only("server.ttl.expires");
    let idle = only("server.idle.exit");
    for (what, program, options, want) in [
        (
            "connid --id-ttl 29",
            connid_server(&["--id-ttl", "29"]),
            &ttl,
            both("server.ttl.expires"),
        ),
        (
            "connid --id-ttl 31",
            connid_server(&["--id-ttl", "31"]),
            &ttl,
            both("server.ttl.expires"),
        ),
        ("connid --id-ttl 30", connid_server(&[]), &ttl, vec![]),
        (
            "connid --idle-timeout 118",
            connid_server(&["--idle-timeout", "118"]),
            &idle,
            both("server.idle.exit"),
        ),
        (
            "connid --idle-timeout 122",
            connid_server(&["--idle-timeout", "122"]),
            &idle,
            both("server.idle.exit"),
        ),
        (
            "connid --idle-timeout 120",
            connid_server(&[]),
            &idle,
            vec![],
        ),
        (
            "server.py ttl 31",
            python_server("31", "120"),
            &ttl,
            both("server.ttl.expires"),
        ),
        (
            "server.py idle 119",
            python_server("30", "119"),
            &idle,
            both("server.idle.exit"),
        ),
        ("server.py 30 120", python_server("30", "120"), &ttl, vec![]),
    ] {
        let only = options.only.as_deref().unwrap_or_default();
        let mut got = failed(&program, options);
        // The idle case's run also judges the convention of saying so: not this test's concern.
        got.retain(|c| c.starts_with(&format!("{only} [")));
        assert_eq!(got, want, "{what}");
    }
    let client = connid_binary("client");
    let connid_client = |timeout: &str| {
        program(&[
            &client,
            "HELLO",
            "{ip}",
            "{port}",
            "{id}",
            "--transport",
            "{transport}",
            "--timeout",
            timeout,
        ])
    };
    let python_client = |timeout: &str| {
        python(
            "tests/conform/client.py",
            &["HELLO", "{ip}", "{port}", "{id}", "{transport}", timeout],
        )
    };
    let timeout = only("client.timeout.error-at-timeout");
    for (what, program, want) in [
        (
            "connid --timeout 14",
            connid_client("14"),
            both("client.timeout.error-at-timeout"),
        ),
        (
            "connid --timeout 16",
            connid_client("16"),
            both("client.timeout.error-at-timeout"),
        ),
        ("connid --timeout 15", connid_client("15"), vec![]),
        (
            "client.py 16",
            python_client("16"),
            both("client.timeout.error-at-timeout"),
        ),
        ("client.py 15", python_client("15"), vec![]),
    ] {
        assert_eq!(failed_in(Suite::Client, &program, &timeout), want, "{what}");
    }
}
