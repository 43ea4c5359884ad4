//! What a conform run reports. On the terminal: one line per case (✔ pass, ✘ fail, – unsupported) with
//! its requirement and a one-line reason, each failure in full, and a summary. In files: JUnit XML for
//! CI, JSON, and Markdown (a table of cases and, per failure, the assignment's sentence, expected
//! against observed, and the case as a Mermaid sequence diagram).

use std::fmt::Write as _;

use serde::Serialize;

use super::graded::{Graded, Role};
use super::{CaseResult, Finding, Level, Verdict};
use connid::Transport;
use connid_sim::diagram::xml_text as xml;
use connid_sim::oracle::rule_statement;

/// A wall time as a person reads it: `12 s`, `2 min 5 s`.
pub fn duration(d: std::time::Duration) -> String {
    let secs = d.as_secs_f64().round() as u64;
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// The line of one case.
pub fn case_line(r: &CaseResult) -> String {
    let (mark, why) = match &r.verdict {
        Verdict::Pass => ("✔", String::new()),
        Verdict::Fail { reason, .. } => ("✘", format!(": {reason}")),
        Verdict::Unsupported(why) => ("–", format!(": {why}")),
        Verdict::NotJudged { on, why } => (
            "○",
            format!(": not judged: {}", Verdict::not_judged(on, why)),
        ),
    };
    format!("{mark} {} [{}, {}]{why}", r.id, r.transport, r.level)
}

/// What a finding expected: its rule's statement, or for what the case saw itself the case's
/// expectation in words.
fn expected(finding: &Finding, r: &CaseResult) -> String {
    match finding.rule.and_then(rule_statement) {
        Some(statement) => statement.to_string(),
        None => r.expect.to_string(),
    }
}

/// A failure's explanation in plain text: the assignment's sentence (its exact words, in quotes),
/// the case's reading of it (apart), what was expected in words, and each thing observed.
fn explained(r: &CaseResult, details: &[Finding]) -> String {
    let mut out = format!("assignment: \u{201c}{}\u{201d}\n", r.quote);
    if !r.reading.is_empty() {
        let _ = writeln!(out, "our reading: {}", r.reading);
    }
    if !r.sends.is_empty() {
        let _ = writeln!(out, "the checker sends: {}", r.sends);
    }
    let _ = writeln!(out, "expected: {}", r.expect);
    for d in details {
        let _ = writeln!(out, "observed: {d}");
    }
    out
}

/// Each failure in full: the explanation, the transcript and what the program printed on standard
/// error.
pub fn failures(results: &[CaseResult]) -> String {
    let mut out = String::new();
    for r in results {
        let Verdict::Fail { details, .. } = &r.verdict else {
            continue;
        };
        let _ = writeln!(out, "\n── {} [{}, {}] ──", r.id, r.transport, r.level);
        out.push_str(&explained(r, details));
        out.push_str(&r.transcript);
        if !r.stderr.is_empty() {
            let _ = writeln!(out, "standard error:");
            for line in r.stderr.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    out
}

/// How many cases passed, failed, were unsupported and were not judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub unsupported: usize,
    pub not_judged: usize,
}

impl Counts {
    /// Every case counted.
    pub fn all(self) -> usize {
        self.passed + self.failed + self.unsupported + self.not_judged
    }

    /// The cases the program was asked to do and could be: all but the unsupported ones.
    pub fn judged_or_not(self) -> usize {
        self.passed + self.failed + self.not_judged
    }
}

/// The counts of `results`.
pub fn counts<'a>(results: impl IntoIterator<Item = &'a CaseResult>) -> Counts {
    results.into_iter().fold(Counts::default(), |mut c, r| {
        match r.verdict {
            Verdict::Pass => c.passed += 1,
            Verdict::Fail { .. } => c.failed += 1,
            Verdict::Unsupported(_) => c.unsupported += 1,
            Verdict::NotJudged { .. } => c.not_judged += 1,
        }
        c
    })
}

/// The counts of the cases of one level.
pub fn level_counts<'a>(results: impl IntoIterator<Item = &'a CaseResult>, level: Level) -> Counts {
    counts(results.into_iter().filter(|r| r.level == level))
}

