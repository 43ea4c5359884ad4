//! A session from a seed (ChaCha8, so a seed means the same session on every machine): a few hosts,
//! some from other loopback addresses; a pool of IDs of every length and printable character, some
//! sharing a long prefix or differing only in letter case; requests for them at times that bunch up,
//! straddle the TTL and repeat; malformed requests among them; over TCP, split and silent connections.

use connid::Transport;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::client_plan::ClientTimeline;
use super::timeline::{Sends, Step, Timeline, HOSTS};
use crate::answering::{Garble, Reply, ReplyKind, TryPlan, Twist};

/// The requests a malformed step sends (a valid request is `HELLO <id>`, one ID of 1 to 64
/// printable characters).
const MALFORMED: &[&str] = &[
    "HELLO",
    "HELLO ",
    "HELLO 1 2",
    "HELO 1",
    "hello 1",
    "RESET 1",
    "OK 1 127.0.0.1 5000",
    "",
    "HELLO 7777777777777777777777777777777777777777777777777777777777777777777",
];

/// The session of `seed` over `transport`, for a server whose IDs live `ttl_ms`.
pub fn timeline(seed: u64, transport: Transport, ttl_ms: u64) -> Timeline {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let hosts = rng.random_range(1..=HOSTS.len().min(4));
    let sources: Vec<u8> = (0..hosts)
        .map(|_| {
            if rng.random_bool(0.6) {
                1
            } else {
                rng.random_range(2..=4)
            }
        })
        .collect();
    let ids = pool(&mut rng);
    let count = rng.random_range(2..=8);
    let mut steps: Vec<Step> = Vec::with_capacity(count);
    let mut at = 100;
    // TCP framing choices added later draw from a stream of their own, so every earlier choice (and
    // the sessions TESTING.md names by seed) stays as it was.
    let mut framing = ChaCha8Rng::seed_from_u64(seed ^ FRAMING_SALT);
    for _ in 0..count {
        at = next_time(&mut rng, &steps, at, ttl_ms);
        let host = rng.random_range(0..hosts);
        let send = framed(step(&mut rng, transport, &ids), transport, &mut framing);
        steps.push(Step {
            at_ms: at,
            host,
            source: sources[host],
            send,
        });
    }
    Timeline {
        seed,
        transport,
        ttl_ms,
        steps,
    }
}

/// When the next step comes: soon after the last (often at once), just before or just after the
/// TTL of an earlier request, or seconds later.
fn next_time(rng: &mut ChaCha8Rng, steps: &[Step], last: u64, ttl_ms: u64) -> u64 {
    let earlier = (!steps.is_empty()).then(|| steps[rng.random_range(0..steps.len())].at_ms);
    let pick = rng.random_range(0..100);
    let at = match (pick, earlier) {
        (0..=54, _) | (_, None) => last + rng.random_range(0..=300),
        (55..=69, Some(e)) => e + ttl_ms.saturating_sub(rng.random_range(100..=600)),
        (70..=89, Some(e)) => e + ttl_ms + rng.random_range(100..=600),
        _ => last + rng.random_range(1_000..=5_000),
    };
    at.max(last)
}

/// Mixed into a server session's seed for its TCP framing choices.
const FRAMING_SALT: u64 = 0x0066_7261_6d69_6e67;

/// `send` with the framing a client may also use over TCP: a request left without a half-close (the
/// connection open for the reply, as the assignment's client does), a connection closed at once
/// instead of a silent one.
fn framed(send: Sends, transport: Transport, rng: &mut ChaCha8Rng) -> Sends {
    match send {
        _ if transport == Transport::Udp => send,
        Sends::Hello { id, newline, .. } => Sends::Hello {
            id,
            newline,
            half_close: rng.random_bool(0.6),
        },
        Sends::Silent if rng.random_bool(0.5) => Sends::Closed,
        other => other,
    }
}

/// What one step sends.
fn step(rng: &mut ChaCha8Rng, transport: Transport, ids: &[String]) -> Sends {
    let id = ids[rng.random_range(0..ids.len())].clone();
    let pick = rng.random_range(0..100);
    match (transport, pick) {
        (_, 0..=9) => Sends::Malformed {
            text: MALFORMED[rng.random_range(0..MALFORMED.len())].to_string(),
        },
        (Transport::Tcp, 10..=19) => Sends::Split {
            id,
            pieces: rng.random_range(2..=3),
            gap_ms: rng.random_range(10..=150),
        },
        (Transport::Tcp, 20..=23) => Sends::Silent,
        _ => Sends::Hello {
            id,
            newline: transport == Transport::Tcp && rng.random_bool(0.5),
            // Over UDP a datagram is the whole request; `framed` varies it over TCP.
            half_close: true,
        },
    }
}

