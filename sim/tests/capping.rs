//! Capped metrics against the closed forms of min(X, c): the mean estimated
//! lift and its spread over replications, for an absolute cap and a cap at a
//! quantile of the replication's pooled values, both against the uncapped
//! truth. Tolerances are stated Monte Carlo errors; seeds are fixed.

mod common;

use common::{experiment, run_on};
use umpire_sim::experiment::Comparison;
use umpire_sim::metric::Cap;
use umpire_sim::stats::ExactSum;

const SCENARIO: &str = "kind = \"experiment\"\n[run]\nseed = 17\nreplications = 4000\n\
    [population]\nusers = 10000\n\
    [metrics.revenue]\ntype = \"revenue\"\np_nonzero = 0.1\nlog_mean = 3.0\nlog_sd = 1.5\nCAP\n\
    [effect.treatment]\nrevenue = { relative = 0.05 }\n";

fn mean(s: &ExactSum) -> f64 {
    s.fixed as f64 / 2f64.powi(40) / s.count as f64
}

/// The estimate's mean and sd over replications against the capped cells'
/// closed-form difference and standard error at the expected arm sizes.
fn check(cap_line: &str) {
    let exp = experiment(&SCENARIO.replace("CAP", cap_line));
    let cap = exp.metrics[0].cap.expect("a capped metric");
    let c = exp.cap_value(0, cap);
    let reps = exp.replications;
    let acc = run_on(&exp, 2, false, 0..reps);
    let a = &acc.methods[0].comparisons[0];
    let (m, m2) = (mean(&a.estimate), mean(&a.estimate_sq));
    let sd = (m2 - m * m).sqrt();
    let (mc, vc) = exp.cell(0, 0, 0).capped_moments(c);
    let (mt, vt) = exp.cell(0, 0, 1).capped_moments(c);
    let n = exp.population.users as f64 / 2.0;
    let (want, want_sd) = (mt - mc, (vc / n + vt / n).sqrt());
    let (truth, _) = exp.true_effect(Comparison {
        metric: 0,
        variant: 1,
    });
    assert!(
        want < 0.8 * truth,
        "{cap_line}: the cap should bias, {want} vs {truth}"
    );
    assert!(
        (m - want).abs() < 4.0 * want_sd / (reps as f64).sqrt(),
        "{cap_line}: mean estimate {m} vs closed form {want} (sd {want_sd})"
    );
    // The sd of an sd estimate from R draws of a near-normal estimate (a
    // mean of 5,000 capped values per arm) is about sd/√(2R).
    let tol = 4.0 / (2.0 * reps as f64).sqrt();
    assert!(
        (sd / want_sd - 1.0).abs() < tol,
        "{cap_line}: sd {sd} vs closed form {want_sd}"
    );
}

#[test]
fn an_absolute_cap_has_the_closed_form_bias_and_spread() {
    check("cap = { absolute = 300 }");
}

/// The data's cap is within O(1/√n) of the pooled population quantile the
/// closed form uses, and both arms share it, so the closed form holds to
/// Monte Carlo error.
#[test]
fn a_quantile_cap_has_the_closed_form_bias_and_spread() {
    check("cap = { quantile = 0.99 }");
    let exp = experiment(&SCENARIO.replace("CAP", "cap = { quantile = 0.99 }"));
    assert!(matches!(exp.metrics[0].cap, Some(Cap::Quantile(q)) if q == 0.99));
}
