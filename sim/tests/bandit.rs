//! Bandit scenarios end to end: determinism across threads and shards, common
//! random numbers across policies, and clear errors for bad scenarios.

use umpire_sim::bandit::result::{BanditResult, BanditScenario};
use umpire_sim::bandit::run::BanditEngine;
use umpire_sim::scenario::{Scenario, parse};

const TEXT: &str = r#"
kind = "bandit"
[run]
seed = 3
replications = 60
[bandit]
horizon = 3000
means = [0.2, 0.3, 0.5]
update_every = 7
delay = { min = 0, max = 40 }
[[bandit.changes]]
step = 1500
means = [0.5, 0.3, 0.2]
[policies.a]
type = "ucb1"
[policies.b]
type = "ucb1"
[policies.ts]
type = "thompson_beta"
[policies.sw]
type = "sliding_window_thompson"
window = 300
"#;

fn scenario(text: &str) -> BanditScenario {
    match parse("bandit.toml", text) {
        Ok(l) => match l.scenario {
            Scenario::Bandit(b) => *b,
            Scenario::Experiment(_) => panic!("not a bandit scenario"),
        },
        Err(e) => panic!("{e}"),
    }
}

fn result_json(s: &BanditScenario, threads: usize, splits: &[u64]) -> String {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let engine = BanditEngine::new(&s.env, &s.policies, s.seed);
    let acc = pool.install(|| {
        let mut acc = engine.run(0..splits[0], &|_| {});
        for w in splits.windows(2) {
            acc.merge(&engine.run(w[0]..w[1], &|_| {}))
                .expect("contiguous");
        }
        acc
    });
    let r = BanditResult::build(
        s,
        acc,
        engine.checkpoints.clone(),
        engine.max_gap(),
        "sha256:test".into(),
        "x".into(),
    );
    serde_json::to_string_pretty(&r).expect("json")
}

#[test]
fn bandit_results_are_identical_across_threads_and_shards() {
    let s = scenario(TEXT);
    let one = result_json(&s, 1, &[60]);
    assert_eq!(one, result_json(&s, 4, &[60]), "1 vs 4 threads");
    assert_eq!(one, result_json(&s, 2, &[60]), "re-run");
    assert_eq!(one, result_json(&s, 2, &[20, 41, 60]), "3 shards");
}

#[test]
fn policies_face_the_same_rewards() {
    // Two deterministic policies under different names make the same pulls,
    // so on a common reward stream their results are identical.
    let s = scenario(TEXT);
    let engine = BanditEngine::new(&s.env, &s.policies, s.seed);
    for r in 0..5 {
        let a = engine.run_policy(0, r, None);
        let b = engine.run_policy(1, r, None);
        assert_eq!(a, b, "replication {r}");
    }
    let acc = engine.run(0..20, &|_| {});
    assert_eq!(acc.policies[0], acc.policies[1]);
}

#[test]
fn bad_bandit_scenarios_are_clear_errors() {
    let base = "kind = \"bandit\"\n[bandit]\nhorizon = 100\nmeans = [0.1, 0.2]\n[policies.t]\ntype = \"thompson_beta\"\n";
    let cases: &[(String, &str)] = &[
        (
            base.replace("means = [0.1, 0.2]", "means = []"),
            "bandit.means: no arms",
        ),
        (
            base.replace("means = [0.1, 0.2]", "means = [0.1, 1.2]"),
            "a Bernoulli arm's mean must be in [0, 1], found 1.2",
        ),
        (
            base.replace("horizon = 100", "horizon = 100\nupdate_every = 500"),
            "batch size 500 is larger than the horizon",
        ),
        (
            base.replace("thompson_beta", "thompson"),
            "unknown policy type `thompson`",
        ),
        (
            base.replace("horizon = 100\n", ""),
            "bandit.horizon: missing",
        ),
        (
            format!("{base}[expect.x]\nregret = {{ max = 1 }}\n"),
            "expect.x: no policy of that name",
        ),
        (
            format!("{base}[expect.t]\nregert = {{ max = 1 }}\n"),
            "did you mean `regret`?",
        ),
        (
            format!("{base}[expect.t]\nregret_ratio = {{ max = 1 }}\n"),
            "regret_ratio needs `to",
        ),
        (
            format!(
                "{base}[[bandit.changes]]\nstep = 50\nmeans = [0.2, 0.1]\n[expect.t]\nlower_bound_ratio = {{ max = 1.5 }}\n"
            ),
            "needs stationary Bernoulli arms",
        ),
        (
            format!("{base}[policies.e]\ntype = \"epsilon_greedy\"\nepsilon = 2\n"),
            "epsilon: must be in [0, 1]",
        ),
        (
            base.replace("[policies.t]\ntype = \"thompson_beta\"\n", ""),
            "policies: missing table",
        ),
    ];
    for (text, want) in cases {
        match parse("bad.toml", text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => {
                let shown = e.to_string();
                assert!(shown.contains(want), "expected `{want}` in:\n{shown}");
                assert!(shown.starts_with("bad.toml:"), "{shown}");
            }
        }
    }
}
