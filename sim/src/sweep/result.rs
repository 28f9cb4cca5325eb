//! The result of a sweep: every point's own result (an experiment or bandit
//! result, with its per-point expectations) and the verdicts of the
//! expectations over the curve. Which replications of which points a run
//! covers is [`point_ranges`]: a shard splits the points × replications
//! sequence, so `merge` can fold each point's shards as it folds a run's.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::{Axis, Coordinate, CurveExpectation, CurveMeasure, Direction, PointScenario, Sweep};
use crate::bandit::result::BanditResult;
use crate::experiment::result::ExperimentResult;
use crate::result::{INTERVAL_ALPHA, NEAR_THEORY_Z, ResultHeader, Shard};

/// One point's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PointOutcome {
    /// An experiment point.
    Experiment(Box<ExperimentResult>),
    /// A bandit point.
    Bandit(Box<BanditResult>),
}

impl PointOutcome {
    /// Whether the point's own expectations held.
    pub fn passed(&self) -> bool {
        match self {
            PointOutcome::Experiment(e) => e.passed,
            PointOutcome::Bandit(b) => b.passed,
        }
    }

    /// The replications of the point this result covers.
    pub fn replication_range(&self) -> (u64, u64) {
        match self {
            PointOutcome::Experiment(e) => e.replication_range,
            PointOutcome::Bandit(b) => b.replication_range,
        }
    }
}

/// A grid point and its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointResult {
    /// The point's index in grid order.
    pub index: usize,
    /// Where the point sits.
    pub at: Vec<Coordinate>,
    /// Its result, as `umpire run` would write it for this point's scenario.
    pub result: PointOutcome,
}

/// The verdict on one curve expectation for one method or policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurveVerdict {
    /// Where it was written, e.g. `sweep.monotone[0]` or `sweep.fpr_at_most`.
    pub key: String,
    /// `monotone` or `fpr_at_most`.
    pub check: String,
    /// What was measured.
    pub measure: CurveMeasure,
    /// The method or policy.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// What was found, in words.
    pub message: String,
}

/// A bandit sweep's best setting for one policy: the point where its mean
/// regret at the horizon is least.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestSetting {
    /// The policy.
    pub policy: String,
    /// The best point's index.
    pub point: usize,
    /// The policy's own swept values there (paths under `policies.NAME.`;
    /// every coordinate when none of them is the policy's).
    pub at: Vec<Coordinate>,
    /// Its mean regret at the horizon, with the interval.
    pub regret: crate::result::MeanEstimate,
    /// The next best point's mean regret, and how many standard errors of
    /// the difference (as if independent) separate the two: under 2, the
    /// sweep cannot tell them apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner_up: Option<RunnerUp>,
}

/// The second-best point of a [`BestSetting`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunnerUp {
    /// Its index.
    pub point: usize,
    /// Its mean regret.
    pub regret: f64,
    /// (its regret − the best's) over the standard error of the difference
    /// (absent when both have no spread).
    pub z: Option<f64>,
}

/// A sweep's result (`kind = "sweep"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    /// Schema, kind, scenario, provenance and seed.
    #[serde(flatten)]
    pub header: ResultHeader,
    /// Replications over all points (the length of the points × replications
    /// sequence).
    pub replications: u64,
    /// The slice of the points × replications sequence this result covers
    /// (point by point in grid order, each point's replications in order).
    pub replication_range: (u64, u64),
    /// The grid's axes.
    pub axes: Vec<Axis>,
    /// The points with replications in this result, in grid order (every
    /// point, unless the result is a shard).
    pub points: Vec<PointResult>,
    /// Verdicts of the expectations over the curve (none on a shard: they are
    /// judged on the merge).
    pub expectations: Vec<CurveVerdict>,
    /// For a bandit sweep, each policy's best setting (none on a shard).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub best: Vec<BestSetting>,
    /// Whether every point's expectations and every curve expectation held.
    pub passed: bool,
    /// The command that reproduces the whole sweep.
    pub reproduce: String,
}

