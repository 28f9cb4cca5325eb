//! The determinism contract: the same scenario and seed give byte-identical
//! result JSON for any thread count, any shard split and any re-run.

mod common;

use common::{experiment, result_json, run_on};

/// A clustered population: events per user, three units of analysis, day looks.
const CLUSTERED: &str = r#"
kind = "experiment"
[run]
seed = 8
replications = 400
[population]
users = 600
duration_days = 5
events_per_unit = { distribution = "zt_negative_binomial", mu = 2.5, size = 0.7 }
[assignment]
variants = ["c", "t1", "t2"]
weights = [0.4, 0.3, 0.3]
[metrics.conv]
type = "bernoulli"
p = 0.2
icc = 0.3
unit = "event"
[metrics.value]
type = "revenue"
p_nonzero = 0.3
log_mean = 1.0
log_sd = 1.0
icc = 0.1
unit = "ratio"
[metrics.per_user]
type = "normal"
mean = 5.0
sd = 2.0
icc = 0.5
unit = "user"
[effect.t1]
value = { relative = 0.05, novelty = { initial = 0.1, half_life_days = 1.5 } }
[analysis]
looks = 5
looks_at = "days"
[analysis.methods.naive]
type = "naive"
[analysis.methods.obf]
type = "spending_obrien_fleming"
"#;

/// CUPED on ratio metrics (their pre-period parts fold beside the sums) and
/// on a one-value metric, in a clustered population, at three looks.
const RATIO_CUPED: &str = r#"
kind = "experiment"
[run]
seed = 17
replications = 300
[population]
users = 700
events_per_unit = { distribution = "poisson", mean = 2 }
[assignment]
variants = ["c", "t1", "t2"]
weights = [0.4, 0.3, 0.3]
[metrics.per_session]
type = "normal"
mean = 3.0
sd = 1.0
icc = 0.2
covariate_correlation = 0.6
[metrics.per_order]
type = "ratio"
numerator = { type = "revenue", p_nonzero = 1.0, log_mean = 2.0, log_sd = 0.7 }
denominator = { distribution = "zt_negative_binomial", mu = 1.4, size = 1.5 }
icc = 0.3
covariate_correlation = 0.8
[metrics.bought]
type = "bernoulli"
p = 0.3
covariate_correlation = 0.4
[effect.t1]
per_order = { relative = 0.05 }
[analysis]
looks = 3
[analysis.methods.fixed]
type = "fixed"
cuped = true
[analysis.methods.obf]
type = "spending_obrien_fleming"
cuped = true
"#;

/// Quantile metrics over events clustered by user and as independent
/// values, beside a ratio metric: the whole-replication sort of the path.
const QUANTILES: &str = r#"
kind = "experiment"
[run]
seed = 81
replications = 300
[population]
users = 500
events_per_unit = { distribution = "poisson", mean = 3 }
[assignment]
variants = ["c", "t"]
[metrics.p90]
type = "quantile"
q = 0.9
of = { type = "normal", mean = 300.0, sd = 80.0 }
icc = 0.2
[metrics.median_naive]
type = "quantile"
q = 0.5
of = { type = "revenue", p_nonzero = 0.8, log_mean = 2.0, log_sd = 1.0 }
unit = "event"
[metrics.rpo]
type = "ratio"
numerator = { type = "normal", mean = 20.0, sd = 5.0 }
denominator = { distribution = "zt_negative_binomial", mu = 1.5, size = 2.0 }
cap = { quantile = 0.95 }
[metrics.spend]
type = "revenue"
p_nonzero = 0.3
log_mean = 2.0
log_sd = 1.2
icc = 0.4
cap = { absolute = 40 }
[effect.t]
p90 = { absolute = 5.0 }
"#;

