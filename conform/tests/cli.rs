//! The `conform` binary as a shell uses it: a closed standard output stops it quietly.

mod support;

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
