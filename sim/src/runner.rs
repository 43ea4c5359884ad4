//! Runs one scenario on one transport: builds the turmoil simulation, starts the real server and
//! clients (and raw peers) as simulated hosts, applies the fault timeline between steps, and returns
//! the recorded events.
//!
//! In fixed mode time moves one tick per step. In event mode (the default) one step jumps to the last
//! tick boundary before the next thing due: a host's earliest deadline (every wait goes through
//! [`SimClock`]), the next message delivery, the next fault or the limit. The first step and the one
//! after the server restarts are one tick (a host that has not run yet has armed nothing), and so is
//! the last (a finished run ends where fixed steps end it). Nothing can happen inside a jump, so the
//! transcript is the one fixed steps give.
//!
//! A fault happens at its exact time, in both modes, as a host's own timer does: a step that would
//! pass over it ends at it, the fault is applied, and the next step (a first step after a restart
//! too) ends on the tick boundary the cut step was heading for. A host woken at that same instant runs after the fault (a step ends before
//! the hosts woken at its end are polled), so a client that starts at a heal's instant already talks
//! over the healed network.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use connid::lines::ServerNote;
use connid::server::LogLevel;
use connid::{clock, run_client, ClientConfig, ConnId, Console, Server, ServerConfig, Transport};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::clock::now;
use crate::clock::{epoch, Deadlines, SimClock};
use crate::console::ScriptedConsole;
pub use crate::events::Run;
use crate::events::{EventKind, Recorder};
use crate::net::{Mischief, SimNet};
use crate::scenario::{
    decode_payload, Action, ClientSpec, Fault, PeerSpec, Scenario, TimeMode, FIRST_EPHEMERAL_PORT,
    SERVER,
};

/// The run could not complete: a host failed or panicked.
#[derive(Debug, Error)]
#[error("simulation failed at {at:?}: {message}")]
pub struct RunError {
    pub at: Duration,
    pub message: String,
}

/// Runs `scenario` on `transport` to its end: every client and peer done, every fault applied, and
/// the server stopped; or the scenario's limit.
pub fn run(scenario: &Scenario, transport: Transport) -> Result<Run, RunError> {
    let (mut sim, world) = build(scenario);
    // Addresses are handed out in the order names are first looked up: server first, then file order.
    let ips: Vec<IpAddr> = scenario.hosts().iter().map(|h| sim.lookup(*h)).collect();
    add_hosts(&mut sim, scenario, transport, &world, &ips);
    let (steps, hit_limit) = drive(&mut sim, scenario, &world, &ips)?;
    let simulated = sim.elapsed();
    // Dropping the simulation closes what is still open; none of that belongs to the story.
    drop(sim);
    let hosts = scenario
        .hosts()
        .iter()
        .map(|h| h.to_string())
        .zip(ips)
        .collect();
    Ok(Run {
        transport,
        hosts,
        events: world.rec.take().into_events(),
        epoch: epoch(),
        simulated,
        hit_limit,
        steps,
    })
}

/// What every host of one run shares: the record, the armed deadlines, the clock that arms them, and
/// the network's mischief.
struct World {
    rec: Recorder,
    deadlines: Deadlines,
    clock: SimClock,
    mischief: Mischief,
}

/// The simulation for `scenario`'s network, and what its hosts will share.
fn build(scenario: &Scenario) -> (turmoil::Sim<'static>, World) {
    let net = &scenario.network;
    let mut builder = turmoil::Builder::new();
    builder
        .tick_duration(net.tick.0)
        .simulation_duration(scenario.limit.0 + net.tick.0 * 4)
        .epoch(sim_epoch())
        .rng_seed(net.seed)
        .min_message_latency(net.latency.0)
        .max_message_latency(net.latency.0 + net.jitter.0)
        .fail_rate(net.loss)
        .repair_rate(net.repair);
    let deadlines = Deadlines::default();
    let world = World {
        rec: Recorder::new(),
        clock: SimClock::new(deadlines.clone()),
        deadlines,
        mischief: Mischief::new(
            net.duplicate,
            net.reorder,
            net.reorder_delay.0,
            net.socket_errors,
            net.seed,
        ),
    };
    (builder.build(), world)
}