/// `required 14/15 passed, robustness 6/9 passed, 2 unsupported`: each level that has cases run.
/// What the virtual clock could not follow, if anything: how many cases ran partly at real time
/// (their verdicts stand: time only jumped where the program was seen waiting) and the first reason.
pub fn clock_note(results: &[CaseResult]) -> Option<String> {
    let reasons: Vec<&str> = results
        .iter()
        .filter_map(|r| r.clock.as_ref()?.real_time.as_deref())
        .collect();
    let first = reasons.first()?;
    Some(format!(
        "note: {} of {} cases ran partly at real time, which the virtual clock could not skip: {first}",
        reasons.len(),
        results.len()
    ))
}

pub fn summary(results: &[CaseResult]) -> String {
    let mut parts: Vec<String> = Level::ALL
        .iter()
        .filter_map(|&level| {
            let c = level_counts(results, level);
            (c.judged_or_not() > 0)
                .then(|| format!("{level} {}/{} passed", c.passed, c.judged_or_not()))
        })
        .collect();
    let c = counts(results);
    if c.not_judged > 0 {
        parts.push(format!(
            "{} not judged (each depends on a failed case it names)",
            c.not_judged
        ));
    }
    parts.push(format!("{} unsupported", c.unsupported));
    parts.join(", ")
}

/// The first cause of a run's failures, in one sentence: its earliest failed case (a required one
/// first, then robustness, then convention, each in the run's order) and why. One defect reads as
/// one: what depends on it is not judged, and later failures are often its consequences.
pub fn first_cause(results: &[CaseResult]) -> Option<String> {
    Level::ALL.iter().find_map(|&level| {
        results.iter().find_map(|r| match &r.verdict {
            Verdict::Fail { reason, .. } if r.level == level => {
                Some(format!("{} [{}]: {reason}", r.id, r.transport))
            }
            _ => None,
        })
    })
}

/// Which failures fail the run: required ones, and with `strict` robustness ones too.
fn fails_the_run(level: Level, strict: bool) -> bool {
    match level {
        Level::Required => true,
        Level::Robustness => strict,
        Level::Convention => false,
    }
}

/// What the summary line leaves to say: failures that do not fail the run, and why.
pub fn verdict_note(results: &[CaseResult], strict: bool) -> Option<String> {
    let lenient: Vec<Level> = Level::ALL
        .into_iter()
        .filter(|&l| !fails_the_run(l, strict) && level_counts(results, l).failed > 0)
        .collect();
    (!lenient.is_empty()).then(|| {
        let names: Vec<&str> = lenient.iter().map(|l| l.name()).collect();
        let strict_hint = if lenient.contains(&Level::Robustness) {
            " (--strict counts robustness)"
        } else {
            ""
        };
        format!(
            "{} failures do not fail the run{strict_hint}",
            names.join(" and ")
        )
    })
}

/// The exit code of a run: 1 when a required case failed (with `strict`, a robustness case too), 0
/// otherwise.
pub fn exit_code(results: &[CaseResult], strict: bool) -> u8 {
    u8::from(
        results
            .iter()
            .any(|r| matches!(r.verdict, Verdict::Fail { .. }) && fails_the_run(r.level, strict)),
    )
}

fn status(v: &Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail { .. } => "fail",
        Verdict::Unsupported(_) => "unsupported",
        Verdict::NotJudged { .. } => "not judged",
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    suite: &'a str,
    /// The time base of every time in the report: `virtual` (the program's virtual clock, which is
    /// the checker's too) or `real`.
    clock: &'static str,
    passed: usize,
    failed: usize,
    unsupported: usize,
    /// Cases that depend on another's failure, and are not judged again for it.
    not_judged: usize,
    /// The counts of each level that has any case.
    levels: std::collections::BTreeMap<&'static str, Counts>,
    cases: Vec<JsonCase<'a>>,
}

#[derive(Serialize)]
struct JsonCase<'a> {
    requirement: &'a str,
    level: Level,
    transport: String,
    status: &'static str,
    assignment: &'a str,
    /// The case's reading of the sentence, where it goes beyond its words.
    reading: &'a str,
    /// What the checker sends the program in this case, in words.
    sends: &'a str,
    /// What a conforming program does in this case, in words.
    expected: &'a str,
    /// The one-line reason of a failure, of an unsupported case or of one not judged.
    reason: Option<String>,
    findings: Vec<JsonFinding<'a>>,
    wall_ms: u128,
    /// Why the virtual clock ran this case partly at real time, if it did.
    clock_note: Option<&'a str>,
    transcript: &'a str,
    stderr: &'a str,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: Option<&'static str>,
    expected: String,
    observed: &'a str,
}

