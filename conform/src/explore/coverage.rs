//! The situations explored sessions reached, counted in sessions, so a clean run says what it tried
//! (as `sim explore` counts its own).

use std::collections::BTreeMap;

use connid::protocol::{self, Message};
use connid_sim::events::{EventKind, Run};
use connid_sim::scenario::SERVER;

use super::client_plan::ClientTimeline;
use super::plan::{Plan, Role};
use super::timeline::{Sends, Timeline};
use crate::answering::{ReplyKind, Twist};
use crate::classify::{read, Meaning};

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
    (
        "tcp-request-left-open",
        "a TCP request with no half-close, the connection left open for the reply",
    ),
    (
        "closed-connection",
        "a TCP connection opened and closed at once, nothing sent",
    ),
];

/// Every situation a client session can reach, by name, with what it is.
pub const CLIENT_SITUATIONS: &[(&str, &str)] = &[
    (
        "established",
        "the client printed a line that reads as Connection established",
    ),
    (
        "failed",
        "the client printed a line that reads as Connection Failure",
    ),
    ("reset-answered", "a try answered RESET"),
    ("try-timed-out", "a try never answered, or its request lost"),
    ("request-lost", "a UDP request treated as lost on the way"),
    (
        "reply-for-another-id",
        "an OK or RESET for another ID than the try's",
    ),
    (
        "reply-for-id-in-other-case",
        "a reply for the try's ID in the other case",
    ),
    ("malformed-reply", "a reply in no valid form"),
    ("forged-reply", "an OK from another port of the checker"),
    (
        "reply-to-old-socket",
        "an OK for the try before, to its socket",
    ),
    ("duplicated-reply", "the same reply twice"),
    (
        "delayed-reply",
        "a reply a second or more after the request",
    ),
    ("reply-after-timeout", "a reply after the try's timeout"),
    (
        "id-typed-again",
        "the same ID typed again after a Connection Error",
    ),
    ("input-ended", "input ended at a prompt"),
    ("id-over-32-characters", "an ID of more than 32 characters"),
];

/// The situations of `role`.
pub fn of(role: Role) -> &'static [(&'static str, &'static str)] {
    match role {
        Role::Server => SITUATIONS,
        Role::Client => CLIENT_SITUATIONS,
    }
}

/// Every situation of `role` at zero.
pub fn none(role: Role) -> BTreeMap<&'static str, u64> {
    of(role).iter().map(|(name, _)| (*name, 0)).collect()
}

/// The situations one session of either kind reached.
pub fn reached_by(plan: &Plan, run: &Run) -> Vec<&'static str> {
    match plan {
        Plan::Server(t) => reached(t, run),
        Plan::Client(t) => client_reached(t, run),
    }
}

/// The situations one client session reached: of its plan, only the tries the client made.
pub fn client_reached(t: &ClientTimeline, run: &Run) -> Vec<&'static str> {
    let made = crate::client_cases::tries(run).min(t.tries.len());
    let plans = &t.tries[..made];
    let replies = || plans.iter().flat_map(|p| p.replies.iter());
    let any = |f: &dyn Fn(&ReplyKind) -> bool| replies().any(|r| f(&r.what));
    let meanings: Vec<Meaning> = run
        .events
        .iter()
        .filter(|e| e.host == crate::client_cases::CLIENT)
        .filter_map(|e| match &e.kind {
            EventKind::Out(line) => read(line).map(|r| r.meaning),
            _ => None,
        })
        .collect();
    let typed_again = std::iter::once(&t.first_id)
        .chain(&t.typed)
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w[0] == w[1]);
    let input_ended = run.events.iter().any(|e| {
        matches!(
            &e.kind,
            EventKind::Prompt { typed: None, .. } | EventKind::Keyboard(None)
        )
    });
    let checks = [
        ("established", meanings.contains(&Meaning::Established)),
        ("failed", meanings.contains(&Meaning::Failure)),
        ("reset-answered", any(&|w| *w == ReplyKind::Reset)),
        (
            "try-timed-out",
            plans.iter().any(|p| p.lost || p.replies.is_empty()),
        ),
        ("request-lost", plans.iter().any(|p| p.lost)),
        (
            "reply-for-another-id",
            any(&|w| matches!(w, ReplyKind::OkOther(_) | ReplyKind::ResetOther(_))),
        ),
        (
            "reply-for-id-in-other-case",
            any(&|w| {
                matches!(
                    w,
                    ReplyKind::OkOther(Twist::OtherCase) | ReplyKind::ResetOther(Twist::OtherCase)
                )
            }),
        ),
        (
            "malformed-reply",
            any(&|w| matches!(w, ReplyKind::Malformed(_))),
        ),
        ("forged-reply", any(&|w| *w == ReplyKind::OtherPort)),
        ("reply-to-old-socket", any(&|w| *w == ReplyKind::OldSocket)),
        (
            "duplicated-reply",
            plans
                .iter()
                .any(|p| p.replies.windows(2).any(|w| w[0].what == w[1].what)),
        ),
        ("delayed-reply", replies().any(|r| r.after_ms >= 1_000)),
        (
            "reply-after-timeout",
            replies().any(|r| r.after_ms > t.timeout_ms),
        ),
        ("id-typed-again", typed_again),
        ("input-ended", input_ended),
        (
            "id-over-32-characters",
            std::iter::once(&t.first_id)
                .chain(&t.typed)
                .any(|id| id.len() > 32),
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(name, yes)| yes.then_some(name))
        .collect()
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
                .any(|s| matches!(s.send, Sends::Malformed { .. })),
        ),
        (
            "split-tcp-request",
            timeline
                .steps
                .iter()
                .any(|s| matches!(s.send, Sends::Split { .. })),
        ),
        (
            "silent-connection",
            timeline
                .steps
                .iter()
                .any(|s| matches!(s.send, Sends::Silent)),
        ),
        (
            "tcp-request-left-open",
            timeline.transport == connid::Transport::Tcp
                && timeline.steps.iter().any(|s| {
                    matches!(
                        s.send,
                        Sends::Hello {
                            half_close: false,
                            ..
                        }
                    )
                }),
        ),
        (
            "closed-connection",
            timeline
                .steps
                .iter()
                .any(|s| matches!(s.send, Sends::Closed)),
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
pub fn text(counts: &BTreeMap<&'static str, u64>, role: Role) -> String {
    let reached: Vec<String> = of(role)
        .iter()
        .filter_map(|(name, _)| {
            counts
                .get(name)
                .filter(|n| **n > 0)
                .map(|n| format!("{name} {n}"))
        })
        .collect();
    let never: Vec<&str> = of(role)
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
