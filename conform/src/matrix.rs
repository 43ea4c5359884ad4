//! `conform matrix`: many implementations, listed in a TOML manifest, judged by both suites in one
//! run: every case of every implementation is one job in one queue, run a bounded number at a time
//! (each with its own child and port), so a class's submissions take about as long as their cases
//! added up, divided by the jobs. A command the manifest does not give is `unsupported`.
//!
//! ```toml
//! [[implementation]]
//! name = "alice"
//! dir = "alice"                                   # relative to the manifest; default: its directory
//! server = "python3 server.py {ip} {port} {transport}"   # one command for both transports
//! client = { udp = ["python3", "client.py", "HELLO", "{ip}", "{port}", "{id}"] }   # UDP only
//! explore = 200                                   # seeds to explore it with (else --explore's)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use connid::Transport;

use super::graded::{Graded, Role, SuiteRun};
use super::{
    client_cases, jobs_wall, pace_of, planned, run_first_first, server_cases, CaseResult, Options,
    Pace, Planned, Program, Progress, Verdict,
};

/// One implementation from the manifest: its name, and its commands per suite and transport (each
/// already set to run in the implementation's directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Implementation {
    pub name: String,
    pub dir: PathBuf,
    pub commands: BTreeMap<(Role, Transport), Program>,
    /// Seeds to explore it with, if the manifest says (else `--explore`'s).
    pub explore: Option<u64>,
}

/// What is wrong with a manifest, in one line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ManifestError(String);

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    implementation: Vec<Entry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    dir: Option<PathBuf>,
    server: Option<toml::Value>,
    client: Option<toml::Value>,
    explore: Option<u64>,
}

/// A command: a string split at whitespace, or a list of arguments (for one that holds a space).
fn command(value: &toml::Value, what: &str) -> Result<Vec<String>, ManifestError> {
    let argv: Vec<String> = match value {
        toml::Value::String(line) => line.split_whitespace().map(String::from).collect(),
        toml::Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or_else(|| ManifestError(format!("{what}: every argument must be a string")))?,
        _ => {
            return Err(ManifestError(format!(
                "{what}: expected a command (a string, or a list of strings)"
            )))
        }
    };
    if argv.is_empty() {
        return Err(ManifestError(format!("{what}: the command is empty")));
    }
    Ok(argv)
}

/// A suite's commands: one for both transports, or a table of `udp` and `tcp` (a missing one is
/// not supported).
fn commands(
    value: &toml::Value,
    what: &str,
) -> Result<Vec<(Transport, Vec<String>)>, ManifestError> {
    let toml::Value::Table(table) = value else {
        let argv = command(value, what)?;
        return Ok(Transport::ALL.iter().map(|&t| (t, argv.clone())).collect());
    };
    if let Some(other) = table.keys().find(|k| *k != "udp" && *k != "tcp") {
        return Err(ManifestError(format!(
            "{what}: unknown transport {other:?} (udp or tcp)"
        )));
    }
    Transport::ALL
        .iter()
        .filter_map(|&t| table.get(&t.to_string()).map(|v| (t, v)))
        .map(|(t, v)| Ok((t, command(v, &format!("{what}.{t}"))?)))
        .collect()
}

