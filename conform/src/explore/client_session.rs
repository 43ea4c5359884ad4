//! Plays one client session against a fresh start of the client, the checker serving and typing as
//! the session says, then judges what was recorded by the oracle's rules for a foreign client, on its
//! lines as meant (their spelling is the format cases' to judge).

use connid_sim::oracle;
use connid_sim::scenario::SERVER;

use super::client_plan::ClientTimeline;
use super::session::{on_clock, unplayable, Played};
use crate::client_cases::{
    as_meant, mark_filled, play_client, reached, scenario, ClientPlayed, CLIENT,
};
use crate::{Pace, Program};

/// The oracle's rules an explored client session is judged by.
pub const RULES: &[&str] = &[
    oracle::TRIES,
    oracle::ERROR_PER_TRY,
    oracle::PROMPT,
    oracle::ONE_ENDING,
    oracle::ERROR_WHEN_DUE,
    oracle::IN_TIME,
    oracle::TYPED_ID,
    oracle::NEW_SOCKET,
    oracle::CURRENT_TRY,
    oracle::REPLY_SOURCE,
];

/// Plays `timeline` against a fresh start of `program`, on the virtual clock when `pace` says so.
pub async fn play(program: &Program, timeline: &ClientTimeline, pace: Pace) -> Played {
    let (program, timeline) = (program.clone(), timeline.clone());
    on_clock(pace, move || play_here(program, timeline, pace)).await
}

async fn play_here(program: Program, timeline: ClientTimeline, pace: Pace) -> Played {
    let transport = timeline.transport;
    let played = match play_client(&timeline.plan(), &program, transport, pace).await {
        Ok(played) => played,
        Err(why) => return unplayable(why),
    };
    let ClientPlayed {
        recorder,
        start,
        epoch,
        port,
        typed,
        stderr,
        ..
    } = played;
    let run = crate::recorded_run(transport, &recorder, &[SERVER, CLIENT], start, epoch);
    if !reached(&run) {
        let said = match stderr.lines().find(|l| !l.trim().is_empty()) {
            Some(line) => format!(" (its standard error: {})", line.trim()),
            None => String::new(),
        };
        let why = format!(
            "the client never reached the checker's server on {transport} 127.0.0.1:{port}{said}"
        );
        return Played {
            run,
            broken: Vec::new(),
            unplayable: Some(why),
        };
    }
    let scenario = scenario("explore", &timeline.first_id, port, pace, typed);
    let (meant, filled) = as_meant(&run);
    let mut broken = crate::broken_rules(&scenario, &meant, pace, RULES);
    for v in &mut broken {
        v.message = mark_filled(&v.message, &filled);
    }
    Played {
        run,
        broken,
        unplayable: None,
    }
}
