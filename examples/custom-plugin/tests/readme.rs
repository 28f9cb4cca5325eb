//! The README's "Bring your own method" shows this example as it is: every
//! Rust block of its "From Rust" part is a verbatim piece of `src/lib.rs`,
//! and the session `$ cargo run --release -p custom-plugin` shows exactly what
//! the binary prints (the root crate's `tests/readme.rs` leaves that session
//! to this test).

use std::path::Path;
use std::process::Command;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const SESSION: &str = "$ cargo run --release -p custom-plugin";

/// The README's "From Rust" part of "Bring your own method".
fn from_rust() -> String {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md");
    let start = readme
        .find("\n### From Rust\n")
        .expect("README.md has a \"From Rust\" section");
    let rest = &readme[start + 1..];
    let end = rest[1..].find("\n## ").map_or(rest.len(), |e| e + 1);
    rest[..end].to_owned()
}

/// The contents of the fenced blocks of `text` whose info string is `info`.
fn blocks(text: &str, info: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut open: Option<(bool, String)> = None;
    for line in text.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(tag)) => open = Some((tag.trim() == info, String::new())),
            (Some((wanted, body)), Some(_)) => {
                if *wanted {
                    out.push(std::mem::take(body));
                }
                open = None;
            }
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

#[test]
fn the_readme_rust_blocks_are_the_example_code() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("src/lib.rs");
    let section = from_rust();
    let rust = blocks(&section, "rust");
    assert!(
        rust.len() >= 2,
        "the section shows {} Rust blocks",
        rust.len()
    );
    for block in rust {
        assert!(
            lib.contains(block.as_str()),
            "this README block is not in examples/custom-plugin/src/lib.rs:\n{block}"
        );
    }
}

#[test]
fn the_readme_session_shows_what_the_example_prints() {
    let section = from_rust();
    let session = blocks(&section, "")
        .into_iter()
        .find(|b| b.starts_with(SESSION))
        .expect("the section shows `$ cargo run --release -p custom-plugin`");
    let shown: Vec<&str> = session.lines().skip(1).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_custom-plugin"))
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the example failed:\n{stdout}\n{stderr}"
    );
    let printed: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
    assert_eq!(
        printed, shown,
        "README.md shows other output than `{SESSION}` prints"
    );
}