/// The server, the clients and the raw peers of `scenario` as hosts of `sim`, at `ips` (server first,
/// then file order).
fn add_hosts(
    sim: &mut turmoil::Sim<'static>,
    scenario: &Scenario,
    transport: Transport,
    world: &World,
    ips: &[IpAddr],
) {
    let server_addr = SocketAddr::new(ips[0], scenario.server.port);
    let server_cfg = ServerConfig {
        transport,
        id_ttl: scenario.server.id_ttl.0,
        idle_timeout: scenario.server.idle_timeout.0,
        line_timeout: scenario.server.line_timeout.0,
        settle: scenario.server.settle.0,
        max_connections: scenario.server.max_connections,
        max_ids: scenario.server.max_ids,
        log: scenario.server.log,
    };
    let (rec, clock, mischief) = (
        world.rec.clone(),
        world.clock.on(ips[0]),
        world.mischief.clone(),
    );
    sim.host(SERVER, move || {
        server_host(
            rec.clone(),
            clock.clone(),
            mischief.clone(),
            server_addr,
            server_cfg.clone(),
        )
    });
    let peer_ips = &ips[1 + scenario.clients.len()..];
    // Where an answering peer listens.
    let listening = |name: &str| {
        let i = scenario.peers.iter().position(|p| p.name == name)?;
        let port = scenario.peers[i].port.unwrap_or(server_addr.port());
        Some(SocketAddr::new(peer_ips[i], port))
    };
    for (spec, ip) in scenario.clients.iter().zip(&ips[1..]) {
        let asked = spec.server.as_deref().and_then(listening);
        let cfg = ClientConfig {
            server: asked.unwrap_or(server_addr),
            id: ConnId::new(&spec.id).expect("checked when the scenario was read"),
            transport,
            timeout: spec.timeout.0,
            tries: spec.tries,
            settle: spec.settle.0,
        };
        let (rec, clock, mischief) = (
            world.rec.clone(),
            world.clock.on(*ip),
            world.mischief.clone(),
        );
        let host = client_host(rec, clock, mischief, *ip, spec.clone(), cfg);
        sim.client(spec.name.as_str(), host);
    }
    for (spec, ip) in scenario.peers.iter().zip(peer_ips) {
        let target = match spec.to.as_deref() {
            // An answering peer's own address, where it listens.
            _ if spec.answer => listening(&spec.name).unwrap_or(server_addr),
            None | Some(SERVER) => {
                SocketAddr::new(server_addr.ip(), spec.port.unwrap_or(server_addr.port()))
            }
            Some(client) => {
                let i = scenario
                    .clients
                    .iter()
                    .position(|c| c.name == client)
                    .expect("checked when the scenario was read");
                SocketAddr::new(ips[1 + i], spec.port.unwrap_or(FIRST_EPHEMERAL_PORT))
            }
        };
        let (rec, clock, mischief) = (
            world.rec.clone(),
            world.clock.on(*ip),
            world.mischief.clone(),
        );
        let peer = peer_host(rec, clock, mischief, *ip, spec.clone(), transport, target);
        sim.client(spec.name.as_str(), peer);
    }
}

