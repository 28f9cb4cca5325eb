//! The simulation model against known truths: closed-form power, the two
//! simulation paths against each other, sampler moments, covariate
//! correlation, assignment shares and faults. Every check allows a stated number
//! of Monte Carlo standard errors; seeds are fixed, so the tests are
//! deterministic.

mod common;

use common::{experiment, near, proportions_agree, run_on};
use umpire_sim::assignment::growthbook::{choose_variation, hash_with};
use umpire_sim::assignment::{EXCLUDED, HashAssigner};
use umpire_sim::experiment::Comparison;
use umpire_sim::experiment::engine::Engine;

const AB: &str = r#"
kind = "experiment"
[run]
seed = 3
replications = 4000
[population]
users = 20000
[metrics.conv]
type = "bernoulli"
p = 0.1
[effect.treatment]
conv = { relative = 0.1 }
"#;

#[test]
fn simulated_power_matches_the_closed_form() {
    let exp = experiment(AB);
    let theory = exp.theoretical_rejection_rate(Comparison {
        metric: 0,
        variant: 1,
    });
    assert!(
        (0.4..0.7).contains(&theory),
        "scenario should sit mid-range, theory {theory}"
    );
    for (per_unit, reps) in [(false, 4000u64), (true, 1500)] {
        let acc = run_on(&exp, 2, per_unit, 0..reps);
        let power = acc.methods[0].comparisons[0].rejections() as f64 / reps as f64;
        assert!(
            near(power, theory, reps, 3.29),
            "per_unit={per_unit}: power {power} vs theory {theory}"
        );
    }
}

#[test]
fn aggregate_and_per_unit_paths_agree() {
    let cases = [
        AB.to_owned(),
        // Normal metric with segments, uneven weights and an SRM fault.
        r#"
kind = "experiment"
[run]
seed = 11
[population]
users = 5000
segments = { x = 0.25, y = 0.75 }
[assignment]
weights = [0.3, 0.7]
[metrics.m]
type = "normal"
mean = 5.0
sd = 2.0
[effect.treatment]
m = { absolute = 0.1, segments = { x = 0.3 } }
[faults]
srm = { treatment = 0.05 }
"#
        .to_owned(),
    ];
    for text in cases {
        let exp = experiment(&text);
        let reps = 2000;
        let agg = run_on(&exp, 2, false, 0..reps);
        let unit = run_on(&exp, 2, true, 0..reps);
        let (a, u) = (
            agg.methods[0].comparisons[0].rejections() as f64 / reps as f64,
            unit.methods[0].comparisons[0].rejections() as f64 / reps as f64,
        );
        assert!(
            proportions_agree(a, reps, u, reps, 3.29),
            "rejection rates: aggregate {a}, per-unit {u}"
        );
        let (sa, su) = (
            agg.srm_detections as f64 / reps as f64,
            unit.srm_detections as f64 / reps as f64,
        );
        assert!(
            proportions_agree(sa, reps, su, reps, 3.29),
            "SRM detection: aggregate {sa}, per-unit {su}"
        );
        let (ma, mu) = (
            agg.analysed_units as f64 / reps as f64,
            unit.analysed_units as f64 / reps as f64,
        );
        assert!((ma - mu).abs() < 0.01 * ma, "analysed units {ma} vs {mu}");
    }
}

fn trace_stats(
    text: &str,
) -> (
    umpire_sim::experiment::Experiment,
    umpire_sim::experiment::engine::ReplicationTrace,
) {
    let exp = experiment(text);
    let t = Engine::new(&exp, true).trace(0);
    (exp, t)
}

#[test]
fn sampler_moments_match_their_distributions() {
    let n = 400_000u64;
    for (metric, mean, var) in [
        ("type = \"normal\"\nmean = 3.0\nsd = 2.0", 3.0, 4.0),
        ("type = \"count\"\nlambda = 2.5", 2.5, 2.5),
        ("type = \"count\"\nlambda = 900.0", 900.0, 900.0),
        (
            "type = \"revenue\"\np_nonzero = 0.3\nlog_mean = 1.0\nlog_sd = 0.5",
            0.3 * (1.0f64 + 0.125).exp(),
            0.3 * (2.0f64 + 0.5).exp() - (0.3 * (1.0f64 + 0.125).exp()).powi(2),
        ),
        ("type = \"bernoulli\"\np = 0.37", 0.37, 0.37 * 0.63),
    ] {
        let text =
            format!("kind = \"experiment\"\n[population]\nusers = {n}\n[metrics.m]\n{metric}\n");
        let (_, t) = trace_stats(&text);
        let s = t.stats.metrics[0];
        let se = (var / s.n as f64).sqrt();
        assert!(
            (s.mean() - mean).abs() < 4.0 * se,
            "{metric}: mean {} vs {mean}",
            s.mean()
        );
        // The sample variance's standard error needs the fourth moment; a 5%
        // relative band is far wider than its Monte Carlo error at this n.
        assert!(
            (s.variance() / var - 1.0).abs() < 0.05,
            "{metric}: variance {} vs {var}",
            s.variance()
        );
    }
}

#[test]
fn covariate_has_the_chosen_correlation_for_every_metric_type() {
    let n = 200_000u64;
    for (metric, rho) in [
        ("type = \"normal\"\nmean = 0.0\nsd = 1.0", 0.6),
        ("type = \"bernoulli\"\np = 0.2", 0.8),
        (
            "type = \"revenue\"\np_nonzero = 0.5\nlog_mean = 0.0\nlog_sd = 0.5",
            0.3,
        ),
        ("type = \"count\"\nlambda = 4.0", 0.0),
    ] {
        let text = format!(
            "kind = \"experiment\"\n[population]\nusers = {n}\n[metrics.m]\n{metric}\ncovariate_correlation = {rho}\n"
        );
        let (_, t) = trace_stats(&text);
        for s in &t.stats.metrics {
            let r = s.covariate_correlation();
            // SE of a sample correlation is about (1 − ρ²)/√n; allow 5 of them.
            let se = (1.0 - rho * rho) / (s.n as f64).sqrt();
            assert!(
                (r - rho).abs() < 5.0 * se.max(1e-3),
                "{metric}: corr {r} vs {rho}"
            );
        }
    }
}

