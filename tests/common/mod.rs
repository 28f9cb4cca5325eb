//! Helpers shared by the binary's test files: scratch folders and scenario
//! files under cargo's per-target temporary directory, and a spawned
//! `umpire serve` (`serve`).
//!
//! Each test file compiles this module and uses a part of it.
#![allow(dead_code)]

pub mod serve;

use std::path::{Path, PathBuf};

/// An empty folder for one test, under `CARGO_TARGET_TMPDIR`.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Writes `body` to `dir/name` and returns the path as a command argument.
pub fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write scenario");
    p.display().to_string()
}

/// Run the umpire binary with `args` and wait for it.
pub fn umpire(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_umpire"))
        .args(args)
        .output()
        .expect("run umpire")
}

/// Bytes of a child's output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
