//! The situations explored sessions reached, counted in sessions, so a clean run says what it tried
//! (as `sim explore` counts its own).

use std::collections::BTreeMap;

use connid::protocol::{self, Message};
use connid_sim::events::{EventKind, Run};
use connid_sim::scenario::SERVER;

use super::timeline::{Send, Timeline};

/// Every situation, by name, with what it is.
pub const SITUATIONS: &[(&str, &str)] = &[
    ("ok-granted", "the server granted an ID"),
    (
        "reset-answered",
        "the server answered RESET for an ID in use",
    ),
    (
        "regranted-after-ttl",
        "an ID granted again a TTL or more after it was granted",
    ),
    (
        "ids-differing-in-case",
        "two IDs asked that differ only in letter case",
    ),
    (
        "ids-sharing-8-characters",
        "two IDs asked that share their first 8 characters",
    ),
    (
        "id-over-32-characters",
        "an ID of more than 32 characters asked",
    ),
    ("punctuation-in-id", "an ID with punctuation asked"),
    (
        "another-source-address",
        "a request from another loopback address than 127.0.0.1",
    ),
    (
        "one-id-from-two-hosts",
        "one ID asked by two hosts (two sockets, so two ports)",
    ),
    ("malformed-request", "a request in no valid form"),
    ("split-tcp-request", "a TCP request written in pieces"),
    (
        "silent-connection",
        "a TCP connection opened and never used",
    ),
];

/// Every situation at zero.
pub fn none() -> BTreeMap<&'static str, u64> {
    SITUATIONS.iter().map(|(name, _)| (*name, 0)).collect()
}

/// The situations one session reached.
pub fn reached(timeline: &Timeline, run: &Run) -> Vec<&'static str> {
    let mut found = Vec::new();
    let replies: Vec<(std::time::Duration, Message)> = run
        .events
        .iter()
        .filter(|e| e.host == SERVER)
        .filter_map(|e| match &e.kind {
            EventKind::Send { payload, .. } => protocol::parse(payload).ok().map(|m| (e.at, m)),
            _ => None,
        })
        .collect();
    let oks: Vec<&(std::time::Duration, Message)> = replies
        .iter()
        .filter(|(_, m)| matches!(m, Message::Ok(..)))
        .collect();
    let ttl = std::time::Duration::from_millis(timeline.ttl_ms);
    let regranted = oks.iter().enumerate().any(|(i, (at, m))| {
        oks[..i]
            .iter()
            .any(|(before, b)| b.id() == m.id() && *at >= *before + ttl)
    });
    let ids: Vec<&str> = timeline.steps.iter().filter_map(|s| s.send.id()).collect();
    let pairs = || {
        ids.iter()
            .flat_map(|a| ids.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| a != b)
    };
    let asked: Vec<(&str, usize)> = timeline
        .steps
        .iter()
        .filter_map(|s| s.send.id().map(|id| (id, s.host)))
        .collect();
    let two_hosts = asked
        .iter()
        .any(|(id, h)| asked.iter().any(|(other, g)| other == id && g != h));
    let checks = [
        ("ok-granted", !oks.is_empty()),
        (
            "reset-answered",
            replies.iter().any(|(_, m)| matches!(m, Message::Reset(_))),
        ),
        ("regranted-after-ttl", regranted),
        (
            "ids-differing-in-case",
            pairs().any(|(a, b)| a.eq_ignore_ascii_case(b)),
        ),
        (
            "ids-sharing-8-characters",
            pairs().any(|(a, b)| a.len() >= 8 && b.starts_with(&a[..8])),
        ),
        ("id-over-32-characters", ids.iter().any(|id| id.len() > 32)),
        (
            "punctuation-in-id",
            ids.iter()
                .any(|id| id.bytes().any(|b| b.is_ascii_punctuation())),
        ),
        (
            "another-source-address",
            timeline.steps.iter().any(|s| s.source != 1),
        ),
        ("one-id-from-two-hosts", two_hosts),
        (
            "malformed-request",
            timeline
                .steps
                .iter()
                .any(|s| matches!(s.send, Send::Malformed { .. })),
        ),
        (
            "split-tcp-request",
            timeline
                .steps
                .iter()
                .any(|s| matches!(s.send, Send::Split { .. })),
        ),
        (
            "silent-connection",
            timeline
                .steps
                .iter()
                .any(|s| matches!(s.send, Send::Silent)),
        ),
    ];
    for (name, yes) in checks {
        if yes {
            found.push(name);
        }
    }
    found
}

/// The situations as `sim explore` prints them: those reached with their counts, then those never
/// reached.
pub fn text(counts: &BTreeMap<&'static str, u64>) -> String {
    let reached: Vec<String> = SITUATIONS
        .iter()
        .filter_map(|(name, _)| {
            counts
                .get(name)
                .filter(|n| **n > 0)
                .map(|n| format!("{name} {n}"))
        })
        .collect();
    let never: Vec<&str> = SITUATIONS
        .iter()
        .filter(|(name, _)| counts.get(name).is_none_or(|n| *n == 0))
        .map(|(name, _)| *name)
        .collect();
    format!(
        "situations reached (sessions): {}\nsituations never reached: {}\n",
        if reached.is_empty() {
            "none".to_string()
        } else {
            reached.join(", ")
        },
        if never.is_empty() {
            "none".to_string()
        } else {
            never.join(", ")
        },
    )
}
