//! What a conform run prints: one line per case (✔ pass, ✘ fail, – unsupported) with its requirement
//! and a one-line reason, each failure's details and transcript, and a summary.

use std::fmt::Write as _;

use super::{CaseResult, Verdict};

/// The line of one case.
pub fn case_line(r: &CaseResult) -> String {
    let (mark, why) = match &r.verdict {
        Verdict::Pass => ("✔", String::new()),
        Verdict::Fail { reason, .. } => ("✘", format!(": {reason}")),
        Verdict::Unsupported(why) => ("–", format!(": {why}")),
    };
    format!("{mark} {} [{}]{why}", r.id, r.transport)
}

/// Each failure in full: the assignment's sentence, every broken rule, the transcript and what the
/// program printed on standard error.
pub fn failures(results: &[CaseResult]) -> String {
    let mut out = String::new();
    for r in results {
        let Verdict::Fail { details, .. } = &r.verdict else {
            continue;
        };
        let _ = writeln!(out, "\n── {} [{}] ──", r.id, r.transport);
        let _ = writeln!(out, "assignment: \"{}\"", r.quote);
        for d in details {
            let _ = writeln!(out, "observed: {d}");
        }
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

/// `12 passed, 1 failed, 2 unsupported`.
pub fn summary(results: &[CaseResult]) -> String {
    let count = |f: fn(&Verdict) -> bool| results.iter().filter(|r| f(&r.verdict)).count();
    format!(
        "{} passed, {} failed, {} unsupported",
        count(|v| *v == Verdict::Pass),
        count(|v| matches!(v, Verdict::Fail { .. })),
        count(|v| matches!(v, Verdict::Unsupported(_)))
    )
}

/// The exit code of a run: 0 when nothing failed, 1 otherwise.
pub fn exit_code(results: &[CaseResult]) -> u8 {
    u8::from(
        results
            .iter()
            .any(|r| matches!(r.verdict, Verdict::Fail { .. })),
    )
}
