//! The `umpire` binary as a user runs it: exit codes, result files, the
//! determinism of result JSON across thread counts and re-runs, and error
//! output for bad input.

mod common;
use common::{scratch, shard_and_merge, write};
use std::path::PathBuf;
use std::process::Command;

use common::{text, umpire};

const SMALL: &str = r#"
kind = "experiment"
[run]
seed = 12
replications = 400
[population]
users = 2000
segments = { a = 0.5, b = 0.5 }
[assignment]
method = "hash"
[metrics.conv]
type = "bernoulli"
p = 0.2
[metrics.rev]
type = "revenue"
p_nonzero = 0.1
log_mean = 2.0
log_sd = 1.0
[expect]
false_positive_rate = { max = 0.2 }
"#;

#[test]
fn result_json_is_byte_identical_for_1_and_4_threads_and_reruns() {
    let dir = scratch("determinism");
    let file = write(&dir, "small.toml", SMALL);
    let mut outputs = Vec::new();
    for (threads, sub) in [("1", "t1"), ("4", "t4"), ("4", "again")] {
        let out = dir.join(sub);
        let o = umpire(&[
            "run",
            &file,
            "--threads",
            threads,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        outputs.push(std::fs::read(out.join("small.json")).expect("result file"));
    }
    assert_eq!(outputs[0], outputs[1], "1 vs 4 threads");
    assert_eq!(outputs[1], outputs[2], "re-run");
    let json: serde_json::Value = serde_json::from_slice(&outputs[0]).expect("json");
    assert_eq!(json["replications"], 400);
    assert_eq!(json["schema"], "umpire.result");
    assert_eq!(json["kind"], "experiment");
    // No wall-clock figures in the result.
    let s = text(&outputs[0]);
    assert!(!s.contains("elapsed") && !s.contains("per_sec") && !s.contains("seconds"));
}

#[test]
fn failed_expectation_exits_1_and_names_the_measure() {
    let dir = scratch("failing");
    let file = write(
        &dir,
        "strict.toml",
        &SMALL.replace("max = 0.2", "max = 0.001"),
    );
    let o = umpire(&["run", &file, "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(out.contains("FAILED false_positive_rate = "), "{out}");
    assert!(out.contains("expected ≤ 0.001"), "{out}");
    assert!(out.contains("reproduce: umpire run"), "{out}");
}

#[test]
fn bad_input_exits_2_with_one_line_per_problem() {
    let dir = scratch("bad");
    let cases = [
        (
            "type.toml",
            SMALL.replace("users = 2000", "users = \"2000\""),
            "population.users: expected a whole number",
        ),
        (
            "unknown.toml",
            SMALL.replace("seed = 12", "seed = 12\nthreads = 3"),
            "run.threads: unknown key",
        ),
        (
            "negative.toml",
            SMALL.replace("replications = 400", "replications = -1"),
            "run.replications: must not be negative",
        ),
        (
            "malformed.toml",
            "kind = \"experiment\"\n[run\n".to_owned(),
            "invalid TOML",
        ),
    ];
    for (name, body, want) in &cases {
        let file = write(&dir, name, body);
        for cmd in ["run", "validate"] {
            let o = umpire(
                &[cmd, &file, "--out", dir.to_str().unwrap()][..if cmd == "run" { 4 } else { 2 }],
            );
            assert_eq!(o.status.code(), Some(2), "{cmd} {name}");
            let err = text(&o.stderr);
            assert_eq!(err.lines().count(), 1, "{cmd} {name}: {err}");
            assert!(
                err.starts_with(&file) && err.contains(want),
                "{cmd} {name}: {err}"
            );
        }
    }
    let o = umpire(&["run", "/nonexistent/x.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("cannot read"));
    let o = umpire(&["run", "--replications", "0", "x.toml"]);
    assert_eq!(o.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn single_replication_trace_prints_counts_and_statistics() {
    let dir = scratch("trace");
    let file = write(&dir, "small.toml", SMALL);
    let o = umpire(&["run", &file, "--replication", "7"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("replication 7 (per-unit path, seed 12)"),
        "{out}"
    );
    assert!(
        out.contains("assigned") && out.contains("SRM: chi2"),
        "{out}"
    );
    assert!(out.contains("conv treatment vs control: stat"), "{out}");
    let o = umpire(&["run", &file, "--replication", "400"]);
    assert_eq!(o.status.code(), Some(2), "out of range");
}

#[test]
fn json_flag_prints_the_result_and_overrides_apply() {
    let dir = scratch("json");
    let file = write(&dir, "small.toml", SMALL);
    let o = umpire(&[
        "run",
        &file,
        "--json",
        "--seed",
        "5",
        "--replications",
        "50",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&text(&o.stdout)).expect("stdout is the JSON result");
    assert_eq!(json["seed"], 5);
    assert_eq!(json["replications"], 50);
    assert!(
        json["reproduce"]
            .as_str()
            .unwrap()
            .ends_with("--seed 5 --replications 50")
    );
}

#[test]
fn suite_runs_every_file_and_reports_failures() {
    let dir = scratch("suite");
    write(&dir, "a.toml", SMALL);
    write(&dir, "b.toml", &SMALL.replace("max = 0.2", "max = 0.001"));
    let out = dir.join("out");
    let o = umpire(&[
        "suite",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("1 of 2 scenarios FAILED: b"),
        "{}",
        text(&o.stdout)
    );
    assert!(out.join("a.json").exists() && out.join("b.json").exists());
    // The reports: the failed expectation is a JUnit failure and a ❌ row.
    let junit = std::fs::read_to_string(out.join("junit.xml")).expect("junit.xml");
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
    assert!(junit.contains("<testsuite name=\"b\""), "{junit}");
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(md.contains("❌"), "{md}");
    let html = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    assert!(html.contains("<svg") && !html.contains("<script"));
    assert!(text(&o.stdout).contains("index.html"));

    // A baseline from a clean run: the second run's FPR bound fails again,
    // but nothing moved, so there is no regression; --quick records its scale.
    let base_dir = scratch("suite-base");
    write(&base_dir, "a.toml", SMALL);
    let base_out = base_dir.join("out");
    let o = umpire(&[
        "suite",
        base_dir.to_str().unwrap(),
        "--out",
        base_out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    let again = base_dir.join("again");
    let o = umpire(&[
        "suite",
        base_dir.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
        "--baseline",
        base_out.join("suite.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("0 regressions"),
        "{}",
        text(&o.stdout)
    );
    // Against a baseline in which the treatment had a real 50% lift, the
    // rejection rate differs far beyond noise: the two-proportion test flags
    // it, and the suite fails.
    let lifted = scratch("suite-lifted");
    write(
        &lifted,
        "a.toml",
        &format!("{SMALL}[effect.treatment]\nconv = {{ relative = 0.5 }}\n")
            .replace("[expect]\nfalse_positive_rate = { max = 0.2 }\n", ""),
    );
    let lifted_out = lifted.join("out");
    let o = umpire(&[
        "suite",
        lifted.to_str().unwrap(),
        "--out",
        lifted_out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let o = umpire(&[
        "suite",
        base_dir.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
        "--baseline",
        lifted_out.join("suite.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("REGRESSION a "),
        "{}",
        text(&o.stdout)
    );
    let o = umpire(&[
        "suite",
        base_dir.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
        "--quick",
    ]);
    assert!(
        text(&o.stdout).contains("scaled by 0.1"),
        "{}",
        text(&o.stdout)
    );
    let quick: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(again.join("a.json")).expect("a.json"))
            .expect("json");
    assert_eq!(quick["quick_scale"], 0.1);
    assert_eq!(quick["replications"], 50);
    let empty = scratch("suite-empty");
    assert_eq!(
        umpire(&["suite", empty.to_str().unwrap()]).status.code(),
        Some(2)
    );
}

#[test]
fn suite_names_each_failing_bound_under_its_fail_line() {
    let dir = scratch("suite-fail-lines");
    write(&dir, "a.toml", SMALL);
    write(
        &dir,
        "b.toml",
        &SMALL.replace(
            "false_positive_rate = { max = 0.2 }",
            "false_positive_rate = { max = 0.001 }\ncoverage = { min = 0.5 }\nsrm_detection_rate = { min = 0.9 }",
        ),
    );
    let out = dir.join("out");
    let o = umpire(&[
        "suite",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let stdout = text(&o.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let fail = lines
        .iter()
        .position(|l| l.starts_with("FAIL b "))
        .unwrap_or_else(|| panic!("no FAIL line for b:\n{stdout}"));
    // The two bounds that failed follow the FAIL line, indented, each with
    // its measure, value, Monte Carlo interval and bound; the one that held
    // does not.
    let under: Vec<&str> = lines[fail + 1..]
        .iter()
        .take_while(|l| l.starts_with("  "))
        .copied()
        .collect();
    assert_eq!(under.len(), 2, "{stdout}");
    let fpr = under
        .iter()
        .find(|l| l.contains("false_positive_rate = "))
        .unwrap_or_else(|| panic!("no false_positive_rate line:\n{stdout}"));
    assert!(
        fpr.contains("FAILED") && fpr.contains("expected ≤ 0.001"),
        "{fpr}"
    );
    assert!(
        fpr.contains(" [") && fpr.contains("], "),
        "no interval: {fpr}"
    );
    let srm = under
        .iter()
        .find(|l| l.contains("srm_detection_rate = "))
        .unwrap_or_else(|| panic!("no srm_detection_rate line:\n{stdout}"));
    assert!(srm.contains("expected ≥ 0.9"), "{srm}");
    assert!(!under.iter().any(|l| l.contains("coverage")), "{stdout}");
    // A passing scenario has no such lines.
    let pass = lines
        .iter()
        .position(|l| l.starts_with("PASS a "))
        .expect("PASS line for a");
    assert!(!lines[pass + 1].starts_with("  "), "{stdout}");
}

#[test]
fn a_closed_stdout_pipe_ends_the_run_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    // `umpire run … --trace | head -1`: the reader closes the pipe early. The
    // run must stop with the SIGPIPE status 141, without a panic message.
    let mut child = Command::new(env!("CARGO_BIN_EXE_umpire"))
        .args([
            "run",
            "scenarios/bandit_bernoulli_10arms.toml",
            "--replication",
            "0",
            "--trace",
            "--trace-steps",
            "10000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn umpire");
    let mut first = [0u8; 16];
    let mut stdout = child.stdout.take().expect("stdout");
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(141), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
}

/// Every command that prints on stdout stops with the SIGPIPE status 141
/// when the reader has gone, whichever printer wrote: a run's summary
/// table (experiment and bandit), `--json`, `validate` and `report`. The
/// pipe's reader is closed before the child starts, so its first write
/// fails, at no particular time.
#[test]
fn every_stdout_writer_stops_with_141_on_a_closed_pipe() {
    use std::process::Stdio;
    let dir = scratch("closed-pipe");
    let small = write(&dir, "small.toml", SMALL);
    let out = dir.join("out").display().to_string();
    let o = umpire(&["run", &small, "--out", &out]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let result = dir.join("out/small.json").display().to_string();
    let cases: [&[&str]; 6] = [
        &["run", &small, "--out", &out],
        &["run", &small, &small, "--out", &out],
        &["run", &small, "--json", "--out", &out],
        &[
            "run",
            "scenarios/bandit_bernoulli_10arms.toml",
            "--replications",
            "2",
            "--out",
            &out,
        ],
        &["validate", &small],
        &["report", &result, "--format", "md"],
    ];
    for args in cases {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let o = Command::new(env!("CARGO_BIN_EXE_umpire"))
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("run umpire");
        let stderr = text(&o.stderr);
        assert_eq!(o.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn merged_shards_are_byte_identical_to_the_whole_run() {
    let dir = scratch("shards");
    let peeking = write(
        &dir,
        "peeking_naive_vs_sequential.toml",
        &std::fs::read_to_string("scenarios/peeking_naive_vs_sequential.toml").expect("read"),
    );
    let bandit = write(
        &dir,
        "bandit_batched_delayed.toml",
        &std::fs::read_to_string("scenarios/bandit_batched_delayed.toml").expect("read"),
    );
    let contextual = write(
        &dir,
        "contextual_linear.toml",
        &std::fs::read_to_string("scenarios/contextual_linear.toml").expect("read"),
    );
    let ope = write(
        &dir,
        "ope_coverage.toml",
        &std::fs::read_to_string("scenarios/ope_coverage.toml").expect("read"),
    );
    // A per-unit experiment (hash assignment, revenue), an aggregate one with
    // looks and sequential methods, a bandit scenario, one on features and
    // an off-policy study.
    for (file, stem, reps) in [
        (write(&dir, "small.toml", SMALL), "small", "70"),
        (peeking, "peeking_naive_vs_sequential", "300"),
        (bandit, "bandit_batched_delayed", "20"),
        (contextual, "contextual_linear", "9"),
        (ope, "ope_coverage", "23"),
    ] {
        let whole = dir.join(format!("{stem}-whole"));
        let o = umpire(&[
            "run",
            &file,
            "--replications",
            reps,
            "--out",
            whole.to_str().unwrap(),
        ]);
        // Few replications may miss an expectation (exit 1); the bytes are
        // what is compared.
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{}",
            text(&o.stderr)
        );
        let expected = std::fs::read(whole.join(format!("{stem}.json"))).expect("whole result");
        for n in [1u64, 2, 3, 7] {
            let (files, got) =
                shard_and_merge(&file, stem, reps, n, &dir.join(format!("{stem}-{n}")));
            assert!(
                got == expected,
                "{stem}: {n} shards merged differ from the whole run"
            );
            if n == 3 {
                // A missing shard is an input error, not a wrong result.
                let o = umpire(&["merge", &files[0], &files[2], "-o", "/dev/null"]);
                assert_eq!(o.status.code(), Some(2));
                assert!(text(&o.stderr).contains("each of 0..2 must be given once"));
            }
        }
    }
}

#[test]
fn every_result_kind_reads_back_to_the_same_bytes() {
    // `merge`, `report` and `--baseline` read results back: reading and
    // writing again must not lose or change a field.
    let dir = scratch("roundtrip");
    let o = umpire(&[
        "run",
        "scenarios/peeking_naive_vs_sequential.toml",
        "scenarios/bandit_contextual.toml",
        "scenarios/contextual_linear.toml",
        "scenarios/ope_coverage.toml",
        "--replications",
        "40",
        "--out",
        dir.to_str().unwrap(),
    ]);
    // 40 replications may miss an expectation (exit 1): only the files matter.
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        text(&o.stderr)
    );
    let mut files = vec![
        dir.join("peeking_naive_vs_sequential.json"),
        dir.join("bandit_contextual.json"),
        dir.join("contextual_linear.json"),
        dir.join("ope_coverage.json"),
    ];
    files.push(PathBuf::from(
        "reports/tests/data/render/serving_stall.json",
    ));
    for f in files {
        let text = std::fs::read_to_string(&f).expect("result file");
        let r = umpire_reports::AnyResult::from_json(&f.display().to_string(), &text)
            .unwrap_or_else(|e| panic!("{e}"));
        let again = r.to_json_value().expect("serialise");
        let original: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(again, original, "{}", f.display());
    }
}

#[test]
fn report_renders_saved_results_in_each_format() {
    let dir = scratch("report");
    let file = write(&dir, "small.toml", SMALL);
    let o = umpire(&["run", &file, "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let result = dir.join("small.json");
    let result = result.to_str().unwrap();
    let md = umpire(&["report", result, "--format", "md"]);
    assert!(md.status.success(), "{}", text(&md.stderr));
    assert!(text(&md.stdout).contains("small"), "{}", text(&md.stdout));
    let junit = umpire(&["report", result, "--format", "junit"]);
    assert!(
        text(&junit.stdout).starts_with("<?xml"),
        "{}",
        text(&junit.stdout)
    );
    let html = dir.join("r.html");
    let o = umpire(&["report", result, "-o", html.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(
        std::fs::read_to_string(&html)
            .expect("html")
            .contains("<svg")
    );
    // Not a result: a clear input error.
    let o = umpire(&["report", &file]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("not JSON"), "{}", text(&o.stderr));
}

/// The benchmark's scenarios (scripts/bench-vs-peers.sh) validate, so the
/// script cannot fail on a file the binary no longer accepts.
#[test]
fn bench_scenarios_validate() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/scenarios");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let o = umpire(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout).lines().filter(|l| l.ends_with(')')).count(),
        files.len()
    );
}
