//! `umpire load` with the command line's traffic: `--host`, `--rate`,
//! `--users` and `--duration` land in the result and its reproduce line,
//! bad values are usage errors (exit 2), and `--find-capacity` writes a step
//! table and a JSON report that agree.
//!
//! Nothing here asserts a latency or a capacity: the machine may be loaded.

mod common;
use common::serve::start;
use common::{scratch, write};
use std::process::Command;

use common::{text, umpire};

fn json(path: &std::path::Path) -> serde_json::Value {
    let s = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&s).expect("json")
}

/// A staged scenario next to the shipped serve config.
fn staged(dir: &std::path::Path) -> String {
    let serve = std::fs::canonicalize("scenarios/serve_reference.toml").expect("serve config");
    write(
        dir,
        "staged.toml",
        &format!(
            "kind = \"load\"\n[target]\nserve = {:?}\n[traffic]\nusers = 2\n\
             stages = [{{ duration_seconds = 1, rate = 100 }}, {{ duration_seconds = 1, rate = 0 }}]\n\
             [mix]\nassign = 1\n",
            serve.display().to_string()
        ),
    )
}

#[test]
fn overrides_reach_the_result_and_its_reproduce_line() {
    let dir = scratch("load-overrides");
    let out = dir.to_str().expect("path");
    let mut server = start({
        let mut c = Command::new(env!("CARGO_BIN_EXE_umpire"));
        c.args([
            "serve",
            "scenarios/serve_reference.toml",
            "--addr",
            "127.0.0.1:0",
        ]);
        c
    });
    let host = server.base.clone();
    let o = umpire(&[
        "load",
        "scenarios/serving_slo.toml",
        "--host",
        &host,
        "--rate",
        "150",
        "--users",
        "3",
        "--duration",
        "1",
        "--out",
        out,
    ]);
    let _ = server.child.kill();
    let stdout = text(&o.stdout);
    assert!(
        matches!(o.status.code(), Some(0 | 1 | 3)),
        "{stdout}{}",
        text(&o.stderr)
    );
    let r = json(&dir.join("serving_slo.json"));
    assert_eq!(r["users"], 3);
    assert_eq!(r["generator"]["target_rps"], 150.0);
    assert!(
        r["target"]
            .as_str()
            .expect("target")
            .contains(server.addr()),
        "{r}"
    );
    let reproduce = r["reproduce"].as_str().expect("reproduce");
    assert_eq!(
        reproduce,
        format!(
            "umpire load scenarios/serving_slo.toml --host {host} --rate 150 --users 3 --duration 1"
        )
    );
    assert!(
        stdout.contains(&format!("reproduce: {reproduce}")),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_overrides_are_usage_errors() {
    let dir = scratch("load-bad-overrides");
    let file = staged(&dir);
    let cases: [(&[&str], &str); 9] = [
        (&["--rate", "0"], "must be in [0.001, 1000000]"),
        (&["--rate", "fast"], "must be in [0.001, 1000000]"),
        (&["--users", "0"], "not a number of users in 1..=10000"),
        (&["--users", "10001"], "not a number of users in 1..=10000"),
        (
            &["--host", "localhost:8080"],
            "must start with http:// or https://",
        ),
        (
            &["--duration=-1"],
            "not a duration in seconds in (0, 86400]",
        ),
        (
            &["--find-capacity", "--precision", "2"],
            "not a relative precision in [0.001, 1]",
        ),
        (&["--step-seconds", "3"], "--find-capacity"),
        (&["--find-capacity", "--rate", "5"], "cannot be used with"),
    ];
    for (flags, want) in cases {
        let mut args = vec!["load", file.as_str(), "--out", dir.to_str().expect("path")];
        args.extend_from_slice(flags);
        let o = umpire(&args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.contains(want), "{flags:?}: {err}");
    }
    // The stages set the duration: --duration alone cannot change it.
    let o = umpire(&[
        "load",
        &file,
        "--duration",
        "5",
        "--out",
        dir.to_str().expect("path"),
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--duration: the scenario's stages set its duration (2 s); give --rate too"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn find_capacity_writes_a_table_and_a_report_that_agree() {
    let dir = scratch("load-capacity");
    let o = umpire(&[
        "load",
        "scenarios/serving_slo.toml",
        "--find-capacity",
        // Two seconds after the 1 s ramp-up: min_rps (300) is judged over
        // the whole step, and at 400 req/s one second would miss it.
        "--step-seconds",
        "2",
        "--start-rate",
        "400",
        "--max-rate",
        "800",
        "--precision",
        "0.5",
        "--out",
        dir.to_str().expect("path"),
    ]);
    let stdout = text(&o.stdout);
    let r = json(&dir.join("serving_slo-capacity.json"));
    let steps = r["steps"].as_array().expect("steps");
    // Doubling from 400 reaches the 800 maximum on the second step; the
    // bracket [400, 800] is within 0.5 already, so at most two steps.
    assert!(!steps.is_empty() && steps.len() <= 2, "{r}");
    assert_eq!(steps[0]["rate"], 400.0);
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert_eq!(rows.len(), steps.len(), "{stdout}");
    for (row, step) in rows.iter().zip(steps) {
        let cells: Vec<&str> = row.split_whitespace().collect();
        let rate = step["rate"].as_f64().expect("rate");
        assert_eq!(cells[1], format!("{rate:.1}"), "{row}");
        assert_eq!(
            cells[6],
            step["verdict"].as_str().expect("verdict"),
            "{row}"
        );
        let result = step["result"].as_str().expect("result");
        assert!(std::path::Path::new(result).exists(), "{result}");
        assert!(step["requests"].as_u64().expect("requests") > 0);
    }
    let kind = r["answer"]["kind"].as_str().expect("answer");
    let code = o.status.code();
    match kind {
        "capacity" => {
            assert_eq!(code, Some(0));
            let rate = r["answer"]["rate"].as_f64().expect("rate");
            let last_pass = steps
                .iter()
                .filter(|s| s["verdict"] == "pass")
                .map(|s| s["rate"].as_f64().expect("rate"))
                .fold(0.0, f64::max);
            assert_eq!(rate, last_pass);
            assert!(
                stdout.contains(&format!("capacity: {rate:.1} req/s"))
                    || stdout.contains(&format!("capacity: at least {rate:.1} req/s")),
                "{stdout}"
            );
        }
        "below_start" => {
            assert_eq!(code, Some(1));
            assert_eq!(steps.len(), 1);
            assert!(stdout.contains("capacity: below 400.0 req/s"), "{stdout}");
        }
        "inconclusive" => {
            assert_eq!(code, Some(3));
            assert_eq!(steps.last().expect("a step")["verdict"], "inconclusive");
            assert!(stdout.contains("inconclusive: the step at"), "{stdout}");
        }
        other => panic!("unknown answer {other}: {r}"),
    }
    assert!(
        stdout.contains(&format!(
            "reproduce: {}",
            r["reproduce"].as_str().expect("reproduce")
        )),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
