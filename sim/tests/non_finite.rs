//! A measure that is not a finite number fails the run, bounded or not.
//!
//! Validation's caps keep every scenario that validates finite, so these
//! tests build the overflowing models directly, past validation: the verdict
//! code is the last line of defence and must hold on its own. Before, Gaussian
//! arm means of ±1e308 gave a NaN regret and a PASS, and a Normal metric with
//! mean = sd = 1e300 a false-positive rate of 1.0 and a PASS.

use umpire_sim::bandit::engine::BanditEngine;
use umpire_sim::bandit::{model::BanditMeasure, result::BanditResult};
use umpire_sim::experiment::engine::Engine;
use umpire_sim::experiment::result::{ExperimentResult, RunMeta};
use umpire_sim::metric::Distribution;
use umpire_sim::result::Provenance;
use umpire_sim::scenario::{Scenario, parse};

mod common;

#[test]
fn a_nan_regret_fails_the_bandit_run() {
    let text = "kind = \"bandit\"\n[run]\nreplications = 4\n[bandit]\nhorizon = 100\n\
                reward = \"gaussian\"\nmeans = [1.0, -1.0]\n[policies.u]\ntype = \"uniform\"\n\
                [expect.u]\nbest_arm_share = { max = 1.0 }\n";
    let Scenario::Bandit(mut s) = parse("g.toml", text).expect("valid").scenario else {
        panic!("a bandit scenario");
    };
    s.env.means = vec![1e308, -1e308];
    let engine = BanditEngine::new(&s.env, &s.policies, s.seed);
    let acc = engine.run(0..s.replications, &|_| {});
    let r = BanditResult::build(
        &s,
        acc,
        engine.checkpoints.clone(),
        engine.max_gap(),
        Provenance::default(),
    );
    assert!(
        !r.policies[0].final_regret.value.is_finite(),
        "the model overflows"
    );
    assert!(!r.passed, "a NaN regret must not pass");
    let bad: Vec<_> = r.expectations.iter().filter(|e| !e.passed).collect();
    assert!(
        bad.iter().any(|e| e.key == "u.regret"
            && e.measure == BanditMeasure::Regret
            && e.message.contains("u.regret")
            && e.message.contains("not a finite number")),
        "{:#?}",
        r.expectations
    );
    // The bound the scenario asked for still holds, and is still reported.
    assert!(
        r.expectations
            .iter()
            .any(|e| e.key == "expect.u.best_arm_share" && e.passed)
    );
    // A bound on the NaN measure itself fails with the same words.
    let mut s2 = (*s).clone();
    s2.expectations[0].measure = BanditMeasure::Regret;
    s2.expectations[0].key = "expect.u.regret".into();
    let acc = engine.run(0..s2.replications, &|_| {});
    let r = BanditResult::build(
        &s2,
        acc,
        engine.checkpoints.clone(),
        engine.max_gap(),
        Provenance::default(),
    );
    let e = &r.expectations[0];
    assert!(
        !e.passed
            && e.message
                .starts_with("FAILED u.regret = NaN: not a finite number"),
        "{}",
        e.message
    );
}

#[test]
fn an_overflowing_metric_fails_the_experiment_run() {
    let text = "kind = \"experiment\"\n[run]\nreplications = 200\n[population]\nusers = 1000\n\
                [metrics.m]\ntype = \"normal\"\nmean = 1.0\nsd = 1.0\n\
                [expect]\nfalse_positive_rate = { max = 1.0 }\n";
    let mut exp = common::experiment(text);
    exp.metrics[0].baseline = Distribution::Normal {
        mean: 1e300,
        sd: 1e300,
    };
    let engine = Engine::new(&exp, false);
    let acc = engine.run(0..exp.replications, &|_| {});
    let meta = RunMeta {
        provenance: Provenance::default(),
        path: engine.path(),
        critical_values: engine.critical_values(),
    };
    let r = ExperimentResult::build(&exp, acc, meta);
    assert!(
        !r.passed,
        "an experiment whose estimates overflow must not pass"
    );
    let bad: Vec<&str> = r
        .expectations
        .iter()
        .filter(|e| !e.passed)
        .map(|e| e.key.as_str())
        .collect();
    assert!(bad.contains(&"fixed.m.treatment.mean_estimate"), "{bad:?}");
    // A result with such a verdict still reads back (NaN is written as null).
    let json = serde_json::to_string(&r.expectations).expect("serialise");
    let back: Vec<umpire_sim::experiment::result::ExpectationResult> =
        serde_json::from_str(&json).expect("reads back");
    assert_eq!(back.len(), r.expectations.len());
    assert!(back.iter().any(|e| e.measured.is_nan()));
}

/// Before, a scenario too small for its test (one user, so an arm is always
/// empty) failed with "values beyond what the simulator can sum": undefined
/// is not overflow. It runs, its verdicts stand, and only a bound on the
/// undefined measure fails, saying why.
#[test]
fn a_scenario_too_small_to_test_is_undefined_not_overflowed() {
    for (users, metric) in [
        (1, "type = \"bernoulli\"\np = 0.5\n"),
        (3, "type = \"normal\"\nmean = 1.0\nsd = 1.0\n"),
    ] {
        let text = format!(
            "kind = \"experiment\"\n[run]\nreplications = 50\n[population]\nusers = {users}\n\
             [metrics.m]\n{metric}[expect]\nfalse_positive_rate = {{ max = 1.0 }}\n"
        );
        let exp = common::experiment(&text);
        let engine = Engine::new(&exp, false);
        let acc = engine.run(0..exp.replications, &|_| {});
        let meta = || RunMeta {
            provenance: Provenance::default(),
            path: engine.path(),
            critical_values: engine.critical_values(),
        };
        let r = ExperimentResult::build(&exp, acc.clone(), meta());
        assert!(r.passed, "users = {users}: {:#?}", r.expectations);
        assert!(
            r.expectations
                .iter()
                .all(|e| !e.message.contains("not a finite number")),
            "{:#?}",
            r.expectations
        );
        let c = &r.methods[0].comparisons[0];
        // Too few users for both arms to have enough units, ever.
        assert_eq!(c.undefined_estimates, exp.replications, "users = {users}");
        assert!(c.mean_estimate.is_none() && c.bias.is_none());
        // A bound on the undefined measure fails, and says it is undefined.
        {
            let mut bounded = exp.clone();
            let e = &mut bounded.expectations[0];
            e.comparison = Some(0);
            e.measure = umpire_sim::experiment::Measure::Bias;
            e.key = "expect.fixed.m.treatment.bias".into();
            let r = ExperimentResult::build(&bounded, acc, meta());
            assert!(!r.passed);
            let e = &r.expectations[0];
            assert!(
                !e.passed
                    && e.message
                        .contains("undefined: an arm never had enough units"),
                "{}",
                e.message
            );
        }
    }
}

/// Before, merging shards saturated the exact sums silently: each shard's
/// regret fitted, their total did not, and the run passed.
#[test]
fn merging_bandit_shards_beyond_the_exact_range_overflows() {
    use umpire_sim::bandit::accumulator::BanditAcc;
    use umpire_sim::stats::ExactSum;
    let near = ExactSum::RANGE * 0.75;
    let mut a = BanditAcc::new(0, 1, 1, 2);
    let mut b = BanditAcc::new(1, 1, 1, 2);
    a.end = 1;
    b.end = 2;
    assert!(a.policies[0].realised_regret.add_checked(near));
    assert!(b.policies[0].realised_regret.add_checked(near));
    a.merge(&b).expect("contiguous");
    assert_eq!(a.policies[0].overflowed, 1);
}
