//! Plays one timeline against a fresh start of the server, then judges what was recorded by the
//! oracle's rules for a foreign server.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use connid::clock::Clock;
use connid::SystemClock;
use connid_sim::events::Run;
use connid_sim::oracle::{self, Violation};
use connid_sim::scenario::SERVER;

use super::timeline::{Send, Timeline, HOSTS};
use crate::server_cases::{start_server, Started};
use crate::{clock, Pace, Program};

/// The oracle's rules an explored server session is judged by.
pub const RULES: &[&str] = &[
    oracle::GRANT_ONCE,
    oracle::RESET_IN_USE,
    oracle::OK_SOURCE,
    oracle::ANSWERED,
    oracle::KEEPS_SERVING,
];

/// What one session showed.
#[derive(Clone)]
pub struct Played {
    pub run: Run,
    /// The broken rules (of [`RULES`]), first first.
    pub broken: Vec<Violation>,
    /// Why the session could not be played, if it could not (the server did not start or listen).
    pub unplayable: Option<String>,
}

impl Played {
    /// The first rule it broke.
    pub fn first_rule(&self) -> Option<&'static str> {
        self.broken.first().map(|v| v.rule)
    }
}

/// Plays `timeline` against a fresh start of `program`, on the virtual clock when `pace` says so.
pub async fn play(program: &Program, timeline: &Timeline, pace: Pace) -> Played {
    if !pace.virtual_clock {
        return play_here(program.clone(), timeline.clone(), pace).await;
    }
    let (program, timeline) = (program.clone(), timeline.clone());
    match clock::run_virtual(move || play_here(program, timeline, pace)).await {
        Ok((played, _)) => played,
        Err(e) => Played {
            run: empty_run(),
            broken: Vec::new(),
            unplayable: Some(e.to_string()),
        },
    }
}

pub(crate) fn empty_run() -> Run {
    Run {
        transport: connid::Transport::Udp,
        hosts: Vec::new(),
        events: Vec::new(),
        epoch: SystemClock.now(),
        simulated: Duration::ZERO,
        hit_limit: false,
        steps: 0,
    }
}

async fn play_here(program: Program, timeline: Timeline, pace: Pace) -> Played {
    let started = match start_server(&program, timeline.transport, pace).await {
        Ok(started) => started,
        Err(why) => {
            return Played {
                run: empty_run(),
                broken: Vec::new(),
                unplayable: Some(why),
            }
        }
    };
    let Started {
        port,
        start,
        epoch,
        mut session,
        mut child,
        listening,
        ..
    } = started;
    if listening {
        // Steps are timed from the moment the server listens, however long it took to start.
        let base = start.elapsed();
        for step in &timeline.steps {
            let host = HOSTS[step.host];
            session.source(host, IpAddr::V4(Ipv4Addr::new(127, 0, 0, step.source)));
            session
                .until(base + Duration::from_millis(step.at_ms))
                .await;
            match &step.send {
                Send::Hello { id, newline } => {
                    let ending = if *newline { "\n" } else { "" };
                    session
                        .send(host, format!("HELLO {id}{ending}").as_bytes())
                        .await;
                }
                Send::Malformed { text } => {
                    session.send(host, text.as_bytes()).await;
                }
                Send::Split { id, pieces, gap_ms } => {
                    let whole = format!("HELLO {id}\n").into_bytes();
                    let cut = cut(&whole, *pieces);
                    let parts: Vec<&[u8]> = cut.iter().map(Vec::as_slice).collect();
                    session
                        .tcp(host, &parts, Duration::from_millis(*gap_ms), true)
                        .await;
                }
                Send::Silent => session.open_silent(host).await,
            }
        }
        // Room for the last reply, then the server is stopped.
        session.pause(session.reply_wait()).await;
    }
    child.stop().await;
    let hosts: Vec<&str> = std::iter::once(SERVER)
        .chain(session.hosts.iter().copied())
        .collect();
    let run = crate::recorded_run(timeline.transport, &session.recorder, &hosts, start, epoch);
    if !listening {
        let why = format!(
            "the server did not listen on {} 127.0.0.1:{port}",
            timeline.transport
        );
        return Played {
            run,
            broken: Vec::new(),
            unplayable: Some(why),
        };
    }
    let scenario = crate::judged_scenario("explore", port, pace);
    let broken = oracle::check_with(&scenario, &run, &pace.judge())
        .into_iter()
        .filter(|v| RULES.contains(&v.rule))
        .collect();
    Played {
        run,
        broken,
        unplayable: None,
    }
}

/// `bytes` in `pieces` parts of about equal length (the last holds the rest).
fn cut(bytes: &[u8], pieces: usize) -> Vec<Vec<u8>> {
    let size = bytes.len().div_ceil(pieces.max(1)).max(1);
    bytes.chunks(size).map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_cut_into_the_pieces_asked() {
        let parts = cut(b"HELLO abc\n", 3);
        assert_eq!(parts, [b"HELL".to_vec(), b"O ab".to_vec(), b"c\n".to_vec()]);
        assert_eq!(cut(b"HELLO 1\n", 2).concat(), b"HELLO 1\n");
    }
}
