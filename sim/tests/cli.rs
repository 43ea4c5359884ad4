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
            err.starts_with(&format!("sim: {}:", path.display())),
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
fn a_run_that_would_run_nothing_is_exit_2_not_an_empty_success() {
    // A UDP-only scenario asked over TCP.
    let (code, out, err) = sim(&[
        "run",
        &scenario("05-request-lost.toml"),
        "--transport",
        "tcp",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.is_empty());
    assert!(
        err.ends_with(
            "05-request-lost.toml: the scenario runs over udp only: --transport tcp leaves nothing to run\n"
        ) && err.lines().count() == 1,
        "{err}"
    );
    // No seeds at all.
    let (code, out, _) = sim(&["explore", "--seeds", "0"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    // The last seed is a seed: one run per transport, not an empty success.
    let (code, out, err) = sim(&["explore", "--seeds", "1", "--from", &u64::MAX.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 runs"), "{out}");
}

#[test]
fn show_prints_a_seeds_scenario_file_that_run_replays_byte_for_byte() {
    let (code, out, err) = sim(&["show", "4242", "--transport", "udp"]);
    assert_eq!(code, 0, "{err}");
    let (head, rest) = out.split_once('\n').unwrap();
    assert_eq!(head, "# seed 4242 over udp: the scenario file it generates");
    let at = rest
        .find("# scenario seed-4242 over ")
        .expect("a transcript follows");
    let (file, shown) = rest.split_at(at);
    assert!(
        file.contains("Generated by the explorer from seed 4242."),
        "{file}"
    );
    let dir = std::env::temp_dir().join(format!("connid-sim-show-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seed-4242.toml");
    std::fs::write(&path, file).unwrap();
    let (code, replayed, err) = sim(&["run", &path.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(replayed, shown);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rules_lists_every_rule_of_the_oracle_once() {
    let (code, out, _) = sim(&["rules"]);
    assert_eq!(code, 0);
    let ids: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let expected: Vec<&str> = connid_sim::oracle::RULES.iter().map(|(r, _)| *r).collect();
    assert_eq!(ids, expected);
    assert!(out.contains("grant-once-per-ttl "), "{out}");
    assert!(out.lines().all(|l| l.len() > 40), "{out}");
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

/// Runs a binary of this package with a standard output whose reading end is already closed (`| head`
/// once head has exited): its status and its stderr.
fn closed_stdout(bin: &str, args: &[&str]) -> (std::process::ExitStatus, String) {
    let out = Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(connid::stdout::closed_pipe().unwrap())
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("runs");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sim_stops_quietly_by_sigpipe_when_its_output_is_closed() {
    use std::os::unix::process::ExitStatusExt;
    let (status, err) = closed_stdout(
        env!("CARGO_BIN_EXE_sim"),
        &["run", &scenario("01-established.toml")],
    );
    assert_eq!(status.signal(), Some(13), "{status:?} {err}");
    assert_eq!(err, "");
}

/// The summary's lines, without the speed line (wall time differs from run to run).
fn without_speed(out: &str) -> Vec<&str> {
    out.lines().filter(|l| !l.starts_with("speed: ")).collect()
}

#[test]
fn shards_run_apart_merge_into_the_summary_of_one_run_over_the_same_seeds() {
    let dir = std::env::temp_dir().join(format!("sim-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (code, whole, err) = sim(&[
        "explore",
        "--seeds",
        "24",
        "--from",
        "500",
        "--json",
        &file("whole.json"),
    ]);
    assert_eq!(code, 0, "{err}");
    for i in 1..=3 {
        let (code, _, err) = sim(&[
            "explore",
            "--seeds",
            "24",
            "--from",
            "500",
            "--shard",
            &format!("{i}/3"),
            "--json",
            &file(&format!("{i}.json")),
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, merged, err) = sim(&[
        "explore",
        "--merge",
        &file("2.json"),
        &file("1.json"),
        &file("3.json"),
        "--json",
        &file("merged.json"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(merged.starts_with("seeds: 24 (48 runs)\n"), "{merged}");
    assert_eq!(without_speed(&merged), without_speed(&whole));
    // The merged file equals the single run's, but for the wall time.
    let json = |name: &str| -> serde_json::Value {
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file(name)).unwrap()).unwrap();
        v["wall_ms"] = 0.into();
        v
    };
    assert_eq!(json("merged.json"), json("whole.json"));

    // A shard missing, a shard twice, or a shard of another run: one line, exit 2.
    let (code, out, err) = sim(&["explore", "--merge", &file("1.json"), &file("3.json")]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert_eq!(err, "sim: cannot merge: shard 2/3 is missing\n");
    let (code, _, err) = sim(&[
        "explore",
        "--merge",
        &file("1.json"),
        &file("2.json"),
        &file("2.json"),
        &file("3.json"),
    ]);
    assert_eq!(code, 2);
    assert_eq!(err, "sim: cannot merge: shard 2/3 is given twice\n");
    let (code, _, err) = sim(&["explore", "--merge", &file("1.json"), &file("whole.json")]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("sim: cannot merge: shard 1/1 is not of the same run"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Kubernetes Job's container arguments and its environment, as deploy/explore-job.yaml has them.
fn job_manifest() -> (Vec<String>, Vec<(String, String)>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/explore-job.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let args = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("args: "))
        .expect("the container's args, on one line");
    let args: Vec<String> = serde_json::from_str(args).unwrap();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let env = lines
        .windows(2)
        .filter_map(|w| {
            let name = w[0].strip_prefix("- name: ")?;
            let value = w[1].strip_prefix("value: ")?.trim_matches('"');
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    (args, env)
}

#[test]
fn the_kubernetes_jobs_command_line_explores_one_shard_per_index_and_the_shards_merge() {
    let (args, env) = job_manifest();
    let completions = 8;
    assert!(
        args.contains(&format!("$(JOB_COMPLETION_INDEX)/{completions}")),
        "{args:?}"
    );
    assert!(
        env.iter().any(|(k, v)| k == "SEEDS" && v == "10000000"),
        "{env:?}"
    );
    let dir = std::env::temp_dir().join(format!("sim-job-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.to_string_lossy().into_owned();
    // Each pod's arguments as Kubernetes expands them ($(VAR) from the container's environment), with
    // a small run's seeds instead of ten million and the volume mounted here instead of at /out.
    let mut files = Vec::new();
    for index in 0..completions {
        let vars = [
            ("SEEDS", "40".to_string()),
            ("FROM", "900".to_string()),
            ("JOB_COMPLETION_INDEX", index.to_string()),
        ];
        let expanded: Vec<String> = args
            .iter()
            .map(|a| {
                let a = vars
                    .iter()
                    .fold(a.clone(), |a, (k, v)| a.replace(&format!("$({k})"), v));
                a.replace("/out", &out)
            })
            .collect();
        let argv: Vec<&str> = expanded.iter().map(String::as_str).collect();
        let (code, _, err) = sim(&argv);
        assert_eq!(code, 0, "{argv:?}: {err}");
        files.push(format!("{out}/shard-{index}.json"));
    }
    let mut merge = vec!["explore", "--merge"];
    merge.extend(files.iter().map(String::as_str));
    let (code, merged, err) = sim(&merge);
    assert_eq!(code, 0, "{err}");
    let (code, whole, err) = sim(&["explore", "--seeds", "40", "--from", "900"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(without_speed(&merged), without_speed(&whole));
    // --index counts from 0, as the Job does, and says so when it is out of range.
    let (code, _, err) = sim(&["explore", "--seeds", "8", "--index", "8/8"]);
    assert_eq!(code, 2);
    assert!(err.contains("\"8/8\" is not K/N with 0 <= K < N"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
