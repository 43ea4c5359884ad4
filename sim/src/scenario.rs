//! Scenario files: one TOML file describes the hosts, the network and a timeline of faults.
//!
//! Reading a file either gives a checked [`Scenario`] or one [`ScenarioError`] line naming the file, the
//! field and the problem. Durations are written as `"250ms"`, `"1.5s"`, `"2m"` (units `us`, `ms`, `s`, `m`).

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use connid::defaults;
use connid::protocol::ConnId;
use connid::server::LogLevel;
use connid::Transport;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// The default step of the simulation: a hop takes 1 ms. Event mode jumps over idle time, so a fine
/// tick stays cheap (see the manual's speed table, docs/src/simulator.md).
pub const DEFAULT_TICK: Duration = Duration::from_millis(1);

/// The name the server host always has.
pub const SERVER: &str = "server";

/// A duration as written in a scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl Dur {
    pub const fn secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }
}

/// Parses `"250ms"`, `"1.5s"`, `"2m"`, `"100us"`, `"0"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("bad duration {text:?}: missing unit (us, ms, s or m)"))?;
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?}: {number:?} is not a number"))?;
    let scale = match unit {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        _ => {
            return Err(format!(
                "bad duration {text:?}: unknown unit {unit:?} (us, ms, s or m)"
            ))
        }
    };
    let secs = value * scale;
    // Scenario times are whole microseconds, the precision every transcript prints.
    let micros = (secs * 1e6).round();
    if !micros.is_finite() || micros > 1e15 {
        return Err(format!("bad duration {text:?}: too long"));
    }
    Ok(Duration::from_micros(micros as u64))
}

/// Formats a duration the way [`parse_duration`] reads it, in the shortest exact unit.
pub fn format_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us == 0 {
        "0".to_string()
    } else if us % 60_000_000 == 0 {
        format!("{}m", us / 60_000_000)
    } else if us % 1_000_000 == 0 {
        format!("{}s", us / 1_000_000)
    } else if us % 1_000 == 0 {
        format!("{}ms", us / 1_000)
    } else {
        format!("{us}us")
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// One scenario: who runs, on what network, and what goes wrong when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// One or two sentences: what the scenario shows.
    #[serde(default)]
    pub description: String,
    /// The transports to run the scenario on, each giving its own transcript.
    #[serde(default = "both_transports")]
    pub transports: Vec<Transport>,
    /// The simulation stops here even if hosts are still running.
    #[serde(default = "default_limit")]
    pub limit: Dur,
    #[serde(default)]
    pub server: ServerSpec,
    #[serde(default)]
    pub network: NetworkSpec,
    #[serde(default)]
    pub clients: Vec<ClientSpec>,
    #[serde(default)]
    pub peers: Vec<PeerSpec>,
    #[serde(default)]
    pub faults: Vec<Fault>,
}

fn is_zero(p: &f64) -> bool {
    *p == 0.0
}

fn both_transports() -> Vec<Transport> {
    Transport::ALL.to_vec()
}

fn default_limit() -> Dur {
    Dur::secs(600)
}

/// The server host (always named `server`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSpec {
    pub port: u16,
    pub id_ttl: Dur,
    pub idle_timeout: Dur,
    pub line_timeout: Dur,
    /// TCP: how long a whole request with no newline and no end of stream waits for more bytes.
    pub settle: Dur,
    pub max_connections: usize,
    /// Most IDs in use at once; a new ID beyond it gets no reply.
    pub max_ids: usize,
    /// How much the server logs about requests: `every`, `auto`, `summary` or `quiet`.
    pub log: LogLevel,
}

impl Default for ServerSpec {
    fn default() -> Self {
        Self {
            port: 5000,
            id_ttl: Dur(defaults::ID_TTL),
            idle_timeout: Dur(defaults::IDLE_TIMEOUT),
            line_timeout: Dur(defaults::LINE_TIMEOUT),
            settle: Dur(defaults::SETTLE),
            max_connections: defaults::MAX_CONNECTIONS,
            max_ids: defaults::MAX_IDS,
            log: LogLevel::default(),
        }
    }
}

