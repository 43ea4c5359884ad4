//! The report as one self-contained HTML page (inline CSS, no script, no network): a matrix of
//! implementations × cases, each cell pass / fail / unsupported coloured by the case's level and
//! linked to its details below (the assignment's sentence, expected against observed, the sequence
//! diagram as inline SVG, the transcript and standard error). One run is a matrix of one row.

use std::fmt::Write as _;

use connid::Transport;

use super::graded::{Graded, Role, SuiteRun};
use super::report::{counts, first_cause, level_counts, summary};
use super::{CaseResult, Level, Verdict};
use connid_sim::diagram::xml_text as esc;

/// A column of the matrix: one case on one transport of one suite.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    role: Role,
    transport: Transport,
    id: &'static str,
    level: Level,
}

/// Every column any implementation has, grouped by suite and transport, each group in suite order.
fn columns(graded: &[Graded]) -> Vec<Column> {
    let mut columns: Vec<Column> = Vec::new();
    for g in graded {
        for run in &g.runs {
            for r in &run.results {
                let column = Column {
                    role: run.role,
                    transport: r.transport,
                    id: r.id,
                    level: r.level,
                };
                if !columns.contains(&column) {
                    columns.push(column);
                }
            }
        }
    }
    // Stable: within a group the suite's order stays.
    columns.sort_by_key(|c| (c.role, c.transport));
    columns
}

/// The result in `column` of an implementation, if it has one.
fn result_in<'a>(g: &'a Graded, column: &Column) -> Option<&'a CaseResult> {
    g.runs
        .iter()
        .filter(|run| run.role == column.role)
        .flat_map(|run| &run.results)
        .find(|r| r.transport == column.transport && r.id == column.id)
}

/// Each implementation's name as an anchor: letters, digits, `.`, `_` and `-` kept, every other run
/// of characters one `-`; a name that comes out as an earlier one's gets `-2`, `-3`, ...
fn slugs(graded: &[Graded]) -> Vec<String> {
    let mut slugs: Vec<String> = Vec::new();
    for g in graded {
        let mut slug = String::new();
        for c in g.name.chars() {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                slug.push(c);
            } else if !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let base = match slug.trim_matches('-') {
            "" => "implementation".to_string(),
            s => s.to_string(),
        };
        let mut unique = base.clone();
        let mut n = 1;
        while slugs.contains(&unique) {
            n += 1;
            unique = format!("{base}-{n}");
        }
        slugs.push(unique);
    }
    slugs
}

/// The anchor of one case of an implementation: `<implementation>/<suite>/<transport>/<case>`.
fn detail_id(slug: &str, c: &Column) -> String {
    format!("{slug}/{}/{}/{}", c.role, c.transport, c.id)
}

fn mark(v: &Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::Pass => ("\u{2714}", "pass"),
        Verdict::Fail { .. } => ("\u{2718}", "fail"),
        Verdict::Unsupported(_) => ("\u{2013}", "unsupported"),
        Verdict::NotJudged { .. } => ("\u{25cb}", "notjudged"),
    }
}

/// The one line a cell's tooltip says.
fn cell_title(r: &CaseResult) -> String {
    format!(
        "{} [{}, {}] {}",
        r.id,
        r.transport,
        r.level,
        verdict_line(&r.verdict)
    )
}

/// A verdict in one line: `pass`, or its status and reason.
fn verdict_line(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Pass => "pass".to_string(),
        Verdict::Fail { reason, .. } => format!("fail: {reason}"),
        Verdict::Unsupported(why) => format!("unsupported: {why}"),
        Verdict::NotJudged { on, why } => format!("not judged: {}", Verdict::not_judged(on, why)),
    }
}

