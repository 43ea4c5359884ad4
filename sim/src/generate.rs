//! Random scenarios from a seed, for the explorer.
//!
//! Each seed gives one [`Scenario`] of the same type scenario files use, so any generated case can be
//! written out and replayed with `sim run`. The fault mix itself is drawn from the seed ("swarm"
//! testing): some seeds have no loss but many partitions, others only crashes, so rare combinations are
//! not drowned by an average mix.
//!
//! Four seeds in five run the protocol's own timers (client 15 s and 3 tries, TTL 30 s, idle exit
//! 2 minutes); the rest shorten them, so more of them fire per simulated minute. Every seed has a tick
//! of 10 ms or less: event mode makes idle time free, so hops can be short.

use std::time::Duration;

use connid::net::BATCH;
use connid::server::LogLevel;
use connid::{defaults, Transport};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scenario::{
    Action, ClientSpec, Dur, Fault, NetworkSpec, PeerSpec, Scenario, ServerSpec, TimeMode,
    FIRST_EPHEMERAL_PORT, SERVER,
};

/// Most clients one seed starts before its heal.
pub const MAX_CLIENTS: usize = 5;
/// Most fresh clients one seed starts after its heal.
pub const MAX_FRESH: usize = 2;
/// Most raw peers one seed starts.
pub const MAX_PEERS: usize = 3;
/// Most timeline entries (a hold and its release count as two).
pub const MAX_FAULTS: usize = 8;
/// Every start and fault time falls before this (with shortened timers; twice as late with the real
/// ones, so some clients come after the first IDs have expired).
const HORIZON: Duration = Duration::from_secs(30);

/// The ticks seeds use.
const TICKS: [Duration; 4] = [
    Duration::from_millis(1),
    Duration::from_millis(2),
    Duration::from_millis(5),
    Duration::from_millis(10),
];

/// The IDs clients ask for: a small pool, so they collide.
const ID_POOL: [&str; 4] = ["a", "b", "c", "d"];

/// Lines a user might type that are not valid IDs.
const INVALID_TYPED: [&str; 3] = ["two words", "", "\u{e9}t\u{e9}"];

/// Payloads of raw peers: every malformed form the protocol names.
const MALFORMED: [&str; 8] = [
    "HELO 1\n",
    "HELLO\n",
    "HELLO 1 2\n",
    "\\xff\\xfe\\x00\n",
    "RESET a\n",
    "OK a 1.2.3.4 5\n",
    "HELLO", // complete as a datagram; over TCP it waits for the rest, or the end of the stream
    "hello a\r\n",
];

/// What a raw peer sends a client: replies for an ID no client asks for, and malformed replies (and,
/// besides these, forged replies for the ID the client's try asks for).
const TO_CLIENT: [&str; 8] = [
    "OK z 10.0.0.9 49152",
    "RESET z",
    "OK z",
    "OK\n",
    "RESET",
    "HELLO a",
    "\\xff\\xfe",
    "OK a 10.0.0.9",
];

/// What a raw peer playing a server answers each request with: twice, another ID first, RESETs, an
/// address that is not the client's, garbage first, RESET then OK.
const ANSWERS: [&[&str]; 6] = [
    &["OK {id} {ip} {port}", "OK {id} {ip} {port}"],
    &["OK z {ip} {port}", "OK {id} {ip} {port}"],
    &["RESET z", "RESET {id}"],
    &["OK {id} 10.9.8.7 4242"],
    &["garbage", "OK {id} {ip} {port}"],
    &["RESET {id}", "OK {id} {ip} {port}"],
];

/// A flood sends more malformed datagrams than the server logs in one second (20).
const FLOOD: std::ops::RangeInclusive<usize> = 21..=40;

/// Which kinds of trouble a seed may use.
#[derive(Debug, Clone, Copy)]
struct Swarm {
    hold: bool,
    partition: bool,
    loss_faults: bool,
    crash: bool,
    peers: bool,
    network_loss: bool,
    latency: bool,
    slow_typing: bool,
    /// Clients start exactly one TTL (give or take a tick) after another: the expiry boundary.
    boundary: bool,
    /// UDP datagrams are sometimes duplicated or overtaken.
    mischief: bool,
    /// After the last fault the network heals and fresh clients start, to be answered at once.
    heal: bool,
}

