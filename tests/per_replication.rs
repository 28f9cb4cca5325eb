//! `umpire run --per-replication FILE.csv`: one row per replication × method
//! × comparison, in replication order, whose counts agree with the result
//! JSON; the same bytes on any thread count; bad combinations refused.

mod common;

use std::path::Path;

use common::{scratch, text, umpire, write};

/// Two metrics × two variants = four comparisons, two methods, four looks.
/// 2,000 users per unit gives chunks of 2,000 replications on the per-unit
/// path, so 4,500 replications span three chunks.
const EXPERIMENT: &str = r#"
kind = "experiment"
[run]
seed = 11
replications = 4500
[population]
users = 2000
[assignment]
method = "random"
variants = ["control", "b", "c"]
weights = [0.4, 0.3, 0.3]
[metrics.conv]
type = "bernoulli"
p = 0.2
[metrics.rev]
type = "normal"
mean = 10.0
sd = 3.0
[effect.c]
conv = { relative = 0.2 }
[analysis]
looks = 4
[analysis.methods.naive]
type = "naive"
[analysis.methods.pocock]
type = "pocock"
"#;

const COLUMNS: [&str; 11] = [
    "replication",
    "method",
    "metric",
    "variant",
    "rejected",
    "look",
    "sample_size",
    "p_value",
    "estimate",
    "ci_low",
    "ci_high",
];

/// The rows of a CSV file without quoted fields, after checking its header.
fn read_rows(path: &Path) -> Vec<Vec<String>> {
    let body = std::fs::read_to_string(path).expect("the per-replication file");
    assert!(!body.contains('"'), "no name here needs quoting");
    let mut lines = body.lines();
    assert_eq!(lines.next(), Some(COLUMNS.join(",").as_str()));
    lines
        .map(|l| {
            let row: Vec<String> = l.split(',').map(str::to_owned).collect();
            assert_eq!(row.len(), COLUMNS.len(), "{l}");
            row
        })
        .collect()
}

fn col(name: &str) -> usize {
    COLUMNS.iter().position(|c| *c == name).expect(name)
}

#[test]
fn per_replication_rows_agree_with_the_result() {
    let dir = scratch("per_replication");
    let scenario = write(&dir, "exp.toml", EXPERIMENT);
    let run = |threads: &str, csv: &str| {
        let csv = dir.join(csv);
        let o = umpire(&[
            "run",
            &scenario,
            "--per-unit",
            "--threads",
            threads,
            "--out",
            dir.to_str().unwrap(),
            "--per-replication",
            csv.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        csv
    };
    let (one, two) = (run("1", "one.csv"), run("2", "two.csv"));
    assert!(
        std::fs::read(&one).unwrap() == std::fs::read(&two).unwrap(),
        "threads 1 and 2 wrote different rows"
    );
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("exp.json")).unwrap()).unwrap();
    let rows = read_rows(&one);
    let (replications, methods, comparisons) = (4500usize, 2usize, 4usize);
    assert_eq!(rows.len(), replications * methods * comparisons);

    // Replication order, and every replication's block complete, method-major.
    let block = methods * comparisons;
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[col("replication")], (i / block).to_string(), "row {i}");
        let method = ["naive", "pocock"][(i % block) / comparisons];
        assert_eq!(row[col("method")], method, "row {i}");
    }

    // Per method and comparison: rejections and the mean stopping look as
    // in the result JSON.
    for (m, method) in result["methods"].as_array().unwrap().iter().enumerate() {
        let name = method["name"].as_str().unwrap();
        for (c, comp) in method["comparisons"].as_array().unwrap().iter().enumerate() {
            let (metric, variant) = (
                comp["metric"].as_str().unwrap(),
                comp["variant"].as_str().unwrap(),
            );
            let mine: Vec<&Vec<String>> = rows
                .iter()
                .skip(m * comparisons + c)
                .step_by(block)
                .collect();
            assert_eq!(mine.len(), replications);
            assert!(mine.iter().all(|r| r[col("method")] == name
                && r[col("metric")] == metric
                && r[col("variant")] == variant));
            let rejected = mine.iter().filter(|r| r[col("rejected")] == "true").count();
            assert_eq!(
                rejected as u64,
                comp["rejection_rate"]["successes"].as_u64().unwrap(),
                "{name} {metric} {variant}"
            );
            let looks: u64 = mine
                .iter()
                .map(|r| r[col("look")].parse::<u64>().unwrap())
                .sum();
            let mean = comp["mean_stopping_look"].as_f64().unwrap();
            assert!(
                (looks as f64 / replications as f64 - mean).abs() < 1e-9,
                "{name} {metric} {variant}: mean look {mean}"
            );
        }
    }
    // Numbers read back as numbers, intervals bracket the estimate.
    for r in &rows {
        let x = |c: &str| r[col(c)].parse::<f64>().unwrap();
        let (lo, est, hi) = (x("ci_low"), x("estimate"), x("ci_high"));
        assert!(lo <= est && est <= hi, "{r:?}");
        assert!((0.0..=1.0).contains(&x("p_value")), "{r:?}");
        assert!(x("sample_size") > 0.0, "{r:?}");
    }
}

#[test]
fn per_replication_refuses_what_it_cannot_stream() {
    let dir = scratch("per_replication_refusals");
    let exp = write(&dir, "exp.toml", EXPERIMENT);
    let bandit = write(
        &dir,
        "bandit.toml",
        "kind = \"bandit\"\n[run]\nseed = 1\nreplications = 5\n[bandit]\nhorizon = 50\n\
         means = [0.1, 0.2]\n[policies.ucb1]\ntype = \"ucb1\"\n",
    );
    let csv = dir.join("rows.csv");
    let (d, c) = (dir.to_str().unwrap(), csv.to_str().unwrap());
    for (case, args, says) in [
        (
            "two files",
            vec!["run", &exp, &exp, "--out", d, "--per-replication", c],
            "exactly one experiment scenario",
        ),
        (
            "a bandit",
            vec!["run", &bandit, "--out", d, "--per-replication", c],
            "exactly one experiment scenario",
        ),
        (
            "with --replication",
            vec!["run", &exp, "--replication", "3", "--per-replication", c],
            "cannot be used with",
        ),
    ] {
        let o = umpire(&args);
        assert_eq!(o.status.code(), Some(2), "{case}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(says),
            "{case}: {}",
            text(&o.stderr)
        );
    }
    assert!(!csv.exists(), "nothing was written");
}

/// A full disk (`/dev/full` takes every write with ENOSPC) stops the run with
/// exit 2 and the file named, and no result is written as if it had worked.
#[test]
fn a_full_disk_is_a_clear_error() {
    let dir = scratch("per_replication_full_disk");
    let exp = write(&dir, "exp.toml", EXPERIMENT);
    let out = dir.join("out");
    let o = umpire(&[
        "run",
        &exp,
        "--out",
        out.to_str().unwrap(),
        "--per-replication",
        "/dev/full",
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot write /dev/full") && err.contains("No space left"),
        "{err}"
    );
    assert!(
        !out.join("exp.json").exists(),
        "no result after a failed run"
    );
}