/// Steps `sim` until the run is over or at its limit, applying each fault at its exact time: the
/// steps taken, and whether the limit was hit.
fn drive(
    sim: &mut turmoil::Sim<'static>,
    scenario: &Scenario,
    world: &World,
    ips: &[IpAddr],
) -> Result<(u64, bool), RunError> {
    let (net, limit) = (&scenario.network, scenario.limit.0);
    let faults = scenario.timeline();
    let mut next_fault = 0;
    let base = net.tick.0;
    let mut tick = base;
    let mut steps = 0;
    // A host that has not run yet has armed no deadline: the first step, and the one after a restart,
    // is a tick.
    let mut starting = true;
    let mut clients_done = false;
    loop {
        while let Some(fault) = faults.get(next_fault).filter(|f| f.at.0 <= sim.elapsed()) {
            starting |= apply(sim, fault, &world.rec, scenario, &world.mischief);
            next_fault += 1;
        }
        let over = |sim: &mut turmoil::Sim<'_>, clients_done: bool| {
            clients_done && next_fault == faults.len() && !sim.is_host_running(SERVER)
        };
        // A run that is over ends after the next step: a tick, as in fixed mode.
        let now = sim.elapsed();
        let mut end = if net.mode == TimeMode::Event && !starting && !over(sim, clients_done) {
            let next_fault_at = faults.get(next_fault).map(|f| f.at.0);
            let next = [
                world.deadlines.earliest(),
                sim.next_delivery(),
                next_fault_at,
                Some(limit),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(limit);
            jump_end(now, next, base)
        } else {
            next_boundary(now, base)
        };
        // A fault inside the step cuts it short: it happens at its exact time.
        if let Some(f) = faults.get(next_fault).filter(|f| f.at.0 < end) {
            end = f.at.0;
        }
        let next_tick = end - now;
        if next_tick != tick {
            sim.set_tick(next_tick);
            tick = next_tick;
        }
        // In event mode a host with nothing due in the step (no deadline, no message, not woken by
        // another host) is not ticked: it catches up when it next has something to do.
        if net.mode == TimeMode::Event {
            sim.set_resting(world.deadlines.resting(ips, end));
        }
        starting = false;
        steps += 1;
        clients_done = sim.step().map_err(|e| RunError {
            at: sim.elapsed(),
            message: e.to_string(),
        })?;
        if over(sim, clients_done) {
            return Ok((steps, false));
        }
        if sim.elapsed() >= limit {
            return Ok((steps, true));
        }
    }
}

/// The first tick boundary (a multiple of `tick` since the start) after `now`.
fn next_boundary(now: Duration, tick: Duration) -> Duration {
    let ticks = now.as_nanos() / tick.as_nanos() + 1;
    Duration::from_nanos(u64::try_from(ticks * tick.as_nanos()).unwrap_or(u64::MAX))
}

/// Where a jump from `now` ends: the last tick boundary before `next`, and at least the next one.
/// Nothing is due before `next`, and whatever is due then happens in the tick that follows, as with
/// fixed steps.
fn jump_end(now: Duration, next: Duration, tick: Duration) -> Duration {
    let before = next.as_nanos().saturating_sub(1) / tick.as_nanos() * tick.as_nanos();
    let before = Duration::from_nanos(u64::try_from(before).unwrap_or(u64::MAX));
    before.max(next_boundary(now, tick))
}

/// turmoil's own epoch, set so nothing depends on the real clock.
fn sim_epoch() -> SystemTime {
    let secs = epoch().and_utc().timestamp();
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or_default())
}

