//! Off-policy estimators against ground truth: on a feature environment
//! whose true value of every policy is known (averaged over 10^6 contexts),
//! IPS, SNIPS and DR are unbiased and their intervals cover at the nominal
//! rate when the target is near the logging policy; a target far from it
//! blows up IPS's error, which the doubly robust estimator contains. Every
//! check allows 4 Monte Carlo standard errors of the replication count.

mod common;

use common::near;
use umpire_sim::bandit::features::{Block, Coefficients, FeatureEnv, Link, Noise};
use umpire_sim::bandit::ope::estimators::Estimator;
use umpire_sim::bandit::ope::result::{OpeResult, OpeRow};
use umpire_sim::bandit::ope::study::{OpeSpec, OpeTarget, StaticPolicy, Study};

fn env() -> FeatureEnv {
    env_of(5, 4, 404)
}

/// An intercept and `dim` standard normal features, `arms` arms linear in
/// them with unit Gaussian noise, coefficients drawn from `seed`.
fn env_of(arms: usize, dim: usize, seed: u64) -> FeatureEnv {
    FeatureEnv::new(
        vec![
            Block::Constant,
            Block::Gaussian {
                dim,
                mean: 0.0,
                sd: 1.0,
            },
        ],
        arms,
        Link::Linear,
        Noise::Gaussian { sd: 1.0 },
        &Coefficients::Drawn { scale: 0.5 },
        seed,
    )
}

fn spec(targets: &[(&str, StaticPolicy)], rounds: u64) -> OpeSpec {
    OpeSpec {
        logging: StaticPolicy::Softmax { temperature: 1.0 },
        targets: targets
            .iter()
            .map(|&(name, policy)| OpeTarget {
                name: name.to_owned(),
                policy,
            })
            .collect(),
        log_sizes: vec![rounds],
        ridge_lambda: 1.0,
        alpha: 0.05,
        truth_contexts: 1_000_000,
        propensity_draws: None,
        expectations: Vec::new(),
    }
}

#[test]
fn estimators_against_the_truth_near_and_far_from_the_logging_policy() {
    let reps = 1000;
    let env = env();
    // A target that mostly plays the worst arm, which the logging policy
    // seldom does: weights up to about 20.
    let spec = spec(
        &[
            ("near", StaticPolicy::EpsilonGreedy { epsilon: 0.5 }),
            ("far", StaticPolicy::EpsilonWorst { epsilon: 0.1 }),
        ],
        1000,
    );
    let study = Study::new(&env, &spec, 404);
    let acc = study.run(0..reps);
    let result = OpeResult::build(&spec, &acc);
    let truth_se = result.targets[0].truth_se;
    assert!(truth_se < 0.001, "the truth's own error {truth_se}");
    let cell = |t: usize, e: Estimator| -> &OpeRow { result.row(0, t, e).expect("a row") };
    for e in [Estimator::Ips, Estimator::Snips, Estimator::Dr] {
        let st = cell(0, e);
        let name = e.name();
        assert_eq!(st.estimates, reps, "{name}");
        // Unbiased: within 4 standard errors of the mean error (the
        // replications' spread and the truth's own Monte Carlo error).
        let se = (st.rmse.powi(2) / reps as f64 + truth_se * truth_se).sqrt();
        assert!(
            st.bias.value.abs() <= 4.0 * se,
            "{name}: bias {} vs se {se}",
            st.bias.value
        );
        assert!(
            near(st.coverage.value, 0.95, reps, 4.0),
            "{name}: coverage {}",
            st.coverage.value
        );
    }
    let (ips, dm) = (cell(0, Estimator::Ips), cell(0, Estimator::Dm));
    // The direct method's interval treats the fitted model as known, so it
    // is too narrow even where the model is right (linear rewards).
    assert!(dm.coverage.value < 0.9, "dm coverage {}", dm.coverage.value);
    assert!(
        dm.rmse < ips.rmse,
        "the model helps: {} vs {}",
        dm.rmse,
        ips.rmse
    );
    let (far_ips, far_dr) = (cell(1, Estimator::Ips), cell(1, Estimator::Dr));
    assert!(
        far_ips.rmse > 4.0 * ips.rmse,
        "IPS error far {} vs near {}",
        far_ips.rmse,
        ips.rmse
    );
    assert!(
        far_dr.rmse < 0.5 * far_ips.rmse,
        "DR {} vs IPS {}",
        far_dr.rmse,
        far_ips.rmse
    );
}

