//! `conform` against real programs over loopback, with the timers scaled so each suite takes seconds:
//! connid's own server and client and correct Python ones pass every case, the classic Python peers
//! fail exactly the cases they do not implement, and each seeded defect fails exactly its own
//! requirement.

use std::path::{Path, PathBuf};
use std::process::Command;

use connid::Transport;
use connid_sim::conform::{self, Options, Program, Timing, Verdict};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// connid's `server` or `client` binary, beside this package's binaries (built here if a lone
/// `-p connid-sim` run did not build it).
fn connid_binary(name: &str) -> String {
    let path = Path::new(env!("CARGO_BIN_EXE_conform")).with_file_name(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let built = Command::new(cargo)
            .args(["build", "-p", "connid", "--bin", name])
            .current_dir(root())
            .status()
            .expect("cargo runs");
        assert!(built.success());
    }
    path.to_string_lossy().into_owned()
}

fn program(argv: &[&str]) -> Program {
    Program {
        argv: argv.iter().map(|a| a.to_string()).collect(),
    }
}

fn python(script: &str, rest: &[&str]) -> Program {
    let script = root().join(script).to_string_lossy().into_owned();
    let mut argv = vec!["python3", script.as_str()];
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
    let mut failed = Vec::new();
    for r in &results {
        match &r.verdict {
            Verdict::Pass => {}
            Verdict::Fail { .. } => failed.push(format!("{} [{}]", r.id, r.transport)),
            Verdict::Unsupported(why) => panic!("{} [{}] unsupported: {why}", r.id, r.transport),
        }
    }
    failed.sort();
    if !failed.is_empty() {
        eprintln!("{}", conform::report::failures(&results));
    }
    failed
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

/// Runs `suite` against each fixture defect in turn, and returns each defect with its failed cases.
/// In turn, not at once: a dozen Python programs starting together on two cores are late by seconds,
/// and the cases judge time.
fn failed_by_defect(
    suite: Suite,
    defects: &[(&'static str, &Options)],
    fixture: fn(&str) -> Program,
) -> Vec<(&'static str, Vec<String>)> {
    defects
        .iter()
        .map(|&(defect, options)| (defect, failed_in(suite, &fixture(defect), options)))
        .collect()
}

#[test]
fn each_seeded_defect_fails_exactly_its_own_requirement() {
    let udp = options(&[Transport::Udp], false, Timing::Scaled);
    let tcp = options(&[Transport::Tcp], false, Timing::Scaled);
    let got = failed_by_defect(
        Suite::Server,
        &[
            ("crash-on-one-word", &udp),
            ("own-port", &udp),
            ("never-expires", &udp),
            ("silent-exit", &udp),
            ("one-tcp-at-a-time", &tcp),
            ("exit-0-on-junk", &udp),
        ],
        fixture,
    );
    let expected: [(&str, &[&str]); 6] = [
        ("crash-on-one-word", &["server.malformed.bare-hello [udp]"]),
        ("own-port", &["server.ok.source-address [udp]"]),
        (
            "never-expires",
            &[
                "server.ttl.expires [udp]",
                "server.ttl.reset-does-not-refresh [udp]",
            ],
        ),
        (
            "silent-exit",
            &[
                "server.idle.exit [udp]",
                "server.idle.request-restarts-timer [udp]",
            ],
        ),
        (
            "one-tcp-at-a-time",
            &["server.tcp.silent-connection-blocks-no-one [tcp]"],
        ),
        // Seen in a real submission: it exits 0 on junk, which passed every malformed case while
        // only a non-zero exit counted. It grants a 65-character ID and (decoding with
        // replacement) the non-UTF-8 one, so those two cases have no junk for it.
        (
            "exit-0-on-junk",
            &[
                "server.malformed.bare-hello [udp]",
                "server.malformed.empty [udp]",
                "server.malformed.extra-fields [udp]",
                "server.malformed.hello-space [udp]",
                "server.malformed.random-2000-bytes [udp]",
                "server.malformed.wrong-verb [udp]",
            ],
        ),
    ];
    for ((defect, failed), (named, want)) in got.iter().zip(expected) {
        let want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
        assert_eq!((*defect, failed), (named, &want));
    }
}

#[test]
fn the_binary_prints_a_line_per_case_and_exits_1_on_a_failure_2_on_bad_arguments() {
    let conform = env!("CARGO_BIN_EXE_conform");
    let script = root().join("tests/conform/server.py");
    let script = script.to_string_lossy();
    let dir = std::env::temp_dir().join(format!("conform-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, junit, markdown) = (dir.join("r.json"), dir.join("r.xml"), dir.join("r.md"));
    let out = Command::new(conform)
        .args(["server", "--quick", "--only", "server.ok"])
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .arg("--markdown")
        .arg(&markdown)
        .arg("--")
        .args([
            "python3",
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
        stdout.contains("assignment: \"the server includes the client IP address"),
        "{stdout}"
    );
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

    let no_command = Command::new(conform).args(["server"]).output().unwrap();
    assert_eq!(no_command.status.code(), Some(2));
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

#[test]
fn each_seeded_client_defect_fails_exactly_its_own_requirement() {
    let all = options(&Transport::ALL, false, Timing::Scaled);
    let defects = [
        "short-timeout",
        "reuses-socket",
        "never-reprompts",
        "four-tries",
        "crash-at-eof",
        "takes-other-id",
        "takes-any-source",
    ];
    let runs: Vec<_> = defects.iter().map(|d| (*d, &all)).collect();
    let got = failed_by_defect(Suite::Client, &runs, client_fixture);
    let expected: [&[&str]; 7] = [
        &[
            "client.timeout.error-at-timeout [tcp]",
            "client.timeout.error-at-timeout [udp]",
            "client.timeout.lost-request-retried [udp]",
        ],
        // It reuses its UDP socket; over TCP every try is a new connection anyway.
        &["client.retry.new-socket [udp]"],
        // Every requirement that needs a second try: after a RESET, after three, after a lost request.
        &[
            "client.failure.after-three-tries [tcp]",
            "client.failure.after-three-tries [udp]",
            "client.reset.error-then-prompt [tcp]",
            "client.reset.error-then-prompt [udp]",
            "client.timeout.lost-request-retried [udp]",
        ],
        &[
            "client.failure.after-three-tries [tcp]",
            "client.failure.after-three-tries [udp]",
        ],
        &[
            "client.failure.end-of-input [tcp]",
            "client.failure.end-of-input [udp]",
        ],
        &[
            "client.reply.other-id-ignored [tcp]",
            "client.reply.other-id-ignored [udp]",
        ],
        // A forged OK for its own ID, from another port: over TCP replies come on the connection.
        &["client.reply.other-port-ignored [udp]"],
    ];
    for ((defect, failed), want) in got.iter().zip(expected) {
        let want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
        assert_eq!((*defect, failed), (*defect, &want));
    }
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
            .args(["python3", &script.to_string_lossy()])
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