/// Multiples of `step` from `lo` to `hi`, both included.
fn pick_dur(rng: &mut ChaCha8Rng, lo: Duration, hi: Duration, step: Duration) -> Dur {
    let steps = ((hi - lo).as_micros() / step.as_micros()) as u64;
    let k = rng.random_range(0..=steps);
    Dur(lo + step * u32::try_from(k).unwrap_or(u32::MAX))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// The scenario for `seed`, on `transport`: one generator per part, each drawing from the seed's one
/// random stream in turn (the order is part of every seed's scenario).
pub fn scenario(seed: u64, transport: Transport) -> Scenario {
    let mut d = Draw::new(seed, transport);
    let mut server = d.server();
    let mut network = d.network(seed);
    let mut clients = d.clients(server.id_ttl.0);
    let mut peers = d.peers(&clients, server.settle.0);
    d.ask_peers(&peers, &mut clients);
    let others: Vec<(String, Duration)> = clients
        .iter()
        .map(|c| (c.name.clone(), c.start.0))
        .chain(peers.iter().map(|p| (p.name.clone(), p.start.0)))
        .collect();
    let mut faults = d.faults(&others, network.latency.0);
    if d.swarm.heal {
        d.heal(&mut faults, &mut clients);
    }
    d.last_draws(&mut server, &mut network, &mut peers, &others);
    Scenario {
        description: format!("Generated by the explorer from seed {seed}."),
        transports: vec![transport],
        server,
        network,
        clients,
        peers,
        faults,
        limit: Dur(Duration::from_secs(1200)),
    }
}

/// One seed's drawing: its random stream, and the choices every part depends on.
struct Draw {
    rng: ChaCha8Rng,
    transport: Transport,
    swarm: Swarm,
    /// The assignment's timers (30 s, 2 min, 15 s), or short ones drawn per seed.
    real_timers: bool,
    tick: Duration,
    /// Until when hosts start.
    horizon: Duration,
    /// How many of [`ID_POOL`] the seed's IDs come from (drawn with the clients).
    pool: usize,
}

impl Draw {
    /// The seed's kinds of trouble, timers and tick: the first draws.
    fn new(seed: u64, transport: Transport) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let swarm = Swarm {
            hold: rng.random_bool(0.5),
            partition: rng.random_bool(0.5),
            loss_faults: rng.random_bool(0.3),
            crash: rng.random_bool(0.4),
            peers: rng.random_bool(0.3),
            network_loss: rng.random_bool(0.3),
            latency: rng.random_bool(0.4),
            slow_typing: rng.random_bool(0.3),
            boundary: rng.random_bool(0.4),
            mischief: transport == Transport::Udp && rng.random_bool(0.3),
            heal: rng.random_bool(0.6),
        };
        let real_timers = rng.random_bool(0.8);
        let tick = TICKS[rng.random_range(0..TICKS.len())];
        Draw {
            rng,
            transport,
            swarm,
            real_timers,
            tick,
            horizon: if real_timers { HORIZON * 2 } else { HORIZON },
            pool: ID_POOL.len(),
        }
    }

    /// A timer: the assignment's `real` one, or one drawn from `lo..=hi` in `step`s.
    fn timer(&mut self, real: Duration, lo: Duration, hi: Duration, step: Duration) -> Dur {
        if self.real_timers {
            Dur(real)
        } else {
            pick_dur(&mut self.rng, lo, hi, step)
        }
    }

    fn client_timeout(&mut self) -> Dur {
        self.timer(defaults::CLIENT_TIMEOUT, secs(1), secs(15), ms(100))
    }

    /// An ID from the seed's pool.
    fn id(&mut self) -> String {
        ID_POOL[self.rng.random_range(0..self.pool)].to_string()
    }

    fn server(&mut self) -> ServerSpec {
        let tick = self.tick;
        ServerSpec {
            port: 5000,
            id_ttl: self.timer(defaults::ID_TTL, secs(1), secs(40), tick),
            idle_timeout: self.timer(defaults::IDLE_TIMEOUT, secs(2), secs(30), tick),
            line_timeout: self.timer(defaults::LINE_TIMEOUT, secs(1), secs(15), tick),
            settle: if self.rng.random_bool(0.3) {
                pick_dur(&mut self.rng, tick, secs(1), tick)
            } else {
                Dur(defaults::SETTLE)
            },
            max_connections: defaults::MAX_CONNECTIONS,
            max_ids: defaults::MAX_IDS,
            log: LogLevel::default(),
        }
    }

    fn network(&mut self, seed: u64) -> NetworkSpec {
        let (swarm, rng) = (self.swarm, &mut self.rng);
        let percent =
            |rng: &mut ChaCha8Rng, lo: u32, hi: u32| f64::from(rng.random_range(lo..=hi)) / 100.0;
        NetworkSpec {
            tick: Dur(self.tick),
            latency: if swarm.latency {
                pick_dur(rng, ms(0), ms(300), ms(10))
            } else {
                Dur::default()
            },
            jitter: if swarm.latency && rng.random_bool(0.5) {
                pick_dur(rng, ms(10), ms(300), ms(10))
            } else {
                Dur::default()
            },
            loss: if swarm.network_loss {
                percent(rng, 1, 30)
            } else {
                0.0
            },
            repair: 1.0,
            duplicate: if swarm.mischief {
                percent(rng, 0, 30)
            } else {
                0.0
            },
            reorder: if swarm.mischief {
                percent(rng, 0, 30)
            } else {
                0.0
            },
            reorder_delay: pick_dur(rng, ms(10), secs(2), ms(10)),
            socket_errors: 0.0,
            seed,
            mode: TimeMode::Event,
        }
    }

    /// The clients, some (with `boundary`) starting one TTL after another that asked for their ID.
    fn clients(&mut self, ttl: Duration) -> Vec<ClientSpec> {
        self.pool = self.rng.random_range(1..=ID_POOL.len());
        let n = self.rng.random_range(1..=MAX_CLIENTS);
        let mut clients: Vec<ClientSpec> = (0..n).map(|i| self.client(i)).collect();
        if self.swarm.boundary {
            for i in 1..clients.len() {
                if self.rng.random_bool(0.5) {
                    let earlier = clients[self.rng.random_range(0..i)].start.0;
                    let nudge = self.rng.random_range(0..=3u32);
                    let at = (earlier + ttl + self.tick * nudge).saturating_sub(self.tick);
                    clients[i].start = Dur(at);
                    clients[i].id = clients[self.rng.random_range(0..i)].id.clone();
                }
            }
        }
        clients
    }

    /// The `i`-th client (from 0).
    fn client(&mut self, i: usize) -> ClientSpec {
        let typed = (0..self.rng.random_range(0..=3))
            .map(|_| {
                if self.rng.random_bool(0.2) {
                    INVALID_TYPED[self.rng.random_range(0..INVALID_TYPED.len())].to_string()
                } else {
                    self.id()
                }
            })
            .collect();
        ClientSpec {
            name: format!("c{}", i + 1),
            start: pick_dur(&mut self.rng, Duration::ZERO, self.horizon, self.tick),
            id: self.id(),
            typed,
            typing: if self.swarm.slow_typing && self.rng.random_bool(0.5) {
                pick_dur(&mut self.rng, ms(100), secs(5), ms(100))
            } else {
                Dur::default()
            },
            timeout: self.client_timeout(),
            tries: if self.real_timers {
                defaults::TRIES
            } else {
                self.rng.random_range(1..=4)
            },
            settle: Dur(defaults::SETTLE),
            server: None,
        }
    }

    /// The raw peers, if the seed has any.
    fn peers(&mut self, clients: &[ClientSpec], settle: Duration) -> Vec<PeerSpec> {
        if !self.swarm.peers {
            return Vec::new();
        }
        (0..self.rng.random_range(1..=MAX_PEERS))
            .map(|i| self.peer(i, clients, settle))
            .collect()
    }

    /// The `i`-th raw peer (from 0): a split request, junk, replies to a client, a server a client
    /// asks, or (UDP) a flood.
    fn peer(&mut self, i: usize, clients: &[ClientSpec], settle: Duration) -> PeerSpec {
        let (tick, horizon) = (self.tick, self.horizon);
        let name = format!("p{}", i + 1);
        let start = pick_dur(&mut self.rng, Duration::ZERO, horizon, tick);
        let wait = pick_dur(&mut self.rng, Duration::ZERO, secs(20), ms(100));
        let quiet = |name, start, sends, gap, half_close, wait| PeerSpec {
            name,
            start,
            sends,
            gap,
            half_close,
            wait,
            to: None,
            port: None,
            answer: false,
            from_other_port: false,
        };
        // Over UDP, two kinds in six aim at a client and one plays a server.
        let kinds = if self.transport == Transport::Udp {
            6
        } else {
            2
        };
        let rng = &mut self.rng;
        match rng.random_range(0..kinds) {
            0 => {
                let request = format!("HELLO {}", self.id());
                split_request(&mut self.rng, name, start, wait, &request, settle, tick)
            }
            1 => {
                let sends = (0..rng.random_range(1..=3))
                    .map(|_| MALFORMED[rng.random_range(0..MALFORMED.len())].to_string())
                    .collect();
                let gap = pick_dur(rng, Duration::ZERO, secs(1), ms(100));
                quiet(name, start, sends, gap, rng.random_bool(0.3), wait)
            }
            2 | 3 => to_client(rng, name, clients, wait),
            4 => {
                let sends = ANSWERS[rng.random_range(0..ANSWERS.len())]
                    .iter()
                    .map(|a| a.to_string())
                    .collect();
                let gap = pick_dur(rng, Duration::ZERO, secs(20), ms(100));
                let from_other_port = rng.random_bool(0.5);
                // Until every client is surely done.
                let wait = Dur(horizon + secs(60));
                PeerSpec {
                    start: Dur::default(),
                    answer: true,
                    from_other_port,
                    ..quiet(name, start, sends, gap, false, wait)
                }
            }
            _ => {
                let sends = (0..rng.random_range(FLOOD))
                    .map(|_| MALFORMED[rng.random_range(0..MALFORMED.len())].to_string())
                    .collect();
                let gap = pick_dur(rng, Duration::ZERO, ms(20), tick);
                quiet(name, start, sends, gap, false, wait)
            }
        }
    }

    /// Each peer that plays a server is asked by one client.
    fn ask_peers(&mut self, peers: &[PeerSpec], clients: &mut [ClientSpec]) {
        for peer in peers.iter().filter(|p| p.answer) {
            let asker = self.rng.random_range(0..clients.len());
            clients[asker].server = Some(peer.name.clone());
        }
    }

    /// The faults, in time order: each of the seed's kinds of trouble on the link of a host that
    /// talks (`others`: each host and when it starts), mostly ended later.
    fn faults(&mut self, others: &[(String, Duration)], latency: Duration) -> Vec<Fault> {
        let kinds: Vec<Action> = [
            (self.swarm.hold, Action::Hold),
            (self.swarm.partition, Action::Partition),
            (self.swarm.loss_faults, Action::Loss),
            (self.swarm.crash, Action::Crash),
        ]
        .into_iter()
        .filter_map(|(on, kind)| on.then_some(kind))
        .collect();
        let mut faults = Vec::new();
        if !kinds.is_empty() {
            for _ in 0..self.rng.random_range(0..=MAX_FAULTS / 2) {
                let kind = kinds[self.rng.random_range(0..kinds.len())];
                let (other, talks) = others[self.rng.random_range(0..others.len())].clone();
                let at = self.fault_time(kind, talks, latency);
                self.fault_and_end(kind, at, [other, SERVER.to_string()], &mut faults);
            }
        }
        faults.sort_by_key(|f| f.at);
        faults
    }

    /// When a fault of `kind` on the link of a host that starts talking at `talks` comes: mostly
    /// around then, where it has something to touch (the explorer reports those that touched
    /// nothing); the rest anywhere.
    fn fault_time(&mut self, kind: Action, talks: Duration, latency: Duration) -> Dur {
        let tick = self.tick;
        if !self.rng.random_bool(0.7) {
            return pick_dur(&mut self.rng, Duration::ZERO, self.horizon, tick);
        }
        if kind == Action::Crash {
            // A crash in the middle of an exchange: a tick or a few after the first message has
            // arrived.
            Dur(talks + latency + tick * self.rng.random_range(1..=4))
        } else {
            // Link trouble already there when the host speaks, or just after.
            let from = talks.saturating_sub(secs(2));
            Dur(from + pick_dur(&mut self.rng, Duration::ZERO, secs(2) + tick * 5, tick).0)
        }
    }

    /// A fault of `kind` at `at` on `link`, and mostly the fault that ends it later.
    fn fault_and_end(&mut self, kind: Action, at: Dur, link: [String; 2], faults: &mut Vec<Fault>) {
        let tick = self.tick;
        let rng = &mut self.rng;
        let later = |rng: &mut ChaCha8Rng| Dur(at.0 + pick_dur(rng, tick, secs(30), tick).0);
        let fault = |at, action, between, oneway, rate| Fault {
            at,
            action,
            between,
            oneway,
            rate,
        };
        let link = Some(link);
        match kind {
            Action::Hold => {
                faults.push(fault(at, Action::Hold, link.clone(), false, None));
                if rng.random_bool(0.8) {
                    faults.push(fault(later(rng), Action::Release, link, false, None));
                }
            }
            Action::Partition => {
                let oneway = rng.random_bool(0.3);
                let link = if oneway && rng.random_bool(0.5) {
                    link.map(|[a, b]| [b, a])
                } else {
                    link
                };
                faults.push(fault(at, Action::Partition, link.clone(), oneway, None));
                if rng.random_bool(0.8) {
                    faults.push(fault(later(rng), Action::Repair, link, oneway, None));
                }
            }
            Action::Loss => {
                let rate = f64::from(rng.random_range(1..=50u32)) / 100.0;
                faults.push(fault(at, Action::Loss, link.clone(), false, Some(rate)));
                if rng.random_bool(0.7) {
                    faults.push(fault(later(rng), Action::Loss, link, false, Some(0.0)));
                }
            }
            Action::Crash => {
                faults.push(fault(at, Action::Crash, None, false, None));
                if rng.random_bool(0.8) {
                    faults.push(fault(later(rng), Action::Restart, None, false, None));
                }
            }
            Action::Release | Action::Repair | Action::Restart | Action::Heal => {}
        }
    }

    /// After the last fault the network heals, and fresh clients start just after, to be answered at
    /// once.
    fn heal(&mut self, faults: &mut Vec<Fault>, clients: &mut Vec<ClientSpec>) {
        let tick = self.tick;
        let last = faults.last().map_or(Duration::ZERO, |f| f.at.0);
        let at = Dur(last + pick_dur(&mut self.rng, tick, secs(5), tick).0);
        faults.push(Fault {
            at,
            action: Action::Heal,
            between: None,
            oneway: false,
            rate: None,
        });
        for i in 0..self.rng.random_range(1..=MAX_FRESH) {
            let name = format!("h{}", i + 1);
            let start = Dur(at.0 + pick_dur(&mut self.rng, Duration::ZERO, ms(500), tick).0);
            let id = if self.rng.random_bool(0.5) {
                self.id()
            } else {
                name.clone()
            };
            clients.push(ClientSpec {
                name,
                start,
                id,
                typed: Vec::new(),
                typing: Dur::default(),
                timeout: self.client_timeout(),
                tries: 1,
                settle: Dur(defaults::SETTLE),
                server: None,
            });
        }
    }

    /// Drawn last, so the rest of a seed's scenario is what it was before them: the server's socket
    /// errors, a server that takes one or two connections at a time, a table of one to three IDs,
    /// and (UDP) a burst of more requests in one instant than one receive batch holds.
    fn last_draws(
        &mut self,
        server: &mut ServerSpec,
        network: &mut NetworkSpec,
        peers: &mut Vec<PeerSpec>,
        others: &[(String, Duration)],
    ) {
        if self.rng.random_bool(0.2) {
            network.socket_errors = f64::from(self.rng.random_range(5..=40u32)) / 100.0;
        }
        // Not with a heal: a fresh client may then queue behind others past its timeout, which the
        // liveness rule would take for a server that does not answer.
        if !self.swarm.heal && self.rng.random_bool(0.15) {
            server.max_connections = self.rng.random_range(1..=2);
        }
        // Full often. Not with a heal either: a fresh client would meet a full table.
        if !self.swarm.heal && self.rng.random_bool(0.15) {
            server.max_ids = self.rng.random_range(1..=3);
        }
        if self.transport == Transport::Udp && self.rng.random_bool(0.1) {
            let talks = others[self.rng.random_range(0..others.len())].1;
            // Mostly just when another host talks, so the burst meets its exchange.
            let start = if self.rng.random_bool(0.5) {
                Dur(talks)
            } else {
                pick_dur(&mut self.rng, Duration::ZERO, self.horizon, self.tick)
            };
            let sends = (0..self.rng.random_range(BATCH + 1..=BATCH + 16))
                .map(|_| format!("HELLO {}", self.id()))
                .collect();
            peers.push(PeerSpec {
                name: format!("p{}", peers.len() + 1),
                start,
                sends,
                gap: Dur::default(),
                half_close: false,
                wait: Dur(secs(1)),
                to: None,
                port: None,
                answer: false,
                from_other_port: false,
            });
        }
    }
}