/// Per point, the range of its replications that `shard` runs (None: none),
/// given each point's replication count. A shard takes a contiguous slice of
/// the points × replications sequence (point by point, in grid order), so
/// shards split across points as well as replications.
pub fn point_ranges(replications: &[u64], shard: Option<Shard>) -> Vec<Option<Range<u64>>> {
    let total: u64 = replications.iter().sum();
    let all = shard.map_or(0..total, |s| s.range(total));
    let mut offset = 0;
    replications
        .iter()
        .map(|&r| {
            let start = all.start.max(offset);
            let end = all.end.min(offset + r);
            let range = (start < end).then(|| start - offset..end - offset);
            offset += r;
            range
        })
        .collect()
}

impl SweepResult {
    /// The result of `sweep` from its points' results (in grid order), where
    /// `replications` is the sum over the points. On a whole run (no shard
    /// in `header`) the curve expectations are judged.
    pub fn build(
        sweep: &Sweep,
        header: ResultHeader,
        replications: u64,
        points: Vec<PointResult>,
        reproduce: String,
    ) -> Self {
        let replication_range = match header.shard {
            Some(s) => {
                let r = s.range(replications);
                (r.start, r.end)
            }
            None => (0, replications),
        };
        let expectations = if header.shard.is_some() {
            Vec::new()
        } else {
            sweep
                .curve
                .iter()
                .flat_map(|c| judge(sweep, c, &points))
                .collect()
        };
        let passed =
            points.iter().all(|p| p.result.passed()) && expectations.iter().all(|e| e.passed);
        let best = if header.shard.is_some() {
            Vec::new()
        } else {
            best_settings(sweep, &points)
        };
        SweepResult {
            best,
            header,
            replications,
            replication_range,
            axes: sweep.axes.clone(),
            points,
            expectations,
            passed,
            reproduce,
        }
    }
}

/// Per policy of a bandit sweep, the point with the least mean regret.
fn best_settings(sweep: &Sweep, points: &[PointResult]) -> Vec<BestSetting> {
    let Some(PointScenario::Bandit(_)) = sweep.points.first().map(|p| &p.scenario) else {
        return Vec::new();
    };
    let z = crate::stats::normal_quantile(1.0 - INTERVAL_ALPHA / 2.0);
    names_of(points, &[])
        .into_iter()
        .filter_map(|policy| {
            let mut ranked: Vec<(&PointResult, crate::result::MeanEstimate)> = points
                .iter()
                .filter_map(|p| match &p.result {
                    PointOutcome::Bandit(b) => b
                        .policies
                        .iter()
                        .find(|x| x.name == policy)
                        .map(|x| (p, x.final_regret)),
                    PointOutcome::Experiment(_) => None,
                })
                .filter(|(_, e)| e.value.is_finite())
                .collect();
            ranked.sort_by(|a, b| {
                a.1.value
                    .total_cmp(&b.1.value)
                    .then(a.0.index.cmp(&b.0.index))
            });
            let (p, regret) = *ranked.first()?;
            let prefix = format!("policies.{policy}.");
            let own: Vec<Coordinate> =
                p.at.iter()
                    .filter(|c| c.path.starts_with(&prefix))
                    .cloned()
                    .collect();
            let runner_up = ranked.get(1).map(|(q, e)| {
                let se = ((regret.hi - regret.lo) / (2.0 * z)).hypot((e.hi - e.lo) / (2.0 * z));
                RunnerUp {
                    point: q.index,
                    regret: e.value,
                    z: (se > 0.0).then(|| (e.value - regret.value) / se),
                }
            });
            Some(BestSetting {
                policy,
                point: p.index,
                at: if own.is_empty() { p.at.clone() } else { own },
                regret,
                runner_up,
            })
        })
        .collect()
}