#[test]
fn random_assignment_shares_follow_weights_and_coverage() {
    let n = 300_000u64;
    let text = format!(
        "kind = \"experiment\"\n[population]\nusers = {n}\n[assignment]\nvariants = [\"a\", \"b\", \"c\"]\n\
         weights = [0.2, 0.3, 0.5]\ncoverage = 0.6\n[metrics.m]\ntype = \"bernoulli\"\np = 0.5\n"
    );
    let (_, t) = trace_stats(&text);
    for (a, w) in [0.2, 0.3, 0.5].iter().enumerate() {
        let share = t.stats.assigned[a] as f64 / n as f64;
        assert!(
            near(share, w * 0.6, n, 4.0),
            "arm {a}: share {share} vs {}",
            w * 0.6
        );
    }
}

#[test]
fn hash_assignment_equals_growthbook_for_every_unit() {
    let text = r#"
kind = "experiment"
[population]
users = 20000
id_prefix = "acct_"
[assignment]
method = "hash"
hash_version = 1
salt = "pricing-test"
salt_per_replication = false
variants = ["control", "b", "c"]
weights = [0.34, 0.33, 0.33]
coverage = 0.9
namespace = { id = "pricing", start = 0.0, end = 0.7 }
[metrics.m]
type = "bernoulli"
p = 0.5
"#;
    let exp = experiment(text);
    let ranges = exp.assignment.ranges();
    let assigner = HashAssigner::new(&exp.assignment, "acct_");
    let arms = assigner.replication(0);
    let mut counts = [0u64; 3];
    for i in 0..20_000u64 {
        let id = format!("acct_{i}");
        let ns = exp.assignment.namespace.as_ref().expect("namespace");
        let expected = if umpire_sim::assignment::growthbook::in_namespace(&id, ns) {
            choose_variation(
                hash_with("pricing-test", &id, umpire_sim::assignment::HashVersion::V1),
                &ranges,
            )
        } else {
            None
        };
        let got = arms.arm(i);
        assert_eq!(got, expected.map_or(EXCLUDED, |v| v as u8), "unit {id}");
        if let Some(v) = expected {
            counts[v] += 1;
        }
    }
    // The simulator's per-unit path assigns exactly the same units, in every
    // replication (the salt is fixed).
    let engine = Engine::new(&exp, true);
    for r in [0, 5] {
        assert_eq!(engine.trace(r).stats.assigned, counts.to_vec());
    }
}

#[test]
fn srm_loss_and_lost_events_thin_as_configured() {
    let n = 400_000u64;
    let text = format!(
        "kind = \"experiment\"\n[population]\nusers = {n}\n[metrics.m]\ntype = \"bernoulli\"\np = 0.5\n\
         [faults]\nsrm = {{ treatment = 0.1 }}\n[faults.lost_events.m]\ntreatment = 0.2\n"
    );
    for per_unit in [true, false] {
        let exp = experiment(&text);
        let t = Engine::new(&exp, per_unit).trace(0);
        let kept = t.stats.analysed[1] as f64 / t.stats.assigned[1] as f64;
        assert!(
            near(kept, 0.9, t.stats.assigned[1], 4.0),
            "per_unit={per_unit}: kept {kept}"
        );
        assert_eq!(t.stats.analysed[0], t.stats.assigned[0]);
        let rate = t.stats.metrics[1].mean();
        assert!(
            near(rate, 0.5 * 0.8, t.stats.metrics[1].n, 4.0),
            "per_unit={per_unit}: observed rate {rate}"
        );
        assert!(t.srm.p_value < 1e-10, "the SRM test fires");
    }
}

#[test]
fn heterogeneous_lift_defines_the_true_effect_as_the_segment_mixture() {
    let text = r#"
kind = "experiment"
[run]
seed = 8
[population]
users = 20000
segments = { mobile = 0.6, desktop = 0.4 }
[metrics.conv]
type = "bernoulli"
p = 0.2
[effect.treatment]
conv = { relative = 0.1, segments = { desktop = -0.05 } }
"#;
    let exp = experiment(text);
    let (diff, rel) = exp.true_effect(Comparison {
        metric: 0,
        variant: 1,
    });
    let want = 0.6 * 0.02 + 0.4 * -0.01;
    assert!((diff - want).abs() < 1e-15 && (rel - want / 0.2).abs() < 1e-12);
    // The estimate is unbiased for the mixture on both paths.
    for per_unit in [false, true] {
        let reps = 1500;
        let acc = run_on(&exp, 2, per_unit, 0..reps);
        let c = &acc.methods[0].comparisons[0];
        let mean = c.estimate.mean().expect("estimates");
        let sd = (c.estimate_sq.total() / reps as f64 - mean * mean).sqrt();
        assert!(
            (mean - want).abs() < 4.0 * sd / (reps as f64).sqrt(),
            "per_unit={per_unit}: mean {mean} vs {want}"
        );
        let coverage = c.covered as f64 / c.interval_defined as f64;
        assert!(
            near(coverage, 0.95, reps, 4.0),
            "per_unit={per_unit}: coverage {coverage}"
        );
    }
}
