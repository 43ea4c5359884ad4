//! Shrinking a failing session while it still breaks the same rule: fewer steps, shorter IDs, steps
//! pulled earlier. Greedy, one change at a time, each tried by playing it against a fresh start of the
//! server; bounded in plays.

use super::session::{play, Played};
use super::timeline::Timeline;
use crate::{Pace, Program};

/// The most plays one shrink may take.
pub const BUDGET: usize = 60;

/// The smallest session found that still breaks `rule`, what it showed, and how many plays it took.
pub async fn shrink(
    program: &Program,
    failing: Timeline,
    first: Played,
    rule: &str,
    pace: Pace,
) -> (Timeline, Played, usize) {
    let mut best = (failing, first);
    let mut plays = 0;
    let mut changed = true;
    while changed && plays < BUDGET {
        changed = false;
        for candidate in candidates(&best.0) {
            if plays >= BUDGET {
                break;
            }
            plays += 1;
            let played = play(program, &candidate, pace).await;
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
    let cut = |id: &str| {
        if id.len() >= 2 {
            id[..id.len() / 2].to_string()
        } else {
            id.to_string()
        }
    };
    let ids: Vec<&str> = t.steps.iter().filter_map(|s| s.send.id()).collect();
    if ids.iter().all(|id| id.len() < 2) {
        return None;
    }
    let collide = ids
        .iter()
        .any(|a| ids.iter().any(|b| a != b && cut(a) == cut(b)));
    if collide {
        return None;
    }
    let mut c = t.clone();
    for s in &mut c.steps {
        if let Some(id) = s.send.id() {
            s.send = s.send.with_id(&cut(id));
        }
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::timeline::{Send, Step};
    use connid::Transport;

    fn hello(at_ms: u64, id: &str) -> Step {
        Step {
            at_ms,
            host: 0,
            source: 1,
            send: Send::Hello {
                id: id.into(),
                newline: false,
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
}