/// Applies one fault; true if it started the server's software again.
fn apply(
    sim: &mut turmoil::Sim<'_>,
    fault: &Fault,
    rec: &Recorder,
    scenario: &Scenario,
    mischief: &Mischief,
) -> bool {
    let [a, b] = fault.between.clone().unwrap_or_default();
    let (a, b) = (a.as_str(), b.as_str());
    let (what, whom) = if fault.oneway {
        ("from", "to")
    } else {
        ("between", "and")
    };
    let text = match fault.action {
        Action::Hold => format!("hold: messages between {a} and {b} wait"),
        Action::Release => format!("release: held messages between {a} and {b} go on"),
        Action::Partition => format!("partition: messages {what} {a} {whom} {b} are dropped"),
        Action::Repair => format!("repair: messages {what} {a} {whom} {b} get through again"),
        Action::Loss => format!(
            "loss: each message between {a} and {b} breaks the link with probability {}",
            fault.rate.unwrap_or_default()
        ),
        Action::Crash => "crash: the server's software stops; its table of IDs is lost".into(),
        Action::Restart => "restart: the server's software starts again".into(),
        Action::Heal => "heal: every partition repaired, every held message released, no loss, \
                         no jitter, no duplicates; the server runs"
            .into(),
    };
    rec.record(
        sim.elapsed(),
        "sim",
        EventKind::Fault {
            action: fault.action,
            text,
        },
    );
    let mut restarted = false;
    match fault.action {
        Action::Hold => sim.hold(a, b),
        Action::Release => sim.release(a, b),
        Action::Partition if fault.oneway => sim.partition_oneway(a, b),
        Action::Partition => sim.partition(a, b),
        Action::Repair if fault.oneway => sim.repair_oneway(a, b),
        Action::Repair => sim.repair(a, b),
        Action::Loss => sim.set_link_fail_rate(a, b, fault.rate.unwrap_or_default()),
        Action::Crash => {
            if sim.is_host_running(SERVER) {
                // Recorded first: the connections the crash closes follow it in the record.
                rec.record(sim.elapsed(), SERVER, EventKind::Crash);
                sim.crash(SERVER);
            }
        }
        Action::Restart => {
            // A server still running is stopped first: its table is lost as in a crash.
            if sim.is_host_running(SERVER) {
                rec.record(sim.elapsed(), SERVER, EventKind::Crash);
            }
            sim.bounce(SERVER);
            restarted = true;
        }
        Action::Heal => {
            let hosts = scenario.hosts();
            for (i, a) in hosts.iter().enumerate() {
                for b in &hosts[i + 1..] {
                    sim.repair(*a, *b);
                    sim.release(*a, *b);
                    sim.set_link_fail_rate(*a, *b, 0.0);
                }
            }
            sim.set_fail_rate(0.0);
            // No jitter either: with it turmoil can deliver a TCP segment after a later one.
            sim.set_max_message_latency(scenario.network.latency.0);
            mischief.calm();
            if !sim.is_host_running(SERVER) {
                sim.bounce(SERVER);
                restarted = true;
            }
        }
    }
    restarted
}

/// The command line that starts the real server as `cfg` says: every option that applies to its
/// transport (`--max-ids` and `--log` only when not the default), so a transcript's `start` line reproduces
/// the run.
pub fn server_command(port: u16, cfg: &ServerConfig) -> String {
    let mut line = format!(
        "server 0.0.0.0 {port} --transport {} --id-ttl {} --idle-timeout {}",
        cfg.transport,
        cfg.id_ttl.as_secs_f64(),
        cfg.idle_timeout.as_secs_f64(),
    );
    if cfg.transport == Transport::Tcp {
        line.push_str(&format!(
            " --line-timeout {} --settle {} --max-connections {}",
            cfg.line_timeout.as_secs_f64(),
            cfg.settle.as_secs_f64(),
            cfg.max_connections
        ));
    }
    if cfg.max_ids != connid::defaults::MAX_IDS {
        line.push_str(&format!(" --max-ids {}", cfg.max_ids));
    }
    if cfg.log != LogLevel::default() {
        line.push_str(&format!(" --log {}", cfg.log));
    }
    line
}

/// The command line that starts the real client as `cfg` says (see [`server_command`]).
pub fn client_command(cfg: &ClientConfig) -> String {
    let mut line = format!(
        "client HELLO {} {} {} --transport {} --timeout {} --tries {}",
        cfg.server.ip(),
        cfg.server.port(),
        cfg.id,
        cfg.transport,
        cfg.timeout.as_secs_f64(),
        cfg.tries
    );
    if cfg.transport == Transport::Tcp {
        line.push_str(&format!(" --settle {}", cfg.settle.as_secs_f64()));
    }
    line
}

async fn server_host(
    rec: Recorder,
    clock: SimClock,
    mischief: Mischief,
    addr: SocketAddr,
    cfg: ServerConfig,
) -> turmoil::Result {
    let net = SimNet::new(SERVER, addr.ip(), rec.clone(), mischief, clock.clone()).fallible();
    let mut console =
        ScriptedConsole::new(SERVER, rec.clone(), clock.clone(), &[], Duration::ZERO).buffered();
    rec.record(
        now(),
        SERVER,
        EventKind::Start(server_command(addr.port(), &cfg)),
    );
    let bind = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port());
    let transport = cfg.transport;
    match Server::bind(&net, bind, cfg).await {
        Ok(server) => {
            server.run(&clock, &mut console).await;
            rec.record(now(), SERVER, EventKind::Exit(0));
            net.flush_held().await;
        }
        Err(e) => {
            let note = ServerNote::CannotListen {
                transport,
                addr: bind,
                why: e.to_string(),
            };
            console.err(&note.to_string());
            rec.record(now(), SERVER, EventKind::Exit(2));
        }
    }
    Ok(())
}