/// One to four IDs: short digits, any printable characters up to 64, and kin of an earlier one
/// (the same letters in another case; the same first characters, then others).
pub(super) fn pool(rng: &mut ChaCha8Rng) -> Vec<String> {
    let n = rng.random_range(1..=4);
    let mut ids: Vec<String> = Vec::with_capacity(n);
    while ids.len() < n {
        let kin = ids
            .iter()
            .filter(|id| id.len() >= 2)
            .nth(rng.random_range(0..ids.len().max(1)));
        let id = match (rng.random_range(0..100), kin) {
            (0..=29, Some(base)) => other_case(rng, base),
            (30..=49, Some(base)) => same_prefix(rng, base),
            (50..=69, _) => digits(rng),
            _ => {
                let len = rng.random_range(1..=64);
                printable(rng, len)
            }
        };
        if let Some(id) = id.filter(|id| !ids.contains(id)) {
            ids.push(id);
        }
    }
    ids
}

fn digits(rng: &mut ChaCha8Rng) -> Option<String> {
    let len = rng.random_range(1..=6);
    Some(
        (0..len)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect(),
    )
}

/// `len` printable characters other than space (`!` to `~`).
fn printable(rng: &mut ChaCha8Rng, len: usize) -> Option<String> {
    Some(
        (0..len)
            .map(|_| char::from(rng.random_range(b'!'..=b'~')))
            .collect(),
    )
}

/// `base` with the case of its letters flipped (at least one); `None` if it has no letter.
fn other_case(rng: &mut ChaCha8Rng, base: &str) -> Option<String> {
    let letters: Vec<usize> = base
        .char_indices()
        .filter(|(_, c)| c.is_ascii_alphabetic())
        .map(|(i, _)| i)
        .collect();
    if letters.is_empty() {
        // Letters of its own, so that the kin can exist: a lower-case word and its upper case.
        let word: String = (0..rng.random_range(2..=12))
            .map(|_| char::from(rng.random_range(b'a'..=b'z')))
            .collect();
        return Some(word.to_ascii_uppercase());
    }
    let flip = letters[rng.random_range(0..letters.len())];
    Some(
        base.char_indices()
            .map(
                |(i, c)| match (i == flip || rng.random_bool(0.3), c.is_ascii_uppercase()) {
                    (false, _) => c,
                    (true, true) => c.to_ascii_lowercase(),
                    (true, false) => c.to_ascii_uppercase(),
                },
            )
            .collect(),
    )
}

/// The first characters of `base` (at least half, and at least 8 when it has more), then others.
fn same_prefix(rng: &mut ChaCha8Rng, base: &str) -> Option<String> {
    let keep = rng.random_range((base.len() / 2).max(base.len().min(8))..=base.len());
    let len = rng.random_range(1..=(64 - keep).clamp(1, 12));
    let tail = printable(rng, len)?;
    let id = format!("{}{tail}", &base[..keep]);
    (id.len() <= 64).then_some(id)
}

/// The client session of `seed` over `transport`, for a client whose tries time out after
/// `timeout_ms`: an ID on its command line and up to three typed (new ones, or one typed again), input
/// that may end, and one to four tries answered by OK or RESET, late or at once, lost or never, often
/// among replies for another ID, malformed, duplicated, from another port or to the previous try's
/// socket. No reply comes within 1.5 s of the timeout either side, where a client may rightly take it
/// or not.
pub fn client_timeline(seed: u64, transport: Transport, timeout_ms: u64) -> ClientTimeline {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ CLIENT_SALT);
    let ids = pool(&mut rng);
    // On the command line an ID that begins with `-` reads as an option to most argument parsers:
    // not what a session is meant to try.
    let first_id = match ids[0].trim_start_matches('-') {
        "" => "1".to_string(),
        rest => rest.to_string(),
    };
    let typed_n = rng.random_range(0..=3);
    let mut typed: Vec<String> = Vec::with_capacity(typed_n);
    for _ in 0..typed_n {
        let last = typed.last().unwrap_or(&first_id).clone();
        let id = match rng.random_range(0..100) {
            0..=24 => last,
            _ => ids[rng.random_range(0..ids.len())].clone(),
        };
        typed.push(id);
    }
    let end_input = rng.random_bool(0.3);
    let tries = (0..rng.random_range(1..=4))
        .map(|n| try_plan(&mut rng, transport, n, timeout_ms))
        .collect();
    ClientTimeline {
        seed,
        transport,
        timeout_ms,
        first_id,
        typed,
        end_input,
        tries,
    }
}

/// Mixed into a client session's seed, so that it is not the server session of the same seed.
const CLIENT_SALT: u64 = 0x636c_6965_6e74;

