//! The golden results: every shipped scenario's result, compared with a copy
//! committed in `tests/golden/`. Refactors must not change what umpire
//! prints, so a simulated scenario's result JSON must match its copy byte
//! for byte. Only `git_commit` is left out: it names the build, not the result.
//!
//! Load results are measurements (latencies differ on every run), so for them
//! the test compares the deterministic part: the header's values and the
//! result's shape, every key path in the order it is written.
//!
//! A new scenario needs its golden copy: run the test with `UMPIRE_BLESS=1`
//! and review the files it writes before committing them.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn golden_dir() -> PathBuf {
    root().join("tests/golden")
}

fn bless() -> bool {
    std::env::var_os("UMPIRE_BLESS").is_some()
}

/// The shipped scenarios, by name, sorted.
fn scenarios() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("scenarios"))
        .expect("scenarios/")
        .filter_map(|e| {
            let p = e.expect("dir entry").path();
            (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    names
}

fn kind_is(name: &str, kind: &str) -> bool {
    let text = std::fs::read_to_string(root().join(format!("scenarios/{name}.toml")))
        .expect("read scenario");
    text.lines()
        .any(|l| l.trim() == format!("kind = \"{kind}\""))
}

fn is_load(name: &str) -> bool {
    kind_is(name, "load")
}

/// Serve configs produce no result: they are for `umpire serve`.
fn is_serve(name: &str) -> bool {
    kind_is(name, "serve")
}

/// Runs `umpire <cmd> scenarios/<name>.toml --out <out>` from the repository
/// root, as the README does, and returns the result file's text.
fn result_of(cmd: &str, name: &str, out: &Path, ok_codes: &[i32]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_umpire"))
        .arg(cmd)
        .arg(format!("scenarios/{name}.toml"))
        .arg("--out")
        .arg(out)
        .current_dir(root())
        .output()
        .expect("run umpire");
    let code = o.status.code().unwrap_or(-1);
    assert!(
        ok_codes.contains(&code),
        "umpire {cmd} {name}: exit {code}\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let path = out.join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The result without its `git_commit` line, which names the build.
fn without_commit(json: &str) -> String {
    json.lines()
        .filter(|l| !l.trim_start().starts_with("\"git_commit\":"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Every key path of a JSON value, in the order written, each once. Array
/// elements share the path `[]`, so the shape does not depend on how many
/// requests, endpoints or messages a run had.
fn shape(v: &serde_json::Value) -> String {
    fn walk(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let p = format!("{path}/{k}");
                    if !out.contains(&p) {
                        out.push(p.clone());
                    }
                    walk(v, &p, out);
                }
            }
            serde_json::Value::Array(a) => {
                for v in a {
                    walk(v, &format!("{path}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out.join("\n") + "\n"
}

/// The load result's fields that a run does not measure.
const LOAD_FIXED: &[&str] = &[
    "schema",
    "schema_version",
    "kind",
    "scenario",
    "scenario_hash",
    "scenario_file",
    "umpire_version",
    "seed",
    "workers",
    "duration_seconds",
    "users",
    "expected_verdict",
    "reproduce",
];

fn load_golden(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).expect("load result JSON");
    let mut text = String::new();
    for k in LOAD_FIXED {
        text.push_str(&format!("{k} = {}\n", v[*k]));
    }
    text.push_str("--- shape\n");
    text.push_str(&shape(&v));
    text
}

fn compare(name: &str, file: &str, actual: &str) {
    let path = golden_dir().join(file);
    if bless() {
        std::fs::create_dir_all(golden_dir()).expect("tests/golden");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: scenario {name} has no golden result (run with UMPIRE_BLESS=1)",
            path.display()
        )
    });
    if want != actual {
        let line = want
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| want.lines().count().min(actual.lines().count()));
        panic!(
            "{name}: result differs from {} at line {}\n golden: {:?}\n actual: {:?}\n({} vs {} bytes)",
            path.display(),
            line + 1,
            want.lines().nth(line),
            actual.lines().nth(line),
            want.len(),
            actual.len()
        );
    }
}

#[test]
fn every_simulated_scenario_matches_its_golden_result_byte_for_byte() {
    let out = common::scratch("golden-sim");
    let mut checked = 0;
    for name in scenarios() {
        if is_serve(&name) || is_load(&name) {
            continue;
        }
        let json = result_of("run", &name, &out, &[0]);
        compare(&name, &format!("{name}.json"), &without_commit(&json));
        checked += 1;
    }
    assert!(checked >= 16, "only {checked} simulated scenarios");
}

#[test]
fn every_load_scenario_keeps_its_header_and_shape() {
    let out = common::scratch("golden-load");
    let mut checked = 0;
    for name in scenarios() {
        if !is_load(&name) {
            continue;
        }
        // 1 or 3 (a failed or inconclusive run on a busy machine) still
        // writes the whole result: its shape and header are what is compared.
        let json = result_of("load", &name, &out, &[0, 1, 3]);
        compare(&name, &format!("{name}.load"), &load_golden(&json));
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} load scenarios");
}

#[test]
fn results_written_before_the_refactor_read_back_and_write_the_same_bytes() {
    // The schema is unchanged: each golden copy (written by the code of
    // 1ae387d, before `ResultHeader`) parses as today's result type and
    // serialises back to exactly its bytes, header fields in their places.
    let mut checked = 0;
    for e in std::fs::read_dir(golden_dir()).expect("tests/golden") {
        let p = e.expect("dir entry").path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("read golden");
        let r = umpire_reports::AnyResult::from_json(&p.display().to_string(), &text)
            .unwrap_or_else(|e| panic!("{e}"));
        let again = match &r {
            umpire_reports::AnyResult::Experiment(x) => serde_json::to_string_pretty(x),
            umpire_reports::AnyResult::Bandit(x) => serde_json::to_string_pretty(x),
            umpire_reports::AnyResult::Load(x) => serde_json::to_string_pretty(x),
            umpire_reports::AnyResult::Sweep(x) => serde_json::to_string_pretty(x),
            umpire_reports::AnyResult::Design(x) => serde_json::to_string_pretty(x),
        }
        .expect("serialise");
        assert!(again + "\n" == text, "{}: does not round-trip", p.display());
        assert_eq!(r.header().kind.as_str(), r.kind());
        checked += 1;
    }
    assert!(checked >= 16, "only {checked} golden results");
}

#[test]
fn the_documented_header_is_the_result_header() {
    // reports/README.md lists the header's fields in order; they must be the
    // keys a full `ResultHeader` writes, in the order it writes them.
    use umpire_sim::result::{Provenance, ResultHeader, ResultKind, Shard};
    let header = ResultHeader::new(
        ResultKind::Experiment,
        "s",
        1,
        &Provenance {
            git_commit: Some("c".into()),
            shard: Some(Shard { index: 0, count: 2 }),
            quick_scale: Some(0.1),
            ..Provenance::default()
        },
    );
    // Top-level keys in the order written (a `Value` would sort them).
    let written: Vec<String> = serde_json::to_string_pretty(&header)
        .expect("serialise")
        .lines()
        .filter_map(|l| l.strip_prefix("  \""))
        .filter_map(|l| l.split('"').next().map(str::to_owned))
        .collect();
    let doc = std::fs::read_to_string(root().join("reports/README.md")).expect("reports/README.md");
    let table = doc
        .split("### Header (every kind)")
        .nth(1)
        .expect("a header section")
        .split("\n\n")
        .find(|block| block.starts_with("| field"))
        .expect("the header table");
    let documented: Vec<String> = table
        .lines()
        .skip(2)
        .filter_map(|l| l.split('`').nth(1).map(str::to_owned))
        .collect();
    assert_eq!(documented, written);
}

#[test]
fn every_golden_copy_belongs_to_a_shipped_scenario() {
    if bless() {
        return; // the copies are being written beside this test
    }
    let names = scenarios();
    for e in std::fs::read_dir(golden_dir()).expect("tests/golden") {
        let p = e.expect("dir entry").path();
        let stem = p.file_stem().and_then(|s| s.to_str()).expect("file name");
        assert!(
            names.iter().any(|n| n == stem) && !is_serve(stem),
            "{} has no shipped scenario",
            p.display()
        );
    }
}

#[test]
fn a_changed_byte_is_caught() {
    // The comparison itself: one digit changed anywhere must not pass.
    if bless() {
        return;
    }
    let golden = std::fs::read_to_string(golden_dir().join("srm_detection.json"))
        .expect("srm_detection golden");
    let at = golden.find(|c: char| c.is_ascii_digit()).expect("a digit");
    let mut edited = golden.into_bytes();
    edited[at] = if edited[at] == b'9' {
        b'8'
    } else {
        edited[at] + 1
    };
    let edited = String::from_utf8(edited).expect("utf8");
    let r = std::panic::catch_unwind(|| compare("srm_detection", "srm_detection.json", &edited));
    assert!(r.is_err(), "an edited result passed");
}