async fn client_host(
    rec: Recorder,
    clock: SimClock,
    mischief: Mischief,
    ip: IpAddr,
    spec: ClientSpec,
    cfg: ClientConfig,
) -> turmoil::Result {
    clock::sleep(&clock, spec.start.0).await;
    let name = spec.name.as_str();
    rec.record(now(), name, EventKind::Start(client_command(&cfg)));
    let net = SimNet::new(name, ip, rec.clone(), mischief, clock.clone());
    let mut console =
        ScriptedConsole::new(name, rec.clone(), clock.clone(), &spec.typed, spec.typing.0);
    let outcome = run_client(&net, &clock, &mut console, &cfg).await;
    rec.record(now(), name, EventKind::Exit(outcome.exit_code()));
    net.flush_held().await;
    Ok(())
}

async fn peer_host(
    rec: Recorder,
    clock: SimClock,
    mischief: Mischief,
    ip: IpAddr,
    spec: PeerSpec,
    transport: Transport,
    target: SocketAddr,
) -> turmoil::Result {
    clock::sleep(&clock, spec.start.0).await;
    let name = spec.name.as_str();
    let started = if spec.answer {
        format!(
            "raw peer playing a server over {transport} on port {}: {} answers to each request{}",
            target.port(),
            spec.sends.len(),
            if spec.from_other_port && transport == Transport::Udp {
                ", from another port"
            } else {
                ""
            }
        )
    } else {
        format!(
            "raw peer: {} sends over {transport}{}{}",
            spec.sends.len(),
            match &spec.to {
                Some(to) if to != SERVER => format!(" to {to} at {target}"),
                _ => String::new(),
            },
            if spec.half_close && transport == Transport::Tcp {
                ", then a half-close"
            } else {
                ""
            }
        )
    };
    rec.record(now(), name, EventKind::Start(started));
    let net = SimNet::new(name, ip, rec.clone(), mischief, clock.clone());
    // A raw peer talks to a host that may hang up on it: failures are printed, never fatal.
    let talked = if spec.answer {
        answer(&net, &clock, &spec, transport, target.port()).await
    } else {
        send_raw(&net, &clock, &spec, transport, target).await
    };
    if let Err(e) = talked {
        rec.record(now(), name, EventKind::Err(format!("raw peer: {e}")));
    }
    rec.record(now(), name, EventKind::Exit(0));
    net.flush_held().await;
    Ok(())
}

/// What a raw peer that does not answer does: sends its payloads (`gap` apart) to `target`, then
/// reads whatever comes back for `wait`.
async fn send_raw(
    net: &SimNet,
    clock: &SimClock,
    spec: &PeerSpec,
    transport: Transport,
    target: SocketAddr,
) -> std::io::Result<()> {
    use connid::net::{Net, UdpSocket};
    let payloads: Vec<Vec<u8>> = spec
        .sends
        .iter()
        .map(|s| decode_payload(s).expect("checked when the scenario was read"))
        .collect();
    let mut buf = vec![0u8; 2048];
    match transport {
        Transport::Udp => {
            let socket = net
                .bind_udp(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
                .await?;
            for (i, payload) in payloads.iter().enumerate() {
                if i > 0 {
                    clock::sleep(clock, spec.gap.0).await;
                }
                socket.send_to(payload, target).await?;
            }
            // Whatever arrives is recorded as delivered by the socket itself.
            let _ = clock::timeout(clock, spec.wait.0, async {
                while socket.recv_from(&mut buf).await.is_ok() {}
            })
            .await;
        }
        Transport::Tcp => {
            // turmoil lets a connect to a stopped server hang: give up after `wait`.
            let connecting = clock::timeout(clock, spec.wait.0, net.connect_tcp(target)).await;
            let Some(connected) = connecting else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect not answered",
                ));
            };
            let mut stream = connected?;
            for (i, payload) in payloads.iter().enumerate() {
                if i > 0 {
                    clock::sleep(clock, spec.gap.0).await;
                }
                stream.write_all(payload).await?;
            }
            if spec.half_close {
                stream.shutdown().await?;
            }
            let _ = clock::timeout(clock, spec.wait.0, async {
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            })
            .await;
        }
    }
    Ok(())
}

