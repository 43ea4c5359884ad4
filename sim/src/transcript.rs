//! Tells a run's story: as text (one line per event, in virtual-time order), or as a Mermaid
//! `sequenceDiagram` that renders on GitHub.

use std::fmt::Write;
use std::net::IpAddr;
use std::time::Duration;

use connid::protocol::printable;

use crate::events::EventKind;
use crate::oracle::{Violation, DETERMINISM, RULES};
use crate::runner::Run;

/// Longest payload shown, in characters.
const PAYLOAD_PREVIEW: usize = 72;

use crate::events::secs;

/// A payload as a transcript shows it: quoted, escaped, cut at [`PAYLOAD_PREVIEW`] characters.
pub(crate) fn payload(bytes: &[u8]) -> String {
    format!("\"{}\"", printable(bytes, PAYLOAD_PREVIEW))
}

fn fate(delivered: Option<Duration>) -> String {
    match delivered {
        Some(at) => format!("delivered at {}", secs(at)),
        None => "LOST (never received)".to_string(),
    }
}

/// What one event says, without its time and host.
pub(crate) fn describe(kind: &EventKind) -> (&'static str, String) {
    match kind {
        EventKind::Start(command) => ("start", command.clone()),
        EventKind::Out(line) => ("out", line.clone()),
        EventKind::Err(line) => ("err", line.clone()),
        EventKind::Prompt {
            prompt,
            typed,
            after,
        } => {
            let answer = match typed {
                Some(line) => line.clone(),
                None => "(end of input)".to_string(),
            };
            let when = if after.is_zero() {
                String::new()
            } else {
                format!("   (typed {} s later)", after.as_secs_f64())
            };
            ("prompt", format!("{prompt}{answer}{when}"))
        }
        EventKind::Keyboard(typed) => (
            "keyboard",
            match typed {
                Some(line) => format!("typed {line} (no prompt seen)"),
                None => "(end of input, no prompt seen)".to_string(),
            },
        ),
        EventKind::Send {
            transport,
            from,
            to,
            payload: bytes,
            delivered,
            ..
        } => (
            "send",
            format!(
                "{transport} {from} -> {to} {} {}",
                payload(bytes),
                fate(*delivered)
            ),
        ),
        EventKind::SocketInode { local, inode } => {
            ("socket", format!("{local} is the kernel's socket {inode}"))
        }
        EventKind::Connect { to } => ("connect", format!("tcp -> {to}")),
        EventKind::Connected { from, to } => ("connected", format!("tcp {from} -> {to}")),
        EventKind::Accepted { from, to } => ("accepted", format!("tcp {from} -> {to}")),
        EventKind::ConnectFailed { to, why } => ("refused", format!("tcp -> {to}: {why}")),
        EventKind::Shutdown { local, peer } => ("shutdown", format!("tcp {local} -> {peer}")),
        EventKind::Close { local, peer } => ("close", format!("tcp {local} -> {peer}")),
        EventKind::SendFailed {
            transport,
            from,
            to,
            payload: bytes,
            why,
        } => (
            "unsent",
            format!("{transport} {from} -> {to} {}: {why}", payload(bytes)),
        ),
        EventKind::SocketError { op, why } => ("sockerr", format!("{op}: {why}")),
        EventKind::Fault { text, .. } => ("fault", text.clone()),
        EventKind::Exit(code) => ("exit", code.to_string()),
        EventKind::Crash => ("crash", "the software was stopped".to_string()),
    }
}

/// One event as a transcript line, without padding.
pub fn event_line(e: &crate::events::Event) -> String {
    let (what, detail) = describe(&e.kind);
    format!("{} {} {what} {detail}", secs(e.at), e.host)
}

