//! What a run of one or many implementations yields, before it is written out: each implementation
//! with its suite runs (the results of each suite and the note on its clock) and its explorations. The HTML page, the JSON
//! and the CSV are all written from it ([`crate::html`], [`crate::report`]); it depends on neither.

use super::CaseResult;

/// Which side of the protocol a suite judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Server,
    Client,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Server, Role::Client];

    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One suite run against one implementation: a note on the clock it ran on, if there is one, and its
/// results.
#[derive(Debug, Clone)]
pub struct SuiteRun {
    pub role: Role,
    pub note: Option<String>,
    pub results: Vec<CaseResult>,
}

/// One implementation, its suite runs, and what exploring it found (`conform matrix --explore`).
#[derive(Debug, Clone)]
pub struct Graded {
    pub name: String,
    pub runs: Vec<SuiteRun>,
    /// An exploration per suite and transport explored; none unless asked.
    pub explored: Vec<crate::explore::Exploration>,
}