/// The clock a suite ran on, in words.
fn pace(run: &SuiteRun) -> String {
    match run.results.iter().any(|r| r.clock.is_some()) {
        true => "on the virtual clock".to_string(),
        false => "at real time".to_string(),
    }
}

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em; color: #1d1d1f; }
h1 { font-size: 1.5em; margin: 0 0 .3em; }
h2 { border-bottom: 2px solid #ccd; padding-bottom: .2em; margin-top: 2em; }
h3 { font-size: 1.05em; margin: 0 0 .4em; }
code, pre { font: 12px/1.4 ui-monospace, monospace; }
pre { background: #f6f6f8; padding: .6em; overflow-x: auto; }
.legend span { display: inline-block; padding: 0 .6em; margin-right: .3em; border-radius: 3px; }
.scroll { overflow-x: auto; max-width: 100%; }
table.matrix { border-collapse: separate; border-spacing: 0; margin-top: 1em; }
.matrix th, .matrix td { border: 1px solid #fff; padding: 0; }
.matrix th.group { background: #445; color: #fff; padding: .2em .4em; font-weight: 600; font-size: 12px; }
.matrix th.case { vertical-align: bottom; padding: .3em 0; }
.matrix th.case span { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; font: 10px ui-monospace, monospace; }
.matrix th.name { position: sticky; left: 0; z-index: 1; background: #eef0fa; text-align: left; padding: .2em .5em; min-width: 6em; max-width: 11em; overflow-wrap: anywhere; font-size: 13px; }
.matrix th.sum { font-size: 11px; font-weight: 600; max-width: 8em; white-space: normal; }
.matrix td.sum { font: 11px/1.5 ui-monospace, monospace; padding: .2em .5em; white-space: nowrap; background: #f6f6f8; }
.matrix td.cell a { display: block; width: 13px; line-height: 18px; font-size: 10px; text-align: center; text-decoration: none; color: inherit; }
.lv.required { color: #1b5e20; font-weight: 600; }
.lv.robustness { color: #8a4b00; }
.lv.convention { color: #6b6b00; }
table.cases { border-collapse: collapse; margin-top: 1em; }
.cases th, .cases td { border-bottom: 1px solid #e3e3e8; padding: .15em .5em; text-align: left; vertical-align: top; }
.cases td.cell a { display: block; width: 1.4em; text-align: center; text-decoration: none; color: inherit; }
.cause { font-weight: 600; }
.required { --pass: #2e7d32; --fail: #c62828; }
.robustness { --pass: #66a86a; --fail: #ef7d1a; }
.convention { --pass: #a5cf8f; --fail: #f2cc3f; }
th.case.required { background: #dfe3f5; }
th.case.robustness { background: #ebeef8; }
th.case.convention { background: #f5f6fb; }
td.pass, .legend .pass { background: var(--pass); color: #fff; }
td.fail, .legend .fail { background: var(--fail); color: #fff; }
.convention.pass, .convention.fail { color: #222; }
td.unsupported, .legend .unsupported { background: #c9c9cf; color: #333; }
td.notjudged, .legend .notjudged { background: #ececf0; color: #555; }
article { border-left: 6px solid #c9c9cf; padding: .4em 1em; margin: 1em 0; background: #fcfcfd; }
article.pass { border-color: var(--pass); }
article.fail { border-color: var(--fail); }
blockquote { margin: .3em 0; padding-left: .8em; border-left: 3px solid #ccd; color: #444; }
.observed { color: #8a1c1c; }
.diagram { overflow-x: auto; border: 1px solid #e3e3e8; background: #fff; padding: .3em; }
.note { color: #7a4b00; }
"#;

/// The legend: what each colour means.
fn legend() -> String {
    let mut out = String::from("<p class=\"legend\">");
    for level in Level::ALL {
        let _ = write!(
            out,
            "<span class=\"{level} pass\">\u{2714} {level} passed</span><span class=\"{level} fail\">\u{2718} {level} failed</span>"
        );
    }
    out.push_str("<span class=\"unsupported\">\u{2013} unsupported</span>");
    out.push_str(
        "<span class=\"notjudged\">\u{25cb} not judged: depends on a failure</span></p>\n",
    );
    out.push_str("<p>A required failure fails a run; robustness failures fail it with <code>--strict</code>; conventions never do. Each cell links to its details.</p>\n");
    out
}

/// An implementation's scores in one suite, as numbers: passed of each level's cases (required,
/// robustness, convention), then how many were not judged and unsupported, if any.
fn score(run: &SuiteRun) -> String {
    let mut parts: Vec<String> = Level::ALL
        .iter()
        .map(|&level| {
            let c = level_counts(&run.results, level);
            match c.judged_or_not() {
                0 => format!("<span class=\"lv {level}\">\u{2013}</span>"),
                n => format!("<span class=\"lv {level}\">{}/{n}</span>", c.passed),
            }
        })
        .collect();
    let c = counts(&run.results);
    if c.not_judged > 0 {
        parts.push(format!("\u{25cb}{}", c.not_judged));
    }
    if c.unsupported > 0 {
        parts.push(format!("\u{2013}{}", c.unsupported));
    }
    format!("{} {}", run.role, parts.join(" "))
}

/// What an implementation's score cell says when pointed at: each suite's summary and first cause.
fn score_title(g: &Graded) -> String {
    g.runs
        .iter()
        .map(|run| {
            let cause = first_cause(&run.results)
                .map_or_else(String::new, |c| format!("; first cause: {c}"));
            format!(
                "{}: {} ({}){cause}",
                run.role,
                summary(&run.results),
                pace(run)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The matrix: a row per implementation (its name, kept in view as the columns scroll; its scores
/// per suite and level; a narrow cell per column), in a box that scrolls sideways on a narrow screen.
fn matrix(graded: &[Graded], columns: &[Column], slugs: &[String]) -> String {
    let mut out = String::from("<div class=\"scroll\">\n<table class=\"matrix\">\n<thead>\n<tr><th rowspan=\"2\" class=\"name\">implementation</th><th rowspan=\"2\" class=\"sum\">passed: required, robustness, convention</th>");
    let mut i = 0;
    while i < columns.len() {
        let (role, transport) = (columns[i].role, columns[i].transport);
        let span = columns[i..]
            .iter()
            .take_while(|c| c.role == role && c.transport == transport)
            .count();
        let _ = write!(
            out,
            "<th colspan=\"{span}\" class=\"group\">{role} \u{b7} {transport}</th>"
        );
        i += span;
    }
    let explored = explored_columns(graded);
    if !explored.is_empty() {
        let _ = write!(
            out,
            "<th colspan=\"{}\" class=\"group\">explore</th>",
            explored.len()
        );
    }
    out.push_str("</tr>\n<tr>");
    for (n, c) in columns.iter().enumerate() {
        let short =
            c.id.strip_prefix(c.role.name())
                .and_then(|s| s.strip_prefix('.'))
                .unwrap_or(c.id);
        // The last column's header is where a link to the matrix's far end lands.
        let end = if n + 1 == columns.len() {
            " id=\"matrix-end\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<th class=\"case {}\"{end} title=\"{} [{}, {}]\"><span>{}</span></th>",
            c.level,
            esc(c.id),
            c.transport,
            c.level,
            esc(short)
        );
    }
    for (role, transport) in &explored {
        let _ = write!(
            out,
            "<th class=\"case\" title=\"conform explore {role} over {transport}\"><span>{role} {transport}</span></th>"
        );
    }
    out.push_str("</tr>\n</thead>\n<tbody>\n");
    for (g, slug) in graded.iter().zip(slugs) {
        let _ = write!(
            out,
            "<tr><th class=\"name\"><a href=\"#{}\">{}</a></th><td class=\"sum\" title=\"{}\">",
            esc(slug),
            esc(&g.name),
            esc(&score_title(g))
        );
        let lines: Vec<String> = g.runs.iter().map(score).collect();
        out.push_str(&lines.join("<br/>"));
        out.push_str("</td>");
        for c in columns {
            match result_in(g, c) {
                Some(r) => {
                    let (symbol, class) = mark(&r.verdict);
                    let _ = write!(
                        out,
                        "<td class=\"cell {} {class}\"><a href=\"#{}\" title=\"{}\">{symbol}</a></td>",
                        c.level,
                        esc(&detail_id(slug, c)),
                        esc(&cell_title(r))
                    );
                }
                None => out.push_str("<td class=\"cell none\" title=\"not run\"></td>"),
            }
        }
        for &(role, transport) in &explored {
            let found = g
                .explored
                .iter()
                .find(|e| e.role == role && e.transports == [transport]);
            match found {
                Some(e) => {
                    let (symbol, class) = explore_mark(e);
                    let _ = write!(
                        out,
                        "<td class=\"cell required {class}\"><a href=\"#{}:explore\" title=\"{}\">{symbol}</a></td>",
                        esc(slug),
                        esc(&crate::explore::summary(e))
                    );
                }
                None => out.push_str("<td class=\"cell none\" title=\"not explored\"></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
    out
}

/// Every suite and transport any implementation was explored on, servers first.
fn explored_columns(graded: &[Graded]) -> Vec<(Role, Transport)> {
    let mut out: Vec<(Role, Transport)> = graded
        .iter()
        .flat_map(|g| &g.explored)
        .flat_map(|e| e.transports.iter().map(move |&t| (e.role, t)))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// An exploration's cell: failed (a required rule broken and reproduced, or a session not played),
/// a finding short of that (robustness, or not reproduced), or nothing broken.
fn explore_mark(e: &crate::explore::Exploration) -> (&'static str, &'static str) {
    match (e.failed(), e.findings.is_empty()) {
        (true, _) => ("\u{2718}", "fail"),
        (false, false) => ("!", "notjudged"),
        (false, true) => ("\u{2714}", "pass"),
    }
}

/// An implementation's explorations, each with its findings and the command that replays each.
fn explorations(g: &Graded, slug: &str) -> String {
    if g.explored.is_empty() {
        return String::new();
    }
    // `:` is in no slug, so this ID is no implementation's.
    let mut out = format!("<div id=\"{}:explore\">\n", esc(slug));
    for e in &g.explored {
        let transports: Vec<String> = e.transports.iter().map(|t| t.to_string()).collect();
        let _ = writeln!(
            out,
            "<p><b>{} explore</b> over {}, seeds {} to {}: {}</p>",
            e.role,
            transports.join(" and "),
            e.from,
            e.from.saturating_add(e.seeds.saturating_sub(1)),
            esc(&crate::explore::summary(e))
        );
        if e.findings.is_empty() {
            continue;
        }
        out.push_str("<ul>\n");
        for f in &e.findings {
            let _ = writeln!(
                out,
                "<li class=\"{}\"><b>{}</b> ({}), seed {} over {}: {}<br/><code>{}</code></li>",
                f.level.name(),
                esc(f.rule),
                f.level.name(),
                f.seed,
                f.transport,
                esc(&f.observed),
                esc(&f.replay)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</div>\n");
    out
}

/// One implementation's run as a list: a row per case (its verdict, ID, transport, level and
/// reason), for a page of one implementation, where a matrix would be one very wide row.
fn case_list(g: &Graded, columns: &[Column], slug: &str) -> String {
    let mut out = String::from("<table class=\"cases\">\n<thead><tr><th></th><th>case</th><th>over</th><th>level</th><th>result</th></tr></thead>\n<tbody>\n");
    for c in columns {
        let Some(r) = result_in(g, c) else {
            continue;
        };
        let (symbol, class) = mark(&r.verdict);
        let _ = writeln!(
            out,
            "<tr><td class=\"cell {} {class}\"><a href=\"#{anchor}\">{symbol}</a></td><td><a href=\"#{anchor}\"><code>{}</code></a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            c.level,
            esc(c.id),
            c.transport,
            c.level,
            esc(&verdict_line(&r.verdict)),
            anchor = esc(&detail_id(slug, c)),
        );
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// One case's details: what the assignment says and what was expected; for a failure each thing
/// observed, the diagram and the transcript; for a pass the same diagram and transcript, folded
/// away; standard error, folded away.
fn detail(r: &CaseResult, id: &str) -> String {
    let (symbol, class) = mark(&r.verdict);
    let mut out = format!(
        "<article id=\"{id}\" class=\"{} {class}\">\n<h3>{symbol} <code>{}</code> over {} ({}) \u{2014} {class}</h3>\n",
        r.level,
        esc(r.id),
        r.transport,
        r.level
    );
    let _ = writeln!(
        out,
        "<blockquote>\u{201c}{}\u{201d}</blockquote>",
        esc(r.quote)
    );
    if !r.reading.is_empty() {
        let _ = writeln!(out, "<p>Our reading: {}</p>", esc(r.reading));
    }
    if !r.sends.is_empty() {
        let _ = writeln!(out, "<p><b>The checker sends:</b> {}</p>", esc(&r.sends));
    }
    if !r.expect.is_empty() {
        let _ = writeln!(out, "<p><b>Expected:</b> {}</p>", esc(r.expect));
    }
    let diagram = if r.diagram.steps.is_empty() {
        String::new()
    } else {
        format!("<div class=\"diagram\">{}</div>\n", r.diagram.svg())
    };
    let transcript = if r.transcript.is_empty() {
        String::new()
    } else {
        format!("<pre>{}</pre>", esc(&r.transcript))
    };
    match &r.verdict {
        Verdict::Fail { details, .. } => {
            out.push_str("<ul>\n");
            for d in details {
                let _ = writeln!(
                    out,
                    "<li class=\"observed\"><b>Observed:</b> {}</li>",
                    esc(&d.to_string())
                );
            }
            out.push_str("</ul>\n");
            out.push_str(&diagram);
            if !transcript.is_empty() {
                let _ = writeln!(
                    out,
                    "<details open=\"open\"><summary>transcript ({:.1} s)</summary>{transcript}</details>",
                    r.wall.as_secs_f64()
                );
            }
        }
        verdict => {
            if let Verdict::Unsupported(why) = verdict {
                let _ = writeln!(out, "<p><b>Unsupported:</b> {}</p>", esc(why));
            }
            if let Verdict::NotJudged { on, why } = verdict {
                let _ = writeln!(
                    out,
                    "<p><b>Not judged:</b> {}</p>",
                    esc(&Verdict::not_judged(on, why))
                );
            }
            if !diagram.is_empty() || !transcript.is_empty() {
                let _ = writeln!(
                    out,
                    "<details><summary>diagram and transcript ({:.1} s)</summary>\n{diagram}{transcript}</details>",
                    r.wall.as_secs_f64()
                );
            }
        }
    }
    if !r.stderr.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>standard error</summary><pre>{}</pre></details>",
            esc(&r.stderr)
        );
    }
    out.push_str("<p><a href=\"#top\">back to the matrix</a></p>\n</article>\n");
    out
}

/// `graded` as one HTML page titled `title`.
pub fn html(title: &str, graded: &[Graded]) -> String {
    let columns = columns(graded);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<meta name=\"viewport\" content=\"width=device-width\"/>\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1 id=\"top\">{}</h1>\n",
        esc(title),
        esc(title)
    );
    let results: usize = graded
        .iter()
        .flat_map(|g| &g.runs)
        .map(|r| r.results.len())
        .sum();
    let _ = writeln!(
        out,
        "<p>{} implementation{}, {} cases each way they ran, {results} results.</p>",
        graded.len(),
        if graded.len() == 1 { "" } else { "s" },
        columns.len()
    );
    out.push_str(&legend());
    let slugs = slugs(graded);
    match graded {
        [one] => out.push_str(&case_list(one, &columns, &slugs[0])),
        _ => out.push_str(&matrix(graded, &columns, &slugs)),
    }
    for (g, slug) in graded.iter().zip(&slugs) {
        let _ = writeln!(
            out,
            "<section id=\"{}\">\n<h2>{}</h2>",
            esc(slug),
            esc(&g.name)
        );
        for run in &g.runs {
            let _ = writeln!(
                out,
                "<p><b>{}</b>: {} ({})</p>",
                run.role,
                esc(&summary(&run.results)),
                pace(run)
            );
            if let Some(cause) = first_cause(&run.results) {
                let _ = writeln!(out, "<p class=\"cause\">first cause: {}</p>", esc(&cause));
            }
            if let Some(note) = &run.note {
                let _ = writeln!(out, "<p class=\"note\">note: {}</p>", esc(note));
            }
        }
        out.push_str(&explorations(g, slug));
        for c in &columns {
            if let Some(r) = result_in(g, c) {
                out.push_str(&detail(r, &detail_id(slug, c)));
            }
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}
