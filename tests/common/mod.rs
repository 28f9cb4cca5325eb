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

/// Run `file` as `n` shards (in reverse order: merge must sort them) with
/// `--replications reps` into `out`, then merge them: the shard files, and
/// the merged bytes.
pub fn shard_and_merge(
    file: &str,
    stem: &str,
    reps: &str,
    n: u64,
    out: &Path,
) -> (Vec<String>, Vec<u8>) {
    let mut files = Vec::new();
    for i in (0..n).rev() {
        let o = umpire(&[
            "run",
            file,
            "--replications",
            reps,
            "--shard",
            &format!("{i}/{n}"),
            "--out",
            out.to_str().expect("utf-8 path"),
        ]);
        assert!(o.status.success(), "shard {i}/{n}: {}", text(&o.stderr));
        files.push(
            out.join(format!("{stem}.shard-{i}-of-{n}.json"))
                .display()
                .to_string(),
        );
    }
    let merged = out.join("merged.json");
    let mut args = vec!["merge".to_owned()];
    args.extend(files.iter().cloned());
    args.extend(["-o".to_owned(), merged.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = umpire(&args);
    assert!(o.status.success(), "merge: {}", text(&o.stderr));
    let bytes = std::fs::read(&merged).expect("merged result");
    (files, bytes)
}