/// How try `n` is answered.
fn try_plan(rng: &mut ChaCha8Rng, transport: Transport, n: usize, timeout_ms: u64) -> TryPlan {
    let mut replies = Vec::new();
    let right = |rng: &mut ChaCha8Rng| match rng.random_bool(0.55) {
        true => ReplyKind::Ok,
        false => ReplyKind::Reset,
    };
    let pick = rng.random_range(0..100);
    match pick {
        // Never answered, or (UDP) lost on the way.
        0..=9 => {}
        10..=17 => {
            return TryPlan {
                lost: transport == Transport::Udp,
                replies,
            }
        }
        // A right answer alone.
        18..=54 => {
            let what = right(rng);
            replies.push(reply(rng, what, timeout_ms));
        }
        // Wrong replies first, the right one after them (or none).
        _ => {
            for _ in 0..rng.random_range(1..=3) {
                let what = wrong(rng, transport, n);
                replies.push(reply(rng, what, timeout_ms));
            }
            if rng.random_bool(0.75) {
                let last = replies.iter().map(|r| r.after_ms).max().unwrap_or(0);
                let what = right(rng);
                let mut r = reply(rng, what, timeout_ms);
                r.after_ms = r.after_ms.max(last);
                replies.push(r);
            }
        }
    }
    // The last reply duplicated, or an OK after the timeout, to a socket given up.
    if let (true, Some(last)) = (rng.random_bool(0.15), replies.last().cloned()) {
        replies.push(Reply {
            after_ms: last.after_ms + rng.random_range(0..=500),
            ..last
        });
    }
    if rng.random_bool(0.1) {
        replies.push(Reply {
            after_ms: timeout_ms + rng.random_range(CLEAR_MS..=5_000),
            what: ReplyKind::Ok,
        });
    }
    TryPlan {
        lost: false,
        replies,
    }
}

/// How far from the timeout a reply keeps, either side.
const CLEAR_MS: u64 = 1_500;

/// A reply of `what` at once (often), soon, or seconds later, but before the timeout by
/// [`CLEAR_MS`] at least.
fn reply(rng: &mut ChaCha8Rng, what: ReplyKind, timeout_ms: u64) -> Reply {
    let latest = timeout_ms.saturating_sub(CLEAR_MS);
    let after_ms = match rng.random_range(0..100) {
        0..=44 => 0,
        45..=79 => rng.random_range(0..=500),
        _ => rng.random_range(0..=latest),
    };
    Reply {
        after_ms: after_ms.min(latest),
        what,
    }
}

