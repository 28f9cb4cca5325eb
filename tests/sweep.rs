//! `umpire run` on sweeps: the result is the same bytes on any thread count
//! and any shard split (shards cut across points and replications, and
//! `merge` joins them), curve expectations fail the run when they fail, and
//! `export` writes the sweep tables.

mod common;

use std::path::Path;

use common::{scratch, shard_and_merge, text, umpire, write};

/// A small bandit sweep: two policies, a zipped pair of parameters.
const BANDIT_SWEEP: &str = "kind = \"bandit\"\n\
     [run]\nseed = 3\nreplications = 40\n\
     [bandit]\nhorizon = 300\nmeans = [0.1, 0.2, 0.3]\n\
     [policies.eg]\ntype = \"epsilon_greedy\"\n\
     [policies.ts]\ntype = \"thompson_beta\"\n\
     [sweep]\n\
     zip = { \"policies.eg.epsilon\" = [0.01, 0.1, 0.5], \"bandit.horizon\" = [100, 200, 300] }\n\
     monotone = { measure = \"regret\", along = \"bandit.horizon\", methods = [\"ts\"] }\n";

/// An off-policy study swept over its propensity draws.
const OPE_SWEEP: &str = "kind = \"bandit\"\n\
     [run]\nseed = 5\nreplications = 30\n\
     [bandit]\narms = 3\nreward = \"bernoulli\"\n\
     [bandit.features]\ncontext = [{ type = \"constant\" }, { type = \"gaussian\", dim = 2 }]\nlink = \"logistic\"\n\
     [ope]\nlogging = { type = \"uniform\" }\nlog_sizes = [50, 200]\ntruth_contexts = 20000\n\
     [ope.targets.greedy]\ntype = \"epsilon_greedy\"\nepsilon = 0.2\n\
     [sweep]\n\"ope.propensity_draws\" = [10, 100, 1000]\n";

fn run_to(args: &[&str], out: &Path) -> std::process::Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--out", out.to_str().unwrap()]);
    umpire(&all)
}

#[test]
fn a_sweep_is_the_same_bytes_on_any_threads_and_any_shards() {
    let dir = scratch("sweep-shards");
    let experiment = write(
        &dir,
        "power_curve_sequential.toml",
        &std::fs::read_to_string("scenarios/power_curve_sequential.toml").expect("read"),
    );
    let bandit = write(&dir, "bandits.toml", BANDIT_SWEEP);
    let ope = write(&dir, "ope.toml", OPE_SWEEP);
    for (file, stem, reps) in [
        (experiment, "power_curve_sequential", "30"),
        (bandit, "bandits", "40"),
        (ope, "ope", "30"),
    ] {
        let mut whole = Vec::new();
        for threads in ["1", "2"] {
            let out = dir.join(format!("{stem}-t{threads}"));
            let o = run_to(
                &["run", &file, "--replications", reps, "--threads", threads],
                &out,
            );
            // At so few replications a bound may fail (exit 1); the bytes still must agree.
            assert!(
                matches!(o.status.code(), Some(0 | 1)),
                "{stem}: {}",
                text(&o.stderr)
            );
            whole.push(std::fs::read(out.join(format!("{stem}.json"))).expect("result"));
        }
        assert!(whole[0] == whole[1], "{stem}: threads change the result");
        // 7 and 11 cut points in the middle; more shards than points leaves
        // some shards within one point.
        for n in [1u64, 2, 7, 11, 45] {
            let (_, got) = shard_and_merge(&file, stem, reps, n, &dir.join(format!("{stem}-{n}")));
            assert!(
                got == whole[0],
                "{stem}: {n} shards merged differ from the whole run"
            );
        }
    }
}

#[test]
fn a_swept_off_policy_study_prints_each_point_s_estimators() {
    let dir = scratch("sweep-ope");
    let file = write(&dir, "ope.toml", OPE_SWEEP);
    let o = run_to(&["run", &file], &dir);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    for draws in ["10", "100", "1000"] {
        for e in ["ips", "snips", "dm", "dr"] {
            let line = out
                .lines()
                .find(|l| {
                    let mut words = l.split_whitespace();
                    words.next() == Some(draws) && words.next() == Some(&format!("greedy.{e}"))
                })
                .unwrap_or_else(|| panic!("no line for {draws} draws, {e}:\n{out}"));
            assert!(line.ends_with("at 200 rounds"), "{line}");
        }
    }
}

#[test]
fn a_failed_curve_expectation_fails_the_run() {
    let dir = scratch("sweep-fail");
    // Power does not fall as the effect grows: `decreasing` must fail.
    let file = write(
        &dir,
        "falls.toml",
        "kind = \"experiment\"\n\
         [run]\nseed = 1\nreplications = 2000\n\
         [population]\nusers = 20000\n\
         [metrics.conversion]\ntype = \"bernoulli\"\np = 0.1\n\
         [sweep]\n\"effect.treatment.conversion.relative\" = [0.0, 0.1, 0.2]\n\
         monotone = { measure = \"power\", along = \"effect.treatment.conversion.relative\", direction = \"decreasing\" }\n\
         fpr_at_most = 0.2\n",
    );
    let o = run_to(&["run", &file], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let err = text(&o.stdout);
    assert!(
        err.contains(
            "FAILED sweep.monotone[0] fixed: rejection_rate of fixed is not non-increasing"
        ),
        "{err}"
    );
    assert!(err.contains("ok sweep.fpr_at_most fixed"), "{err}");
    // A shard does not judge: its exit code ignores expectations.
    let o = run_to(&["run", &file, "--shard", "0/2"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // --replication traces one run; a sweep is many.
    let o = run_to(&["run", &file, "--replication", "0"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("a sweep has many"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn export_writes_the_sweep_tables() {
    let dir = scratch("sweep-export");
    let file = write(&dir, "bandits.toml", BANDIT_SWEEP);
    let o = run_to(&["run", &file], &dir);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let tables = dir.join("tables");
    let o = umpire(&[
        "export",
        dir.join("bandits.json").to_str().unwrap(),
        "--to",
        "csv",
        "--out",
        tables.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let points = std::fs::read_to_string(tables.join("sweep_points.csv")).expect("points");
    let lines: Vec<&str> = points.lines().collect();
    assert_eq!(lines[0], "scenario,point,path,value,text");
    assert_eq!(lines.len(), 1 + 3 * 2, "{points}");
    assert_eq!(lines[1], "bandits,0,policies.eg.epsilon,0.01,0.01");
    assert_eq!(lines[6], "bandits,2,bandit.horizon,300,300");
    let summary = std::fs::read_to_string(tables.join("sweep_summary.csv")).expect("summary");
    assert!(summary.starts_with("point,scenario,kind,method,policy,"));
    // Every point has each policy's regret row.
    for p in 0..3 {
        for policy in ["eg", "ts"] {
            let row = format!("{p},bandits,bandit,,{policy},,,,,regret,");
            assert!(summary.contains(&row), "{row}\n{summary}");
        }
    }
    let regret = std::fs::read_to_string(tables.join("sweep_regret.csv")).expect("regret");
    assert!(regret.starts_with("point,scenario,policy,checkpoint,"));
}