/// A point's measure for one method or policy: its value and Monte Carlo
/// standard error (from the reported interval's half-width).
fn measure_at(
    p: &PointResult,
    sweep: &Sweep,
    measure: CurveMeasure,
    name: &str,
) -> Option<(f64, f64)> {
    let z = crate::stats::normal_quantile(1.0 - INTERVAL_ALPHA / 2.0);
    match (&p.result, measure) {
        (PointOutcome::Experiment(r), CurveMeasure::RejectionRate) => {
            let PointScenario::Experiment(exp) = &sweep.points.get(p.index)?.scenario else {
                return None;
            };
            let primary = exp.comparison_index(exp.analysis.primary_metric, 1);
            let c = &r.methods.iter().find(|m| m.name == name)?.comparisons[primary];
            let rate = c.rejection_rate;
            Some((rate.value, (rate.hi - rate.lo) / (2.0 * z)))
        }
        (PointOutcome::Bandit(r), CurveMeasure::Regret) => {
            let e = r.policies.iter().find(|x| x.name == name)?.final_regret;
            Some((e.value, (e.hi - e.lo) / (2.0 * z)))
        }
        _ => None,
    }
}

/// The names a curve expectation covers: those written, else every method
/// (or policy) of the first point's result, plug-ins included.
fn names_of(points: &[PointResult], names: &[String]) -> Vec<String> {
    if !names.is_empty() {
        return names.to_vec();
    }
    match points.first().map(|p| &p.result) {
        Some(PointOutcome::Experiment(e)) => e.methods.iter().map(|m| m.name.clone()).collect(),
        Some(PointOutcome::Bandit(b)) => b.policies.iter().map(|p| p.name.clone()).collect(),
        None => Vec::new(),
    }
}

fn label(at: &[Coordinate], skip: &[String]) -> String {
    let parts: Vec<String> = at
        .iter()
        .filter(|c| !skip.contains(&c.path))
        .map(|c| format!("{} = {}", c.path, c.value))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" (at {})", parts.join(", "))
    }
}

fn judge(sweep: &Sweep, c: &CurveExpectation, points: &[PointResult]) -> Vec<CurveVerdict> {
    match c {
        CurveExpectation::Monotone {
            key,
            measure,
            along,
            direction,
            names,
        } => names_of(points, names)
            .into_iter()
            .map(|name| judge_monotone(sweep, points, key, *measure, along, *direction, name))
            .collect(),
        CurveExpectation::FprAtMost { key, max, names } => names_of(points, names)
            .into_iter()
            .map(|name| judge_fpr(points, key, *max, name))
            .collect(),
    }
}

