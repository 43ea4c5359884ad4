//! Shrinking a failing session while it still breaks the same rule. A server's: fewer steps, shorter
//! IDs, steps pulled earlier. A client's: fewer tries planned and replies, fewer typed lines, shorter
//! IDs, replies at once, input that lasts. Greedy, one change at a time, each tried by playing it
//! against a fresh start of the program; bounded in plays.

use super::client_plan::ClientTimeline;
use super::plan::Plan;
use super::session::{play_plan, Played};
use super::timeline::Timeline;
use crate::{Pace, Program};

/// The most plays one shrink may take.
pub const BUDGET: usize = 60;

/// The smallest session found that still breaks `rule`, what it showed, and how many plays it took.
pub async fn shrink(
    program: &Program,
    failing: Plan,
    first: Played,
    rule: &str,
    pace: Pace,
) -> (Plan, Played, usize) {
    let mut best = (failing, first);
    let mut plays = 0;
    let mut changed = true;
    while changed && plays < BUDGET {
        changed = false;
        for candidate in best.0.candidates() {
            if plays >= BUDGET {
                break;
            }
            plays += 1;
            let played = play_plan(program, &candidate, pace).await;
            if played.broken.iter().any(|v| v.rule == rule) {
                best = (candidate, played);
                changed = true;
                break;
            }
        }
    }
    (best.0, best.1, plays)
}

/// Smaller sessions than `t`, most promising first: each without one step (last first), then each
/// ID cut to half its length everywhere it is asked for, then each step moved to the time of the one
/// before it.
pub fn candidates(t: &Timeline) -> Vec<Timeline> {
    let mut out = Vec::new();
    if t.steps.len() > 1 {
        for i in (0..t.steps.len()).rev() {
            let mut c = t.clone();
            c.steps.remove(i);
            out.push(c);
        }
    }
    let mut ids: Vec<&str> = t.steps.iter().filter_map(|s| s.send.id()).collect();
    ids.dedup();
    // Every ID cut at once keeps what relates them (the same letters in another case, a common
    // first part), where cutting one alone would not.
    if let Some(c) = every_id_cut(t) {
        out.push(c);
    }
    let mut seen: Vec<&str> = Vec::new();
    for id in ids {
        if seen.contains(&id) || id.len() < 2 {
            continue;
        }
        seen.push(id);
        let short = &id[..id.len() / 2];
        if t.steps.iter().any(|s| s.send.id() == Some(short)) {
            continue;
        }
        let mut c = t.clone();
        for s in &mut c.steps {
            if s.send.id() == Some(id) {
                s.send = s.send.with_id(short);
            }
        }
        out.push(c);
    }
    for i in 0..t.steps.len() {
        let earlier = if i == 0 { 100 } else { t.steps[i - 1].at_ms };
        if t.steps[i].at_ms > earlier {
            let mut c = t.clone();
            c.steps[i].at_ms = earlier;
            out.push(c);
        }
    }
    out
}

/// `t` with every ID of two or more characters cut to its first half, provided no two IDs that
/// differed become the same.
fn every_id_cut(t: &Timeline) -> Option<Timeline> {
    let ids: Vec<&str> = t.steps.iter().filter_map(|s| s.send.id()).collect();
    let cut = cut_apart(&ids)?;
    let mut c = t.clone();
    for s in &mut c.steps {
        if let Some(id) = s.send.id() {
            s.send = s.send.with_id(&cut(id));
        }
    }
    Some(c)
}

/// Smaller client sessions than `t`, most promising first: each without one try planned (last
/// first), each without one reply, without the last typed line, with every ID cut (then each alone),
/// each delayed reply at once, and input that lasts.
pub fn client_candidates(t: &ClientTimeline) -> Vec<ClientTimeline> {
    let mut out = Vec::new();
    for i in (0..t.tries.len()).rev() {
        let mut c = t.clone();
        c.tries.remove(i);
        out.push(c);
    }
    for (i, plan) in t.tries.iter().enumerate() {
        for j in (0..plan.replies.len()).rev() {
            let mut c = t.clone();
            c.tries[i].replies.remove(j);
            out.push(c);
        }
    }
    if !t.typed.is_empty() {
        let mut c = t.clone();
        c.typed.pop();
        out.push(c);
    }
    let ids: Vec<&str> = std::iter::once(t.first_id.as_str())
        .chain(t.typed.iter().map(String::as_str))
        .collect();
    let renamed = |from: &dyn Fn(&str) -> String| {
        let mut c = t.clone();
        c.first_id = from(&t.first_id);
        c.typed = t.typed.iter().map(|id| from(id)).collect();
        c
    };
    if let Some(cut) = cut_apart(&ids) {
        out.push(renamed(&|id: &str| cut(id)));
    }
    let mut seen: Vec<&str> = Vec::new();
    for id in ids.iter().copied() {
        if seen.contains(&id) || id.len() < 2 {
            continue;
        }
        seen.push(id);
        let short = &id[..id.len() / 2];
        if !ids.contains(&short) {
            out.push(renamed(&|x: &str| match x == id {
                true => short.to_string(),
                false => x.to_string(),
            }));
        }
    }
    for (i, plan) in t.tries.iter().enumerate() {
        for (j, r) in plan.replies.iter().enumerate() {
            if r.after_ms > 0 && r.after_ms < t.timeout_ms {
                let mut c = t.clone();
                c.tries[i].replies[j].after_ms = 0;
                out.push(c);
            }
        }
    }
    if t.end_input {
        out.push(ClientTimeline {
            end_input: false,
            ..t.clone()
        });
    }
    out
}