/// A reply that is not try `n`'s answer.
fn wrong(rng: &mut ChaCha8Rng, transport: Transport, n: usize) -> ReplyKind {
    const TWISTS: [Twist; 4] = [
        Twist::Distinct,
        Twist::OtherCase,
        Twist::Longer,
        Twist::Shorter,
    ];
    const GARBLES: [Garble; 5] = [
        Garble::NoAddress,
        Garble::NoPort,
        Garble::Lowercase,
        Garble::BareReset,
        Garble::ExtraField,
    ];
    let twist = TWISTS[rng.random_range(0..TWISTS.len())];
    match (rng.random_range(0..100), transport) {
        (0..=29, _) => ReplyKind::OkOther(twist),
        (30..=49, _) => ReplyKind::ResetOther(twist),
        (50..=64, Transport::Udp) => ReplyKind::OtherPort,
        (65..=79, Transport::Udp) if n > 0 => ReplyKind::OldSocket,
        _ => ReplyKind::Malformed(GARBLES[rng.random_range(0..GARBLES.len())]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_is_the_same_session_every_time_and_seeds_differ() {
        for seed in 0..50 {
            assert_eq!(
                timeline(seed, Transport::Tcp, 30_000),
                timeline(seed, Transport::Tcp, 30_000)
            );
        }
        assert_ne!(
            timeline(1, Transport::Udp, 30_000),
            timeline(2, Transport::Udp, 30_000)
        );
    }

    #[test]
    fn sessions_are_playable_and_reach_every_kind_of_input() {
        let (mut case_kin, mut prefix_kin, mut other_source, mut long, mut punct) = (0, 0, 0, 0, 0);
        let (mut malformed, mut split, mut silent, mut after_ttl) = (0, 0, 0, 0);
        let (mut closed, mut open) = (0, 0);
        for seed in 0..400 {
            for transport in Transport::ALL {
                let t = timeline(seed, transport, 30_000);
                assert_eq!(t.check(), Ok(()), "seed {seed}");
                assert!(
                    t.steps.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
                    "in order"
                );
                let ids: Vec<&str> = t.steps.iter().filter_map(|s| s.send.id()).collect();
                for id in &ids {
                    assert!(
                        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()),
                        "{id:?}"
                    );
                }
                let pairs = ids.iter().flat_map(|a| ids.iter().map(move |b| (a, b)));
                for (a, b) in pairs.filter(|(a, b)| a != b) {
                    case_kin += usize::from(a.eq_ignore_ascii_case(b));
                    prefix_kin += usize::from(a.len() > 8 && b.starts_with(&a[..8]));
                }
                other_source += usize::from(t.steps.iter().any(|s| s.source != 1));
                long += usize::from(ids.iter().any(|id| id.len() > 32));
                punct += usize::from(
                    ids.iter()
                        .any(|id| id.bytes().any(|b| b.is_ascii_punctuation())),
                );
                for s in &t.steps {
                    match s.send {
                        Sends::Malformed { .. } => malformed += 1,
                        Sends::Split { .. } => split += 1,
                        Sends::Silent => silent += 1,
                        Sends::Closed => closed += 1,
                        Sends::Hello {
                            half_close: false, ..
                        } => open += 1,
                        Sends::Hello { .. } => {}
                    }
                }
                let first = t.steps[0].at_ms;
                after_ttl += usize::from(t.steps.iter().any(|s| s.at_ms > first + 30_000));
            }
        }
        for (what, n) in [
            ("IDs differing only in case", case_kin),
            ("IDs sharing 8 characters", prefix_kin),
            ("another source address", other_source),
            ("an ID over 32 characters", long),
            ("punctuation in an ID", punct),
            ("malformed requests", malformed),
            ("split TCP requests", split),
            ("silent connections", silent),
            ("closed connections", closed),
            ("TCP requests left without a half-close", open),
            ("a request past the TTL", after_ttl),
        ] {
            assert!(n >= 20, "{what}: {n} in 800 sessions");
        }
        assert!(HOSTS.len() >= 4);
    }

    #[test]
    fn client_sessions_are_playable_and_reach_every_kind_of_answer() {
        assert_eq!(
            client_timeline(9, Transport::Udp, 15_000),
            client_timeline(9, Transport::Udp, 15_000)
        );
        assert_ne!(
            client_timeline(9, Transport::Udp, 15_000),
            client_timeline(10, Transport::Udp, 15_000)
        );
        let mut seen: std::collections::BTreeMap<&str, usize> = Default::default();
        for seed in (0..400).chain([3806]) {
            for transport in Transport::ALL {
                let t = client_timeline(seed, transport, 15_000);
                assert_eq!(t.check(), Ok(()), "seed {seed}");
                assert!(!t.first_id.starts_with('-'), "seed {seed}: {}", t.first_id);
                let mut count = |what: &'static str, yes: bool| {
                    *seen.entry(what).or_default() += usize::from(yes);
                };
                count("plain sessions", t.plain());
                count("input that ends", t.end_input);
                let again = std::iter::once(&t.first_id)
                    .chain(&t.typed)
                    .collect::<Vec<_>>()
                    .windows(2)
                    .any(|w| w[0] == w[1]);
                count("an ID typed again", again);
                count("a lost request", t.tries.iter().any(|p| p.lost));
                count(
                    "a try never answered",
                    t.tries.iter().any(|p| !p.lost && p.replies.is_empty()),
                );
                for p in &t.tries {
                    let near = |ms: u64| ms.abs_diff(15_000) < CLEAR_MS;
                    assert!(p.replies.iter().all(|r| !near(r.after_ms)), "seed {seed}");
                    let has = |f: fn(&ReplyKind) -> bool| p.replies.iter().any(|r| f(&r.what));
                    count(
                        "an OK for another ID",
                        has(|w| matches!(w, ReplyKind::OkOther(_))),
                    );
                    count(
                        "a RESET for another ID",
                        has(|w| matches!(w, ReplyKind::ResetOther(_))),
                    );
                    count(
                        "a malformed reply",
                        has(|w| matches!(w, ReplyKind::Malformed(_))),
                    );
                    count("a forged reply", has(|w| *w == ReplyKind::OtherPort));
                    count(
                        "a reply to the old socket",
                        has(|w| *w == ReplyKind::OldSocket),
                    );
                    count(
                        "a reply after the timeout",
                        p.replies.iter().any(|r| r.after_ms > 15_000),
                    );
                    count(
                        "a delayed reply",
                        p.replies
                            .iter()
                            .any(|r| (1_000..15_000).contains(&r.after_ms)),
                    );
                    count(
                        "a duplicated reply",
                        p.replies.windows(2).any(|w| w[0].what == w[1].what),
                    );
                }
            }
        }
        assert_eq!(seen.len(), 13, "{seen:?}");
        for (what, n) in seen {
            assert!(n >= 20, "{what}: {n} in 800 sessions");
        }
    }
}
