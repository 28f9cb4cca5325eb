//! Caps on scenario sizes and magnitudes (scenarios/README.md, "Caps"): a
//! scenario that validates runs in bounded memory and time, and every number
//! derived from it stays finite. Each case here used to validate, and then
//! panicked, aborted on allocation, ran for ever or passed on a NaN; now it is
//! one problem at the offending key's line.

use umpire_sim::scenario::parse;

mod common;
use common::errors;

const EXP: &str = "kind = \"experiment\"\n[run]\nreplications = 10\n[population]\nusers = 100\n[metrics.c]\ntype = \"bernoulli\"\np = 0.1\n";
const BANDIT: &str = "kind = \"bandit\"\n[run]\nreplications = 10\n[bandit]\nhorizon = 100\nmeans = [0.1, 0.2]\n[policies.t]\ntype = \"thompson_beta\"\n";

/// The single problem of a file that must be rejected, as
/// `(line, key, message)`.
fn one(text: &str) -> (usize, String, String) {
    let e = errors(text);
    assert_eq!(
        e.problems.len(),
        1,
        "one problem expected:\n{e}\nfor:\n{text}"
    );
    let p = &e.problems[0];
    (p.line, p.key.clone(), p.message.clone())
}

fn assert_one(text: &str, line: usize, key: &str, message: &str) {
    let (l, k, m) = one(text);
    assert_eq!((l, k.as_str()), (line, key), "{m}\nfor:\n{text}");
    assert!(m.contains(message), "expected `{message}` in `{m}`");
}

fn valid(text: &str) {
    if let Err(e) = parse("ok.toml", text) {
        panic!("should validate:\n{text}\n{e}");
    }
}

#[test]
fn duration_days_is_capped() {
    // 1e300 panicked with "capacity overflow" in Arrivals::new, and 1e9
    // allocated 8 GB and aborted.
    for (d, shown) in [
        ("1e300", "1e300"),
        ("1e9", "1000000000"),
        ("10001", "10001"),
    ] {
        assert_one(
            &EXP.replace("users = 100", &format!("users = 100\nduration_days = {d}")),
            6,
            "population.duration_days",
            &format!("must be in (0, 10000], found {shown}"),
        );
    }
    valid(&EXP.replace("users = 100", "users = 100\nduration_days = 10000"));
}

#[test]
fn metric_magnitudes_are_capped() {
    // mean = sd = 1e300 overflowed every sum of squares: FPR 1.0, and a pass.
    let normal = EXP.replace(
        "type = \"bernoulli\"\np = 0.1",
        "type = \"normal\"\nmean = 1e300\nsd = 1e300",
    );
    let e = errors(&normal);
    let got: Vec<String> = e.to_string().lines().map(str::to_owned).collect();
    assert_eq!(
        got,
        [
            "bad.toml:8:8: metrics.c.mean: must be in [-1e9, 1e9], found 1e300",
            "bad.toml:9:6: metrics.c.sd: must be in (0, 1e9], found 1e300",
        ]
    );
    valid(&normal.replace("1e300", "1e9"));
    // A lift that moves a valid mean out of range.
    assert_one(
        &format!(
            "{}[effect.treatment]\nc = {{ absolute = 1e300 }}\n",
            normal.replace("1e300", "1.0")
        ),
        11,
        "effect.treatment.c",
        "impossible for a normal metric",
    );
    // Revenue within its per-key ranges, but with a mean of e^100.
    assert_one(
        &EXP.replace(
            "type = \"bernoulli\"\np = 0.1",
            "type = \"revenue\"\np_nonzero = 1\nlog_mean = 50\nlog_sd = 10",
        ),
        6,
        "metrics.c",
        "each must be at most 1e9",
    );
}

#[test]
fn gaussian_bandit_magnitudes_are_capped() {
    // Means of ±1e308 made the regret NaN, and the run passed.
    let gaussian = BANDIT.replace(
        "means = [0.1, 0.2]",
        "reward = \"gaussian\"\nmeans = [1e308, -1e308]",
    );
    let e = errors(&gaussian);
    assert_eq!(
        common::line_keys(&e),
        [(7, "bandit.means"), (7, "bandit.means")],
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("must be in [-1e9, 1e9], found 1e308"),
        "{e}"
    );
    assert_one(
        &gaussian.replace("[1e308, -1e308]", "[1, 2]\nreward_sd = 1e300"),
        8,
        "bandit.reward_sd",
        "must be in (0, 1e9]",
    );
    // In range, but the squared regret would not sum exactly over replications.
    assert_one(
        &gaussian
            .replace("[1e308, -1e308]", "[1e9, -1e9]")
            .replace("horizon = 100", "horizon = 1000000"),
        3,
        "run.replications",
        "its squares sum to",
    );
    valid(&gaussian.replace("[1e308, -1e308]", "[1e9, -1e9]"));
}

