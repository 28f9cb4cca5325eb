//! What a run measures, streamed replication by replication: each method's
//! decision per comparison, folded into mergeable accumulators.
//!
//! Accumulators hold only integers (counts, fixed-point sums), so accumulators
//! of contiguous replication ranges merge to exactly the single-run value.

use serde::{Deserialize, Serialize};

use crate::result::MergeError;
use crate::stats::{ExactSum, PValueHistogram, is_zero};

/// How replications are simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimPath {
    /// Sufficient statistics drawn directly (binomial counts, normal sums).
    Aggregate,
    /// Every unit simulated: ids, hashing, per-unit faults and covariates.
    PerUnit,
    /// Every user and each of their events simulated (a population with
    /// `events_per_unit`).
    Clustered,
}

/// What a method concluded for one comparison in one replication.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    /// Whether the method rejected the null by the stopping look.
    pub rejected: bool,
    /// The look at which the method stopped, or the last look.
    pub look: usize,
    /// NaN for methods without p-values.
    pub p_value: f64,
    /// Estimated absolute lift (variant mean − control mean) at the stopping look.
    pub diff: f64,
    /// Confidence interval `(lo, hi)` for the absolute lift at the stopping look.
    pub diff_ci: (f64, f64),
    /// Estimated relative lift (absolute lift / control mean); NaN when the control mean is 0.
    pub rel: f64,
    /// Confidence interval `(lo, hi)` for the relative lift at the stopping look.
    pub rel_ci: (f64, f64),
    /// Units in the compared arms at the stopping look.
    pub sample_size: u64,
    /// CUPED's variance reduction at the stopping look (NaN without CUPED).
    pub variance_reduction: f64,
    /// Whether both arms had enough units for the test at the stopping look:
    /// a non-finite estimate is then an overflow, not merely undefined.
    pub defined: bool,
}

impl Decision {
    /// A decision that rejected nothing, with every estimate NaN and no units.
    pub fn empty() -> Self {
        Decision {
            rejected: false,
            look: 0,
            p_value: f64::NAN,
            diff: f64::NAN,
            diff_ci: (f64::NAN, f64::NAN),
            rel: f64::NAN,
            rel_ci: (f64::NAN, f64::NAN),
            sample_size: 0,
            variance_reduction: f64::NAN,
            defined: false,
        }
    }
}
/// One comparison's accumulators for one method: rejections, p-values,
/// interval coverage and estimates at stopping.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ComparisonAcc {
    /// Rejections first made at each look; their sum is all rejections.
    pub rejections_by_look: Vec<u64>,
    /// p-values at stopping (methods with p-values only).
    pub p_values: PValueHistogram,
    /// Replications whose absolute-lift interval at stopping is finite, and
    /// those of them that contain the true lift.
    pub interval_defined: u64,
    /// Of the `interval_defined` replications, those whose interval contains the true lift.
    pub covered: u64,
    /// Replications whose relative-lift interval at stopping is finite.
    pub rel_interval_defined: u64,
    /// Of the `rel_interval_defined` replications, those whose interval contains the true relative lift.
    pub rel_covered: u64,
    /// Estimates at stopping.
    pub estimate: ExactSum,
    /// Sum of the squared estimates (for the Monte Carlo interval of the mean).
    pub estimate_sq: ExactSum,
    /// Relative-lift estimates at stopping.
    pub rel_estimate: ExactSum,
    /// Stopping look (1-based; the last look when never rejected).
    pub stopping_look: ExactSum,
    /// Units in the compared arms at stopping.
    pub sample_size: ExactSum,
    /// The same, split by the look at which the replication stopped (a
    /// built-in stops when it rejects, else at the last look; a plug-in
    /// may stop without rejecting). Each entry's `count` is the
    /// replications that stopped at that look.
    pub sample_size_by_stopping_look: Vec<ExactSum>,
    /// CUPED's variance reduction at stopping, and its square (for the
    /// Monte Carlo interval of the mean).
    pub variance_reduction: ExactSum,
    /// Sum of the squared variance reductions.
    pub variance_reduction_sq: ExactSum,
    /// Replications whose estimate did not fit the exact sums' fixed-point
    /// range or was not finite although both arms had enough units (plus one
    /// per merge whose total ran out of range): the sums are then
    /// meaningless, and the run fails.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub overflowed: u64,
}

impl ComparisonAcc {
    fn new(looks: usize) -> Self {
        Self {
            rejections_by_look: vec![0; looks],
            sample_size_by_stopping_look: vec![ExactSum::default(); looks],
            ..Default::default()
        }
    }

    /// All rejections, at any look.
    pub fn rejections(&self) -> u64 {
        self.rejections_by_look.iter().sum()
    }