/// The time base of `results`: see [`JsonReport`]'s `clock`.
fn clock_of(results: &[CaseResult]) -> &'static str {
    match results.iter().any(|r| r.clock.is_some()) {
        true => "virtual",
        false => "real",
    }
}

/// ` (on the virtual clock)` for a run on it, nothing at real time.
pub fn on_clock(results: &[CaseResult]) -> &'static str {
    match clock_of(results) {
        "virtual" => " (on the virtual clock)",
        _ => "",
    }
}

/// The run as JSON: the counts, then every case with its findings, transcript and standard error.
pub fn json(suite: &str, results: &[CaseResult]) -> String {
    pretty(&json_report(suite, results))
}

/// `value` as indented JSON ending in a newline.
fn pretty(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// The JSON of one run.
fn json_report<'a>(suite: &'a str, results: &'a [CaseResult]) -> JsonReport<'a> {
    let total = counts(results);
    let cases = results
        .iter()
        .map(|r| {
            let (reason, findings) = match &r.verdict {
                Verdict::Pass => (None, Vec::new()),
                Verdict::Unsupported(why) => (Some(why.to_string()), Vec::new()),
                Verdict::NotJudged { on, why } => (Some(Verdict::not_judged(on, why)), Vec::new()),
                Verdict::Fail { reason, details } => (
                    Some(reason.to_string()),
                    details
                        .iter()
                        .map(|d| JsonFinding {
                            rule: d.rule,
                            expected: expected(d, r),
                            observed: &d.message,
                        })
                        .collect(),
                ),
            };
            JsonCase {
                requirement: r.id,
                level: r.level,
                transport: r.transport.to_string(),
                status: status(&r.verdict),
                assignment: r.quote,
                reading: r.reading,
                sends: &r.sends,
                expected: r.expect,
                reason,
                findings,
                wall_ms: r.wall.as_millis(),
                clock_note: r.clock.as_ref().and_then(|c| c.real_time.as_deref()),
                transcript: &r.transcript,
                stderr: &r.stderr,
            }
        })
        .collect();
    let levels = Level::ALL
        .iter()
        .map(|&l| (l.name(), level_counts(results, l)))
        .filter(|(_, c)| c.all() > 0)
        .collect();
    JsonReport {
        suite,
        clock: clock_of(results),
        passed: total.passed,
        failed: total.failed,
        unsupported: total.unsupported,
        not_judged: total.not_judged,
        levels,
        cases,
    }
}

#[derive(Serialize)]
struct JsonMatrix<'a> {
    implementations: Vec<JsonImplementation<'a>>,
}

#[derive(Serialize)]
struct JsonImplementation<'a> {
    name: &'a str,
    runs: Vec<JsonRun<'a>>,
    /// `conform explore`'s findings, a run per suite and transport explored (none unless asked).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    explorations: &'a [crate::explore::Exploration],
}

#[derive(Serialize)]
struct JsonRun<'a> {
    /// Why the program did not run on the clock asked for, if it did not.
    note: Option<&'a str>,
    #[serde(flatten)]
    report: JsonReport<'a>,
}

/// A matrix run as JSON: each implementation with each suite run as [`json`] has it.
pub fn matrix_json(graded: &[Graded]) -> String {
    let implementations = graded
        .iter()
        .map(|g| JsonImplementation {
            name: &g.name,
            runs: g
                .runs
                .iter()
                .map(|run| JsonRun {
                    note: run.note.as_deref(),
                    report: json_report(run.role.name(), &run.results),
                })
                .collect(),
            explorations: &g.explored,
        })
        .collect();
    pretty(&JsonMatrix { implementations })
}

