//! `umpire suite scenarios/ --quick` on every shipped scenario. A test
//! binary of its own, so that cargo runs it alone rather than beside the
//! other CLI tests: its two load scenarios measure latency, and CPU taken by
//! parallel tests would make their generator fall behind.

use std::path::Path;
use std::process::Command;

// The two-sided 99.9% normal quantile: the Monte Carlo margin `near_theory`
// bounds use, and the one `suite --quick` keeps for a band on a rate.
use umpire_sim::result::NEAR_THEORY_Z;

#[test]
fn quick_suite_passes_on_every_shipped_scenario() {
    // About 45 s on two cores: the two load scenarios take ~15 s (fixed
    // durations), the bandits ~20 s, the experiments ~15 s.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("suite-quick-shipped");
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::new(env!("CARGO_BIN_EXE_umpire"))
        .args(["suite", "scenarios", "--quick", "--out"])
        .arg(&out)
        .current_dir(root)
        .output()
        .expect("run umpire");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Every simulated scenario passes: their verdicts are deterministic.
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("PASS ") || l.starts_with("FAIL "))
        .collect();
    assert!(lines.len() >= 18, "{stdout}{stderr}");
    for l in &lines {
        assert!(
            l.starts_with("PASS ") || l.contains(" load "),
            "{l}\n{stdout}"
        );
    }
    // Exit 0; or 3 when the only problem is a load run whose generator
    // could not keep its schedule on a busy machine (a run that says
    // nothing either way, by design), never 1.
    match o.status.code() {
        Some(0) => assert!(lines.iter().all(|l| l.starts_with("PASS ")), "{stdout}"),
        Some(3) => assert!(stdout.contains("verdict inconclusive"), "{stdout}"),
        c => panic!("exit {c:?}\n{stdout}{stderr}"),
    }
    // cuped's coverage band [0.93, 0.97] is centred on 0.95 with half-width
    // 0.02: --quick keeps enough replications that the 99.9% Monte Carlo
    // half-width at the centre fits in it, instead of a tenth (200).
    let cuped: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("cuped.json")).expect("cuped.json"))
            .expect("json");
    let need = (NEAR_THEORY_Z * NEAR_THEORY_Z * 0.95 * 0.05 / (0.02 * 0.02)).ceil() as u64;
    let reps = cuped["replications"].as_u64().expect("replications");
    assert!(
        reps >= need && reps < 2000,
        "cuped ran {reps}, need ≥ {need}"
    );
    assert_eq!(cuped["quick_scale"], 0.1);
    assert!(stdout.contains("scaled by 0.1"), "{stdout}");
}
