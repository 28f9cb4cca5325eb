//! The result of a design search (`kind = "design"`): per method the answer
//! with its interval, the closed-form answer where theory gives one, the
//! expected sample size there, every evaluation made, and the verdicts of
//! the `[design.expect]` bounds.

use serde::{Deserialize, Serialize};

use super::Design;
use super::search::{Domain, Fit, Outcome, Search};
use crate::result::{Bound, NEAR_THEORY_Z, ResultHeader};
use crate::stats::normal_quantile;

/// One method's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodAnswer {
    /// The method's name.
    pub method: String,
    /// What the search found, and how.
    pub answer: super::search::Answer,
    /// The answer theory gives, where it gives one (see `closed_form`).
    pub closed_form: Option<f64>,
    /// The answer's interval at [`NEAR_THEORY_Z`] standard errors (99.9%),
    /// the one `closed_form = true` is judged by.
    pub check_interval: Option<(f64, f64)>,
    /// The mean sample size (units analysed when the method stopped, the
    /// ASN of a sequential design) at the answer, interpolated between the
    /// evaluations around it.
    pub mean_sample_size: Option<f64>,
}

impl Domain {
    /// A value of the varied key as the console and the report show it: a
    /// whole number on an integer domain, else 5 decimals.
    pub fn show(&self, x: f64) -> String {
        if self.integer {
            format!("{x:.0}")
        } else {
            format!("{x:.5}")
        }
    }
}

impl MethodAnswer {
    /// The answer and its interval in words, as the console and the report
    /// show them: `716933` and `[703230, 731238]`, or `not reached` and
    /// `(best power 0.052)`. Integers for an integer domain, else 5 decimals.
    pub fn describe(&self, domain: &Domain) -> (String, String) {
        let show = |x: f64| domain.show(x);
        match self.answer.outcome {
            Outcome::Found {
                estimate,
                low,
                high,
                ..
            } => (show(estimate), format!("[{}, {}]", show(low), show(high))),
            Outcome::AtMinimum => ("at minimum".to_owned(), format!("(≤ {})", show(domain.min))),
            Outcome::NotReached { best } => {
                ("not reached".to_owned(), format!("(best power {best:.3})"))
            }
            Outcome::Unbracketed { x, power } => (
                "unbracketed".to_owned(),
                format!("(power {power:.3} at {})", show(x)),
            ),
        }
    }
}

/// One evaluation: the varied value, and per method the rejections and the
/// mean sample size there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DesignEvaluation {
    /// The value of the varied key.
    pub x: f64,
    /// Rejections out of the replications, per searched method.
    pub rejections: Vec<u64>,
    /// Mean sample size, per searched method.
    pub mean_sample_size: Vec<f64>,
}

/// The verdict on one `[design.expect]` bound.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DesignVerdict {
    /// The bound's key, e.g. `design.expect.fixed.closed_form`.
    pub key: String,
    /// The method.
    pub method: String,
    /// The answer (NaN when there is none).
    pub measured: f64,
    /// The interval the check used.
    pub interval: Option<(f64, f64)>,
    /// Bounds on the answer (for `answer`).
    pub bound: Option<Bound>,
    /// Whether it held.
    pub passed: bool,
    /// What was found, in words.
    pub message: String,
}

/// A design search's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DesignResult {
    /// Schema, kind, scenario, provenance and seed.
    #[serde(flatten)]
    pub header: ResultHeader,
    /// The varied key.
    pub vary: String,
    /// The target power.
    pub target: f64,
    /// Replications per evaluation.
    pub replications: u64,
    /// Confidence level of `answer`'s intervals.
    pub confidence: f64,
    /// Where the search started.
    pub start: f64,
    /// The search domain.
    pub domain: Domain,
    /// Per searched method, in the scenario's order.
    pub methods: Vec<MethodAnswer>,
    /// Every evaluation, by increasing x.
    pub evaluations: Vec<DesignEvaluation>,
    /// Whether the evaluation cap stopped the search early.
    pub capped: bool,
    /// The verdicts of `[design.expect]`.
    pub expectations: Vec<DesignVerdict>,
    /// Whether every expectation held.
    pub passed: bool,
    /// The command that reproduces the search.
    pub reproduce: String,
}

/// g and its inverse: the scale the fit is linear on.
fn g_inv(domain: &Domain, y: f64) -> f64 {
    if domain.log { y.exp() } else { y }
}

/// The answer's interval at `z` standard errors of the target's Monte Carlo
/// error, read off the fitted probit line as the search reads its own
/// (interpolated answers keep the search's interval).
fn interval_at(
    a: &super::search::Answer,
    d: &Domain,
    target: f64,
    r: u64,
    z: f64,
) -> Option<(f64, f64)> {
    let Outcome::Found { low, high, .. } = a.outcome else {
        return None;
    };
    let Fit::Probit {
        intercept, slope, ..
    } = a.fit
    else {
        return Some((low, high));
    };
    let se = (target * (1.0 - target) / r as f64).sqrt();
    let at = |p: f64| {
        g_inv(
            d,
            (normal_quantile(p.clamp(1e-12, 1.0 - 1e-12)) - intercept) / slope,
        )
    };
    let (mut lo, mut hi) = (at(target - z * se), at(target + z * se));
    if d.integer {
        lo = lo.floor();
        hi = hi.ceil();
    }
    Some((
        lo.clamp(d.min, d.max).min(low),
        hi.clamp(d.min, d.max).max(high),
    ))
}