/// `field` as a CSV field: quoted when it holds a comma, a quote or a line break.
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// A matrix run as CSV for a gradebook: a row per implementation; its cases passed, failed, not
/// judged and unsupported per level; the first cause of each suite's failures
/// ([`first_cause`]); what exploring each suite found, if any implementation was explored; then a
/// column per case and transport (`server.ok.source-address [udp]`: pass,
/// fail, not judged, unsupported, or empty where it did not run), the same columns for everyone.
pub fn csv(graded: &[Graded]) -> String {
    let mut columns: Vec<(Role, &'static str, Transport)> = Vec::new();
    for run in graded.iter().flat_map(|g| &g.runs) {
        for r in &run.results {
            if !columns.contains(&(run.role, r.id, r.transport)) {
                columns.push((run.role, r.id, r.transport));
            }
        }
    }
    columns.sort_by_key(|&(role, _, transport)| (role, transport));
    let mut header = vec!["implementation".to_string()];
    for level in Level::ALL {
        for what in ["passed", "failed", "not_judged", "unsupported"] {
            header.push(format!("{level}_{what}"));
        }
    }
    header.extend(Role::ALL.map(|role| format!("{role}_first_cause")));
    // What exploring found, a column per suite, only when some implementation was explored.
    let explored = graded.iter().any(|g| !g.explored.is_empty());
    if explored {
        header.extend(Role::ALL.map(|role| format!("{role}_explore")));
    }
    header.extend(
        columns
            .iter()
            .map(|(_, id, transport)| format!("{id} [{transport}]")),
    );
    let mut out = header.join(",");
    out.push('\n');
    for g in graded {
        let all = || g.runs.iter().flat_map(|run| &run.results);
        let mut row = vec![csv_field(&g.name)];
        for level in Level::ALL {
            let c = level_counts(all(), level);
            row.extend([c.passed, c.failed, c.not_judged, c.unsupported].map(|n| n.to_string()));
        }
        for role in Role::ALL {
            let cause = g
                .runs
                .iter()
                .filter(|run| run.role == role)
                .find_map(|run| first_cause(&run.results));
            row.push(csv_field(&cause.unwrap_or_default()));
        }
        if explored {
            for role in Role::ALL {
                let told: Vec<String> = g
                    .explored
                    .iter()
                    .filter(|e| e.role == role)
                    .map(|e| {
                        let over: Vec<String> =
                            e.transports.iter().map(|t| t.to_string()).collect();
                        format!("{}: {}", over.join(" and "), crate::explore::summary(e))
                    })
                    .collect();
                row.push(csv_field(&told.join(" / ")));
            }
        }
        for &(role, id, transport) in &columns {
            let found = g
                .runs
                .iter()
                .filter(|run| run.role == role)
                .flat_map(|run| &run.results)
                .find(|r| r.id == id && r.transport == transport);
            row.push(found.map_or("", |r| status(&r.verdict)).to_string());
        }
        let _ = writeln!(out, "{}", row.join(","));
    }
    out
}

/// The run as JUnit XML: one test case per case and transport; a failure holds the findings and the
/// transcript, an unsupported case is skipped.
pub fn junit(suite: &str, results: &[CaseResult]) -> String {
    let c = counts(results);
    let (failed, unsupported) = (c.failed, c.unsupported + c.not_judged);
    let seconds: f64 = results.iter().map(|r| r.wall.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"conform\" tests=\"{}\" failures=\"{failed}\" skipped=\"{unsupported}\" time=\"{seconds:.3}\">",
        results.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"conform {}\" tests=\"{}\" failures=\"{failed}\" skipped=\"{unsupported}\" time=\"{seconds:.3}\">",
        xml(suite),
        results.len()
    );
    let _ = writeln!(
        out,
        "    <properties><property name=\"clock\" value=\"{}\"/></properties>",
        clock_of(results)
    );
    for r in results {
        let _ = write!(
            out,
            "    <testcase classname=\"conform.{}.{}.{}\" name=\"{}\" time=\"{:.3}\">",
            xml(suite),
            r.transport,
            r.level,
            xml(r.id),
            r.wall.as_secs_f64()
        );
        match &r.verdict {
            Verdict::Pass => {}
            Verdict::Unsupported(why) => {
                let _ = write!(out, "\n      <skipped message=\"{}\"/>", xml(why));
            }
            Verdict::NotJudged { on, why } => {
                let why = format!("not judged: {}", Verdict::not_judged(on, why));
                let _ = write!(out, "\n      <skipped message=\"{}\"/>", xml(&why));
            }
            Verdict::Fail { reason, details } => {
                let mut body = explained(r, details);
                body.push_str(&r.transcript);
                let _ = write!(
                    out,
                    "\n      <failure message=\"{}\">{}</failure>",
                    xml(reason),
                    xml(&body)
                );
            }
        }
        if !r.stderr.is_empty() {
            let _ = write!(out, "\n      <system-err>{}</system-err>", xml(&r.stderr));
        }
        if r.verdict != Verdict::Pass || !r.stderr.is_empty() {
            out.push_str("\n    ");
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// `text` inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The run as Markdown: a table of cases, then each failure with the assignment's sentence, expected
/// against observed, the case as a Mermaid sequence diagram, and its transcript.
pub fn markdown(suite: &str, results: &[CaseResult]) -> String {
    let mut out = format!(
        "# conform {suite}{}: {}\n\n",
        on_clock(results),
        summary(results)
    );
    out.push_str("| | requirement | level | transport | result |\n|---|---|---|---|---|\n");
    for r in results {
        let (mark, text) = match &r.verdict {
            Verdict::Pass => ("✔", "pass".to_string()),
            Verdict::Fail { reason, .. } => ("✘", cell(reason)),
            Verdict::Unsupported(why) => ("–", format!("unsupported: {}", cell(why))),
            Verdict::NotJudged { on, why } => (
                "○",
                format!("not judged: {}", cell(&Verdict::not_judged(on, why))),
            ),
        };
        let _ = writeln!(
            out,
            "| {mark} | `{}` | {} | {} | {text} |",
            r.id, r.level, r.transport
        );
    }
    for r in results {
        let Verdict::Fail { details, .. } = &r.verdict else {
            continue;
        };
        let _ = writeln!(
            out,
            "\n## ✘ `{}` over {} ({})\n",
            r.id, r.transport, r.level
        );
        let _ = writeln!(out, "> {}\n", r.quote);
        if !r.reading.is_empty() {
            let _ = writeln!(out, "Our reading: {}\n", r.reading);
        }
        if !r.sends.is_empty() {
            let _ = writeln!(out, "**The checker sends:** {}\n", r.sends);
        }
        let _ = writeln!(out, "**Expected:** {}\n", r.expect);
        for d in details {
            let _ = writeln!(out, "- **Observed:** {}", cell(&d.to_string()));
        }
        let _ = writeln!(out, "\n```mermaid\n{}```\n", r.diagram.mermaid());
        let _ = writeln!(
            out,
            "<details><summary>transcript</summary>\n\n```\n{}```\n</details>",
            r.transcript
        );
        if !r.stderr.is_empty() {
            let _ = writeln!(
                out,
                "\n<details><summary>standard error</summary>\n\n```\n{}```\n</details>",
                r.stderr
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use connid::Transport;

    use super::*;
    use crate::graded::SuiteRun;
    use connid_sim::oracle::ANSWERED;

    fn results() -> Vec<CaseResult> {
        let case = |id, verdict| CaseResult {
            id,
            quote: "the server <answers> & \"echoes\"",
            reading: "",
            expect: "an answer, closed",
            sends: "HELLO <1> & more".into(),
            level: Level::Required,
            transport: Transport::Udp,
            verdict,
            transcript: "0.000000  server  start  srv\n".into(),
            diagram: connid_sim::diagram::Diagram::default(),
            stderr: String::new(),
            wall: Duration::from_millis(1500),
            clock: None,
            shortfall: None,
            absent: false,
        };
        vec![
            case("server.a", Verdict::Pass),
            CaseResult {
                stderr: "Traceback\u{1}\n".into(),
                ..case(
                    "server.b",
                    Verdict::Fail {
                        reason: "requests-answered: no | answer".into(),
                        details: vec![
                            Finding {
                                rule: Some(ANSWERED),
                                message: "no | answer".into(),
                            },
                            Finding {
                                rule: None,
                                message: "not closed".into(),
                            },
                        ],
                    },
                )
            },
            case("server.c", Verdict::Unsupported("no tcp".into())),
        ]
    }

    #[test]
    fn a_wall_time_reads_in_minutes_and_seconds() {
        let s = Duration::from_secs;
        assert_eq!(duration(Duration::from_millis(400)), "0 s");
        assert_eq!(duration(Duration::from_millis(12_600)), "13 s");
        assert_eq!(duration(s(60)), "1 min");
        assert_eq!(duration(s(125)), "2 min 5 s");
    }

    #[test]
    fn the_summary_and_the_exit_code_count_each_verdict() {
        let r = results();
        assert_eq!(summary(&r), "required 1/2 passed, 1 unsupported");
        assert_eq!(exit_code(&r, false), 1);
        assert_eq!(exit_code(&r[..1], false), 0);
        assert_eq!(exit_code(&[r[0].clone(), r[2].clone()], false), 0);
        assert_eq!(
            case_line(&r[1]),
            "✘ server.b [udp, required]: requests-answered: no | answer"
        );
        assert_eq!(case_line(&r[2]), "– server.c [udp, required]: no tcp");
        assert_eq!(verdict_note(&r, false), None);
    }

    #[test]
    fn a_robustness_failure_fails_the_run_only_when_strict_and_a_convention_never() {
        let mut r = results();
        r[1].level = Level::Robustness;
        assert_eq!(
            summary(&r),
            "required 1/1 passed, robustness 0/1 passed, 1 unsupported"
        );
        assert_eq!(exit_code(&r, false), 0);
        assert_eq!(exit_code(&r, true), 1);
        assert_eq!(
            verdict_note(&r, false).as_deref(),
            Some("robustness failures do not fail the run (--strict counts robustness)")
        );
        assert_eq!(verdict_note(&r, true), None);
        r[1].level = Level::Convention;
        assert_eq!(exit_code(&r, true), 0);
        assert_eq!(
            verdict_note(&r, true).as_deref(),
            Some("convention failures do not fail the run")
        );
    }

    #[test]
    fn json_holds_every_case_with_expected_and_observed() {
        let v: serde_json::Value = serde_json::from_str(&json("server", &results())).unwrap();
        assert_eq!(v["failed"], 1);
        assert_eq!(v["levels"]["required"]["failed"], 1);
        assert_eq!(v["levels"]["required"]["passed"], 1);
        assert_eq!(v["cases"][1]["level"], "required");
        assert_eq!(v["cases"].as_array().unwrap().len(), 3);
        let failed = &v["cases"][1];
        assert_eq!(failed["status"], "fail");
        assert_eq!(failed["findings"][0]["rule"], ANSWERED);
        assert_eq!(
            failed["findings"][0]["expected"],
            rule_statement(ANSWERED).unwrap()
        );
        assert_eq!(failed["findings"][1]["rule"], serde_json::Value::Null);
        assert_eq!(failed["findings"][1]["expected"], "an answer, closed");
        assert_eq!(failed["expected"], "an answer, closed");
        assert_eq!(failed["sends"], "HELLO <1> & more");
        assert_eq!(v["cases"][2]["reason"], "no tcp");
        assert_eq!(v["cases"][0]["wall_ms"], 1500);
        assert_eq!(v["clock"], "real");
        assert!(junit("server", &results()).contains("<property name=\"clock\" value=\"real\"/>"));
        assert!(markdown("server", &results()).starts_with("# conform server: "));
        let mut on_clock = results();
        on_clock[0].clock = Some(crate::clock::Report::default());
        let v: serde_json::Value = serde_json::from_str(&json("server", &on_clock)).unwrap();
        assert_eq!(v["clock"], "virtual");
        assert!(junit("server", &on_clock).contains("<property name=\"clock\" value=\"virtual\"/>"));
        assert!(
            markdown("server", &on_clock).starts_with("# conform server (on the virtual clock): ")
        );
    }

    #[test]
    fn junit_escapes_and_marks_failures_and_skips() {
        let x = junit("server", &results());
        assert!(
            x.contains("tests=\"3\" failures=\"1\" skipped=\"1\""),
            "{x}"
        );
        assert!(x.contains("<testcase classname=\"conform.server.udp.required\" name=\"server.a\" time=\"1.500\"></testcase>"), "{x}");
        assert!(x.contains("<failure message=\"requests-answered: no | answer\">assignment: \u{201c}the server &lt;answers&gt; &amp; &quot;echoes&quot;\u{201d}\nthe checker sends: HELLO &lt;1&gt; &amp; more\nexpected: an answer, closed\nobserved: requests-answered: no | answer\nobserved: not closed\n"), "{x}");
        assert!(x.contains("<skipped message=\"no tcp\"/>"), "{x}");
        assert!(
            x.contains("<system-err>Traceback\u{fffd}\n</system-err>"),
            "{x}"
        );
        assert_eq!(
            x.matches("<testcase ").count(),
            x.matches("</testcase>").count()
        );
    }

    #[test]
    fn markdown_tables_escape_pipes_and_each_failure_has_a_diagram() {
        let m = markdown("server", &results());
        assert!(m.starts_with("# conform server: required 1/2 passed, 1 unsupported\n"));
        assert!(
            m.contains("\n**The checker sends:** HELLO <1> & more\n"),
            "{m}"
        );
        assert!(
            m.contains("| ✘ | `server.b` | required | udp | requests-answered: no \\| answer |"),
            "{m}"
        );
        assert!(
            m.contains("| – | `server.c` | required | udp | unsupported: no tcp |"),
            "{m}"
        );
        assert_eq!(m.matches("```mermaid").count(), 1);
        assert!(
            m.contains("**Expected:** an answer, closed\n\n- **Observed:** requests-answered: no \\| answer\n- **Observed:** not closed\n"),
            "{m}"
        );
        assert!(!m.contains("Our reading"), "{m}");
    }

    #[test]
    fn csv_has_a_row_per_implementation_with_its_counts_first_causes_and_every_case() {
        let mut client = results();
        client.push(CaseResult {
            verdict: Verdict::NotJudged {
                on: "server.b",
                why: "no second try".into(),
            },
            ..client[1].clone()
        });
        client.iter_mut().for_each(|r| r.level = Level::Robustness);
        let graded = [Graded {
            name: "o'brien, \"pat\"".into(),
            explored: Vec::new(),
            runs: vec![
                SuiteRun {
                    role: Role::Server,
                    note: None,
                    results: results(),
                },
                SuiteRun {
                    role: Role::Client,
                    note: Some("n".into()),
                    results: client,
                },
            ],
        }];
        let text = csv(&graded);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], "implementation,required_passed,required_failed,required_not_judged,required_unsupported,robustness_passed,robustness_failed,robustness_not_judged,robustness_unsupported,convention_passed,convention_failed,convention_not_judged,convention_unsupported,server_first_cause,client_first_cause,server.a [udp],server.b [udp],server.c [udp],server.a [udp],server.b [udp],server.c [udp]");
        // Counts per level over both suites; each suite's first cause (a required failure first,
        // else a robustness one); each case's status.
        assert_eq!(
            lines[1],
            "\"o'brien, \"\"pat\"\"\",1,1,0,1,1,1,1,1,0,0,0,0,server.b [udp]: requests-answered: no | answer,server.b [udp]: requests-answered: no | answer,pass,fail,unsupported,pass,fail,unsupported"
        );
        let no_failure = [Graded {
            name: "a".into(),
            explored: Vec::new(),
            runs: vec![SuiteRun {
                role: Role::Client,
                note: None,
                results: results()[..1].to_vec(),
            }],
        }];
        assert_eq!(
            csv(&no_failure).lines().nth(1),
            Some("a,1,0,0,0,0,0,0,0,0,0,0,0,,,pass")
        );
        assert_eq!(csv_field("plain"), "plain");
        let v: serde_json::Value = serde_json::from_str(&matrix_json(&graded)).unwrap();
        let runs = &v["implementations"][0]["runs"];
        assert_eq!(v["implementations"][0]["name"], "o'brien, \"pat\"");
        assert_eq!(runs[0]["suite"], "server");
        assert_eq!(runs[0]["note"], serde_json::Value::Null);
        assert_eq!(runs[1]["note"], "n");
        assert_eq!(runs[1]["levels"]["robustness"]["unsupported"], 1);
        assert_eq!(runs[1]["levels"]["robustness"]["not_judged"], 1);
        assert_eq!(runs[1]["not_judged"], 1);
        assert_eq!(runs[1]["cases"][3]["status"], "not judged");
        assert_eq!(
            runs[1]["cases"][3]["reason"],
            "depends on server.b (no second try)"
        );
        assert_eq!(runs[1]["cases"].as_array().unwrap().len(), 4);
        assert_eq!(runs[0]["clock"], "real");
        // A level with failures only, or unsupported cases only, is still counted; one with no case
        // is left out.
        let mut only = results();
        only[1].level = Level::Convention;
        only[2].level = Level::Robustness;
        let v: serde_json::Value = serde_json::from_str(&json("server", &only[1..])).unwrap();
        assert_eq!(v["levels"]["convention"]["failed"], 1);
        assert_eq!(v["levels"]["robustness"]["unsupported"], 1);
        assert_eq!(v["levels"]["required"], serde_json::Value::Null);
    }
}