/// Monotone along `along` within each group of points that agree on every
/// other axis: a step against `direction` fails only when it exceeds
/// [`NEAR_THEORY_Z`] standard errors of the difference, computed as if the
/// two estimates were independent. Common random numbers make neighbouring
/// points positively correlated, so the true standard error is smaller and
/// the check errs towards passing noise, never towards failing it.
#[allow(clippy::too_many_arguments)]
fn judge_monotone(
    sweep: &Sweep,
    points: &[PointResult],
    key: &str,
    measure: CurveMeasure,
    along: &str,
    direction: Direction,
    name: String,
) -> CurveVerdict {
    // Paths that move with `along` (its zip axis) do not split groups.
    let moving: Vec<String> = sweep
        .axes
        .iter()
        .find(|a| a.paths.iter().any(|p| p == along))
        .map(|a| a.paths.clone())
        .unwrap_or_default();
    let group_of = |p: &PointResult| -> Vec<String> {
        p.at.iter()
            .filter(|c| !moving.contains(&c.path))
            .map(|c| c.value.to_string())
            .collect()
    };
    let x_of = |p: &PointResult| {
        p.at.iter()
            .find(|c| c.path == along)
            .and_then(|c| c.value.as_f64())
            .unwrap_or(f64::NAN)
    };
    let mut groups: Vec<(Vec<String>, Vec<&PointResult>)> = Vec::new();
    for p in points {
        let g = group_of(p);
        match groups.iter_mut().find(|(k, _)| *k == g) {
            Some((_, v)) => v.push(p),
            None => groups.push((g, vec![p])),
        }
    }
    let sign = match direction {
        Direction::Increasing => 1.0,
        Direction::Decreasing => -1.0,
    };
    let mut steps = 0;
    let mut worst: Option<(f64, f64, String)> = None; // (z, drop, description)
    for (_, mut g) in groups {
        g.sort_by(|a, b| x_of(a).total_cmp(&x_of(b)));
        for w in g.windows(2) {
            let (Some((a, sa)), Some((b, sb))) = (
                measure_at(w[0], sweep, measure, &name),
                measure_at(w[1], sweep, measure, &name),
            ) else {
                continue;
            };
            steps += 1;
            let fall = sign * (a - b);
            let se = sa.hypot(sb);
            let z = if se > 0.0 {
                fall / se
            } else if fall > 0.0 {
                f64::INFINITY
            } else {
                0.0
            };
            if worst.as_ref().is_none_or(|(wz, _, _)| z > *wz) {
                let desc = format!(
                    "from {a:.4} to {b:.4} between {along} = {} and {}{}",
                    x_of(w[0]),
                    x_of(w[1]),
                    label(&w[0].at, &moving)
                );
                worst = Some((z, fall, desc));
            }
        }
    }
    let word = match direction {
        Direction::Increasing => "non-decreasing",
        Direction::Decreasing => "non-increasing",
    };
    let (passed, message) = match worst {
        None => (false, format!("no two points to compare along {along}")),
        Some((z, _, desc)) if z > NEAR_THEORY_Z => (
            false,
            format!(
                "{} of {name} is not {word} along {along}: {desc}, {z:.1} standard errors against the direction",
                measure.key()
            ),
        ),
        Some((_, fall, desc)) => (
            true,
            if fall > 0.0 {
                format!(
                    "{word} along {along} over {steps} steps (largest step back {fall:.4}, {desc}: within Monte Carlo error)"
                )
            } else {
                format!("{word} along {along} over {steps} steps")
            },
        ),
    };
    CurveVerdict {
        key: key.to_owned(),
        check: "monotone".to_owned(),
        measure,
        name,
        passed,
        message,
    }
}

/// The largest false-positive rate of `name` over every point and every
/// comparison whose true effect is zero there, against `max`.
fn judge_fpr(points: &[PointResult], key: &str, max: f64, name: String) -> CurveVerdict {
    let mut worst: Option<(f64, String)> = None;
    let mut nulls = 0;
    for p in points {
        let PointOutcome::Experiment(r) = &p.result else {
            continue;
        };
        let Some(m) = r.methods.iter().find(|m| m.name == name) else {
            continue;
        };
        for c in m.comparisons.iter().filter(|c| c.true_diff == 0.0) {
            nulls += 1;
            let v = c.rejection_rate.value;
            if worst.as_ref().is_none_or(|(w, _)| v > *w) {
                worst = Some((
                    v,
                    format!("{}/{}{}", c.metric, c.variant, label(&p.at, &[])),
                ));
            }
        }
    }
    let (passed, message) = match worst {
        None => (false, "no null comparison among the points".to_owned()),
        Some((v, at)) => (
            v <= max,
            format!(
                "largest false-positive rate over {nulls} null comparisons: {v:.4} ({at}) {} {max}",
                if v <= max { "≤" } else { ">" }
            ),
        ),
    };
    CurveVerdict {
        key: key.to_owned(),
        check: "fpr_at_most".to_owned(),
        measure: CurveMeasure::RejectionRate,
        name,
        passed,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_sequence_once() {
        let reps = [9, 4, 9, 1, 9];
        for n in 1..=40u64 {
            let mut seen: Vec<Vec<u32>> = reps.iter().map(|&r| vec![0; r as usize]).collect();
            for i in 0..n {
                let s = Shard { index: i, count: n };
                for (p, r) in point_ranges(&reps, Some(s)).into_iter().enumerate() {
                    for x in r.into_iter().flatten() {
                        seen[p][x as usize] += 1;
                    }
                }
            }
            assert!(
                seen.iter().flatten().all(|&c| c == 1),
                "{n} shards: {seen:?}"
            );
        }
        assert_eq!(point_ranges(&[3, 3], None), vec![Some(0..3), Some(0..3)]);
    }
}
