//! Bandit results: regret curves with intervals and percentiles, pull
//! shares, best-arm identification, the Lai–Robbins curve, and expectation
//! verdicts, built from a finished [`BanditAcc`].

use serde::{Deserialize, Serialize};

use super::accumulator::{BanditAcc, REGRET_BINS};
use super::env::RewardKind;
use super::model::{BanditExpectation, BanditMeasure, BanditScenario};
use crate::result::{
    Bound, INTERVAL_ALPHA, MeanEstimate, Provenance, ResultHeader, ResultKind, check_min_max,
    f64_or_nan, mean_estimate, not_finite_message, verdict_message,
};
use crate::stats::{ExactSum, Proportion, wilson};

/// A regret curve: per checkpoint, the mean with its Monte Carlo interval, the
/// standard error, and the 5/50/95 percentiles across replications.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegretCurve {
    /// Mean cumulative pseudo-regret across replications.
    pub mean: Vec<f64>,
    /// Lower end of the mean's Monte Carlo interval.
    pub lo: Vec<f64>,
    /// Upper end of the mean's Monte Carlo interval.
    pub hi: Vec<f64>,
    /// Standard error of the mean.
    pub se: Vec<f64>,
    /// 5th percentile across replications (from a histogram, within half a bin).
    pub p5: Vec<f64>,
    /// Median across replications (from a histogram, within half a bin).
    pub p50: Vec<f64>,
    /// 95th percentile across replications (from a histogram, within half a bin).
    pub p95: Vec<f64>,
}

/// One policy's results over all replications.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyResult {
    /// The policy's name in the scenario.
    pub name: String,
    /// The policy and its parameters as run.
    pub spec: super::policy::PolicySpec,
    /// Whether the policy kept statistics per segment (omitted when false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub contextual: bool,
    /// Cumulative pseudo-regret at each checkpoint.
    pub regret: RegretCurve,
    /// Mean regret at the horizon with its interval.
    pub final_regret: MeanEstimate,
    /// Mean realised regret at the horizon (best mean minus rewards received).
    pub realised_regret: f64,
    /// Mean share of pulls that went to the arm best at the time.
    pub best_arm_share: f64,
    /// Per arm: the mean share of pulls over the horizon.
    pub pull_shares: Vec<f64>,
    /// Per checkpoint, each arm's mean share of the pulls up to it.
    pub pull_share_curve: Vec<Vec<f64>>,
    /// Share of replications whose recommendation at the horizon was the best
    /// arm (in every segment), with its Wilson interval.
    pub best_arm_identified: Proportion,
    /// Mean regret at the horizon over the Lai–Robbins bound (stationary
    /// Bernoulli arms only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_bound_ratio: Option<f64>,
}

/// The verdict on one expectation, or on a measure that is not a finite number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BanditExpectationResult {
    /// The expectation's key, `expect.POLICY.MEASURE` (`POLICY.MEASURE` for an
    /// undefined measure).
    pub key: String,
    /// What was measured.
    pub measure: BanditMeasure,
    /// The name of the policy measured.
    pub policy: String,
    /// The bounds it was held to.
    pub bound: Bound,
    /// NaN when the measure is not a finite number (JSON `null`).
    #[serde(deserialize_with = "f64_or_nan")]
    pub measured: f64,
    /// The measure's interval, for regret and best-arm identification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<(f64, f64)>,
    /// Whether the measured value is within the bound.
    pub passed: bool,
    /// The verdict in words, as the report prints it.
    pub message: String,
}

/// The result of a bandit scenario (`kind = "bandit"`): every policy's curves
/// and measures, the expectations' verdicts, and the accumulators it was
/// built from, which merge across shards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BanditResult {
    /// What every result starts with: schema, scenario, provenance and seed.
    #[serde(flatten)]
    pub header: ResultHeader,
    /// Replications pooled in this result.
    pub replications: u64,
    /// The replications pooled, as `[first, end)`.
    pub replication_range: (u64, u64),
    /// Steps per replication.
    pub horizon: u64,
    /// Number of arms.
    pub arms: usize,
    /// Segment names when arm means differ by segment; regret is then
    /// measured against each step's segment's best arm.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<String>,
    /// Whether arms' means depend on a drawn context (`[bandit.features]`):
    /// regret is then against each step's best arm for its context, and no
    /// single arm is best (`best_arm_identified` stays 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub features: bool,
    /// Steps at which the curves are given: 1, 2, 5, 10, … and the horizon.
    pub checkpoints: Vec<u64>,
    /// Σ Δ_k / KL(μ_k, μ*) · ln t at each checkpoint (stationary Bernoulli);
    /// with segments, the sum of each segment's bound at its share of t.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lai_robbins: Option<Vec<f64>>,
    /// One result per policy, in scenario order.
    pub policies: Vec<PolicyResult>,
    /// The off-policy study's table, when the scenario has one (`[ope]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ope: Option<super::ope::result::OpeResult>,
    /// The verdicts: the scenario's expectations, then any measure that is not a
    /// finite number.
    pub expectations: Vec<BanditExpectationResult>,
    /// Whether every verdict passed.
    pub passed: bool,
    /// The command that reproduces the whole (unsharded) run.
    pub reproduce: String,
    /// The exact sums the result was built from, for merging shards.
    pub accumulators: BanditAcc,
}

