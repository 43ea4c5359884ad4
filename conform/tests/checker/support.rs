//! What more than one test module uses.

pub mod html_check;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root (the workspace), where the fixtures and docs are.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// connid's `server` or `client` binary, beside this package's binaries (built here if a lone
/// `-p connid-conform` run did not build it).
pub fn connid_binary(name: &str) -> String {
    let path = Path::new(env!("CARGO_BIN_EXE_conform")).with_file_name(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let built = Command::new(cargo)
            .args(["build", "-p", "connid", "--bin", name])
            .current_dir(root())
            .status()
            .expect("cargo runs");
        assert!(built.success());
    }
    path.to_string_lossy().into_owned()
}

/// The Python interpreter these tests start their Python fixtures with: `CONFORM_TEST_PYTHON` if
/// set, else the system's `/usr/bin/python3` where there is one, else the interpreter `python3` on
/// PATH names, resolved once per test binary. The fixtures use only the standard library, so any
/// Python 3 judges the same; what differs is the start, and these tests start Python programs
/// thousands of times. A pyenv shim is a bash script (about 60 ms a start), and pyenv's interpreter
/// here runs a `.pth` hook in its site-packages that imports `certifi` (29 ms a start, against 8 ms
/// for the system's).
pub fn python3() -> &'static str {
    static RESOLVED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    RESOLVED.get_or_init(|| {
        if let Some(chosen) = std::env::var_os("CONFORM_TEST_PYTHON") {
            return chosen.to_string_lossy().into_owned();
        }
        let system = Path::new("/usr/bin/python3");
        let runs = |exe: &str| {
            Command::new(exe)
                .args(["-c", "import sys; print(sys.executable)"])
                .output()
                .ok()
                .filter(|out| out.status.success())
                .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
                .filter(|exe| !exe.is_empty())
        };
        if system.exists() && runs("/usr/bin/python3").is_some() {
            return system.to_string_lossy().into_owned();
        }
        runs("python3").unwrap_or_else(|| "python3".to_string())
    })
}

/// PATH with a directory first whose `python3` is [`python3`]: for `conform` runs whose manifests
/// name `python3`.
pub fn path_with_python3() -> std::ffi::OsString {
    static PATH: std::sync::OnceLock<std::ffi::OsString> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("conform-test-python3-{}", std::process::id()));
        let link = dir.join("python3");
        let made = std::fs::create_dir_all(&dir).is_ok()
            && (link.exists() || std::os::unix::fs::symlink(python3(), &link).is_ok());
        if !made {
            return path;
        }
        let mut dirs = vec![dir];
        dirs.extend(std::env::split_paths(&path));
        std::env::join_paths(dirs).unwrap_or(path)
    })
    .clone()
}
