//! connid-sim: the real connid client and server inside turmoil's simulated network and virtual clock.
//!
//! A [`scenario::Scenario`] (a TOML file) names the hosts, the network and a timeline of faults;
//! [`runner::run`] plays it with the unchanged client and server code behind simulated seams
//! ([`net`], [`clock`], [`console`]), recording every event ([`events`]); [`transcript`] tells the
//! story as text, and [`diagram`] as a sequence diagram (Mermaid, or SVG for an offline report).
//!
//! The explorer turns seeds into scenarios ([`generate`]), checks each run against the protocol's
//! rules ([`oracle`]), counts the situations its runs reached and the faults that touched something
//! ([`coverage`]), and shrinks what fails ([`explore`]).
//!
//! It depends on `connid` for the code it runs (client, server, the seams' traits, the printed lines)
//! and shares its oracle, events and diagrams with `connid-conform`, which judges programs we did not
//! write by the same rules; it knows nothing of `conform`.

pub mod clock;
pub mod console;
pub mod coverage;
pub mod diagram;
pub mod events;
pub mod explore;
pub mod generate;
pub mod net;
pub mod oracle;
pub mod runner;
pub mod scenario;
pub mod transcript;