fn percentile(hist: &[u64], top: f64, q: f64) -> f64 {
    let n: u64 = hist.iter().sum();
    if n == 0 {
        return f64::NAN;
    }
    let target = (q * n as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, &c) in hist.iter().enumerate() {
        seen += c;
        if seen >= target {
            // The bin's midpoint: within half a bin (top / REGRET_BINS / 2).
            return (i as f64 + 0.5) * top / REGRET_BINS as f64;
        }
    }
    top
}

fn mean_of(sum: &ExactSum, sq: &ExactSum) -> MeanEstimate {
    mean_estimate(sum, Some(sq), 0.0).unwrap_or(MeanEstimate {
        value: f64::NAN,
        lo: f64::NAN,
        hi: f64::NAN,
        sd: 0.0,
    })
}

impl BanditResult {
    /// Build the result of scenario `s` from its finished accumulator, with the
    /// engine's `checkpoints` and `max_gap` (see [`BanditEngine`](super::engine::BanditEngine)),
    /// judging its expectations.
    pub fn build(
        s: &BanditScenario,
        acc: BanditAcc,
        checkpoints: Vec<u64>,
        max_gap: f64,
        provenance: Provenance,
    ) -> Self {
        let r = acc.replications();
        let lai = (s.env.stationary() && s.env.reward == RewardKind::Bernoulli).then(|| {
            checkpoints
                .iter()
                .map(|&t| s.env.lai_robbins_at(t))
                .collect::<Vec<f64>>()
        });
        let policies: Vec<PolicyResult> = s
            .policies
            .iter()
            .zip(&acc.policies)
            .map(|(p, a)| {
                let means: Vec<MeanEstimate> = a
                    .regret
                    .iter()
                    .zip(&a.regret_sq)
                    .map(|(x, y)| mean_of(x, y))
                    .collect();
                let pct = |q: f64| {
                    a.regret_hist
                        .iter()
                        .zip(&checkpoints)
                        .map(|(h, &t)| percentile(h, t as f64 * max_gap, q))
                        .collect()
                };
                let last = *means.last().unwrap_or(&MeanEstimate {
                    value: f64::NAN,
                    lo: f64::NAN,
                    hi: f64::NAN,
                    sd: 0.0,
                });
                PolicyResult {
                    name: p.name.clone(),
                    spec: p.spec.clone(),
                    contextual: p.contextual,
                    regret: RegretCurve {
                        mean: means.iter().map(|m| m.value).collect(),
                        lo: means.iter().map(|m| m.lo).collect(),
                        hi: means.iter().map(|m| m.hi).collect(),
                        se: means
                            .iter()
                            .map(|m| m.sd / (r.max(1) as f64).sqrt())
                            .collect(),
                        p5: pct(0.05),
                        p50: pct(0.5),
                        p95: pct(0.95),
                    },
                    final_regret: last,
                    realised_regret: a.realised_regret.mean().unwrap_or(f64::NAN),
                    best_arm_share: a.best_share.mean().unwrap_or(f64::NAN),
                    pull_shares: a
                        .pull_shares
                        .iter()
                        .map(|x| x.mean().unwrap_or(f64::NAN))
                        .collect(),
                    pull_share_curve: a
                        .pull_shares_at
                        .iter()
                        .map(|row| row.iter().map(|x| x.mean().unwrap_or(f64::NAN)).collect())
                        .collect(),
                    best_arm_identified: wilson(a.recommended_best, r, INTERVAL_ALPHA),
                    // Undefined (not NaN) when the bound is 0: equal arms, or
                    // a horizon of one step.
                    lower_bound_ratio: lai
                        .as_ref()
                        .and_then(|l| l.last())
                        .filter(|&&b| b > 0.0)
                        .map(|&b| last.value / b),
                }
            })
            .collect();
        let mut expectations: Vec<BanditExpectationResult> = s
            .expectations
            .iter()
            .map(|e| judge(e, &policies, &checkpoints))
            .collect();
        let ope = s.ope.as_ref().zip(acc.ope.as_ref()).map(|(spec, o)| {
            let table = super::ope::result::OpeResult::build(spec, o);
            if r > 0 {
                expectations.extend(super::ope::result::judge(spec, &table, o).into_iter().map(
                    |v| BanditExpectationResult {
                        key: v.key,
                        measure: BanditMeasure::of_ope(v.measure),
                        policy: v.target,
                        bound: v.bound,
                        measured: v.measured,
                        interval: v.interval,
                        passed: v.passed,
                        message: v.message,
                    },
                ));
            }
            table
        });
        if r > 0 {
            expectations.extend(undefined_measures(&policies, &acc));
        }
        BanditResult {
            header: ResultHeader::new(ResultKind::Bandit, &s.name, s.seed, &provenance),
            replications: r,
            replication_range: (acc.first, acc.end),
            horizon: s.env.horizon,
            arms: s.env.arms(),
            segments: s.env.segments.iter().map(|g| g.name.clone()).collect(),
            features: s.env.features.is_some(),
            checkpoints,
            lai_robbins: lai,
            passed: expectations.iter().all(|e| e.passed),
            policies,
            ope,
            expectations,
            reproduce: provenance.reproduce,
            accumulators: acc,
        }
    }
}