fn scenarios() -> Vec<(&'static str, String, bool)> {
    let per_unit = r#"
kind = "experiment"
[run]
seed = 99
replications = 300
[population]
users = 3000
segments = { a = 0.3, b = 0.7 }
[assignment]
method = "hash"
variants = ["c", "t1", "t2"]
weights = [0.4, 0.3, 0.3]
coverage = 0.9
[metrics.conv]
type = "bernoulli"
p = 0.3
[metrics.rev]
type = "revenue"
p_nonzero = 0.2
log_mean = 1.0
log_sd = 1.0
covariate_correlation = 0.5
[metrics.visits]
type = "count"
lambda = 3.0
[effect.t1]
conv = { relative = 0.1, segments = { b = 0.0 } }
[faults]
srm = { t2 = 0.02 }
[faults.lost_events.conv]
t1 = 0.05
"#;
    let aggregate = r#"
kind = "experiment"
[run]
seed = 5
replications = 5000
[population]
users = 20000
segments = { a = 0.5, b = 0.5 }
[assignment]
weights = [0.3, 0.7]
[metrics.conv]
type = "bernoulli"
p = 0.1
[metrics.time]
type = "normal"
mean = 10.0
sd = 3.0
[effect.treatment]
time = { absolute = 0.1 }
[faults]
srm = { treatment = 0.01 }
"#;
    let sequential = r#"
kind = "experiment"
[run]
seed = 21
replications = 600
[population]
users = 3000
duration_days = 7
[metrics.conv]
type = "bernoulli"
p = 0.2
covariate_correlation = 0.4
[metrics.value]
type = "normal"
mean = 5.0
sd = 2.0
covariate_correlation = 0.6
[effect.treatment]
value = { relative = 0.02 }
[analysis]
looks = 7
looks_at = "days"
[analysis.methods.naive]
type = "naive"
[analysis.methods.msprt]
type = "msprt"
cuped = true
[analysis.methods.obf]
type = "spending_obrien_fleming"
[analysis.methods.bayes]
type = "bayesian"
[analysis.methods.holm]
type = "fixed"
correction = "holm"
"#;
    vec![
        (
            "sequential methods, day looks, CUPED",
            sequential.to_owned(),
            true,
        ),
        ("per-unit", per_unit.to_owned(), true),
        ("aggregate", aggregate.to_owned(), false),
        (
            "aggregate scenario forced per-unit",
            aggregate.replace("replications = 5000", "replications = 200"),
            true,
        ),
        (
            "clustered: events per user, three units of analysis, day looks",
            CLUSTERED.to_owned(),
            false,
        ),
        (
            "quantile metrics, clustered and not, beside a ratio",
            QUANTILES.to_owned(),
            false,
        ),
        (
            "CUPED on ratio metrics and a one-value metric, clustered, three looks",
            RATIO_CUPED.to_owned(),
            false,
        ),
    ]
}

#[test]
fn result_json_is_identical_across_thread_counts_and_reruns() {
    for (name, text, per_unit) in scenarios() {
        let exp = experiment(&text);
        let r = exp.replications;
        let one = result_json(&exp, run_on(&exp, 1, per_unit, 0..r), per_unit);
        let four = result_json(&exp, run_on(&exp, 4, per_unit, 0..r), per_unit);
        let again = result_json(&exp, run_on(&exp, 4, per_unit, 0..r), per_unit);
        assert_eq!(one, four, "{name}: 1 thread vs 4 threads");
        assert_eq!(four, again, "{name}: second run");
        // Guard against a vacuous pass: the runs did measure something.
        assert!(one.contains("\"replications\": "), "{name}");
    }
}

#[test]
fn shard_accumulators_merge_to_the_single_run() {
    for (name, text, per_unit) in scenarios() {
        let exp = experiment(&text);
        let r = exp.replications;
        let whole = result_json(&exp, run_on(&exp, 2, per_unit, 0..r), per_unit);
        for n in [2u64, 3, 7] {
            let bounds: Vec<u64> = (0..=n).map(|i| r * i / n).collect();
            let mut merged = run_on(&exp, 1, per_unit, bounds[0]..bounds[1]);
            for w in bounds.windows(2).skip(1) {
                merged
                    .merge(&run_on(&exp, 2, per_unit, w[0]..w[1]))
                    .expect("contiguous shards");
            }
            assert_eq!(
                result_json(&exp, merged, per_unit),
                whole,
                "{name}: {n} shards"
            );
        }
    }
}

#[test]
fn non_contiguous_shards_are_refused() {
    let (_, text, per_unit) = scenarios().remove(1);
    let exp = experiment(&text);
    let mut a = run_on(&exp, 1, per_unit, 0..10);
    let c = run_on(&exp, 1, per_unit, 20..30);
    assert!(a.merge(&c).is_err());
}

