//! The manual and README say what the code does: the book's table of oracle rules is the one the code
//! generates, README's tour shows lines the simulator really prints, and every file README points to
//! is there.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The text of `doc` between `<!-- NAME -->` and `<!-- end of NAME -->`.
fn between<'a>(doc: &'a str, name: &str) -> &'a str {
    let start = format!("<!-- {name} -->\n");
    let from = doc.find(&start).expect("the start marker") + start.len();
    let to = doc[from..]
        .find(&format!("<!-- end of {name} -->"))
        .expect("the end marker")
        + from;
    &doc[from..to]
}

#[test]
fn the_books_rules_table_is_the_one_the_code_generates() {
    let book = read("docs/src/rules.md");
    assert_eq!(
        between(&book, "sim rules --markdown"),
        connid_sim::oracle::rules_markdown(),
        "docs/src/rules.md is stale: paste `sim rules --markdown` between its markers"
    );
    let printed = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["rules", "--markdown"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&printed.stdout),
        connid_sim::oracle::rules_markdown()
    );
}

#[test]
fn readmes_tour_shows_lines_the_simulator_prints() {
    let readme = read("README.md");
    let command = "cargo run --release --bin sim -- run sim/scenarios/05-request-lost.toml";
    assert!(readme.contains(command));
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", "sim/scenarios/05-request-lost.toml"])
        .current_dir(root())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    // In the tour, the output block right after the command's.
    let tour = &readme[readme.find("## A two-minute tour").expect("README's tour")..];
    let tour = &tour[tour.find(command).expect("the tour runs the scenario")..];
    let block = tour
        .split("```")
        .nth(2)
        .expect("an output block after the command");
    let shown: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(shown.len() >= 5, "{block}");
    for line in shown {
        // An excerpt ends in "...)" where README cuts a long line short.
        let (line, cut) = match line.strip_suffix(", ...)") {
            Some(head) => (head, true),
            None => (line, false),
        };
        let found = printed
            .lines()
            .any(|p| if cut { p.starts_with(line) } else { p == line });
        assert!(
            found,
            "README shows a line `sim run` does not print: {line}\n{printed}"
        );
    }
    let scenarios = std::fs::read_dir(root().join("sim/scenarios"))
        .unwrap()
        .count();
    assert!(
        readme.contains(&format!("The {scenarios} scenarios in")),
        "README's count of scenarios"
    );
}

#[test]
fn every_file_readme_points_to_is_there() {
    let readme = read("README.md");
    let mut targets: Vec<&str> = readme
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|t| !t.starts_with("http"))
        .collect();
    targets.extend(
        readme
            .split('`')
            .filter(|w| w.starts_with("sim/scenarios/") && w.ends_with(".toml")),
    );
    assert!(targets.len() >= 10, "{targets:?}");
    for target in targets {
        assert!(root().join(target).exists(), "README points to {target}");
    }
    let summary = read("docs/src/SUMMARY.md");
    for chapter in summary
        .split("](")
        .skip(1)
        .filter_map(|r| r.split(')').next())
    {
        assert!(root().join("docs/src").join(chapter).exists(), "{chapter}");
    }
}