/// A UDP raw peer that sends one client replies for an ID it never asks for, or malformed ones, to the
/// socket of one of its tries (turmoil hands a host's ephemeral ports out in order), while it runs.
fn to_client(rng: &mut ChaCha8Rng, name: String, clients: &[ClientSpec], wait: Dur) -> PeerSpec {
    let client = &clients[rng.random_range(0..clients.len())];
    let try_index = rng.random_range(0..client.tries.min(3));
    // Mostly just after the client starts, when it surely waits for a reply on its first socket.
    let after = if rng.random_bool(0.7) {
        pick_dur(rng, ms(1), ms(20), ms(1)).0
    } else {
        pick_dur(
            rng,
            Duration::ZERO,
            client.timeout.0 * client.tries,
            ms(100),
        )
        .0
    };
    // The ID that try asks for, if it is known: a reply for it from this host is forged.
    let id = match try_index {
        0 => Some(client.id.as_str()),
        i => client.typed.get(i as usize - 1).map(String::as_str),
    };
    let forged = id.map(|id| [format!("RESET {id}"), format!("OK {id} 10.0.0.9 49152")]);
    PeerSpec {
        name,
        start: Dur(client.start.0 + after),
        sends: (0..rng.random_range(1..=3))
            .map(|_| match &forged {
                Some(forged) if rng.random_bool(0.4) => forged[rng.random_range(0..2)].clone(),
                _ => TO_CLIENT[rng.random_range(0..TO_CLIENT.len())].to_string(),
            })
            .collect(),
        gap: pick_dur(rng, Duration::ZERO, secs(1), ms(100)),
        half_close: false,
        wait,
        to: Some(client.name.clone()),
        port: Some(FIRST_EPHEMERAL_PORT + u16::try_from(try_index).unwrap_or_default()),
        answer: false,
        from_other_port: false,
    }
}