/// The simulated network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSpec {
    /// turmoil's step: timers fire at their exact time whatever the tick, but a message is delivered
    /// at the first step boundary after its latency, so each hop takes up to one tick.
    pub tick: Dur,
    /// Least one-way delay of a message (each hop also waits for the next tick).
    pub latency: Dur,
    /// Extra random delay on top of `latency`, up to this much.
    pub jitter: Dur,
    /// Probability that a send breaks its link, dropping it and whatever is in flight on that link.
    pub loss: f64,
    /// Probability that a broken link is repaired at the next send (1.0: each loss is one message).
    pub repair: f64,
    /// UDP: probability that a datagram is sent twice (the copy is the network's, not the sender's).
    #[serde(skip_serializing_if = "is_zero")]
    pub duplicate: f64,
    /// UDP: probability that a datagram is held back up to `reorder_delay` longer, so later ones
    /// overtake it.
    #[serde(skip_serializing_if = "is_zero")]
    pub reorder: f64,
    pub reorder_delay: Dur,
    /// Probability that one of the server's socket calls fails: a receive reports an earlier
    /// datagram refused, a reply cannot be sent, an accept finds no file descriptor free.
    #[serde(skip_serializing_if = "is_zero")]
    pub socket_errors: f64,
    /// Seed of the simulation's random choices (latency, loss).
    pub seed: u64,
    /// How time moves between ticks: jumping over idle time, or one tick per step.
    pub mode: TimeMode,
}

/// How the runner moves simulated time; both give the same transcript.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TimeMode {
    /// One tick per step while a message is on its way, else one step to just before the next
    /// deadline, fault or the limit.
    #[default]
    Event,
    /// One tick per step, always.
    Fixed,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            tick: Dur(DEFAULT_TICK),
            latency: Dur::default(),
            jitter: Dur::default(),
            loss: 0.0,
            repair: 1.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Dur(Duration::from_millis(500)),
            socket_errors: 0.0,
            seed: 0,
            mode: TimeMode::Event,
        }
    }
}

/// A client: the real client code with a scripted keyboard.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub name: String,
    #[serde(default)]
    pub start: Dur,
    /// The connection ID on the command line.
    pub id: String,
    /// Lines typed at successive prompts; when they run out, input ends.
    #[serde(default)]
    pub typed: Vec<String>,
    /// How long the user takes to type each line (or to end input) after a prompt.
    #[serde(default)]
    pub typing: Dur,
    #[serde(default = "default_client_timeout")]
    pub timeout: Dur,
    #[serde(default = "default_tries")]
    pub tries: u32,
    /// TCP: how long a whole reply with no newline and no end of stream waits for more bytes.
    #[serde(default = "default_settle")]
    pub settle: Dur,
    /// The host it asks: the server (by default) or a raw peer that answers (`answer = true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

fn default_settle() -> Dur {
    Dur(defaults::SETTLE)
}

fn default_client_timeout() -> Dur {
    Dur(defaults::CLIENT_TIMEOUT)
}

fn default_tries() -> u32 {
    defaults::TRIES
}

/// A raw peer: sends arbitrary bytes to the server (for malformed input).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PeerSpec {
    pub name: String,
    #[serde(default)]
    pub start: Dur,
    /// Payloads sent one after another (UDP: one datagram each; TCP: one write each, on one
    /// connection). `\xNN` writes any byte.
    pub sends: Vec<String>,
    /// Time between two sends.
    #[serde(default)]
    pub gap: Dur,
    /// TCP: half-close the connection after the last send (the request is complete); otherwise the
    /// peer keeps sending open, as a classic client does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub half_close: bool,
    /// How long the peer waits for replies after its last send before it closes its socket.
    #[serde(default = "default_peer_wait")]
    pub wait: Dur,
    /// The host it sends to: the server (by default) or a client, whose sockets anyone may send to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The port it sends to: by default the server's, or for a client 49152, the first ephemeral port
    /// (its first try's socket; each new try takes the next one). An answering peer listens on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// UDP: the peer plays a server, wrongly if its `sends` say so: it listens on `port` and answers
    /// each request it reads (one after another) with `sends`, `gap` apart, where `{id}`, `{ip}` and `{port}` stand for the
    /// request's ID and source address; it stops once `wait` passes without a request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub answer: bool,
    /// UDP, for an answering peer: its answers leave from another socket than the one asked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_other_port: bool,
}

/// The first ephemeral port turmoil gives a host's sockets.
pub const FIRST_EPHEMERAL_PORT: u16 = 49152;

