//! The scenario suite, one trial per file: every file in `sim/scenarios/` runs on each transport it
//! names, twice; the two transcripts must be byte-identical (determinism) and must match the reviewed
//! snapshot in the top-level `snapshots/` directory. A third run in fixed-tick mode must give the same
//! bytes too: event mode's jumps over idle time change nothing. Adding a scenario is adding one file.

use std::path::{Path, PathBuf};

use connid::Transport;
use connid_sim::runner;
use connid_sim::scenario::{Scenario, TimeMode};
use connid_sim::transcript;

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("sim/scenarios exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings
}

/// Runs one file on each of its transports, twice: (snapshot name, transcript).
fn transcripts(path: &Path) -> Vec<(String, String)> {
    let scenario = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
    let name = stem(path);
    scenario
        .transports
        .iter()
        .map(|&t| {
            let tell = |run: &runner::Run| transcript::text(&name, &scenario.description, run);
            let first = runner::run(&scenario, t).unwrap_or_else(|e| panic!("{name} {t:?}: {e}"));
            let again = runner::run(&scenario, t).unwrap_or_else(|e| panic!("{name} {t:?}: {e}"));
            assert!(!first.hit_limit, "{name} over {t:?} ran into its limit");
            let text = tell(&first);
            assert_eq!(text, tell(&again), "{name} over {t:?} is not deterministic");
            let mut fixed = scenario.clone();
            fixed.network.mode = TimeMode::Fixed;
            let stepped = runner::run(&fixed, t).unwrap_or_else(|e| panic!("{name} {t:?}: {e}"));
            assert_eq!(
                text,
                tell(&stepped),
                "{name} over {t:?}: event mode and fixed mode differ"
            );
            // Every scenario idles for most of its time: jumping over it takes a small fraction of
            // the steps (a deadline left armed by a finished host would make every step one tick).
            assert!(
                first.steps * 50 < stepped.steps,
                "{name} over {t:?}: event mode took {} steps, fixed mode {}",
                first.steps,
                stepped.steps
            );
            let transport = match t {
                Transport::Udp => "udp",
                Transport::Tcp => "tcp",
            };
            (format!("{name}@{transport}"), text)
        })
        .collect()
}

/// One trial per scenario file, named by it (`scenario/05-request-lost`, so `cargo test -p
/// connid-sim --test scenarios 05-request` runs it alone), and the Mermaid one; a failing file fails
/// alone and the others still run.
fn main() -> std::process::ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let files = scenario_files();
    let mut trials = vec![libtest_mimic::Trial::test(
        "at-least-fifteen-scenario-files",
        move || {
            if files_seen() >= 15 {
                Ok(())
            } else {
                Err(format!("only {} scenario files", files_seen()).into())
            }
        },
    )];
    trials.extend(files.into_iter().map(|path| {
        libtest_mimic::Trial::test(format!("scenario/{}", stem(&path)), move || {
            let results = transcripts(&path);
            snapshot_settings().bind(|| {
                for (name, text) in &results {
                    insta::assert_snapshot!(name.as_str(), text);
                }
            });
            Ok(())
        })
    }));
    trials.push(libtest_mimic::Trial::test(
        "a-mermaid-diagram-tells-the-same-story",
        || {
            a_mermaid_diagram_tells_the_same_story();
            Ok(())
        },
    ));
    libtest_mimic::run(&args, trials).exit_code()
}

fn files_seen() -> usize {
    scenario_files().len()
}

fn a_mermaid_diagram_tells_the_same_story() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/02-reset-then-new-id.toml");
    let scenario = Scenario::load(&path).unwrap();
    let run = runner::run(&scenario, Transport::Udp).unwrap();
    let diagram = connid_sim::diagram::of(&stem(&path), &run).mermaid();
    assert!(diagram.starts_with("sequenceDiagram\n"));
    snapshot_settings()
        .bind(|| insta::assert_snapshot!("02-reset-then-new-id@udp.mermaid", diagram));
}
