//! The off-policy study's accumulator: per log size, target and estimator,
//! exact sums of the errors against the truth, so replication ranges merge
//! to the bytes one pass gives (as every other accumulator).

use serde::{Deserialize, Serialize};

use super::estimators::{Estimate, Estimator};
use crate::stats::{ExactSum, is_zero};

/// One cell of the table over replications.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpeCell {
    /// Σ (estimate − truth), over replications with an estimate.
    pub error: ExactSum,
    /// Σ (estimate − truth)².
    pub error_sq: ExactSum,
    /// Σ interval width (a non-finite width is counted apart).
    pub width: ExactSum,
    /// Replications whose interval held the truth.
    pub covered: u64,
    /// Replications whose log gave no estimate (e.g. SNIPS with every
    /// weight 0: `OpeError::Undefined`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub missing: u64,
    /// Replications whose error did not fit the exact sums' range.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub overflowed: u64,
}

impl OpeCell {
    /// Replications with an estimate.
    pub fn estimates(&self) -> u64 {
        self.error.count
    }
}

/// Every cell, log sizes × targets × estimators, with the truths they were
/// measured against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpeAcc {
    /// Per target: its true value and that value's Monte Carlo standard error.
    pub truth: Vec<(f64, f64)>,
    /// The cells: log sizes × targets × estimators, in that order.
    pub cells: Vec<OpeCell>,
}

impl OpeAcc {
    /// `cells` empty cells (log sizes × targets × estimators), measured
    /// against `truth`.
    pub fn new(truth: Vec<(f64, f64)>, cells: usize) -> Self {
        Self {
            truth,
            cells: vec![OpeCell::default(); cells],
        }
    }

    /// Folds in one replication's estimates (in the cells' order).
    pub fn add(&mut self, row: &[Option<Estimate>]) {
        let per_target = Estimator::ALL.len();
        let targets = self.truth.len().max(1);
        for (c, (cell, e)) in self.cells.iter_mut().zip(row).enumerate() {
            let truth = self.truth[(c / per_target) % targets].0;
            let Some(e) = e else {
                cell.missing += 1;
                continue;
            };
            let err = e.value - truth;
            let mut exact = cell.error.add_checked(err);
            exact &= cell.error_sq.add_checked(err * err);
            cell.overflowed += u64::from(!exact);
            cell.width.add(e.ci.1 - e.ci.0);
            cell.covered += u64::from(e.ci.0 <= truth && truth <= e.ci.1);
        }
    }

    /// Whether `other` sums the same study: the same truths and cells.
    pub fn agrees(&self, other: &OpeAcc) -> bool {
        other.truth == self.truth && other.cells.len() == self.cells.len()
    }

    /// Appends the accumulator of the range that follows (of a study that
    /// [`agrees`](Self::agrees); cells beyond the shorter are ignored).
    pub fn merge(&mut self, next: &OpeAcc) {
        for (a, b) in self.cells.iter_mut().zip(&next.cells) {
            let mut exact = a.error.merge_checked(&b.error);
            exact &= a.error_sq.merge_checked(&b.error_sq);
            a.width.merge(&b.width);
            a.covered += b.covered;
            a.missing += b.missing;
            a.overflowed += b.overflowed + u64::from(!exact);
        }
    }
}