fn default_peer_wait() -> Dur {
    Dur::secs(1)
}

/// Decodes a peer payload: text, with `\xNN` for any byte.
pub fn decode_payload(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            let hex = text
                .get(i + 2..i + 4)
                .ok_or_else(|| format!("{text:?}: \\x needs two hex digits"))?;
            let byte = u8::from_str_radix(hex, 16)
                .map_err(|_| format!("{text:?}: \\x{hex} is not a hex byte"))?;
            out.push(byte);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// One change to the world at a virtual time. Link actions name two hosts in `between`; `oneway`
/// limits a partition or repair to messages from the first host to the second; `loss` sets `rate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub at: Dur,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<[String; 2]>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oneway: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Messages between two hosts wait (a TCP connect hangs) until `release`.
    Hold,
    /// Held messages are delivered; the link is healthy again.
    Release,
    /// Messages between two hosts are dropped (a TCP connect is refused); in-flight ones are lost.
    Partition,
    /// Ends a partition.
    Repair,
    /// Sets the loss probability of one link to `rate`.
    Loss,
    /// Stops the server's software at once; its table of IDs is lost.
    Crash,
    /// Starts the server's software again (after a crash, or after it exited).
    Restart,
    /// The end of trouble: every partition repaired, every held message released, no loss on any
    /// link, no more jitter, duplicated or reordered datagrams or socket errors, and a server that is not running
    /// started again. Clients that start after it, with no
    /// fault after it, must each be answered on their first try.
    Heal,
}

impl Action {
    fn is_link(self) -> bool {
        !matches!(self, Action::Crash | Action::Restart | Action::Heal)
    }
}

/// Why a scenario file cannot be used: one line naming the file, the field and the problem.
#[derive(Debug, Error)]
pub enum ScenarioError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `at`: `:LINE:COLUMN` where toml knows it, else empty.
    #[error("{path}{at}: {message}")]
    Parse {
        path: PathBuf,
        at: String,
        message: String,
    },
    #[error("{path}: {field}: {problem}")]
    Invalid {
        path: PathBuf,
        field: String,
        problem: String,
    },
}

