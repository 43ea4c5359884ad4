//! An explored session of either kind, a server's ([`Timeline`]) or a client's ([`ClientTimeline`]),
//! as the exploration handles it: its seed and size, shrinking candidates, saving and loading.

use std::path::Path;

use connid::Transport;

use super::client_plan::ClientTimeline;
use super::timeline::Timeline;

/// Which side of the protocol the program under test plays (the suites' own).
pub use crate::graded::Role;

/// One session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Server(Timeline),
    Client(ClientTimeline),
}

impl Plan {
    pub fn role(&self) -> Role {
        match self {
            Plan::Server(_) => Role::Server,
            Plan::Client(_) => Role::Client,
        }
    }

    pub fn seed(&self) -> u64 {
        match self {
            Plan::Server(t) => t.seed,
            Plan::Client(t) => t.seed,
        }
    }

    pub fn transport(&self) -> Transport {
        match self {
            Plan::Server(t) => t.transport,
            Plan::Client(t) => t.transport,
        }
    }

    /// Requests sent (a server's session), or tries answered by plan (a client's).
    pub fn requests(&self) -> usize {
        match self {
            Plan::Server(t) => t.requests(),
            Plan::Client(t) => t.requests(),
        }
    }

    /// Smaller sessions, most promising first.
    pub fn candidates(&self) -> Vec<Plan> {
        match self {
            Plan::Server(t) => super::shrink::candidates(t)
                .into_iter()
                .map(Plan::Server)
                .collect(),
            Plan::Client(t) => super::shrink::client_candidates(t)
                .into_iter()
                .map(Plan::Client)
                .collect(),
        }
    }

    /// As saved: a comment saying how to replay it, then the TOML.
    pub fn to_toml(&self, replay: &str) -> String {
        let body = match self {
            Plan::Server(t) => toml::to_string(t),
            Plan::Client(t) => toml::to_string(t),
        };
        format!("# {replay}\n{}", body.unwrap_or_default())
    }

    /// Reads a saved session of either kind (a client's names its `first_id`); the error says what
    /// is wrong and where.
    pub fn load(path: &Path) -> Result<Plan, String> {
        let at = |e: String| format!("{}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| at(one_line(&e)))?;
        let plan = match table.contains_key("first_id") {
            true => Plan::Client(toml::from_str(&text).map_err(|e| at(one_line(&e)))?),
            false => Plan::Server(toml::from_str(&text).map_err(|e| at(one_line(&e)))?),
        };
        let checked = match &plan {
            Plan::Server(t) => t.check(),
            Plan::Client(t) => t.check(),
        };
        checked.map_err(at)?;
        Ok(plan)
    }
}

/// A TOML error on one line.
fn one_line(e: &toml::de::Error) -> String {
    e.to_string()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_kind_of_session_loads_back_as_itself() {
        let dir = std::env::temp_dir().join(format!("conform-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let client = Plan::Client(super::super::generate::client_timeline(
            5,
            Transport::Udp,
            15_000,
        ));
        let server = Plan::Server(super::super::generate::timeline(5, Transport::Tcp, 30_000));
        for (name, plan) in [("c.toml", client), ("s.toml", server)] {
            let path = dir.join(name);
            std::fs::write(&path, plan.to_toml("replay: conform replay it -- CMD")).unwrap();
            assert_eq!(Plan::load(&path), Ok(plan));
        }
        let bad = dir.join("bad.toml");
        std::fs::write(
            &bad,
            "seed = 1\ntransport = \"tcp\"\ntimeout_ms = 1\nfirst_id = \"a b\"\n",
        )
        .unwrap();
        let err = Plan::load(&bad).unwrap_err();
        assert!(err.contains("bad.toml: first_id: "), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