/// A raw peer that writes a well-formed `request` in two or three pieces, with a gap around the server's
/// settle time (just under, equal, just over, or none), then ends it with a newline, a half-close or
/// neither: the server must take it whole unless the gap is longer than the settle time.
fn split_request(
    rng: &mut ChaCha8Rng,
    name: String,
    start: Dur,
    wait: Dur,
    request: &str,
    settle: Duration,
    tick: Duration,
) -> PeerSpec {
    let mut cuts: Vec<usize> = (0..rng.random_range(1..=2))
        .map(|_| rng.random_range(1..request.len()))
        .collect();
    cuts.push(0);
    cuts.push(request.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut sends: Vec<String> = cuts
        .windows(2)
        .map(|w| request[w[0]..w[1]].to_string())
        .collect();
    let ending = rng.random_range(0..3);
    if ending == 0 {
        if let Some(last) = sends.last_mut() {
            last.push('\n');
        }
    }
    let gaps = [
        Duration::ZERO,
        tick,
        settle.saturating_sub(tick),
        settle,
        settle + tick,
        settle * 2,
    ];
    PeerSpec {
        name,
        start,
        sends,
        gap: Dur(gaps[rng.random_range(0..gaps.len())]),
        half_close: ending == 1,
        wait,
        to: None,
        port: None,
        answer: false,
        from_other_port: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_same_seed_gives_the_same_scenario() {
        for seed in 0..50 {
            assert_eq!(
                scenario(seed, Transport::Udp),
                scenario(seed, Transport::Udp)
            );
        }
        assert_ne!(scenario(1, Transport::Udp), scenario(2, Transport::Udp));
    }

    #[test]
    fn generated_scenarios_are_valid_and_round_trip_through_toml() {
        for seed in 0..300 {
            let generated = scenario(seed, Transport::Tcp);
            let text = toml::to_string(&generated).expect("serializable");
            let read = Scenario::parse(&text, Path::new("generated.toml"))
                .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
            assert_eq!(read, generated, "seed {seed}");
        }
    }

    #[test]
    fn the_swarm_varies_the_fault_mix() {
        let mut crashes = 0;
        let mut holds = 0;
        let mut quiet = 0;
        for seed in 0..200 {
            let s = scenario(seed, Transport::Udp);
            crashes += usize::from(s.faults.iter().any(|f| f.action == Action::Crash));
            holds += usize::from(s.faults.iter().any(|f| f.action == Action::Hold));
            quiet += usize::from(s.faults.is_empty());
        }
        assert!(
            crashes > 20 && holds > 20 && quiet > 20,
            "{crashes} {holds} {quiet}"
        );
    }
}
