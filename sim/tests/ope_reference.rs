//! The off-policy estimators and the ridge reward model against the Open
//! Bandit Pipeline: reference values computed once with obp 0.4.1 and numpy
//! (tests/reference/obp_reference.py, committed with its output
//! tests/reference/obp.json) on four fixed logged datasets, among them a
//! target far from its logging policy and propensities near 0.02.
//!
//! umpire fits its own ridge model on the logged contexts and must find
//! numpy's coefficients; the estimators then read umpire's predictions, and
//! IPS, SNIPS, DM and DR must equal obp's to 1e-9 (|ours − theirs| ≤
//! 1e-9·max(|theirs|, 1)).

use serde::Deserialize;
use umpire_sim::bandit::ope::{Estimator, LoggedData, RidgeModel, estimate};

const TOL: f64 = 1e-9;

const REFERENCE: &str = include_str!("reference/obp.json");

#[derive(Deserialize)]
struct Reference {
    generated_with: Versions,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Versions {
    obp: String,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    n_actions: usize,
    dim: usize,
    ridge_lambda: f64,
    context: Vec<Vec<f64>>,
    action: Vec<usize>,
    reward: Vec<f64>,
    pscore: Vec<f64>,
    action_dist: Vec<Vec<f64>>,
    ridge_theta: Vec<Vec<f64>>,
    q_hat: Vec<Vec<f64>>,
    estimates: Estimates,
}

#[derive(Deserialize)]
struct Estimates {
    ips: f64,
    snips: f64,
    dm: f64,
    dr: f64,
}

fn close(ours: f64, theirs: f64) -> bool {
    (ours - theirs).abs() <= TOL * theirs.abs().max(1.0)
}

/// umpire's ridge model fitted on the case's log, its predictions and the
/// target's probabilities, flattened `[i * arms + a]`.
fn fitted(c: &Case) -> (RidgeModel, Vec<f64>, Vec<f64>) {
    let contexts: Vec<f64> = c.context.iter().flatten().copied().collect();
    let model = RidgeModel::fit(
        c.n_actions,
        c.dim,
        &contexts,
        &c.action,
        &c.reward,
        c.ridge_lambda,
    )
    .expect("fits");
    let q_hat = model.predictions(&contexts);
    let target = c.action_dist.iter().flatten().copied().collect();
    (model, q_hat, target)
}

/// The case's log with the target and predictions.
fn log<'a>(c: &'a Case, q_hat: &'a [f64], target: &'a [f64]) -> LoggedData<'a> {
    LoggedData::new(c.n_actions, &c.action, &c.reward, &c.pscore, target, q_hat)
        .expect("a valid log")
}

#[test]
fn estimators_and_ridge_match_obp() {
    let r: Reference = serde_json::from_str(REFERENCE).expect("obp.json parses");
    assert_eq!(r.generated_with.obp, "0.4.1");
    assert!(r.cases.len() >= 4);
    let mut problems = Vec::new();
    for c in &r.cases {
        let (model, q_hat, target) = fitted(c);
        for (a, want) in c.ridge_theta.iter().enumerate() {
            for (j, (&got, &want)) in model.theta(a).iter().zip(want).enumerate() {
                if !close(got, want) {
                    problems.push(format!("{}: theta[{a}][{j}] {got:e} vs {want:e}", c.name));
                }
            }
        }
        let theirs_q: Vec<f64> = c.q_hat.iter().flatten().copied().collect();
        if let Some((i, (a, b))) = q_hat
            .iter()
            .zip(&theirs_q)
            .enumerate()
            .find(|(_, (a, b))| !close(**a, **b))
        {
            problems.push(format!("{}: q_hat[{i}] {a:e} vs {b:e}", c.name));
        }
        let data = log(c, &q_hat, &target);
        let e = &c.estimates;
        for (estimator, theirs) in [
            (Estimator::Ips, e.ips),
            (Estimator::Snips, e.snips),
            (Estimator::Dm, e.dm),
            (Estimator::Dr, e.dr),
        ] {
            let ours = estimate(estimator, &data, 0.05).expect("estimates").value;
            if !close(ours, theirs) {
                problems.push(format!(
                    "{}: {} {ours:e} vs obp {theirs:e}",
                    c.name,
                    estimator.name()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The reference's second case, a greedy target far from its softmax
/// logging policy (weights up to 34): every estimator's interval contains
/// its estimate, and IPS's, which carries the raw weights, is the widest.
#[test]
fn a_far_target_gives_ips_the_widest_interval() {
    let r: Reference = serde_json::from_str(REFERENCE).expect("obp.json parses");
    let c = &r.cases[1];
    let (_, q_hat, target) = fitted(c);
    let data = log(c, &q_hat, &target);
    let width = |e| {
        let est = estimate(e, &data, 0.05).expect("estimates");
        assert!(est.ci.0 < est.value && est.value < est.ci.1, "{e:?}");
        est.ci.1 - est.ci.0
    };
    let ips = width(Estimator::Ips);
    for e in [Estimator::Snips, Estimator::Dm, Estimator::Dr] {
        assert!(width(e) < ips, "{e:?} vs IPS {ips}");
    }
}
