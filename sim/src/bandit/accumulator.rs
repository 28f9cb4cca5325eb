//! Bandit accumulators: one replication's [`PolicyRun`]s folded, in
//! replication order, into exact sums and histograms that merge across shards.

use serde::{Deserialize, Serialize};

use crate::stats::{ExactSum, is_zero};

/// Bins of the regret histogram at each checkpoint, over [0, t·Δmax].
pub const REGRET_BINS: usize = 2000;

/// One policy's results in one replication.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyRun {
    /// Pseudo-regret at each checkpoint.
    pub regret: Vec<f64>,
    /// Realised regret at the horizon: Σ (best mean of the step − reward).
    pub realised_regret: f64,
    /// Pulls of the arm that was best at the time, over the horizon.
    pub best_pulls: u64,
    /// Pulls per arm over the horizon.
    pub pulls: Vec<u64>,
    /// Pulls per arm at each checkpoint (checkpoint-major, `arms` per row).
    pub pulls_at: Vec<u64>,
    /// Whether the policy's recommendation at the horizon is the best arm.
    pub recommended_best: bool,
}

/// Per policy: everything measured over replications `first..end`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyAcc {
    /// Per checkpoint: the sum of pseudo-regrets.
    pub regret: Vec<ExactSum>,
    /// Per checkpoint: the sum of squared pseudo-regrets (for the variance).
    pub regret_sq: Vec<ExactSum>,
    /// Regret histograms per checkpoint over [0, t·Δmax] in REGRET_BINS bins.
    pub regret_hist: Vec<Vec<u64>>,
    /// Sum of realised regrets at the horizon.
    pub realised_regret: ExactSum,
    /// Sum of each replication's share of pulls that went to the arm best at the time.
    pub best_share: ExactSum,
    /// Per arm: the sum of each replication's share of pulls over the horizon.
    pub pull_shares: Vec<ExactSum>,
    /// Per checkpoint and arm: the sum of pull shares up to the checkpoint.
    pub pull_shares_at: Vec<Vec<ExactSum>>,
    /// Replications whose recommendation at the horizon was the best arm.
    pub recommended_best: u64,
    /// Replications whose regret was not finite or did not fit the exact
    /// sums' fixed-point range (plus one per merge whose total ran out of
    /// range): the sums are then meaningless, and the run fails.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub overflowed: u64,
}

/// Every policy's sums over the replications `first..end`; ranges that follow
/// one another merge exactly, so sharded runs give the unsharded result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BanditAcc {
    /// First replication folded in.
    pub first: u64,
    /// One past the last replication folded in.
    pub end: u64,
    /// One accumulator per policy, in scenario order.
    pub policies: Vec<PolicyAcc>,
    /// The off-policy study's sums, when the scenario has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ope: Option<super::ope::acc::OpeAcc>,
}

impl BanditAcc {
    /// An empty accumulator starting at replication `first`, for `policies`
    /// policies, `checkpoints` checkpoints and `arms` arms.
    pub fn new(first: u64, policies: usize, checkpoints: usize, arms: usize) -> Self {
        let p = PolicyAcc {
            regret: vec![ExactSum::default(); checkpoints],
            regret_sq: vec![ExactSum::default(); checkpoints],
            regret_hist: vec![vec![0; REGRET_BINS]; checkpoints],
            realised_regret: ExactSum::default(),
            best_share: ExactSum::default(),
            pull_shares: vec![ExactSum::default(); arms],
            pull_shares_at: vec![vec![ExactSum::default(); arms]; checkpoints],
            recommended_best: 0,
            overflowed: 0,
        };
        Self {
            first,
            end: first,
            policies: vec![p; policies],
            ope: None,
        }
    }

    /// Replications folded in so far (`end − first`).
    pub fn replications(&self) -> u64 {
        self.end - self.first
    }

    pub(super) fn add(
        &mut self,
        runs: &[PolicyRun],
        checkpoints: &[u64],
        max_gap: f64,
        horizon: u64,
    ) {
        for (acc, run) in self.policies.iter_mut().zip(runs) {
            let mut exact = true;
            for (c, &x) in run.regret.iter().enumerate() {
                exact &= acc.regret[c].add_checked(x);
                exact &= acc.regret_sq[c].add_checked(x * x);
                let top = checkpoints[c] as f64 * max_gap;
                let bin = if top > 0.0 {
                    ((x / top).clamp(0.0, 1.0) * REGRET_BINS as f64) as usize
                } else {
                    0
                };
                acc.regret_hist[c][bin.min(REGRET_BINS - 1)] += 1;
            }
            exact &= acc.realised_regret.add_checked(run.realised_regret);
            acc.overflowed += u64::from(!exact);
            acc.best_share.add(run.best_pulls as f64 / horizon as f64);
            for (s, &n) in acc.pull_shares.iter_mut().zip(&run.pulls) {
                s.add(n as f64 / horizon as f64);
            }
            let arms = run.pulls.len().max(1);
            for ((row, pulls), &t) in acc
                .pull_shares_at
                .iter_mut()
                .zip(run.pulls_at.chunks(arms))
                .zip(checkpoints)
            {
                for (s, &n) in row.iter_mut().zip(pulls) {
                    s.add(n as f64 / t as f64);
                }
            }
            acc.recommended_best += u64::from(run.recommended_best);
        }
        self.end += 1;
    }

    /// Append the accumulator of the range that follows; errs with
    /// [`MergeError::NotContiguous`](crate::result::MergeError::NotContiguous)
    /// when `next` does not start at `self.end`, has another number of
    /// policies, or another off-policy study.
    pub fn merge(&mut self, next: &BanditAcc) -> Result<(), crate::result::MergeError> {
        let not_contiguous =
            || crate::result::MergeError::NotContiguous(self.first, self.end, next.first, next.end);
        if next.first != self.end
            || next.policies.len() != self.policies.len()
            || self.ope.is_some() != next.ope.is_some()
        {
            return Err(not_contiguous());
        }
        // An off-policy study's sums merge only with those of the same
        // study; a mismatch leaves both untouched.
        if let (Some(a), Some(b)) = (&self.ope, &next.ope)
            && !a.agrees(b)
        {
            return Err(not_contiguous());
        }
        if let (Some(a), Some(b)) = (&mut self.ope, &next.ope) {
            a.merge(b);
        }
        for (a, b) in self.policies.iter_mut().zip(&next.policies) {
            // Each shard's sums may fit while their total does not.
            let mut exact = true;
            let mut merge = |x: &mut ExactSum, y: &ExactSum| exact &= x.merge_checked(y);
            a.regret
                .iter_mut()
                .zip(&b.regret)
                .for_each(|(x, y)| merge(x, y));
            a.regret_sq
                .iter_mut()
                .zip(&b.regret_sq)
                .for_each(|(x, y)| merge(x, y));
            for (x, y) in a.regret_hist.iter_mut().zip(&b.regret_hist) {
                x.iter_mut().zip(y).for_each(|(p, q)| *p += q);
            }
            merge(&mut a.realised_regret, &b.realised_regret);
            merge(&mut a.best_share, &b.best_share);
            a.pull_shares
                .iter_mut()
                .zip(&b.pull_shares)
                .for_each(|(x, y)| merge(x, y));
            for (x, y) in a.pull_shares_at.iter_mut().zip(&b.pull_shares_at) {
                x.iter_mut().zip(y).for_each(|(p, q)| merge(p, q));
            }
            a.recommended_best += b.recommended_best;
            a.overflowed += b.overflowed + u64::from(!exact);
        }
        self.end = next.end;
        Ok(())
    }
}
