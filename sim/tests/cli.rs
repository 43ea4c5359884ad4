//! The `sim` binary: transcripts in both formats, and one clear line for a bad scenario file.

use std::path::Path;
use std::process::Command;

fn sim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .output()
        .expect("run sim");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn run_prints_one_transcript_per_transport() {
    let (code, out, err) = sim(&["run", &scenario("01-established.toml")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.matches("# scenario 01-established over ").count(),
        2,
        "{out}"
    );
    let established: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("Connection established"))
        .collect();
    assert_eq!(established.len(), 2, "{out}");
    let udp: Vec<&str> = established[0].split_whitespace().collect();
    assert_eq!(udp[..3], ["0.001000", "alice", "out"]);
    assert_eq!(
        udp[3..].join(" "),
        "Connection established 9876 192.168.0.2 49152 on 2023-01-16 06:06:00.001000"
    );
    let (_, udp_only, _) = sim(&[
        "run",
        &scenario("01-established.toml"),
        "--transport",
        "udp",
    ]);
    assert_eq!(udp_only.matches("# scenario").count(), 1);
    assert!(out.starts_with(&udp_only));
}

#[test]
fn run_prints_a_mermaid_sequence_diagram() {
    let (code, out, err) = sim(&[
        "run",
        &scenario("05-request-lost.toml"),
        "--format",
        "mermaid",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("sequenceDiagram\n    participant server as server (192.168.0.1)\n"),
        "{out}"
    );
    assert!(
        out.contains("erin-xserver: 0.000000 udp \"HELLO 42\" (LOST)"),
        "{out}"
    );
    assert!(
        out.contains("erin->>server: 15.000000 udp \"HELLO 42\" (arrives 15.001000)"),
        "{out}"
    );
}

#[test]
fn a_bad_scenario_file_is_one_line_and_exit_2() {
    let dir = std::env::temp_dir().join(format!("connid-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "unknown-field.toml",
            "[server]\nttl = \"30s\"\n",
            "unknown field `ttl`",
        ),
        (
            "unknown-host.toml",
            "[[faults]]\nat = \"1s\"\naction = \"partition\"\nbetween = [\"zed\", \"server\"]\n",
            "faults[0].between: unknown host \"zed\"",
        ),
        (
            "bad-duration.toml",
            "[[clients]]\nname = \"a\"\nid = \"1\"\nstart = \"soon\"\n",
            "bad duration \"soon\"",
        ),
        ("not-toml.toml", "[[clients\n", "bad-toml"),
    ];
    for (file, text, expected) in cases {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        let (code, out, err) = sim(&["run", &path.to_string_lossy()]);
        assert_eq!(code, 2, "{file}: {err}");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{file}: {err}");
        assert!(
            err.starts_with(&format!("sim: {}: ", path.display())),
            "{err}"
        );
        if expected != "bad-toml" {
            assert!(err.contains(expected), "{file}: {err}");
        }
    }
    let (code, _, err) = sim(&["run", "/nonexistent/scenario.toml"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("sim: /nonexistent/scenario.toml: cannot read: "),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_ends_each_transcript_with_the_oracles_verdict() {
    let (code, out, err) = sim(&["run", &scenario("02-reset-then-new-id.toml")]);
    assert_eq!(code, 0, "{err}");
    let verdicts: Vec<&str> = out.lines().filter(|l| l.starts_with("# oracle:")).collect();
    assert_eq!(verdicts.len(), 2, "{out}");
    // Every rule but determinism, which takes two runs.
    let all = format!("all {} rules kept", connid_sim::oracle::RULES.len() - 1);
    assert!(
        verdicts[0].starts_with(&format!("# oracle: {all} (grant-once-per-ttl, ")),
        "{out}"
    );
    assert!(verdicts[0].contains("error-when-due"), "{out}");
    let (code, mermaid, _) = sim(&[
        "run",
        &scenario("02-reset-then-new-id.toml"),
        "--format",
        "mermaid",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        mermaid.matches(&format!("\n%% oracle: {all}")).count(),
        2,
        "{mermaid}"
    );
}
