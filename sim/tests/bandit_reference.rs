//! Bandit policies against an independent NumPy implementation
//! (tests/reference/bandit_reference.py, committed with its output): the mean
//! pseudo-regret of Thompson sampling and UCB1 on ten Bernoulli arms
//! 0.10..0.19 must agree at every checkpoint within Monte Carlo error.

use serde::Deserialize;
use umpire_sim::bandit::env::{Delay, Environment, RewardKind};
use umpire_sim::bandit::policy::PolicySpec;
use umpire_sim::bandit::{engine::BanditEngine, model::NamedPolicy};

#[derive(Deserialize)]
struct Curve {
    mean_regret: Vec<f64>,
    sd_regret: Vec<f64>,
    best_arm_share: f64,
}

#[derive(Deserialize)]
struct Reference {
    replications: u64,
    checkpoints: Vec<u64>,
    thompson_beta_1_1: Curve,
    ucb1: Curve,
    lai_robbins: LaiRobbins,
}

#[derive(Deserialize)]
struct LaiRobbins {
    coefficient: f64,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/bandit_regret.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn thompson_and_ucb1_match_the_numpy_reference() {
    let r = reference();
    let means: Vec<f64> = (0..10).map(|i| 0.10 + 0.01 * f64::from(i)).collect();
    let env = Environment {
        horizon: 10_000,
        reward: RewardKind::Bernoulli,
        means: means.clone(),
        changes: Vec::new(),
        drift_to: None,
        segments: Vec::new(),
        delay: Delay::None,
        update_every: 1,
        features: None,
    };
    let policies = vec![
        NamedPolicy {
            name: "thompson".into(),
            spec: PolicySpec::ThompsonBeta {
                prior_a: 1.0,
                prior_b: 1.0,
            },
            contextual: false,
        },
        NamedPolicy {
            name: "ucb1".into(),
            spec: PolicySpec::Ucb1,
            contextual: false,
        },
    ];
    let engine = BanditEngine::new(&env, &policies, 2024);
    let reps = 1000u64;
    let acc = engine.run(0..reps, &|_| {});
    assert!(
        (umpire_sim::bandit::theory::lai_robbins_coefficient(&means) - r.lai_robbins.coefficient)
            .abs()
            < 1e-9,
        "Lai-Robbins coefficient"
    );
    let mut failures = Vec::new();
    for (p, curve) in [(0usize, &r.thompson_beta_1_1), (1, &r.ucb1)] {
        let a = &acc.policies[p];
        for (i, &t) in r.checkpoints.iter().enumerate() {
            let c = engine
                .checkpoints
                .iter()
                .position(|&x| x == t)
                .expect("shared checkpoint");
            let n = a.regret[c].count as f64;
            let mean = a.regret[c].mean().expect("runs");
            let var = (a.regret_sq[c].total() / n - mean * mean).max(0.0) * n / (n - 1.0);
            let se = (var / n + curve.sd_regret[i].powi(2) / r.replications as f64).sqrt();
            // 4 standard errors of the difference: 12 comparisons, so a correct
            // implementation fails one of them well under 1 time in 1000.
            if (mean - curve.mean_regret[i]).abs() > 4.0 * se.max(1e-9) {
                failures.push(format!(
                    "{}: t = {t}: ours {mean:.3}, NumPy {:.3}, SE {se:.3}",
                    policies[p].name, curve.mean_regret[i]
                ));
            }
        }
        let share = a.best_share.mean().expect("runs");
        // Best-arm share has sd at most 0.5 per replication.
        if (share - curve.best_arm_share).abs() > 4.0 * 0.5 / (reps as f64).sqrt() {
            failures.push(format!(
                "{}: best-arm share {share} vs {}",
                policies[p].name, curve.best_arm_share
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
