//! An exploration as one self-contained HTML page (inline CSS, no script, well-formed XML like the
//! suites' report): what the sessions reached, then each finding with the assignment's sentence,
//! expected against observed, the shrunk session as a sequence diagram and its transcript, and the
//! command that replays it.

use std::fmt::Write as _;

use connid_sim::diagram::xml_text as esc;

use super::{coverage, Exploration, Finding};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}\
.required{border-left:6px solid #c62828;padding-left:1em}.robustness{border-left:6px solid #ef6c00;padding-left:1em}\
pre{background:#f5f5f5;padding:.5em;overflow-x:auto}.clean{color:#2e7d32}.diagram svg{max-width:100%}";

/// The page for `e`, explored with `command`.
pub fn page(e: &Exploration, command: &str) -> String {
    let mut out = String::new();
    let title = format!("conform explore {}: {command}", e.role.name());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let transports: Vec<String> = e.transports.iter().map(|t| t.to_string()).collect();
    let _ = writeln!(
        out,
        "<p>Seeds {} to {} over {}: {} sessions, {} played, {}.</p>",
        e.from,
        e.from.saturating_add(e.seeds.saturating_sub(1)),
        esc(&transports.join(" and ")),
        e.sessions,
        e.sessions - e.unplayable.len() as u64,
        if e.virtual_clock {
            "on the virtual clock"
        } else {
            "at real time"
        }
    );
    out.push_str("<h2>Situations reached</h2>\n<table><tr><th>situation</th><th>what</th><th>sessions</th></tr>\n");
    for (name, what) in coverage::of(e.role) {
        let n = e.situations.get(name).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "<tr><td>{name}</td><td>{}</td><td>{n}</td></tr>",
            esc(what)
        );
    }
    out.push_str("</table>\n");
    for u in &e.unplayable {
        let _ = writeln!(
            out,
            "<p class=\"required\">Not played: seed {} over {}: {}</p>",
            u.seed,
            u.transport,
            esc(&u.why)
        );
    }
    let _ = writeln!(out, "<h2>Findings: {}</h2>", e.findings.len());
    if e.findings.is_empty() && e.unplayable.is_empty() {
        out.push_str("<p class=\"clean\">No session broke a rule.</p>\n");
    }
    for (n, f) in e.findings.iter().enumerate() {
        out.push_str(&finding(n + 1, f));
    }
    out.push_str("</body></html>\n");
    out
}

fn finding(n: usize, f: &Finding) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<section id=\"finding-{n}\" class=\"{}\"><h3>{n}. {} ({}), seed {} over {}</h3>",
        f.level.name(),
        esc(f.rule),
        f.level.name(),
        f.seed,
        f.transport
    );
    let _ = writeln!(
        out,
        "<p>The assignment: \u{201c}{}\u{201d}</p>\n<p>Expected: {}</p>\n<p>Observed: {}</p>",
        esc(f.quote),
        esc(f.expected),
        esc(&f.observed)
    );
    let _ = writeln!(
        out,
        "<p>First of {} sessions that broke it; shrunk from {} requests to {} ({} plays); {}.</p>",
        f.sessions,
        f.requests_before,
        f.requests_after,
        f.shrink_plays,
        if f.reproduced {
            "it broke the rule again when rerun"
        } else {
            "it did not break the rule again when rerun: neither a pass nor a fail"
        }
    );
    let _ = writeln!(out, "<p>Replay: <code>{}</code></p>", esc(&f.replay));
    if !f.diagram.is_empty() {
        let _ = writeln!(out, "<div class=\"diagram\">{}</div>", f.diagram);
    }
    let _ = writeln!(out, "<pre>{}</pre></section>", esc(&f.transcript));
    out
}