impl Scenario {
    /// The faults in the order the runner applies them: by time, and in file order at the same time.
    pub fn timeline(&self) -> Vec<&Fault> {
        let mut faults: Vec<&Fault> = self.faults.iter().collect();
        faults.sort_by_key(|f| f.at);
        faults
    }

    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(&text, path)
    }

    /// Parses and checks scenario text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = serde_path_to_error::deserialize(toml::Deserializer::new(text))
            .map_err(|e| {
                let (at, message) = one_line(text, &e);
                ScenarioError::Parse {
                    path: path.to_path_buf(),
                    at,
                    message,
                }
            })?;
        scenario
            .check()
            .map_err(|(field, problem)| ScenarioError::Invalid {
                path: path.to_path_buf(),
                field,
                problem,
            })?;
        Ok(scenario)
    }

    /// The names of every host, server first, then clients and peers in file order.
    pub fn hosts(&self) -> Vec<&str> {
        std::iter::once(SERVER)
            .chain(self.clients.iter().map(|c| c.name.as_str()))
            .chain(self.peers.iter().map(|p| p.name.as_str()))
            .collect()
    }

    /// Checks what serde cannot: names, IDs, ranges; `Err` names the field and the problem.
    fn check(&self) -> Result<(), (String, String)> {
        self.check_settings()?;
        let mut names = BTreeSet::new();
        names.insert(SERVER);
        self.check_clients(&mut names)?;
        self.check_peers(&mut names)?;
        self.check_faults(&names)
    }

    /// The transports, the server's and the network's settings.
    fn check_settings(&self) -> Result<(), (String, String)> {
        if self.transports.is_empty() {
            return err(
                "transports".into(),
                "name at least one of \"udp\", \"tcp\"".into(),
            );
        }
        if self.server.port == 0 {
            return err("server.port".into(), "must be 1 to 65535".into());
        }
        for (field, d) in [
            ("server.id_ttl", self.server.id_ttl),
            ("server.idle_timeout", self.server.idle_timeout),
            ("server.line_timeout", self.server.line_timeout),
            ("server.settle", self.server.settle),
            ("limit", self.limit),
            ("network.tick", self.network.tick),
        ] {
            if d.0.is_zero() {
                return err(field.into(), "must be longer than 0".into());
            }
        }
        if self.server.max_ids == 0 {
            return err("server.max_ids".into(), "must be at least 1".into());
        }
        if self.server.max_connections == 0 {
            return err("server.max_connections".into(), "must be at least 1".into());
        }
        for (field, p) in [
            ("network.loss", self.network.loss),
            ("network.repair", self.network.repair),
            ("network.duplicate", self.network.duplicate),
            ("network.reorder", self.network.reorder),
            ("network.socket_errors", self.network.socket_errors),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return err(field.into(), format!("{p} is not a probability (0 to 1)"));
            }
        }
        Ok(())
    }

    /// Each client: a new name, a valid ID, timers and tries, a server that answers.
    fn check_clients<'s>(&'s self, names: &mut BTreeSet<&'s str>) -> Result<(), (String, String)> {
        for (i, c) in self.clients.iter().enumerate() {
            let at = |f: &str| format!("clients[{i}].{f}");
            check_name(&c.name, names).or_else(|p| err(at("name"), p))?;
            if let Err(e) = ConnId::new(&c.id) {
                return err(at("id"), e.to_string());
            }
            for (field, d) in [("timeout", c.timeout), ("settle", c.settle)] {
                if d.0.is_zero() {
                    return err(at(field), "must be longer than 0".into());
                }
            }
            if c.tries == 0 {
                return err(at("tries"), "must be at least 1".into());
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            if let Some(asked) = c.server.as_deref().filter(|s| *s != SERVER) {
                if !self.peers.iter().any(|p| p.name == asked && p.answer) {
                    return err(
                        format!("clients[{i}].server"),
                        format!("{asked:?} is neither the server nor a peer that answers"),
                    );
                }
            }
        }
        Ok(())
    }

    /// Each peer: a new name, what it sends, whom to, and what an answering peer may do.
    fn check_peers<'s>(&'s self, names: &mut BTreeSet<&'s str>) -> Result<(), (String, String)> {
        for (i, p) in self.peers.iter().enumerate() {
            let at = |f: &str| format!("peers[{i}].{f}");
            if p.answer && self.transports.contains(&Transport::Tcp) {
                return err(
                    at("answer"),
                    "a peer that answers is UDP only: set transports = [\"udp\"]".into(),
                );
            }
            if p.answer && p.to.is_some() {
                return err(
                    at("to"),
                    "a peer that answers sends to whoever asks it".into(),
                );
            }
            if p.from_other_port && !p.answer {
                return err(
                    at("from_other_port"),
                    "only a peer that answers has one".into(),
                );
            }
            check_name(&p.name, names).or_else(|e| err(at("name"), e))?;
            for (j, s) in p.sends.iter().enumerate() {
                if let Err(e) = decode_payload(s) {
                    return err(at(&format!("sends[{j}]")), e);
                }
            }
            if let Some(to) = &p.to {
                if to != SERVER && !self.clients.iter().any(|c| &c.name == to) {
                    return err(
                        at("to"),
                        format!("{to:?} is neither the server nor a client"),
                    );
                }
            }
            if p.port == Some(0) {
                return err(at("port"), "must be 1 to 65535".into());
            }
        }
        Ok(())
    }

    /// Each fault: hosts that exist, the options its action takes, a time within the limit.
    fn check_faults(&self, names: &BTreeSet<&str>) -> Result<(), (String, String)> {
        for (i, f) in self.faults.iter().enumerate() {
            let at = |field: &str| format!("faults[{i}].{field}");
            let name = format!("{:?}", f.action).to_lowercase();
            match (&f.between, f.action.is_link()) {
                (Some(between), true) => {
                    for h in between {
                        if !names.contains(h.as_str()) {
                            return err(at("between"), format!("unknown host {h:?}"));
                        }
                    }
                    if between[0] == between[1] {
                        return err(at("between"), "name two different hosts".into());
                    }
                }
                (None, true) => return err(at("between"), format!("{name} needs two hosts")),
                (Some(_), false) if f.action == Action::Heal => {
                    return err(at("between"), "heal acts on every link at once".into())
                }
                (Some(_), false) => {
                    return err(at("between"), format!("{name} acts on the server only"))
                }
                (None, false) => {}
            }
            if f.oneway && !matches!(f.action, Action::Partition | Action::Repair) {
                return err(
                    at("oneway"),
                    format!("only partition and repair can be one way, not {name}"),
                );
            }
            match (f.action, f.rate) {
                (Action::Loss, Some(rate)) if !(0.0..=1.0).contains(&rate) => {
                    return err(at("rate"), format!("{rate} is not a probability (0 to 1)"));
                }
                (Action::Loss, None) => return err(at("rate"), "loss needs a rate".into()),
                (Action::Loss, Some(_)) | (_, None) => {}
                (_, Some(_)) => {
                    return err(at("rate"), format!("only loss takes a rate, not {name}"))
                }
            }
            if f.at > self.limit {
                return err(
                    at("at"),
                    format!("{} is after the limit {}", f.at, self.limit),
                );
            }
        }
        Ok(())
    }
}