/// An answering peer (UDP): answers each request with its `sends` (`{id}`, `{ip}` and `{port}`
/// filled in from the request), one request after another, until `wait` passes without one.
async fn answer(
    net: &SimNet,
    clock: &SimClock,
    spec: &PeerSpec,
    transport: Transport,
    port: u16,
) -> std::io::Result<()> {
    use connid::net::{Net, UdpSocket};
    let here = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    let mut buf = vec![0u8; 2048];
    let answers = |request: &[u8], from: SocketAddr| -> Vec<Vec<u8>> {
        let id = connid::protocol::parse_request(request)
            .map(|id| id.to_string())
            .unwrap_or_default();
        spec.sends
            .iter()
            .map(|s| {
                let text = s
                    .replace("{id}", &id)
                    .replace("{ip}", &from.ip().to_string())
                    .replace("{port}", &from.port().to_string());
                decode_payload(&text).unwrap_or_default()
            })
            .collect()
    };
    match transport {
        Transport::Udp => {
            let socket = net.bind_udp(here).await?;
            let other = match spec.from_other_port {
                true => Some(net.bind_udp(SocketAddr::new(here.ip(), 0)).await?),
                false => None,
            };
            let out = other.as_ref().unwrap_or(&socket);
            while let Some(got) =
                clock::timeout(clock, spec.wait.0, socket.recv_from(&mut buf)).await
            {
                let (n, from) = got?;
                for (i, a) in answers(&buf[..n], from).iter().enumerate() {
                    if i > 0 {
                        clock::sleep(clock, spec.gap.0).await;
                    }
                    out.send_to(a, from).await?;
                }
            }
        }
        // Checked when the scenario was read: a peer that answers is UDP only.
        Transport::Tcp => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{jump_end, next_boundary};
    use std::time::Duration;

    #[test]
    fn a_jump_ends_on_the_last_tick_boundary_before_what_is_due() {
        let ms = Duration::from_millis;
        let tick = ms(50);
        // Due at 1.000 s: stop at 0.950 s, so the tick that follows reaches it as fixed steps would.
        assert_eq!(jump_end(ms(0), ms(1000), tick), ms(950));
        assert_eq!(jump_end(ms(0), ms(1001), tick), ms(1000));
        assert_eq!(jump_end(ms(200), ms(1000), tick), ms(950));
        // Due within the next tick, now or already past: one tick.
        assert_eq!(jump_end(ms(200), ms(250), tick), ms(250));
        assert_eq!(jump_end(ms(200), ms(230), tick), ms(250));
        assert_eq!(jump_end(ms(200), ms(200), tick), ms(250));
        assert_eq!(jump_end(ms(200), ms(100), tick), ms(250));
        assert_eq!(jump_end(ms(0), ms(120_000), ms(1)), ms(119_999));
        // From off the grid (just after a fault), back onto it.
        assert_eq!(jump_end(ms(77_489), ms(77_600), ms(5)), ms(77_595));
        assert_eq!(jump_end(ms(77_489), ms(77_491), ms(5)), ms(77_490));
    }

    #[test]
    fn the_next_boundary_is_strictly_after_now_and_on_the_grid() {
        let ms = Duration::from_millis;
        assert_eq!(next_boundary(ms(0), ms(5)), ms(5));
        assert_eq!(next_boundary(ms(5), ms(5)), ms(10));
        assert_eq!(next_boundary(ms(77_489), ms(5)), ms(77_490));
        assert_eq!(next_boundary(ms(77_486), ms(5)), ms(77_490));
    }
}