/// The transcript as text: a header, then one line per event.
pub fn text(name: &str, description: &str, run: &Run) -> String {
    let width = run.events.iter().map(|e| e.host.len()).max().unwrap_or(0);
    let time_width = secs(run.simulated).len();
    let mut out = String::new();
    let _ = writeln!(out, "# scenario {name} over {:?}", run.transport);
    let _ = writeln!(out, "# hosts: {}", host_list(&run.hosts));
    for line in description.lines().filter(|l| !l.trim().is_empty()) {
        let _ = writeln!(out, "# {}", line.trim());
    }
    for event in &run.events {
        let (what, detail) = describe(&event.kind);
        let _ = writeln!(
            out,
            "{:>time_width$}  {:<width$}  {what:<9}  {detail}",
            secs(event.at),
            event.host,
        );
    }
    let end = if run.hit_limit {
        "stopped at the scenario's limit with hosts still running"
    } else {
        "every host is done"
    };
    let _ = writeln!(out, "# end at {}: {end}", secs(run.simulated));
    out
}

/// The oracle's verdict on a run, as the lines that end its transcript, each starting with `comment`
/// (`#` in text, `%%` in Mermaid): the rules checked and all kept, or each broken rule with the events
/// that show it.
pub fn verdict(violations: &[Violation], comment: &str) -> String {
    let checked: Vec<&str> = RULES
        .iter()
        .map(|(rule, _)| *rule)
        .filter(|rule| *rule != DETERMINISM)
        .collect();
    if violations.is_empty() {
        return format!(
            "{comment} oracle: all {} rules kept ({})\n",
            checked.len(),
            checked.join(", ")
        );
    }
    let mut broken: Vec<&str> = violations.iter().map(|v| v.rule).collect();
    broken.sort_unstable();
    broken.dedup();
    let mut out = format!(
        "{comment} oracle: {} of {} rules broken: {}\n",
        broken.len(),
        checked.len(),
        broken.join(", ")
    );
    for v in violations {
        let _ = writeln!(out, "{comment}   {}: {}", v.rule, v.message);
        for e in &v.events {
            let _ = writeln!(out, "{comment}       {}", event_line(e));
        }
    }
    out
}

/// Host names with their addresses: `server=192.168.0.1 alice=192.168.0.2`.
pub fn host_list(hosts: &[(String, IpAddr)]) -> String {
    hosts
        .iter()
        .map(|(h, ip)| format!("{h}={ip}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_with_microseconds() {
        assert_eq!(secs(Duration::from_micros(15_000_001)), "15.000001");
        assert_eq!(secs(Duration::ZERO), "0.000000");
    }

    #[test]
    fn a_verdict_lists_the_rules_kept_or_each_broken_one_with_its_events() {
        // Every rule but determinism, which takes two runs.
        let judged = RULES.len() - 1;
        let kept = verdict(&[], "#");
        assert!(
            kept.starts_with(&format!(
                "# oracle: all {judged} rules kept (grant-once-per-ttl, "
            )),
            "{kept}"
        );
        assert!(
            !kept.contains(DETERMINISM),
            "one run cannot judge determinism"
        );
        let e = crate::events::Event {
            at: Duration::from_secs(3),
            host: "bob".into(),
            kind: EventKind::Out("Connection Error 7 on x".into()),
        };
        let broken = |rule| Violation {
            rule,
            at: Duration::from_secs(3),
            message: "too soon".into(),
            events: vec![e.clone()],
        };
        let text = verdict(
            &[
                broken(crate::oracle::ERROR_WHEN_DUE),
                broken(crate::oracle::ERROR_WHEN_DUE),
                broken(crate::oracle::TRIES),
            ],
            "%%",
        );
        assert_eq!(
            text,
            format!("%% oracle: 2 of {judged} rules broken: at-most-tries, error-when-due\n")
                + "%%   error-when-due: too soon\n\
             %%       3.000000 bob out Connection Error 7 on x\n\
             %%   error-when-due: too soon\n\
             %%       3.000000 bob out Connection Error 7 on x\n\
             %%   at-most-tries: too soon\n\
             %%       3.000000 bob out Connection Error 7 on x\n"
        );
    }
}