    fn add(&mut self, d: &Decision, true_diff: f64, true_rel: f64) {
        if d.rejected {
            self.rejections_by_look[d.look] += 1;
        }
        if !d.p_value.is_nan() {
            self.p_values.add(d.p_value);
        }
        if d.diff_ci.0.is_finite() && d.diff_ci.1.is_finite() {
            self.interval_defined += 1;
            self.covered += u64::from(d.diff_ci.0 <= true_diff && true_diff <= d.diff_ci.1);
        }
        if d.rel_ci.0.is_finite() && d.rel_ci.1.is_finite() {
            self.rel_interval_defined += 1;
            self.rel_covered += u64::from(d.rel_ci.0 <= true_rel && true_rel <= d.rel_ci.1);
        }
        // A non-finite estimate is undefined when an arm had too few units
        // (it is counted in `non_finite` and reported), and an overflow when
        // the arms had enough. The relative estimate is legitimately
        // undefined whenever the control mean is 0, so only its range counts.
        let diff_ok = |exact: bool, x: f64| exact || (!x.is_finite() && !d.defined);
        let mut exact = diff_ok(self.estimate.add_checked(d.diff), d.diff);
        let sq = d.diff * d.diff;
        exact &= diff_ok(self.estimate_sq.add_checked(sq), d.diff);
        exact &= self.rel_estimate.add_checked(d.rel) || !d.rel.is_finite();
        self.stopping_look.add_u64(d.look as u64 + 1);
        self.sample_size.add_u64(d.sample_size);
        if let Some(s) = self.sample_size_by_stopping_look.get_mut(d.look) {
            s.add_u64(d.sample_size);
        }
        if !d.variance_reduction.is_nan() {
            // Infinite only from a degenerate (constant) metric; an overflow
            // shows in the estimate itself.
            let vr = d.variance_reduction;
            let vr_sq = vr * vr;
            exact &= self.variance_reduction.add_checked(vr) || !vr.is_finite();
            exact &= self.variance_reduction_sq.add_checked(vr_sq) || !vr.is_finite();
        }
        self.overflowed += u64::from(!exact);
    }

    fn merge(&mut self, o: &ComparisonAcc) {
        self.rejections_by_look
            .iter_mut()
            .zip(&o.rejections_by_look)
            .for_each(|(a, b)| *a += b);
        self.p_values.merge(&o.p_values);
        self.interval_defined += o.interval_defined;
        self.covered += o.covered;
        self.rel_interval_defined += o.rel_interval_defined;
        self.rel_covered += o.rel_covered;
        // Each shard's sums may fit while their total does not.
        let mut exact = self.estimate.merge_checked(&o.estimate);
        exact &= self.estimate_sq.merge_checked(&o.estimate_sq);
        exact &= self.rel_estimate.merge_checked(&o.rel_estimate);
        exact &= self.stopping_look.merge_checked(&o.stopping_look);
        exact &= self.sample_size.merge_checked(&o.sample_size);
        for (a, b) in self
            .sample_size_by_stopping_look
            .iter_mut()
            .zip(&o.sample_size_by_stopping_look)
        {
            exact &= a.merge_checked(b);
        }
        exact &= self.variance_reduction.merge_checked(&o.variance_reduction);
        exact &= self
            .variance_reduction_sq
            .merge_checked(&o.variance_reduction_sq);
        self.overflowed += o.overflowed + u64::from(!exact);
    }
}

/// One method's accumulators: per comparison, and family-wide error rates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MethodAcc {
    /// One accumulator per comparison, in the order of `Experiment::comparisons`.
    pub comparisons: Vec<ComparisonAcc>,
    /// Replications with at least one rejected true null.
    pub family_wise_errors: u64,
    /// False discovery proportion V / max(R, 1) per replication, and its
    /// square (for the Monte Carlo interval).
    pub false_discovery_proportion: ExactSum,
    /// Sum of the squared false discovery proportions.
    pub false_discovery_proportion_sq: ExactSum,
}

/// Everything measured over the replications `first..end`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentAcc {
    /// First replication index of the range (inclusive).
    pub first: u64,
    /// End of the replication range (exclusive).
    pub end: u64,
    /// One accumulator per method, in scenario order.
    pub methods: Vec<MethodAcc>,
    /// Replications whose SRM test fired.
    pub srm_detections: u64,
    /// Sum over replications of the units analysed at the last look.
    pub analysed_units: u64,
}