#[test]
fn a_replication_traced_alone_matches_its_place_in_the_run() {
    for (name, text, per_unit) in scenarios() {
        let exp = experiment(&text);
        let engine = umpire_sim::experiment::engine::Engine::new(&exp, per_unit);
        let r = 17;
        let alone = engine.trace(r);
        // Running only replication r through the parallel runner gives the same
        // decisions, method by method, as the trace.
        let acc = run_on(&exp, 3, per_unit, r..r + 1);
        let nc = exp.comparisons().len();
        for (mi, m) in acc.methods.iter().enumerate() {
            for (ci, c) in m.comparisons.iter().enumerate() {
                let d = &alone.decisions[mi * nc + ci];
                assert_eq!(
                    c.rejections(),
                    u64::from(d.rejected),
                    "{name}: method {mi} comparison {ci}"
                );
                if d.rejected {
                    assert_eq!(c.rejections_by_look[d.look], 1, "{name}: stopping look");
                }
            }
        }
        assert_eq!(
            acc.analysed_units,
            alone.stats.analysed.iter().sum::<u64>(),
            "{name}"
        );
        // Debug text, not ==: the z-test reports df as NaN, which is never equal.
        assert_eq!(
            format!("{:?}", engine.trace(r)),
            format!("{alone:?}"),
            "{name}: trace is repeatable"
        );
    }
}

#[test]
fn looks_split_the_data_without_changing_any_draw() {
    // Integer-valued metrics, so sums are exact whatever the grouping.
    let base = r#"
kind = "experiment"
[run]
seed = 4
[population]
users = 5000
segments = { a = 0.4, b = 0.6 }
[assignment]
method = "hash"
weights = [0.3, 0.7]
[metrics.conv]
type = "bernoulli"
p = 0.3
[metrics.visits]
type = "count"
lambda = 2.0
[faults]
srm = { treatment = 0.05 }
"#;
    let whole = experiment(base);
    let full = umpire_sim::experiment::engine::Engine::new(&whole, true)
        .trace(3)
        .stats;
    for looks in [2usize, 7, 10, 333] {
        let exp = experiment(&format!("{base}[analysis]\nlooks = {looks}\n"));
        let engine = umpire_sim::experiment::engine::Engine::new(&exp, true);
        let mut scratch = engine.scratch();
        engine.simulate(3, &mut scratch);
        assert_eq!(scratch.looks().len(), looks);
        assert_eq!(scratch.stats(), &full, "{looks} looks: final data");
        // Look j sees exactly the first b_j units: the same as a population of b_j.
        for (j, &b) in exp
            .sample_boundaries()
            .iter()
            .enumerate()
            .step_by(looks.div_ceil(4))
        {
            let prefix = experiment(&base.replace("users = 5000", &format!("users = {b}")));
            let alone = umpire_sim::experiment::engine::Engine::new(&prefix, true)
                .trace(3)
                .stats;
            assert_eq!(
                scratch.looks()[j],
                alone,
                "{looks} looks: look {j} of {b} units"
            );
        }
    }
}

#[test]
fn day_looks_see_the_arrivals_by_each_day() {
    let text = r#"
kind = "experiment"
[run]
seed = 6
[population]
users = 14000
duration_days = 14
[metrics.conv]
type = "bernoulli"
p = 0.2
[analysis]
looks = 7
looks_at = "days"
"#;
    let exp = experiment(text);
    assert_eq!(exp.look_days(), vec![2, 4, 6, 8, 10, 12, 14]);
    for per_unit in [true, false] {
        let engine = umpire_sim::experiment::engine::Engine::new(&exp, per_unit);
        let trace = engine.trace(1);
        let mut scratch = engine.scratch();
        engine.simulate(1, &mut scratch);
        let seen: Vec<u64> = scratch
            .looks()
            .iter()
            .map(|s| s.assigned.iter().sum())
            .collect();
        let by_day: Vec<u64> = trace
            .arrivals_per_day
            .chunks(2)
            .scan(0, |acc, c| {
                *acc += c.iter().sum::<u64>();
                Some(*acc)
            })
            .collect();
        assert_eq!(seen, by_day, "per_unit={per_unit}");
    }
}
