//! Bandit scenarios end to end: determinism across threads and shards, common
//! random numbers across policies, segments (contextual structure), and clear
//! errors for bad scenarios.

use umpire_sim::bandit::engine::BanditEngine;
use umpire_sim::bandit::{model::BanditScenario, result::BanditResult};
use umpire_sim::result::Provenance;
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

const SEGMENTED: &str = r#"
kind = "bandit"
[run]
seed = 5
replications = 40
[bandit]
horizon = 4000
update_every = 3
delay = 11
[bandit.segments.a]
weight = 0.3
means = [0.2, 0.5, 0.4]
[bandit.segments.b]
weight = 0.7
means = [0.6, 0.1, 0.3]
[policies.uniform]
type = "uniform"
[policies.pooled]
type = "thompson_beta"
[policies.ctx]
type = "thompson_beta"
contextual = true
[policies.ctx_sw]
type = "sliding_window_thompson"
window = 200
contextual = true
"#;

/// Policies on features, with delayed batched feedback and an off-policy
/// study beside them.
const OPE: &str = r#"
kind = "bandit"
[run]
seed = 8
replications = 30
[bandit]
horizon = 300
arms = 4
reward = "bernoulli"
update_every = 3
delay = { min = 0, max = 30 }
[bandit.features]
context = [{ type = "constant" }, { type = "categorical", weights = [0.5, 0.3, 0.2] }]
link = "logistic"
[policies.lin]
type = "lin_ts"
[policies.pooled]
type = "thompson_beta"
[ope]
logging = { type = "epsilon_greedy", epsilon = 0.4 }
log_sizes = [50, 200]
truth_contexts = 20000
[ope.targets.greedy]
type = "epsilon_greedy"
epsilon = 0.1
[ope.targets.soft]
type = "softmax"
temperature = 0.2
"#;

fn scenario(text: &str) -> BanditScenario {
    match parse("bandit.toml", text) {
        Ok(l) => match l.scenario {
            Scenario::Bandit(b) => *b,
            _ => panic!("not a bandit scenario"),
        },
        Err(e) => panic!("{e}"),
    }
}

fn result_json(s: &BanditScenario, threads: usize, splits: &[u64]) -> String {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let engine = pool.install(|| BanditEngine::for_scenario(s));
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
        Provenance {
            scenario_hash: "sha256:test".into(),
            reproduce: "x".into(),
            ..Provenance::default()
        },
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
    let s = scenario(SEGMENTED);
    let one = result_json(&s, 1, &[40]);
    assert!(one.contains("\"contextual\": true"), "{one}");
    assert_eq!(one, result_json(&s, 4, &[40]), "segments: 1 vs 4 threads");
    assert_eq!(one, result_json(&s, 3, &[7, 8, 40]), "segments: 3 shards");
    let s = scenario(OPE);
    let one = result_json(&s, 1, &[30]);
    assert!(one.contains("\"rmse\""), "{one}");
    assert_eq!(one, result_json(&s, 4, &[30]), "off-policy: 1 vs 4 threads");
    assert_eq!(
        one,
        result_json(&s, 3, &[1, 17, 30]),
        "off-policy: 3 shards"
    );
}

#[test]
fn one_segment_of_weight_one_is_the_plain_environment() {
    let plain = scenario(
        TEXT.replace(
            "\n[[bandit.changes]]\nstep = 1500\nmeans = [0.5, 0.3, 0.2]",
            "",
        )
        .as_str(),
    );
    let segmented = scenario(
        TEXT.replacen("means = [0.2, 0.3, 0.5]\n", "", 1)
            .replace(
                "[[bandit.changes]]\nstep = 1500\nmeans = [0.5, 0.3, 0.2]\n",
                "[bandit.segments.all]\nweight = 1\nmeans = [0.2, 0.3, 0.5]\n",
            )
            .as_str(),
    );
    assert!(plain.env.segments.is_empty());
    assert_eq!(segmented.env.segments.len(), 1);
    let a = BanditEngine::new(&plain.env, &plain.policies, plain.seed);
    let b = BanditEngine::new(&segmented.env, &segmented.policies, segmented.seed);
    for p in 0..plain.policies.len() {
        for r in 0..4 {
            assert_eq!(a.run_policy(p, r, None), b.run_policy(p, r, None));
        }
    }
}

