//! `conform matrix` over the fixtures' manifest (`tests/conform/submissions.toml`), as a teacher runs
//! it: each implementation's cells (the matrix on the virtual clock) are what its own `conform` run at
//! real time finds, the CSV adds up to the JSON, and every cell of the HTML links to details that
//! hold a diagram for each failure.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use conform::graded::Role;
use conform::{self, matrix, Options, Timing, Verdict};
use connid::Transport;

fn manifest() -> PathBuf {
    support::root().join("tests/conform/submissions.toml")
}

/// One CSV row's fields: split at commas outside quotes, a quoted field's `""` read as `"`.
fn csv_fields(row: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// A fresh directory for this test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("connid-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn status(v: &Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail { .. } => "fail",
        Verdict::Unsupported(_) => "unsupported",
        Verdict::NotJudged { .. } => "not judged",
    }
}

/// `(requirement, transport) -> status` of one suite of one implementation over one transport, as
/// its own run at real time finds it; nothing if the manifest gives no command for it.
fn own_run(
    imp: &matrix::Implementation,
    role: Role,
    t: Transport,
) -> BTreeMap<(String, String), String> {
    let Some(program) = imp.commands.get(&(role, t)) else {
        return BTreeMap::new();
    };
    // Python as the interpreter itself, as the matrix's own run gets it (support::python3).
    let mut program = program.clone();
    if program.argv.first().is_some_and(|p| p == "python3") {
        program.argv[0] = support::python3().to_string();
    }
    let options = Options {
        transports: vec![t],
        quick: true,
        only: None,
        jobs: 4,
        timing: Timing::Exact,
        virtual_clock: false,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        match role {
            Role::Server => conform::run_server_suite(&program, &options, |_| {}).await,
            Role::Client => conform::run_client_suite(&program, &options, |_| {}).await,
        }
    });
    results
        .into_iter()
        .map(|r| {
            let key = (r.id.to_string(), r.transport.to_string());
            (key, status(&r.verdict).to_string())
        })
        .collect()
}

/// Every implementation's own runs, each suite and transport alone, all at once: most of a run at
/// real time is waiting (for silence, for a timer), so they share the time rather than queue for it.
type OwnRuns = BTreeMap<(String, Role), BTreeMap<(String, String), String>>;

fn own_runs_started() -> std::thread::JoinHandle<OwnRuns> {
    std::thread::spawn(|| {
        let implementations = matrix::load(&manifest()).unwrap();
        let runs: Vec<_> = implementations
            .into_iter()
            .flat_map(|imp| Role::ALL.map(|role| (imp.clone(), role)))
            .flat_map(|(imp, role)| Transport::ALL.map(|t| (imp.clone(), role, t)))
            .map(|(imp, role, t)| {
                let key = (imp.name.clone(), role);
                (key, std::thread::spawn(move || own_run(&imp, role, t)))
            })
            .collect();
        let mut own = OwnRuns::new();
        for (key, run) in runs {
            own.entry(key).or_default().extend(run.join().unwrap());
        }
        own
    })
}

