//! The `conform` binary as a shell uses it: a closed standard output stops it quietly.

use crate::support;

use std::process::Command;

/// Runs a binary of this package with a standard output whose reading end is already closed (`| head`
/// once head has exited): its status and its stderr.
fn closed_stdout(bin: &str, args: &[&str]) -> (std::process::ExitStatus, String) {
    let out = Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(connid::stdout::closed_pipe().unwrap())
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("runs");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn conform_stops_quietly_and_kills_its_children_when_its_output_is_closed() {
    use std::os::unix::process::ExitStatusExt;
    let server = support::connid_binary("server");
    // A mark on the children's command lines, to find any left behind.
    let mark = format!("{}.25", 4000 + std::process::id() % 1000);
    let (status, err) = closed_stdout(
        env!("CARGO_BIN_EXE_conform"),
        &[
            "server",
            "--quick",
            "--jobs",
            "2",
            "--",
            &server,
            "{ip}",
            "{port}",
            "--transport",
            "{transport}",
            "--idle-timeout",
            &mark,
        ],
    );
    assert_eq!(status.signal(), Some(13), "{status:?} {err}");
    assert!(!err.contains("panicked"), "{err}");
    let left = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
            .filter(|cmdline| String::from_utf8_lossy(cmdline).contains(&mark))
            .count()
    };
    // Killed as the run stopped; a killed process may take a moment to go.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while left() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "children left running"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The manual's table of cases (`docs/src/conform.md`) is `conform --list`'s, byte for byte, between
/// its two markers.
#[test]
fn the_manuals_case_table_is_what_conform_list_prints() {
    let out = Command::new(env!("CARGO_BIN_EXE_conform"))
        .arg("--list")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    let listed = String::from_utf8(out.stdout).unwrap();
    let readme = std::fs::read_to_string(support::root().join("docs/src/conform.md")).unwrap();
    let (start, end) = (
        "<!-- conform --list -->\n",
        "<!-- end of conform --list -->",
    );
    let from = readme.find(start).expect("the manual has the start marker") + start.len();
    let to = readme[from..]
        .find(end)
        .expect("the manual has the end marker")
        + from;
    assert_eq!(
        &readme[from..to],
        listed,
        "docs/src/conform.md's case table differs from `conform --list`: paste its output between the markers"
    );
    assert!(listed.lines().filter(|l| l.starts_with("| `")).count() >= 30);
}

/// `conform --list` takes no other argument.
#[test]
fn conform_list_with_a_suite_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_conform"))
        .args(["--list", "server", "--", "x"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--list"), "{err}");
}