#[test]
fn segments_are_drawn_by_weight_and_regret_is_per_segment() {
    let s = scenario(SEGMENTED);
    let engine = BanditEngine::new(&s.env, &s.policies, s.seed);
    // Segment shares over 40 x 4000 steps: binomial, so within 5 SD of 0.3.
    let mut a_steps = 0u64;
    let mut steps = 0u64;
    let mut trace = Vec::with_capacity(4000);
    for r in 0..40 {
        trace.clear();
        let run = engine.run_policy(0, r, Some(&mut trace));
        assert_eq!(trace.len(), 4000);
        // Pseudo-regret re-added from the trace: each step costs its own
        // segment's best mean minus the pulled arm's mean there.
        let mut regret = 0.0;
        for st in &trace {
            let m = &s.env.segments[st.segment].means;
            let best = m.iter().copied().fold(f64::MIN, f64::max);
            regret += best - m[st.arm];
        }
        let last = run.regret.last().copied().unwrap_or(f64::NAN);
        assert!((regret - last).abs() < 1e-9, "{regret} vs {last}");
        a_steps += trace.iter().filter(|st| st.segment == 0).count() as u64;
        steps += trace.len() as u64;
    }
    let share = a_steps as f64 / steps as f64;
    let sd = (0.3f64 * 0.7 / steps as f64).sqrt();
    assert!((share - 0.3).abs() < 5.0 * sd, "segment a share {share}");
    // Uniform pulls: expected regret per step Σ_s w_s (best_s - mean_s), here
    // 0.3 x (0.5 - 1.1/3) + 0.7 x (0.6 - 1.0/3) = 0.22667, within 5 SE.
    let result = BanditResult::build(
        &s,
        engine.run(0..s.replications, &|_| {}),
        engine.checkpoints.clone(),
        engine.max_gap(),
        Provenance::default(),
    );
    let u = &result.policies[0];
    let truth = (0.3 * (0.5 - 1.1 / 3.0) + 0.7 * (0.6 - 1.0 / 3.0)) * 4000.0;
    let se = u.regret.se.last().copied().unwrap_or(f64::NAN);
    assert!(
        (u.final_regret.value - truth).abs() < 5.0 * se,
        "uniform regret {} vs {truth} (se {se})",
        u.final_regret.value
    );
    // Pooled Thompson settles on the pooled best arm 0 (0.48 vs 0.22 and
    // 0.33), which is wrong in segment a; the contextual one learns both.
    let (pooled, ctx) = (&result.policies[1], &result.policies[2]);
    assert!(pooled.best_arm_share < 0.75, "{}", pooled.best_arm_share);
    assert!(ctx.best_arm_share > 0.9, "{}", ctx.best_arm_share);
    assert_eq!(result.segments, ["a", "b"]);
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
        (
            format!("{base}[bandit.segments.m]\nweight = 1\nmeans = [0.1, 0.2]\n"),
            "give means per segment or for the whole population, not both",
        ),
        (
            base.replace(
                "means = [0.1, 0.2]\n",
                "[bandit.segments.m]\nweight = 0.5\nmeans = [0.1, 0.2]\n[bandit.segments.d]\nweight = 0.4\nmeans = [0.3, 0.2]\n",
            ),
            "segment weights must sum to 1, found 0.9",
        ),
        (
            base.replace(
                "means = [0.1, 0.2]\n",
                "[bandit.segments.m]\nweight = 0.5\nmeans = [0.1, 0.2]\n[bandit.segments.d]\nweight = 0.5\nmeans = [0.3]\n",
            ),
            "bandit.segments.d.means: has 1 arms but segment `m` has 2",
        ),
        (
            base.replace(
                "means = [0.1, 0.2]\n",
                "[bandit.segments.m]\nmeans = [0.1, 0.2]\n",
            ),
            "bandit.segments.m.weight: missing",
        ),
        (
            format!("{base}contextual = true\n"),
            "policies.t.contextual: needs segments",
        ),
        (
            base.replace(
                "means = [0.1, 0.2]\n",
                "drift_to = [0.2, 0.1]\n[bandit.segments.m]\nweight = 1\nmeans = [0.1, 0.2]\n",
            ),
            "bandit.drift_to: not supported together with segments",
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