#[test]
fn a_matrix_of_the_fixtures_judges_each_as_its_own_run_does_in_every_report() {
    let own_runs = own_runs_started();
    let dir = scratch("matrix");
    let (html, json, csv) = (
        dir.join("report.html"),
        dir.join("report.json"),
        dir.join("grades.csv"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_conform"))
        .env("PATH", support::path_with_python3())
        .args(["matrix", &manifest().to_string_lossy()])
        .args(["--quick", "--jobs", "4"])
        .arg("--html")
        .arg(&html)
        .arg("--json")
        .arg(&json)
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    // The matrix on the virtual clock (where it runs), each implementation's own runs at real time:
    // the verdicts must agree.
    let plan = if conform::clock::supported() {
        "conform matrix: 4 implementations, 204 cases over udp and tcp on the virtual clock, 4 at a time, about "
    } else {
        "conform matrix: 4 implementations, 204 cases over udp and tcp, 4 at a time, about "
    };
    assert!(lines[0].starts_with(plan), "{stdout}");
    // A line per implementation and suite, in the manifest's order.
    let told: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        told,
        [
            "correct server",
            "correct client",
            "classic server",
            "classic client",
            "defects server",
            "defects client",
            "udp server only server",
            "udp server only client"
        ],
        "{stdout}"
    );
    assert!(
        stdout.contains("udp server only client: 23 unsupported\n"),
        "{stdout}"
    );

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let implementations = matrix::load(&manifest()).unwrap();
    let own_runs = own_runs.join().unwrap();
    let (mut failures, mut not_given) = (0, 0);
    for (imp, judged) in implementations
        .iter()
        .zip(report["implementations"].as_array().unwrap())
    {
        assert_eq!(judged["name"], imp.name.as_str());
        for (role, run) in Role::ALL
            .into_iter()
            .zip(judged["runs"].as_array().unwrap())
        {
            assert_eq!(run["suite"], role.name());
            let cells: BTreeMap<(String, String), String> = run["cases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    if c["status"] == "unsupported" {
                        let t = c["transport"].as_str().unwrap();
                        assert_eq!(
                            c["reason"],
                            format!("the manifest gives no {role} command for {t}").as_str()
                        );
                        not_given += 1;
                    }
                    failures += usize::from(c["status"] == "fail");
                    let key = (
                        c["requirement"].as_str().unwrap().to_string(),
                        c["transport"].as_str().unwrap().to_string(),
                    );
                    (key, c["status"].as_str().unwrap().to_string())
                })
                .collect();
            let own = &own_runs[&(imp.name.clone(), role)];
            for (key, status) in &cells {
                match own.get(key) {
                    Some(alone) => assert_eq!(
                        status, alone,
                        "{} {role} {key:?}: the matrix says {status}, its own run {alone}",
                        imp.name
                    ),
                    None => assert_eq!(status, "unsupported", "{} {role} {key:?}", imp.name),
                }
            }
            assert!(
                own.keys().all(|k| cells.contains_key(k)),
                "{}: a case of its own run is missing from the matrix",
                imp.name
            );
            if imp.name == "defects" {
                let failed: Vec<String> = cells
                    .iter()
                    .filter(|(_, s)| *s == "fail")
                    .map(|((id, t), _)| format!("{id} [{t}]"))
                    .collect();
                let expected: &[&str] = match role {
                    Role::Server => &[
                        "server.ok.source-address [tcp]",
                        "server.ok.source-address [udp]",
                    ],
                    Role::Client => &[
                        "client.format.established [tcp]",
                        "client.format.established [udp]",
                        "client.reply.other-id-ignored [tcp]",
                        "client.reply.other-id-ignored [udp]",
                    ],
                };
                assert_eq!(failed, expected, "defects {role}");
            }
        }
    }
    assert!(failures > 0);

    // The CSV: a row per implementation, its counts per level adding up the JSON's, and each case's
    // status as the JSON has it.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut rows = text.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(header[..2], ["implementation", "required_passed"]);
    let mut seen = 0;
    for row in rows {
        let fields = csv_fields(row);
        assert_eq!(fields.len(), header.len(), "{row}");
        let judged = report["implementations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == fields[0])
            .unwrap();
        let runs = judged["runs"].as_array().unwrap();
        let count = |level: &str, what: &str| -> u64 {
            runs.iter()
                .map(|r| r["levels"][level][what].as_u64().unwrap_or(0))
                .sum()
        };
        let mut expected = Vec::new();
        for level in ["required", "robustness", "convention"] {
            for what in ["passed", "failed", "not_judged", "unsupported"] {
                expected.push(count(level, what).to_string());
            }
        }
        assert_eq!(fields[1..13], expected[..], "{row}");
        assert!(
            fields[13].is_empty() || fields[13].starts_with("server."),
            "{row}"
        );
        assert!(
            fields[14].is_empty() || fields[14].starts_with("client."),
            "{row}"
        );
        for (name, status) in header[15..].iter().zip(&fields[15..]) {
            let (id, transport) = name.trim_end_matches(']').split_once(" [").unwrap();
            let suite = id.split('.').next().unwrap();
            let case = runs
                .iter()
                .filter(|r| r["suite"] == suite)
                .flat_map(|r| r["cases"].as_array().unwrap())
                .find(|c| c["requirement"] == id && c["transport"] == transport);
            let want = case.map_or("", |c| c["status"].as_str().unwrap());
            assert_eq!(status, want, "{} {name}", fields[0]);
        }
        seen += 1;
    }
    assert_eq!(seen, 4);

    // The HTML: a cell and a detail per result, a diagram per case that ran (and so per failure), no
    // link that lands nowhere.
    let page = std::fs::read_to_string(&html).unwrap();
    let checked = support::html_check::check(&page);
    assert_eq!(
        checked,
        support::html_check::Checked {
            cells: 204,
            details: 204,
            failures,
            diagrams: 204 - not_given,
        }
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_manifest_exits_2_with_one_line_before_anything_runs() {
    let dir = scratch("bad-manifest");
    let bad = dir.join("m.toml");
    std::fs::write(
        &bad,
        "[[implementation]]\nname = \"a\"\nserver = \"x\"\n[[implementation]]\nname = \"a\"\nserver = \"y\"\n",
    )
    .unwrap();
    for (path, says) in [
        (
            bad.clone(),
            "implementation 2 (\"a\"): the name is used twice",
        ),
        (dir.join("missing.toml"), "cannot read "),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_conform"))
            .env("PATH", support::path_with_python3())
            .args(["matrix", &path.to_string_lossy(), "--html"])
            .arg(dir.join("r.html"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    assert!(
        !dir.join("r.html").exists(),
        "no report of a run that did not happen"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_matrix_explores_each_implementation_when_asked_and_reports_it_as_a_column_per_suite() {
    let dir = scratch("matrix-explore");
    let fixtures = support::root().join("tests/conform");
    let fixtures = fixtures.to_string_lossy();
    // The correct fixtures with --explore's seeds; seeded defects no fixed case catches, with seeds
    // of their own from the manifest (each found in them, TESTING.md).
    let manifest = format!(
        r#"
[[implementation]]
name = "correct"
dir = "{fixtures}"
server = "python3 server.py {{ip}} {{port}} {{transport}} 30 120"
client = "python3 client.py HELLO {{ip}} {{port}} {{id}} {{transport}} 15"

[[implementation]]
name = "subtle"
dir = "{fixtures}"
server = "python3 server.py {{ip}} {{port}} {{transport}} 30 120 case-blind"
client = "python3 client.py HELLO {{ip}} {{port}} {{id}} {{transport}} 15 small-buffer"
explore = 2
"#
    );
    std::fs::write(dir.join("m.toml"), manifest).unwrap();
    let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_conform"))
        .env("PATH", support::path_with_python3())
        .args(["matrix", &file("m.toml"), "--quick", "--transport", "udp"])
        .args(["--explore", "3", "--save", &file("saved")])
        .args(["--json", &file("r.json"), "--csv", &file("r.csv")])
        .args(["--html", &file("r.html")])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("correct server explore: no rule broken; 3 of 3 sessions played"),
        "{said}"
    );
    assert!(
        said.contains("subtle server explore: 1 rule broken: reset-only-in-use (required); 2 of 2 sessions played"),
        "{said}"
    );
    // Both subtle programs pass every fixed case: only the exploration tells them apart.
    let csv = std::fs::read_to_string(dir.join("r.csv")).unwrap();
    let rows: Vec<Vec<String>> = csv.lines().map(csv_fields).collect();
    let column = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    let (failed, server, client) = (
        column("required_failed"),
        column("server_explore"),
        column("client_explore"),
    );
    assert_eq!(rows[2][0], "subtle");
    assert_eq!(rows[2][failed], "0");
    assert_eq!(
        rows[1][server],
        "udp: no rule broken; 3 of 3 sessions played"
    );
    assert_eq!(
        rows[2][client],
        "udp: 1 rule broken: one-error-per-failed-try (required); 2 of 2 sessions played"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    let subtle = &json["implementations"][1]["explorations"];
    assert_eq!(subtle[0]["role"], "server");
    assert_eq!(subtle[0]["findings"][0]["rule"], "reset-only-in-use");
    // The replay command each finding prints names a session saved under the implementation's name.
    let replay = subtle[1]["findings"][0]["replay"].as_str().unwrap();
    let saved = replay.split(' ').nth(2).unwrap();
    assert!(
        saved.starts_with(&file("saved/subtle/")) && Path::new(saved).exists(),
        "{replay}"
    );
    // The page: one more column per suite, each cell linked to the findings below.
    let html = std::fs::read_to_string(dir.join("r.html")).unwrap();
    let doc = roxmltree::Document::parse(html.trim_start_matches("<!DOCTYPE html>")).unwrap();
    let explore_cells: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("a"))
        .filter_map(|a| a.attribute("href"))
        .filter(|h| h.ends_with(":explore"))
        .collect();
    assert_eq!(explore_cells.len(), 4, "two suites of two implementations");
    for href in explore_cells {
        let id = &href[1..];
        assert!(
            doc.descendants().any(|n| n.attribute("id") == Some(id)),
            "{href} goes nowhere"
        );
    }
    assert!(html.contains("<b>one-error-per-failed-try</b> (required)"));
    let _ = std::fs::remove_dir_all(&dir);
}