impl ExperimentAcc {
    /// An empty accumulator for replications starting at `first`, shaped for
    /// `methods` methods × `comparisons` comparisons × `looks` looks.
    pub fn new(first: u64, methods: usize, comparisons: usize, looks: usize) -> Self {
        let method = MethodAcc {
            comparisons: vec![ComparisonAcc::new(looks); comparisons],
            ..Default::default()
        };
        Self {
            first,
            end: first,
            methods: vec![method; methods],
            srm_detections: 0,
            analysed_units: 0,
        }
    }

    /// Replications folded in so far (`end − first`).
    pub fn replications(&self) -> u64 {
        self.end - self.first
    }

    /// Fold the next replication (in order): `decisions[method * C + c]`.
    pub fn add(
        &mut self,
        truth: &[(f64, f64)],
        decisions: &[Decision],
        srm_detected: bool,
        units: u64,
    ) {
        let nc = truth.len();
        for (mi, m) in self.methods.iter_mut().enumerate() {
            let row = &decisions[mi * nc..(mi + 1) * nc];
            let (mut rejected, mut false_rejected) = (0u64, 0u64);
            for ((acc, d), &(diff, rel)) in m.comparisons.iter_mut().zip(row).zip(truth) {
                acc.add(d, diff, rel);
                rejected += u64::from(d.rejected);
                false_rejected += u64::from(d.rejected && diff == 0.0);
            }
            m.family_wise_errors += u64::from(false_rejected > 0);
            m.false_discovery_proportion
                .add(false_rejected as f64 / rejected.max(1) as f64);
        }
        self.srm_detections += u64::from(srm_detected);
        self.analysed_units += units;
        self.end += 1;
    }

    /// Append the accumulator of the range that follows this one.
    pub fn merge(&mut self, next: &ExperimentAcc) -> Result<(), MergeError> {
        if next.first != self.end {
            return Err(MergeError::NotContiguous(
                self.first, self.end, next.first, next.end,
            ));
        }
        let shape =
            |a: &ExperimentAcc| a.methods.iter().map(|m| m.comparisons.len()).sum::<usize>();
        if next.methods.len() != self.methods.len() || shape(next) != shape(self) {
            return Err(MergeError::Shape(shape(self), shape(next)));
        }
        for (a, b) in self.methods.iter_mut().zip(&next.methods) {
            for (x, y) in a.comparisons.iter_mut().zip(&b.comparisons) {
                x.merge(y);
            }
            a.family_wise_errors += b.family_wise_errors;
            a.false_discovery_proportion
                .merge(&b.false_discovery_proportion);
        }
        self.srm_detections += next.srm_detections;
        self.analysed_units += next.analysed_units;
        self.end = next.end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(diff: f64, defined: bool) -> Decision {
        Decision {
            diff,
            sample_size: 2,
            defined,
            ..Decision::empty()
        }
    }

    /// Before, non-finite terms were left out of the sums and not counted, so
    /// an estimate that overflowed to ±inf in one replication vanished and the
    /// others' mean was reported as if nothing had happened.
    #[test]
    fn a_partial_overflow_to_infinity_is_counted() {
        let mut acc = ComparisonAcc::new(1);
        for _ in 0..9 {
            acc.add(&decision(0.1, true), 0.0, 0.0);
        }
        acc.add(&decision(f64::INFINITY, true), 0.0, 0.0);
        assert_eq!(acc.overflowed, 1);
        let mut nan = ComparisonAcc::new(1);
        nan.add(&decision(f64::NAN, true), 0.0, 0.0);
        assert_eq!(nan.overflowed, 1, "inf − inf in a defined test overflowed");
    }

    #[test]
    fn an_undefined_estimate_is_not_an_overflow() {
        let mut acc = ComparisonAcc::new(1);
        acc.add(&decision(f64::NAN, false), 0.0, 0.0);
        acc.add(&decision(0.1, true), 0.0, 0.0);
        assert_eq!(acc.overflowed, 0);
        assert_eq!((acc.estimate.count, acc.estimate.non_finite), (1, 1));
    }

    /// Before, merging saturated silently: two shards whose estimate sums
    /// each fit gave a saturated total and no overflow.
    #[test]
    fn merging_accumulators_beyond_the_range_overflows() {
        let near = ExactSum::RANGE * 0.75;
        let (mut a, mut b) = (ComparisonAcc::new(1), ComparisonAcc::new(1));
        assert!(a.estimate.add_checked(near) && b.estimate.add_checked(near));
        a.merge(&b);
        assert_eq!(a.overflowed, 1);
        // Merges that fit stay exact.
        let (mut c, mut d) = (ComparisonAcc::new(1), ComparisonAcc::new(1));
        c.add(&decision(1e6, true), 0.0, 0.0);
        d.add(&decision(-1e6, true), 0.0, 0.0);
        c.merge(&d);
        assert_eq!(c.overflowed, 0);
    }
}