/// The implementations `text` lists, their directories relative to `base` (the manifest's own).
pub fn parse(text: &str, base: &Path) -> Result<Vec<Implementation>, ManifestError> {
    let file: File = toml::from_str(text).map_err(|e| {
        let message = e.message().to_string();
        let at = e
            .span()
            .map(|s| {
                let line = text.as_bytes()[..s.start.min(text.len())]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1;
                format!("line {line}: ")
            })
            .unwrap_or_default();
        ManifestError(format!("{at}{message}"))
    })?;
    if file.implementation.is_empty() {
        return Err(ManifestError(
            "no [[implementation]] in the manifest".into(),
        ));
    }
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for (i, entry) in file.implementation.into_iter().enumerate() {
        let what = format!("implementation {} ({:?})", i + 1, entry.name);
        if entry.name.trim().is_empty() {
            return Err(ManifestError(format!(
                "implementation {}: the name is empty",
                i + 1
            )));
        }
        if seen.contains(&entry.name) {
            return Err(ManifestError(format!("{what}: the name is used twice")));
        }
        seen.push(entry.name.clone());
        let dir = base.join(entry.dir.unwrap_or_default());
        if !dir.is_dir() {
            return Err(ManifestError(format!(
                "{what}: no directory {}",
                dir.display()
            )));
        }
        let mut commands_of = BTreeMap::new();
        for (role, value) in [(Role::Server, &entry.server), (Role::Client, &entry.client)] {
            let Some(value) = value else { continue };
            for (transport, argv) in commands(value, &format!("{what}: {role}"))? {
                let program = Program {
                    argv,
                    dir: Some(dir.clone()),
                };
                commands_of.insert((role, transport), program);
            }
        }
        if commands_of.is_empty() {
            return Err(ManifestError(format!(
                "{what}: neither a server nor a client command"
            )));
        }
        out.push(Implementation {
            name: entry.name,
            dir,
            commands: commands_of,
            explore: entry.explore,
        });
    }
    Ok(out)
}

