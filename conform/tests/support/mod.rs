//! What more than one test file uses. Each test file compiles this module on its own and uses part
//! of it, hence the `dead_code` allowances.

#[allow(dead_code)]
pub mod html_check;

use std::path::Path;
use std::process::Command;

/// connid's `server` or `client` binary, beside this package's binaries (built here if a lone
/// `-p connid-conform` run did not build it).
#[allow(dead_code)]
pub fn connid_binary(name: &str) -> String {
    let path = Path::new(env!("CARGO_BIN_EXE_conform")).with_file_name(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let built = Command::new(cargo)
            .args(["build", "-p", "connid", "--bin", name])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .status()
            .expect("cargo runs");
        assert!(built.success());
    }
    path.to_string_lossy().into_owned()
}
