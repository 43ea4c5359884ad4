//! Compiles the preload clock (`preload/src/lib.rs`, a crate without dependencies) with `rustc` into
//! a shared library and leaves it in `OUT_DIR` for `conform` to embed, so the `conform` binary carries
//! its own clock wherever it is installed. On platforms the clock does not support, an empty file
//! stands in and `conform` runs programs at real time.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let library = out.join("libconform_preload.so");
    let source = PathBuf::from("preload/src/lib.rs");
    println!("cargo::rerun-if-changed=preload/src/lib.rs");
    println!("cargo::rerun-if-changed=preload/src/layout.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let supported = target == "x86_64-unknown-linux-gnu" || target == "aarch64-unknown-linux-gnu";
    if !supported {
        std::fs::write(&library, b"").expect("OUT_DIR is writable");
        return;
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "cdylib",
            "--crate-name",
            "conform_preload",
        ])
        .args([
            "-C",
            "opt-level=2",
            "-C",
            "panic=abort",
            "-C",
            "debuginfo=0",
            "-C",
            "strip=symbols",
        ])
        .args(["--target", &target])
        .arg(&source)
        .arg("-o")
        .arg(&library)
        .status()
        .expect("rustc runs");
    assert!(status.success(), "compiling the preload clock failed");
}