/// The manifest at `path`.
pub fn load(path: &Path) -> Result<Vec<Implementation>, ManifestError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ManifestError(format!("cannot read {}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base).map_err(|e| ManifestError(format!("{}: {e}", path.display())))
}

/// What a matrix run tells its caller as it goes.
#[derive(Debug)]
pub enum MatrixProgress<'a> {
    /// Before the first case: how many results will come and about how long the run will take.
    Plan {
        implementations: usize,
        results: usize,
        expected: std::time::Duration,
        /// Whether the programs run on the virtual clock.
        virtual_clock: bool,
    },
    /// A case ended; `done` of the `total` have.
    Ended { done: usize, total: usize },
    /// Every case of the next implementation (in the manifest's order) has ended.
    Graded(&'a Graded),
}

/// The jobs of one suite against one implementation: each chosen case on a transport the manifest
/// has a command for, at `pace`; every other one `unsupported` at once.
fn suite_jobs<C: super::Case>(
    chosen: Vec<(C, Transport)>,
    imp: &Implementation,
    role: Role,
    pace: Pace,
) -> Vec<Planned> {
    chosen
        .into_iter()
        .map(
            |(case, transport)| match imp.commands.get(&(role, transport)) {
                Some(program) => planned(vec![(case, transport)], program, pace)
                    .pop()
                    .expect("one job per case"),
                None => {
                    // Every result the case gives, its own and any judged on its run.
                    let results: Vec<CaseResult> = case
                        .blanks(transport)
                        .into_iter()
                        .map(|blank| CaseResult {
                            verdict: Verdict::Unsupported(format!(
                                "the manifest gives no {role} command for {transport}"
                            )),
                            ..blank
                        })
                        .collect();
                    Planned {
                        long: false,
                        estimate: std::time::Duration::ZERO,
                        results: results.len(),
                        blanks: results.clone(),
                        job: Box::pin(async move { results }),
                        group: transport as u64,
                    }
                }
            },
        )
        .collect()
}

/// Judges every implementation by both suites on `options`' transports, telling `progress` as it
/// goes; the results come back in the manifest's order.
pub async fn run_matrix(
    implementations: &[Implementation],
    options: &Options,
    mut progress: impl FnMut(MatrixProgress<'_>),
) -> Vec<Graded> {
    let (pace, note) = pace_of(options);
    // Every case of every implementation in one queue, in the manifest's and the suites' order.
    let mut jobs = Vec::new();
    // Each implementation's suite runs as (role, how many jobs, the run's note).
    let mut shape: Vec<Vec<(Role, usize, Option<String>)>> = Vec::new();
    for (n, imp) in implementations.iter().enumerate() {
        let mut runs = Vec::new();
        for (r, role) in Role::ALL.into_iter().enumerate() {
            let (transports, quick, only) =
                (&options.transports, options.quick, options.only.as_deref());
            let suite = match role {
                Role::Server => suite_jobs(
                    server_cases::selected(transports, quick, only),
                    imp,
                    role,
                    pace,
                ),
                Role::Client => suite_jobs(
                    client_cases::selected(transports, quick, only),
                    imp,
                    role,
                    pace,
                ),
            };
            runs.push((role, suite.len(), note.clone()));
            // One group per implementation, suite and transport (the transport's is 0 or 1).
            let base = ((n * Role::ALL.len() + r) * 2) as u64;
            jobs.extend(suite.into_iter().map(|mut job| {
                job.group += base;
                job
            }));
        }
        shape.push(runs);
    }
    let results: usize = jobs.iter().map(|p| p.results).sum();
    progress(MatrixProgress::Plan {
        implementations: implementations.len(),
        results,
        expected: jobs_wall(&jobs, options.jobs),
        virtual_clock: pace.virtual_clock,
    });
    // Each implementation is told as soon as its jobs and those of every one before it have
    // ended: the jobs come back in the queue's order.
    let mut shapes = shape.into_iter();
    let mut names = implementations.iter().map(|imp| imp.name.clone());
    let mut pending: Vec<Vec<CaseResult>> = Vec::new();
    let mut graded: Vec<Graded> = Vec::new();
    let mut next = shapes.next();
    run_first_first(jobs, options.jobs, |p| match p {
        Progress::Ended { done, total } => progress(MatrixProgress::Ended { done, total }),
        Progress::Results(rs) => {
            pending.push(rs.to_vec());
            while let Some(runs) =
                next.take_if(|runs| pending.len() >= runs.iter().map(|(_, n, _)| n).sum::<usize>())
            {
                let mut jobs = std::mem::take(&mut pending).into_iter();
                let name = names.next().unwrap_or_default();
                graded.push(graded_of(name, runs, &mut jobs));
                pending.extend(jobs);
                progress(MatrixProgress::Graded(graded.last().expect("just pushed")));
                next = shapes.next();
            }
        }
        Progress::Plan { .. } => {}
    })
    .await;
    // Those with no case to run (all filtered out) come last, empty.
    while let Some(runs) = next.take() {
        let name = names.next().unwrap_or_default();
        graded.push(graded_of(name, runs, &mut pending.drain(..)));
        progress(MatrixProgress::Graded(graded.last().expect("just pushed")));
        next = shapes.next();
    }
    graded
}

/// What exploring a class tells its caller as it goes.
pub enum ExploreProgress<'a> {
    /// An exploration of `name`'s program for a suite and transport is about to start.
    Starting {
        name: &'a str,
        role: Role,
        transport: Transport,
        seeds: u64,
    },
    /// It has ended.
    Explored {
        name: &'a str,
        exploration: &'a crate::explore::Exploration,
    },
}

/// Explores every implementation's server and client, on each transport it has a command for, with
/// its own seed count from the manifest or else `seeds` (0: not explored), `jobs` sessions at once
/// on `options`' pace; each implementation's findings are saved under `save`/its name. The
/// explorations go into `graded`, in the manifest's order.
pub async fn explore_all(
    implementations: &[Implementation],
    graded: &mut [Graded],
    seeds: u64,
    options: &Options,
    save: &Path,
    mut progress: impl FnMut(ExploreProgress<'_>),
) {
    let (pace, _) = pace_of(options);
    let slugs = dir_names(implementations);
    for ((imp, g), slug) in implementations.iter().zip(graded.iter_mut()).zip(slugs) {
        let seeds = imp.explore.unwrap_or(seeds);
        if seeds == 0 {
            continue;
        }
        for (&(role, transport), program) in &imp.commands {
            if !options.transports.contains(&transport) {
                continue;
            }
            let name = imp.name.as_str();
            progress(ExploreProgress::Starting {
                name,
                role,
                transport,
                seeds,
            });
            let asked = crate::explore::Explore {
                role,
                seeds,
                from: 0,
                transports: vec![transport],
                jobs: options.jobs,
                pace,
                save: save.join(&slug),
                command: program.argv.join(" "),
            };
            let exploration = crate::explore::explore(program, &asked, |_| {}).await;
            g.explored.push(exploration);
            let exploration = g.explored.last().expect("just pushed");
            progress(ExploreProgress::Explored { name, exploration });
        }
    }
}

/// Each implementation's name as a directory name: letters, digits, `.`, `_` and `-` kept, any other
/// character `_`, no leading dot (`implementation` if nothing is left); a name that comes out as an
/// earlier one's gets `-2`, `-3`, ...
fn dir_names(implementations: &[Implementation]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for imp in implementations {
        let base: String = imp
            .name
            .chars()
            .map(|c| match c.is_ascii_alphanumeric() || "._-".contains(c) {
                true => c,
                false => '_',
            })
            .collect();
        let base = match base.trim_start_matches('.') {
            "" => "implementation".to_string(),
            rest => rest.to_string(),
        };
        let mut name = base.clone();
        let mut n = 1;
        while out.contains(&name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        out.push(name);
    }
    out
}

/// An implementation's suite runs from its jobs' results, in the queue's order: `runs` says each
/// run's suite, how many jobs it has and its note.
fn graded_of(
    name: String,
    runs: Vec<(Role, usize, Option<String>)>,
    jobs: &mut impl Iterator<Item = Vec<CaseResult>>,
) -> Graded {
    let runs = runs
        .into_iter()
        .map(|(role, n, note)| {
            let mut results: Vec<CaseResult> = jobs.by_ref().take(n).flatten().collect();
            super::all_depends(&mut results);
            SuiteRun {
                role,
                note,
                results,
            }
        })
        .collect();
    Graded {
        name,
        runs,
        explored: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timing;

    fn parsed(text: &str) -> Result<Vec<Implementation>, String> {
        parse(text, Path::new(env!("CARGO_MANIFEST_DIR"))).map_err(|e| e.to_string())
    }

    fn argv(imp: &Implementation, role: Role, t: Transport) -> Option<Vec<&str>> {
        imp.commands
            .get(&(role, t))
            .map(|p| p.argv.iter().map(String::as_str).collect())
    }

    /// A transport the manifest gives no command for is a group of its own: the first case of the
    /// other transport, finding the program absent, must not make these not judged.
    #[test]
    fn each_transport_of_a_suite_is_a_group_of_its_own() {
        let imps = parsed(
            r#"
            [[implementation]]
            name = "udp only"
            server = { udp = "./srv {port}" }
            "#,
        )
        .unwrap();
        let chosen = server_cases::selected(&Transport::ALL, true, None);
        let jobs = suite_jobs(chosen, &imps[0], Role::Server, Pace::real(Timing::Exact));
        let groups = |t: u64| jobs.iter().filter(|j| j.group == t).count();
        let udp = server_cases::selected(&[Transport::Udp], true, None).len();
        let tcp = server_cases::selected(&[Transport::Tcp], true, None).len();
        assert_eq!((groups(0), groups(1)), (udp, tcp));
    }

    #[test]
    fn each_implementation_explores_in_a_directory_of_its_own() {
        let imps = parsed(
            r#"
            [[implementation]]
            name = "o'brien/pat"
            server = "./srv {port}"
            explore = 7

            [[implementation]]
            name = "o'brien pat"
            server = "./srv {port}"

            [[implementation]]
            name = ".."
            server = "./srv {port}"
            "#,
        )
        .unwrap();
        assert_eq!(
            dir_names(&imps),
            ["o_brien_pat", "o_brien_pat-2", "implementation"],
            "no separator, no parent directory, no two alike"
        );
        assert_eq!((imps[0].explore, imps[1].explore), (Some(7), None));
    }

    #[test]
    fn a_command_is_a_line_a_list_or_a_table_of_transports() {
        let imps = parsed(
            r#"
            [[implementation]]
            name = "alice"
            server = "python3  server.py {port}"
            client = ["python3", "my client.py", "{id}"]

            [[implementation]]
            name = "bob"
            dir = "src"
            server = { tcp = "./srv {port}" }
            "#,
        )
        .unwrap();
        let base = Path::new(env!("CARGO_MANIFEST_DIR"));
        let alice = &imps[0];
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.dir, base.join(""));
        for t in Transport::ALL {
            assert_eq!(
                argv(alice, Role::Server, t).unwrap(),
                ["python3", "server.py", "{port}"]
            );
            assert_eq!(
                argv(alice, Role::Client, t).unwrap(),
                ["python3", "my client.py", "{id}"]
            );
        }
        let bob = &imps[1];
        assert_eq!(bob.dir, base.join("src"));
        assert_eq!(
            argv(bob, Role::Server, Transport::Tcp).unwrap(),
            ["./srv", "{port}"]
        );
        assert_eq!(argv(bob, Role::Server, Transport::Udp), None);
        assert_eq!(argv(bob, Role::Client, Transport::Tcp), None);
        let program = &bob.commands[&(Role::Server, Transport::Tcp)];
        assert_eq!(program.dir.as_deref(), Some(base.join("src").as_path()));
    }

    #[test]
    fn a_bad_manifest_is_refused_in_one_line_that_says_where() {
        let cases = [
            ("", "no [[implementation]] in the manifest"),
            (
                "[[implementation]]\nname = \"a\"\nserver = 3\n",
                "implementation 1 (\"a\"): server: expected a command (a string, or a list of strings)",
            ),
            (
                "[[implementation]]\nname = \"a\"\nserver = \"  \"\n",
                "implementation 1 (\"a\"): server: the command is empty",
            ),
            (
                "[[implementation]]\nname = \"a\"\nclient = [\"x\", 1]\n",
                "implementation 1 (\"a\"): client: every argument must be a string",
            ),
            (
                "[[implementation]]\nname = \"a\"\nserver = { udp = \"x\", quic = \"y\" }\n",
                "implementation 1 (\"a\"): server: unknown transport \"quic\" (udp or tcp)",
            ),
            (
                "[[implementation]]\nname = \"a\"\nserver = { tcp = [] }\n",
                "implementation 1 (\"a\"): server.tcp: the command is empty",
            ),
            (
                "[[implementation]]\nname = \"a\"\n",
                "implementation 1 (\"a\"): neither a server nor a client command",
            ),
            (
                "[[implementation]]\nname = \" \"\nserver = \"x\"\n",
                "implementation 1: the name is empty",
            ),
            (
                "[[implementation]]\nname = \"a\"\nserver = \"x\"\n[[implementation]]\nname = \"a\"\nserver = \"y\"\n",
                "implementation 2 (\"a\"): the name is used twice",
            ),
            (
                "[[implementation]]\nname = \"a\"\ndir = \"no-such-dir\"\nserver = \"x\"\n",
                "implementation 1 (\"a\"): no directory ",
            ),
            (
                "[[implementation]]\nname = \"a\"\nsrv = \"x\"\n",
                "line 3: unknown field `srv`",
            ),
            ("[[implementation]]\nname = \"a\nserver = 1\n", "line 2: "),
        ];
        for (text, expected) in cases {
            let e = parsed(text).unwrap_err();
            assert!(e.starts_with(expected), "{text:?}: {e:?}");
            assert!(!e.contains('\n'), "{text:?}: {e:?}");
        }
    }

    #[test]
    fn loading_names_the_file_and_resolves_directories_beside_it() {
        let missing = load(Path::new("/no/such/manifest.toml")).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("cannot read /no/such/manifest.toml: "),
            "{missing}"
        );
        let fixtures =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conform/submissions.toml");
        let imps = load(&fixtures).unwrap();
        let names: Vec<&str> = imps.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["correct", "classic", "defects", "udp server only"]);
        assert!(imps[1].dir.join("classic_server.py").is_file());
        assert!(imps[0].dir.join("server.py").is_file());
    }

    #[test]
    fn each_suite_run_takes_its_own_jobs_in_order() {
        let r = |id| {
            vec![CaseResult::new(
                id,
                "",
                super::super::Level::Required,
                Transport::Udp,
            )]
        };
        let mut jobs = vec![r("s1"), r("s2"), r("c1"), r("next")].into_iter();
        let g = graded_of(
            "a".into(),
            vec![(Role::Server, 2, None), (Role::Client, 1, Some("n".into()))],
            &mut jobs,
        );
        let ids: Vec<Vec<&str>> = g
            .runs
            .iter()
            .map(|run| run.results.iter().map(|r| r.id).collect())
            .collect();
        assert_eq!(ids, [vec!["s1", "s2"], vec!["c1"]]);
        assert_eq!(g.runs[1].note.as_deref(), Some("n"));
        assert_eq!(jobs.next().unwrap()[0].id, "next");
    }
}
