//! Scenarios and command lines beyond the caps (scenarios/README.md, "Caps")
//! are refused up front with exit 2 and a clear message, by `umpire run` as
//! a user runs it: no panic, no abort on allocation, no run for ever, no pass
//! on a NaN.

mod common;
use common::{scratch, write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs umpire, killing it after `limit` (a run the caps refuse must end at
/// once; before them some of these ran for hours).
fn umpire(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_umpire"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run umpire");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// Exit 2 within the time limit, with `want` on stderr.
fn refused(out: &Output, want: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{err}");
    assert!(err.contains(want), "expected `{want}` in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Ample for parsing and refusing on a loaded 2-core machine; the runs
/// refused here take minutes to hours, or abort.
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_huge_window_is_refused_not_a_panic() {
    // duration_days = 1e300 panicked with "capacity overflow".
    let dir = scratch("limits-window");
    let file = write(
        &dir,
        "w.toml",
        "kind = \"experiment\"\n[run]\nreplications = 2\n[population]\nusers = 100\nduration_days = 1e300\n\
         [metrics.c]\ntype = \"bernoulli\"\np = 0.1\n",
    );
    let out = dir.join("out").display().to_string();
    refused(
        &umpire(&["run", &file, "--out", &out], LIMIT),
        "w.toml:6:17: population.duration_days: must be in (0, 10000], found 1e300",
    );
}

#[test]
fn overflowing_gaussian_means_are_refused_not_a_pass() {
    // Means of ±1e308 gave a NaN regret and PASS (exit 0).
    let dir = scratch("limits-gaussian");
    let file = write(
        &dir,
        "g.toml",
        "kind = \"bandit\"\n[run]\nreplications = 2\n[bandit]\nhorizon = 100\nreward = \"gaussian\"\n\
         means = [1e308, -1e308]\n[policies.u]\ntype = \"uniform\"\n[expect.u]\nbest_arm_share = { max = 1.0 }\n",
    );
    let out = dir.join("out").display().to_string();
    refused(
        &umpire(&["run", &file, "--out", &out], LIMIT),
        "g.toml:7:10: bandit.means: an arm's mean must be in [-1e9, 1e9], found 1e308",
    );
}

#[test]
fn replications_on_the_command_line_go_through_the_work_cap() {
    let dir = scratch("limits-override");
    let file = write(
        &dir,
        "big.toml",
        "kind = \"experiment\"\n[run]\nreplications = 10\n[population]\nusers = 1000000000\n\
         [metrics.c]\ntype = \"bernoulli\"\np = 0.1\n",
    );
    let out = dir.join("out").display().to_string();
    refused(
        &umpire(
            &[
                "run",
                &file,
                "--replications",
                "100000",
                "--per-unit",
                "--out",
                &out,
            ],
            LIMIT,
        ),
        "big.toml: with --replications 100000: estimated work 100000 replications × 1000000000 users × 1 metrics = 1e14 unit draws is over the cap of 1e11",
    );
    let bandit = write(
        &dir,
        "b.toml",
        "kind = \"bandit\"\n[run]\nreplications = 2\n[bandit]\nhorizon = 1000000000\nmeans = [0.1, 0.2]\n\
         [policies.t]\ntype = \"thompson_beta\"\n",
    );
    refused(
        &umpire(
            &["run", &bandit, "--replications", "1000", "--out", &out],
            LIMIT,
        ),
        "b.toml: with --replications 1000: estimated work 1000 replications × horizon 1000000000 × 1 policies × 2 arms = 2e12 arm-steps is over the cap of 1e10",
    );
}

#[test]
fn trace_steps_are_capped() {
    // `--trace-steps 10^11` reserved 4 TB for the trace and aborted.
    let dir = scratch("limits-trace");
    let file = write(
        &dir,
        "t.toml",
        "kind = \"bandit\"\n[bandit]\nhorizon = 100\nmeans = [0.1, 0.2]\n[policies.t]\ntype = \"ucb1\"\n",
    );
    refused(
        &umpire(
            &[
                "run",
                &file,
                "--replication",
                "0",
                "--trace",
                "--trace-steps",
                "100000000000",
            ],
            LIMIT,
        ),
        "--trace-steps 100000000000 is over the cap of 1000000",
    );
}