/// Each smaller log is a prefix of the largest: a study of sizes [250,
/// 1000] gives, at 250, exactly the estimates of a study of 250 alone, and
/// its sums merge across replication ranges to the bytes of one pass.
#[test]
fn smaller_logs_are_prefixes_and_ranges_merge_exactly() {
    let env = env();
    let target = [("near", StaticPolicy::EpsilonGreedy { epsilon: 0.5 })];
    let mut both = spec(&target, 1000);
    both.log_sizes = vec![250, 1000];
    both.truth_contexts = 10_000;
    let mut alone = spec(&target, 250);
    alone.truth_contexts = 10_000;
    let (a, b) = (Study::new(&env, &both, 9), Study::new(&env, &alone, 9));
    for r in 0..5 {
        assert_eq!(a.replicate(r)[..4], b.replicate(r)[..], "replication {r}");
    }
    let whole = a.run(0..40);
    let mut parts = a.run(0..13);
    parts.merge(&a.run(13..40));
    assert_eq!(whole, parts);
}

/// Monte Carlo propensities bias IPS by a known factor. With a uniform
/// logging policy every propensity is p = 1/K, and the logged estimate is
/// p̂ = max(W, 1)/M with W ~ Binomial(M, p), independent of the round. So
/// E[IPS] = V · p · E[M/max(W, 1)] exactly: the factor is a finite sum over
/// the binomial pmf. With K = 4 and M = 10 it is 1.299.
#[test]
fn estimated_propensities_inflate_ips_by_the_closed_form_factor() {
    let (k, m) = (4usize, 10u64);
    let env = env_of(k, 2, 77);
    let p = 1.0 / k as f64;
    // E[M / max(W, 1)] by the pmf's recurrence.
    let mut pmf = (1.0 - p).powi(m as i32);
    let mut inverse = 0.0;
    for w in 0..=m {
        inverse += pmf * m as f64 / w.max(1) as f64;
        pmf *= (m - w) as f64 / (w + 1) as f64 * p / (1.0 - p);
    }
    let factor = p * inverse;
    // Python: 0.25 * sum(comb(10, w) * 0.25**w * 0.75**(10 - w) * 10 / max(w, 1)
    // for w in range(11)) = 1.2990310561089289.
    assert!((factor - 1.299_031_056).abs() < 1e-8, "{factor}");
    let mut spec = spec(
        &[("greedy", StaticPolicy::EpsilonGreedy { epsilon: 0.2 })],
        200,
    );
    spec.logging = StaticPolicy::Uniform;
    spec.propensity_draws = Some(m);
    let reps = 4000;
    let study = Study::new(&env, &spec, 77);
    let result = OpeResult::build(&spec, &study.run(0..reps));
    let (truth, truth_se) = (result.targets[0].truth, result.targets[0].truth_se);
    let ips = result.row(0, 0, Estimator::Ips).expect("a row");
    let expected = (factor - 1.0) * truth;
    let se = (ips.bias.sd.powi(2) / reps as f64 + (factor * truth_se).powi(2)).sqrt();
    assert!(
        (ips.bias.value - expected).abs() <= 4.0 * se,
        "bias {} against (factor {factor} − 1) × truth {truth} = {expected}, se {se}",
        ips.bias.value
    );
    // And the inflation is far from nothing: the test could fail.
    assert!(expected.abs() > 10.0 * se, "{expected} vs {se}");
}
