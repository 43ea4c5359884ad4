//! Plays one timeline against a fresh start of the server, then judges what was recorded by the
//! oracle's rules for a foreign server.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use connid::clock::Clock;
use connid::SystemClock;
use connid::Transport;
use connid_sim::events::Run;
use connid_sim::oracle::{self, Violation};
use connid_sim::scenario::SERVER;

use super::plan::Plan;
use super::timeline::{Sends, Timeline, HOSTS};
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

/// Plays a session of either kind against a fresh start of `program`.
pub async fn play_plan(program: &Program, plan: &Plan, pace: Pace) -> Played {
    match plan {
        Plan::Server(t) => play(program, t, pace).await,
        Plan::Client(t) => super::client_session::play(program, t, pace).await,
    }
}

/// Plays `timeline` against a fresh start of `program`, on the virtual clock when `pace` says so.
pub async fn play(program: &Program, timeline: &Timeline, pace: Pace) -> Played {
    let (program, timeline) = (program.clone(), timeline.clone());
    on_clock(pace, move || play_here(program, timeline, pace)).await
}

/// What `session` makes, played on the virtual clock when `pace` says so (else here, at real time).
pub(crate) async fn on_clock<F, Fut>(pace: Pace, session: F) -> Played
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Played>,
{
    if !pace.virtual_clock {
        return session().await;
    }
    match clock::run_virtual(session).await {
        Ok((played, _)) => played,
        Err(e) => unplayable(e.to_string()),
    }
}

/// A session that could not be played, and why.
pub(crate) fn unplayable(why: String) -> Played {
    Played {
        run: empty_run(),
        broken: Vec::new(),
        unplayable: Some(why),
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
        Err(why) => return unplayable(why),
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
                Sends::Hello {
                    id,
                    newline,
                    half_close,
                } => {
                    let ending = if *newline { "\n" } else { "" };
                    let request = format!("HELLO {id}{ending}").into_bytes();
                    match timeline.transport {
                        Transport::Tcp => {
                            session
                                .tcp(host, &[&request], Duration::ZERO, *half_close)
                                .await
                        }
                        Transport::Udp => session.send(host, &request).await,
                    };
                }
                Sends::Malformed { text } => {
                    session.send(host, text.as_bytes()).await;
                }
                Sends::Split { id, pieces, gap_ms } => {
                    let whole = format!("HELLO {id}\n").into_bytes();
                    let cut = cut(&whole, *pieces);
                    let parts: Vec<&[u8]> = cut.iter().map(Vec::as_slice).collect();
                    session
                        .tcp(host, &parts, Duration::from_millis(*gap_ms), true)
                        .await;
                }
                Sends::Silent => session.open_silent(host).await,
                Sends::Closed => session.open_and_close(host).await,
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
    Played {
        broken: crate::broken_rules(&scenario, &run, pace, RULES),
        run,
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