/// A check's failure: the field and the problem.
fn err<T>(field: String, problem: String) -> Result<T, (String, String)> {
    Err((field, problem))
}

fn check_name<'a>(name: &'a str, names: &mut BTreeSet<&'a str>) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(format!("{name:?}: use 1 to 32 letters, digits, '-' or '_'"));
    }
    if !names.insert(name) {
        return Err(format!("{name:?} is used twice"));
    }
    Ok(())
}

/// Squeezes toml's multi-line error report into one line: where (`:LINE:COLUMN`, 1-based, or empty)
/// and what (after the key path, such as `clients[0].start`, where there is one).
fn one_line(text: &str, e: &serde_path_to_error::Error<toml::de::Error>) -> (String, String) {
    let inner = e.inner();
    let message = inner.message().trim().replace('\n', " ");
    let key = e.path().to_string();
    let key = (key != ".").then_some(key);
    let at = inner.span().map_or_else(String::new, |span| {
        let before = text.get(..span.start).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.chars().rev().take_while(|&c| c != '\n').count() + 1;
        format!(":{line}:{column}")
    });
    match key {
        Some(key) => (at, format!("{key}: {message}")),
        None => (at, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, String> {
        Scenario::parse(text, Path::new("t.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn durations_read_and_write_in_their_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_duration("5h").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("s").unwrap_err().contains("not a number"));
        assert!(parse_duration("-1s").is_err());
        for d in ["0", "29999ms", "30s", "2m", "1500ms", "7us"] {
            assert_eq!(format_duration(parse_duration(d).unwrap()), d);
        }
    }

    #[test]
    fn payloads_decode_hex_escapes() {
        assert_eq!(decode_payload("HELLO 1"), Ok(b"HELLO 1".to_vec()));
        assert_eq!(decode_payload("\\xff\\x00a"), Ok(vec![0xff, 0, b'a']));
        assert!(decode_payload("\\xzz").is_err());
        assert!(decode_payload("\\x1").is_err());
    }

    #[test]
    fn a_minimal_scenario_gets_the_defaults() {
        let s = parse("[[clients]]\nname = \"alice\"\nid = \"9876\"\n").unwrap();
        assert_eq!(s.transports, both_transports());
        assert_eq!(s.server, ServerSpec::default());
        assert_eq!(s.clients[0].timeout, Dur::secs(15));
        assert_eq!(s.clients[0].tries, 3);
        assert_eq!(s.hosts(), ["server", "alice"]);
    }

    #[test]
    fn faults_read_by_action() {
        let s = parse(
            "[[faults]]\nat = \"1s\"\naction = \"partition\"\nbetween = [\"a\", \"server\"]\noneway = true\n\
             [[faults]]\nat = \"2s\"\naction = \"crash\"\n\
             [[clients]]\nname = \"a\"\nid = \"1\"\n",
        )
        .unwrap();
        assert_eq!(s.faults[0].action, Action::Partition);
        assert_eq!(
            s.faults[0].between,
            Some(["a".to_string(), "server".to_string()])
        );
        assert!(s.faults[0].oneway);
        assert_eq!(s.faults[1].action, Action::Crash);
    }

    #[test]
    fn bad_files_give_one_line_naming_file_field_and_problem() {
        let cases = [
            ("bogus = 1\n", "unknown field `bogus`"),
            ("[server]\nid_ttl = \"30x\"\n", "unknown unit"),
            ("[server]\nport = 0\n", "server.port: must be 1 to 65535"),
            ("[[clients]]\nname = \"a\"\nid = \"has space\"\n", "clients[0].id:"),
            ("[[clients]]\nname = \"a\"\nid = \"1\"\ntries = 0\n", "clients[0].tries: must be at least 1"),
            ("[[clients]]\nname = \"a\"\nid = \"1\"\n[[clients]]\nname = \"a\"\nid = \"2\"\n", "clients[1].name: \"a\" is used twice"),
            ("[[clients]]\nname = \"server\"\nid = \"1\"\n", "clients[0].name: \"server\" is used twice"),
            ("[[faults]]\nat = \"1s\"\naction = \"hold\"\nbetween = [\"x\", \"server\"]\n", "faults[0].between: unknown host \"x\""),
            ("[[faults]]\nat = \"1s\"\naction = \"explode\"\n", "unknown variant `explode`"),
            ("[network]\nloss = 2.0\n", "network.loss: 2 is not a probability"),
            ("[[faults]]\nat = \"1s\"\naction = \"hold\"\n", "faults[0].between: hold needs two hosts"),
            ("[[faults]]\nat = \"1s\"\naction = \"crash\"\nbetween = [\"server\", \"server\"]\n", "faults[0].between: crash acts on the server only"),
            ("[[faults]]\nat = \"1s\"\naction = \"heal\"\nbetween = [\"server\", \"a\"]\n", "faults[0].between: heal acts on every link at once"),
            ("[network]\nduplicate = 1.5\n", "network.duplicate: 1.5 is not a probability (0 to 1)"),
            ("[network]\nreorder = -0.1\n", "network.reorder: -0.1 is not a probability (0 to 1)"),
            ("[[faults]]\nat = \"1s\"\naction = \"crash\"\nrate = 0.5\n", "faults[0].rate: only loss takes a rate"),
            ("[[faults]]\nat = \"1s\"\naction = \"hold\"\nbetween = [\"server\", \"a\"]\noneway = true\n[[clients]]\nname = \"a\"\nid = \"1\"\n", "faults[0].oneway: only partition and repair"),
            ("transports = [\"sctp\"]\n", "unknown variant `sctp`"),
            ("[[peers]]\nname = \"p\"\nsends = [\"\\\\xg0\"]\n", "peers[0].sends[0]:"),
            ("[[peers]]\nname = \"p\"\nsends = [\"x\"]\nto = \"p\"\n", "peers[0].to: \"p\" is neither the server nor a client"),
            ("[[peers]]\nname = \"p\"\nsends = [\"x\"]\nport = 0\n", "peers[0].port: must be 1 to 65535"),
            ("[[clients]]\nname = \"a\"\nid = \"1\"\nserver = \"p\"\n[[peers]]\nname = \"p\"\nsends = [\"x\"]\n", "clients[0].server: \"p\" is neither the server nor a peer that answers"),
            ("transports = [\"udp\"]\n[[peers]]\nname = \"p\"\nsends = [\"x\"]\nanswer = true\nto = \"server\"\n", "peers[0].to: a peer that answers sends to whoever asks it"),
            ("[[peers]]\nname = \"p\"\nsends = [\"x\"]\nanswer = true\n", "peers[0].answer: a peer that answers is UDP only"),
            ("[[peers]]\nname = \"p\"\nsends = [\"x\"]\nfrom_other_port = true\n", "peers[0].from_other_port: only a peer that answers has one"),
            ("[[faults]]\nat = \"11m\"\naction = \"crash\"\n", "faults[0].at: 11m is after the limit 10m"),
        ];
        for (text, expected) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with("t.toml:"), "{e}");
            assert!(e.contains(expected), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn a_syntax_or_type_error_names_its_line_column_and_key_path() {
        for (text, expected) in [
            (
                "[server]\nttl = \"30s\"\n",
                "t.toml:2:1: server.ttl: unknown field `ttl`",
            ),
            (
                "[[clients]]\nname = \"a\"\nid = \"1\"\nstart = \"soon\"\n",
                "t.toml:4:9: clients[0].start: bad duration \"soon\"",
            ),
            (
                "[[clients]]\nname = \"a\"\nid = \"1\"\n[[clients]]\nname = \"b\"\nid = 5\n",
                "t.toml:6:6: clients[1].id: invalid type: integer `5`, expected a string",
            ),
            ("[[clients\n", "t.toml:1:10: invalid table header"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with(expected), "{text:?}: {e}");
        }
    }
}