/// Linear interpolation of the evaluations' mean sample size (column `m`) at `x`.
fn asn_at(evals: &[DesignEvaluation], m: usize, x: f64) -> Option<f64> {
    let i = evals.iter().position(|e| e.x >= x)?;
    let b = &evals[i];
    if b.x == x || i == 0 {
        return b.mean_sample_size.get(m).copied().filter(|v| v.is_finite());
    }
    let a = &evals[i - 1];
    let (ya, yb) = (*a.mean_sample_size.get(m)?, *b.mean_sample_size.get(m)?);
    let f = (x - a.x) / (b.x - a.x);
    Some(ya + f * (yb - ya)).filter(|v| v.is_finite())
}

impl DesignResult {
    /// The result of a finished search of `design`: `search` with per
    /// evaluation mean sample sizes `asn` (by x, per method), and the
    /// closed-form answers per searched method.
    pub fn build(
        design: &Design,
        header: ResultHeader,
        replications: u64,
        search: Search,
        asn: &[(f64, Vec<f64>)],
        closed_forms: Vec<Option<f64>>,
        reproduce: String,
    ) -> Self {
        let evaluations: Vec<DesignEvaluation> = search
            .evaluations
            .iter()
            .map(|e| DesignEvaluation {
                x: e.x,
                rejections: e.rejections.clone(),
                mean_sample_size: asn
                    .iter()
                    .find(|(x, _)| *x == e.x)
                    .map_or_else(Vec::new, |(_, v)| v.clone()),
            })
            .collect();
        let methods: Vec<MethodAnswer> = design
            .methods
            .iter()
            .zip(search.answers)
            .zip(closed_forms)
            .enumerate()
            .map(|(i, ((&m, answer), closed_form))| {
                let estimate = match answer.outcome {
                    Outcome::Found { estimate, .. } => Some(estimate),
                    _ => None,
                };
                MethodAnswer {
                    method: design.experiment.methods[m].name.clone(),
                    check_interval: interval_at(
                        &answer,
                        &design.domain,
                        design.target,
                        replications,
                        NEAR_THEORY_Z,
                    ),
                    mean_sample_size: estimate.and_then(|x| asn_at(&evaluations, i, x)),
                    answer,
                    closed_form,
                }
            })
            .collect();
        let expectations: Vec<DesignVerdict> = design
            .expectations
            .iter()
            .flat_map(|e| judge(design, e, &methods))
            .collect();
        DesignResult {
            header,
            vary: design.vary.clone(),
            target: design.target,
            replications,
            confidence: design.confidence,
            start: design.start,
            domain: design.domain,
            methods,
            evaluations,
            capped: search.capped,
            passed: expectations.iter().all(|v| v.passed),
            expectations,
            reproduce,
        }
    }
}

fn judge(
    design: &Design,
    e: &super::DesignExpectation,
    methods: &[MethodAnswer],
) -> Vec<DesignVerdict> {
    let name = &design.experiment.methods[e.method].name;
    let Some(m) = methods.iter().find(|m| &m.method == name) else {
        return Vec::new();
    };
    let (estimate, interval) = match m.answer.outcome {
        Outcome::Found {
            estimate,
            low,
            high,
            ..
        } => (Some(estimate), Some((low, high))),
        _ => (None, None),
    };
    let none = || match m.answer.outcome {
        Outcome::AtMinimum => "no answer: the target is met at the domain's minimum".to_owned(),
        Outcome::NotReached { best } => {
            format!("no answer: the target is not reached within the domain (best power {best:.4})")
        }
        Outcome::Unbracketed { x, power } => {
            format!("no answer: the evaluation cap stopped the search (power {power:.4} at {x})")
        }
        Outcome::Found { .. } => String::new(),
    };
    let mut out = Vec::new();
    if e.closed_form {
        let key = format!("{}.closed_form", e.key);
        let (passed, message) = match (estimate, m.check_interval, m.closed_form) {
            (_, _, None) => (
                false,
                "theory gives no closed form for this method".to_owned(),
            ),
            (Some(x), Some((lo, hi)), Some(cf)) => {
                let inside = (lo..=hi).contains(&cf);
                (
                    inside,
                    format!(
                        "{name}: closed form {} {} the answer {}'s 99.9% interval [{}, {}]",
                        show(cf),
                        if inside { "inside" } else { "OUTSIDE" },
                        show(x),
                        show(lo),
                        show(hi)
                    ),
                )
            }
            _ => (false, format!("{name}: {}", none())),
        };
        out.push(DesignVerdict {
            key,
            method: name.clone(),
            measured: estimate.unwrap_or(f64::NAN),
            interval: m.check_interval,
            bound: None,
            passed,
            message,
        });
    }
    if let Some(b) = e.answer {
        let key = format!("{}.answer", e.key);
        let (passed, message) = match estimate {
            Some(x) => {
                let ok = b.min.is_none_or(|lo| x >= lo) && b.max.is_none_or(|hi| x <= hi);
                (
                    ok,
                    format!(
                        "{name}: answer {} {} {}",
                        show(x),
                        if ok { "within" } else { "OUTSIDE" },
                        b.parts().join(" and ")
                    ),
                )
            }
            None => (false, format!("{name}: {}", none())),
        };
        out.push(DesignVerdict {
            key,
            method: name.clone(),
            measured: estimate.unwrap_or(f64::NAN),
            interval,
            bound: Some(b),
            passed,
            message,
        });
    }
    out
}

/// A number as the verdicts show it: integers plainly, others to 4 significant figures.
fn show(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.4}")
    }
}