#[test]
fn experiment_sizes_are_capped() {
    let cases: &[(String, usize, &str, &str)] = &[
        (
            EXP.replace("users = 100", "users = 1000000001"),
            5,
            "population.users",
            "must be at most 1000000000",
        ),
        (
            EXP.replace("replications = 10", "replications = 10000001"),
            3,
            "run.replications",
            "must be at most 10000000",
        ),
        (
            format!(
                "{EXP}{}",
                (0..101)
                    .map(|i| format!("[metrics.m{i}]\ntype = \"bernoulli\"\np = 0.1\n"))
                    .collect::<String>()
            ),
            6,
            "metrics",
            "at most 100 metrics, found 102",
        ),
        (
            format!(
                "{EXP}{}",
                (0..33)
                    .map(|i| format!("[analysis.methods.x{i}]\ntype = \"fixed\"\n"))
                    .collect::<String>()
            ),
            9,
            "analysis.methods",
            "at most 32 methods, found 33",
        ),
        // 64 variants × 2 metrics at 10,000 looks: 1.28e6 look-cells.
        (
            format!(
                "{}[metrics.d]\ntype = \"bernoulli\"\np = 0.2\n[assignment]\nvariants = [{}]\n[analysis]\nlooks = 10000\n",
                EXP,
                (0..64)
                    .map(|i| format!("\"v{i}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            15,
            "analysis.looks",
            "10000 looks × 128 cells = 1280000 is over the cap of 1e6",
        ),
        // 32 methods × 100 metrics × 63 treatments: 201,600 cells.
        (
            format!(
                "kind = \"experiment\"\n[population]\nusers = 100\n[assignment]\nvariants = [{}]\n{}{}",
                (0..64)
                    .map(|i| format!("\"v{i}\""))
                    .collect::<Vec<_>>()
                    .join(", "),
                (0..100)
                    .map(|i| format!("[metrics.m{i}]\ntype = \"bernoulli\"\np = 0.1\n"))
                    .collect::<String>(),
                (0..32)
                    .map(|i| format!("[analysis.methods.x{i}]\ntype = \"fixed\"\n"))
                    .collect::<String>()
            ),
            6,
            "metrics",
            "32 methods × 6300 comparisons (metrics × treatment variants) = 201600 is over the cap of 10000",
        ),
        // 10^6 replications of 10^7 users: 10^13 unit draws.
        (
            EXP.replace("replications = 10", "replications = 1000000")
                .replace("users = 100", "users = 10000000"),
            3,
            "run.replications",
            "estimated work 1000000 replications × 10000000 users × 1 metrics = 1e13 unit draws is over the cap of 1e11",
        ),
        // Without [run], the default 1000 replications of 10^9 users.
        (
            format!("{EXP}[metrics.d]\ntype = \"count\"\nlambda = 3\n")
                .replace("[run]\nreplications = 10\n", "")
                .replace("users = 100", "users = 1000000000"),
            3,
            "population.users",
            "1000 replications × 1000000000 users × 2 metrics = 2e12 unit draws",
        ),
        (
            format!(
                "{}[analysis]\nlooks = 10000\n[analysis.methods.a]\ntype = \"naive\"\n[analysis.methods.b]\ntype = \"msprt\"\n",
                EXP.replace("replications = 10", "replications = 10000000")
            ),
            3,
            "run.replications",
            "10000000 replications × 10000 looks × 2 methods × 1 comparisons = 2e11 tests",
        ),
        // Daily looks draw one binomial per day and replication, whatever
        // the users: 10^7 replications × 10^4 days passed every cap.
        (
            format!(
                "{}[analysis]\nlooks = 2\nlooks_at = \"days\"\n",
                EXP.replace("replications = 10", "replications = 10000000")
                    .replace("users = 100", "users = 1\nduration_days = 10000")
            ),
            3,
            "run.replications",
            "estimated work 10000000 replications × 10000 days (looks_at = \"days\") = 1e11 arrival draws is over the cap of 1e10",
        ),
    ];
    for (text, line, key, message) in cases {
        assert_one(text, *line, key, message);
    }
    // The same days with looks by sample size draw no daily arrivals.
    valid(
        &EXP.replace("replications = 10", "replications = 10000000")
            .replace("users = 100", "users = 1\nduration_days = 10000"),
    );
    valid(
        &EXP.replace("users = 100", "users = 1000000000")
            .replace("replications = 10", "replications = 100"),
    );
}

#[test]
fn bandit_sizes_are_capped() {
    let arms = |n: usize| format!("means = [{}]", vec!["0.5"; n].join(", "));
    let cases: &[(String, usize, &str, &str)] = &[
        // 2^63 − 1 steps ran for ever.
        (
            BANDIT.replace("horizon = 100", "horizon = 9223372036854775807"),
            5,
            "bandit.horizon",
            "must be at most 1000000000",
        ),
        // 10^6 arms took 1.3 GB.
        (
            BANDIT.replace("means = [0.1, 0.2]", &arms(1_000_000)),
            6,
            "bandit.means",
            "at most 1000 arms, found 1000000",
        ),
        (
            BANDIT.replace("replications = 10", "replications = 10000001"),
            3,
            "run.replications",
            "must be at most 10000000",
        ),
        (
            format!(
                "{BANDIT}{}",
                (0..64)
                    .map(|i| format!("[policies.p{i}]\ntype = \"uniform\"\n"))
                    .collect::<String>()
            ),
            7,
            "policies",
            "at most 64 policies, found 65",
        ),
        (
            BANDIT.replace("horizon = 100", "horizon = 10000000\ndelay = 1000001"),
            6,
            "bandit.delay",
            "must be at most 1000000",
        ),
        (
            BANDIT.replace("horizon = 100", "horizon = 10000000\ndelay = { min = 0, max = 1000001 }"),
            6,
            "bandit.delay.max",
            "must be at most 1000000",
        ),
        (
            BANDIT.replace("horizon = 100", "horizon = 10000000\nupdate_every = 1000001"),
            6,
            "bandit.update_every",
            "must be at most 1000000",
        ),
        (
            BANDIT.replace("\"thompson_beta\"", "\"sliding_window_thompson\"\nwindow = 1000001"),
            9,
            "policies.t.window",
            "must be at most 1000000",
        ),
        (
            format!(
                "{BANDIT}{}",
                (1..=1001)
                    .map(|i| format!("[[bandit.changes]]\nstep = {i}\nmeans = [0.1, 0.2]\n"))
                    .collect::<String>()
            )
            .replace("horizon = 100", "horizon = 10000"),
            9,
            "bandit.changes",
            "at most 1000 changes, found 1001",
        ),
        (
            BANDIT.replace(
                "means = [0.1, 0.2]\n",
                &(0..201)
                    .map(|i| format!("[bandit.segments.s{i}]\nweight = 0.004975124378109453\nmeans = [0.1, 0.2]\n"))
                    .collect::<String>(),
            ),
            6,
            "bandit.segments",
            "at most 200 segments, found 201",
        ),
        // 10^6 replications × 10^6 steps × 1 policy × 2 arms.
        (
            BANDIT.replace("replications = 10", "replications = 1000000")
                .replace("horizon = 100", "horizon = 1000000"),
            3,
            "run.replications",
            "estimated work 1000000 replications × horizon 1000000 × 1 policies × 2 arms = 2e12 arm-steps is over the cap of 1e10",
        ),
    ];
    for (text, line, key, message) in cases {
        assert_one(text, *line, key, message);
    }
    valid(&BANDIT.replace("means = [0.1, 0.2]", &arms(1000)));
    valid(
        &BANDIT
            .replace("horizon = 100", "horizon = 1000000000")
            .replace("replications = 10", "replications = 5"),
    );
}

#[test]
fn every_shipped_scenario_is_within_the_caps() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("scenarios/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).expect("read");
            valid(&text);
            n += 1;
        }
    }
    assert!(n >= 15, "only {n} scenarios found in {dir}");
}