/// Every policy measure that is not a finite number, or whose exact sum
/// overflowed, as a failed verdict (Gaussian means of 1e308 once gave a NaN
/// regret and a pass). Validation's caps keep this empty for every scenario
/// that validates.
fn undefined_measures(policies: &[PolicyResult], acc: &BanditAcc) -> Vec<BanditExpectationResult> {
    let mut out = Vec::new();
    for (p, a) in policies.iter().zip(&acc.policies) {
        let finite = |xs: &[f64]| xs.iter().all(|x| x.is_finite());
        let curve = &p.regret;
        let checks = [
            (
                BanditMeasure::Regret,
                !finite(&[p.final_regret.value, p.final_regret.lo, p.final_regret.hi])
                    || !finite(&curve.mean)
                    || a.overflowed > 0,
                p.final_regret.value,
            ),
            (
                BanditMeasure::RealisedRegret,
                !p.realised_regret.is_finite() || a.overflowed > 0,
                p.realised_regret,
            ),
            (
                BanditMeasure::BestArmShare,
                !p.best_arm_share.is_finite() || !finite(&p.pull_shares),
                p.best_arm_share,
            ),
            (
                BanditMeasure::LowerBoundRatio,
                p.lower_bound_ratio.is_some_and(|x| !x.is_finite()),
                p.lower_bound_ratio.unwrap_or(f64::NAN),
            ),
        ];
        for (measure, bad, value) in checks {
            if bad {
                let key = format!("{}.{}", p.name, measure.key());
                // A saturated sum has a finite but meaningless value.
                let shown = if value.is_finite() { f64::NAN } else { value };
                out.push(BanditExpectationResult {
                    message: not_finite_message(&key, shown),
                    key,
                    measure,
                    policy: p.name.clone(),
                    bound: Bound::default(),
                    measured: shown,
                    interval: None,
                    passed: false,
                });
            }
        }
    }
    out
}

/// [`BanditMeasure::RegretGrowth`] of a regret curve at `checkpoints`: NaN
/// when no checkpoint lies at or before a tenth of the horizon.
pub fn regret_growth(mean: &[f64], checkpoints: &[u64]) -> f64 {
    let (Some(&horizon), Some(&last)) = (checkpoints.last(), mean.last()) else {
        return f64::NAN;
    };
    let early = checkpoints.iter().rposition(|&t| t * 10 <= horizon);
    match early {
        Some(i) if mean[i] > 0.0 => (last / horizon as f64) / (mean[i] / checkpoints[i] as f64),
        _ => f64::NAN,
    }
}

fn judge(
    e: &BanditExpectation,
    policies: &[PolicyResult],
    checkpoints: &[u64],
) -> BanditExpectationResult {
    let p = &policies[e.policy];
    let (measured, interval) = match e.measure {
        BanditMeasure::Regret => (
            p.final_regret.value,
            Some((p.final_regret.lo, p.final_regret.hi)),
        ),
        BanditMeasure::RealisedRegret => (p.realised_regret, None),
        BanditMeasure::BestArmShare => (p.best_arm_share, None),
        BanditMeasure::BestArmIdentified => (
            p.best_arm_identified.value,
            Some((p.best_arm_identified.lo, p.best_arm_identified.hi)),
        ),
        BanditMeasure::LowerBoundRatio => (p.lower_bound_ratio.unwrap_or(f64::NAN), None),
        BanditMeasure::RegretRatio => {
            let other = e
                .relative_to
                .map_or(f64::NAN, |i| policies[i].final_regret.value);
            (p.final_regret.value / other, None)
        }
        BanditMeasure::RegretGrowth => (regret_growth(&p.regret.mean, checkpoints), None),
        // Off-policy measures are judged by `ope::result::judge`.
        BanditMeasure::Bias
        | BanditMeasure::Rmse
        | BanditMeasure::Coverage
        | BanditMeasure::RmseRatio => (f64::NAN, None),
    };
    let (passed, parts) = check_min_max(measured, &e.bound);
    let message = verdict_message(passed, &e.key, measured, interval, &parts);
    BanditExpectationResult {
        key: e.key.clone(),
        measure: e.measure,
        policy: p.name.clone(),
        bound: e.bound,
        measured,
        interval,
        passed,
        message,
    }
}