/// A function that cuts each of `ids` of two or more characters to its first half, provided no two
/// that differed become the same; `None` if nothing would be cut.
fn cut_apart(ids: &[&str]) -> Option<impl Fn(&str) -> String> {
    let cut = |id: &str| match id.len() >= 2 {
        true => id[..id.len() / 2].to_string(),
        false => id.to_string(),
    };
    let collide = ids
        .iter()
        .any(|a| ids.iter().any(|b| a != b && cut(a) == cut(b)));
    (!collide && ids.iter().any(|id| id.len() >= 2)).then_some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::timeline::{Sends, Step};
    use connid::Transport;

    fn hello(at_ms: u64, id: &str) -> Step {
        Step {
            at_ms,
            host: 0,
            source: 1,
            send: Sends::Hello {
                id: id.into(),
                newline: false,
                half_close: true,
            },
        }
    }

    #[test]
    fn candidates_drop_a_step_cut_an_id_everywhere_or_pull_a_step_earlier() {
        let t = Timeline {
            seed: 1,
            transport: Transport::Udp,
            ttl_ms: 30_000,
            steps: vec![hello(100, "abcd"), hello(900, "abcd"), hello(900, "ab")],
        };
        let c = candidates(&t);
        // Three without a step; every ID cut at once ("abcd" and "ab" stay apart as "ab" and "a");
        // "abcd" alone would become "ab", which is asked already: not cut; "ab" alone to "a".
        assert_eq!(c.len(), 3 + 1 + 1 + 1);
        assert_eq!(c[0].steps, t.steps[..2]);
        assert_eq!(c[2].steps, t.steps[1..]);
        let ids = |x: &Timeline| {
            x.steps
                .iter()
                .map(|s| s.send.id().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&c[3]), ["ab", "ab", "a"]);
        assert_eq!(ids(&c[4]), ["abcd", "abcd", "a"]);
        assert_eq!(c[5].steps[1].at_ms, 100);
        // Each is smaller, or as large and earlier.
        for x in &c {
            assert!(x.size() < t.size() || x.steps[1].at_ms < 900);
        }
        // One step with a one-character ID at the start: nothing smaller.
        let one = Timeline {
            steps: vec![hello(100, "a")],
            ..t
        };
        assert!(candidates(&one).is_empty());
    }

    #[test]
    fn client_candidates_drop_a_try_a_reply_a_line_cut_ids_and_calm_the_rest() {
        use crate::answering::{Reply, ReplyKind, TryPlan};
        let at = |after_ms, what| Reply { after_ms, what };
        let t = ClientTimeline {
            seed: 1,
            transport: Transport::Udp,
            timeout_ms: 15_000,
            first_id: "abcd".into(),
            typed: vec!["abcd".into(), "x".into()],
            end_input: true,
            tries: vec![
                TryPlan::default(),
                TryPlan {
                    lost: false,
                    replies: vec![at(300, ReplyKind::OtherPort), at(20_000, ReplyKind::Ok)],
                },
            ],
        };
        let c = client_candidates(&t);
        // 2 tries dropped, 2 replies dropped, a typed line dropped, every ID cut ("abcd" to "ab",
        // "x" kept), "abcd" alone (the same), one reply at once (not the one after the timeout),
        // input that lasts.
        assert_eq!(c.len(), 2 + 2 + 1 + 1 + 1 + 1 + 1, "{c:#?}");
        assert_eq!(c[6].first_id, "ab", "abcd alone, cut to its first half");
        assert_eq!(c[6].typed, ["ab", "x"]);
        assert_eq!(c[0].tries.len(), 1);
        assert_eq!(c[2].tries[1].replies, [at(300, ReplyKind::OtherPort)]);
        assert_eq!(c[4].typed, ["abcd"]);
        assert_eq!(
            (c[5].first_id.as_str(), c[5].typed.clone()),
            ("ab", vec!["ab".to_string(), "x".to_string()])
        );
        assert_eq!(c[7].tries[1].replies[0].after_ms, 0);
        assert!(!c[8].end_input);
        for x in &c {
            assert!(x.size() < t.size() || x.tries[1].replies[0].after_ms == 0 || !x.end_input);
        }
    }

    #[test]
    fn only_a_reply_between_at_once_and_the_timeout_is_pulled_to_at_once() {
        use crate::answering::{Reply, ReplyKind, TryPlan};
        let at = |after_ms| Reply {
            after_ms,
            what: ReplyKind::Ok,
        };
        let t = ClientTimeline {
            seed: 1,
            transport: Transport::Udp,
            timeout_ms: 15_000,
            first_id: "ab".into(),
            typed: Vec::new(),
            end_input: false,
            tries: vec![TryPlan {
                lost: false,
                replies: vec![at(0), at(1), at(15_000)],
            }],
        };
        // With the IDs as they are and every reply kept, one candidate: the reply at 1 ms at once
        // (not the one already at once, nor the one at the timeout).
        let calmed: Vec<Vec<u64>> = client_candidates(&t)
            .iter()
            .filter(|c| c.first_id == "ab" && c.tries.first().is_some_and(|p| p.replies.len() == 3))
            .map(|c| c.tries[0].replies.iter().map(|r| r.after_ms).collect())
            .collect();
        assert_eq!(calmed, [vec![0, 0, 15_000]]);
        // A two-character ID is cut alone (to one character), the others kept; one of one
        // character is not cut.
        let two = ClientTimeline {
            typed: vec!["cdef".into()],
            ..t.clone()
        };
        let alone = client_candidates(&two)
            .into_iter()
            .any(|c| c.first_id == "a" && c.typed == ["cdef"]);
        assert!(alone);
        let one = ClientTimeline {
            first_id: "a".into(),
            ..t
        };
        assert!(client_candidates(&one).iter().all(|c| c.first_id == "a"));
    }
}
