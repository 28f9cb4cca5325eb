//! A worked example of umpire's plug-in seam, from Rust: a custom analysis
//! method and a custom bandit policy, run next to a scenario's own methods
//! and policies on the same simulated data.
//!
//! - [`ConservativeWelch`] is Welch's t-test at the last look with a
//!   conservative degrees-of-freedom rule, df = min(n1, n2) − 1, instead of
//!   Welch–Satterthwaite. It implements [`AnalysisMethod`]: it reads a batch
//!   of replications' cumulative statistics and decides every comparison.
//! - [`ExploreThenCommit`] pulls every arm `m` times, then the arm with the
//!   best mean for ever. It implements umpire's [`Policy`], one instance per
//!   replication, as the built-in policies do.
//!
//! `main` runs both on shipped scenarios, prints a short table and fails if a
//! sanity check does not hold.

use std::path::{Path, PathBuf};

use statrs::distribution::{ContinuousCDF, StudentsT};
use umpire_sim::analysis::ArmStats;
use umpire_sim::bandit::policy::Policy;
use umpire_sim::bandit::result::BanditResult;
use umpire_sim::experiment::result::ExperimentResult;
use umpire_sim::plugin::{AnalysisMethod, Decision, LookBatch, PluginError};
use umpire_sim::study::{Study, StudyError, StudyResult};

/// The scenario `name` of the repository's `scenarios/` directory.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

/// Welch's t-test at the last look with df = min(n1, n2) − 1: never more
/// degrees of freedom than the smaller arm can support, so its p-values are
/// at least Welch–Satterthwaite's.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConservativeWelch;

impl ConservativeWelch {
    /// The decision on one comparison: `control` against `treatment` at
    /// look `look`, at level `alpha`. An arm with fewer than two units
    /// leaves the test undefined (not rejected, NaN estimates).
    pub fn decide(
        control: &ArmStats,
        treatment: &ArmStats,
        look: usize,
        alpha: f64,
    ) -> Result<Decision, String> {
        let sample_size = control.n + treatment.n;
        let undefined = Decision {
            look,
            sample_size,
            ..Decision::empty()
        };
        if control.n < 2 || treatment.n < 2 {
            return Ok(undefined);
        }
        let (n1, n2) = (control.n as f64, treatment.n as f64);
        // Means and sample variances from the sufficient statistics.
        let se = (control.variance() / n1 + treatment.variance() / n2).sqrt();
        let diff = treatment.mean() - control.mean();
        let df = n1.min(n2) - 1.0;
        let t = StudentsT::new(0.0, 1.0, df).map_err(|e| format!("Student's t({df}): {e}"))?;
        let q = t.inverse_cdf(1.0 - alpha / 2.0);
        let p_value = if se > 0.0 {
            (2.0 * t.sf((diff / se).abs())).min(1.0)
        } else if diff == 0.0 {
            1.0
        } else {
            0.0
        };
        Ok(Decision {
            rejected: p_value < alpha,
            p_value,
            diff,
            diff_ci: (diff - q * se, diff + q * se),
            defined: true,
            ..undefined
        })
    }
}

impl AnalysisMethod for ConservativeWelch {
    fn evaluate(&self, batch: &LookBatch<'_>, out: &mut [Decision]) -> Result<(), PluginError> {
        let last = batch.looks - 1;
        let nc = batch.comparisons.len();
        for r in 0..batch.replications {
            for (c, cmp) in batch.comparisons.iter().enumerate() {
                let arms = batch.arms_at(r, last, cmp.metric);
                // umpire reports an error with the plug-in's name and the
                // batch's replications.
                out[r * nc + c] = Self::decide(&arms[0], &arms[cmp.variant], last, batch.alpha)
                    .map_err(PluginError::new)?;
            }
        }
        Ok(())
    }

    /// No randomness and no state: umpire may evaluate it on parts of a
    /// chunk, in parallel, while they are still in cache.
    fn splittable(&self) -> bool {
        true
    }
}

/// Explore-then-commit: the least-pulled arm until every arm has `m`
/// rewards, then the arm with the best mean (ties to the lowest index).
#[derive(Clone, Debug)]
pub struct ExploreThenCommit {
    m: u64,
    pulls: Vec<u64>,
    sums: Vec<f64>,
}

impl ExploreThenCommit {
    /// A policy over `arms` arms exploring each `m` times (at least once).
    pub fn new(arms: usize, m: u64) -> Self {
        Self {
            m: m.max(1),
            pulls: vec![0; arms],
            sums: vec![0.0; arms],
        }
    }

    /// The arm with the best mean reward so far (unpulled arms last).
    fn best(&self) -> usize {
        let mean = |a: usize| {
            if self.pulls[a] == 0 {
                f64::NEG_INFINITY
            } else {
                self.sums[a] / self.pulls[a] as f64
            }
        };
        (0..self.pulls.len()).fold(0, |best, a| if mean(a) > mean(best) { a } else { best })
    }
}

impl Policy for ExploreThenCommit {
    fn arms(&self) -> usize {
        self.pulls.len()
    }

    fn select<R: rand::Rng + ?Sized>(&self, _context: usize, _rng: &mut R) -> usize {
        // The first of the least-pulled arms while exploring.
        match (0..self.pulls.len())
            .filter(|&a| self.pulls[a] < self.m)
            .min_by_key(|&a| self.pulls[a])
        {
            Some(a) => a,
            None => self.best(),
        }
    }

    fn update(&mut self, _context: usize, arm: usize, reward: f64) {
        if let (Some(p), Some(s)) = (self.pulls.get_mut(arm), self.sums.get_mut(arm)) {
            *p += 1;
            *s += reward;
        }
    }

    fn recommend(&self, _context: usize) -> usize {
        self.best()
    }
}

/// The A/A scenario the method half runs on.
pub const AA_SCENARIO: &str = "aa_conversion.toml";
/// The bandit scenario the policy half runs on.
pub const BANDIT_SCENARIO: &str = "bandit_bernoulli_10arms.toml";
/// The plug-in method's name in results.
pub const METHOD: &str = "welch_min_df";
/// The plug-in policy's name in results.
pub const POLICY: &str = "explore_then_commit";
/// Pulls per arm before explore-then-commit commits.
pub const EXPLORE: u64 = 100;

/// The A/A scenario with [`ConservativeWelch`] plugged in.
pub fn run_method() -> Result<ExperimentResult, StudyError> {
    match Study::from_file(scenario(AA_SCENARIO))?
        .method(METHOD, ConservativeWelch)
        .run()?
    {
        StudyResult::Experiment(r) => Ok(*r),
        _ => Err(StudyError::Invalid(format!(
            "{AA_SCENARIO} is not an experiment scenario"
        ))),
    }
}

/// The bandit scenario with [`ExploreThenCommit`] plugged in.
pub fn run_policy() -> Result<BanditResult, StudyError> {
    match Study::from_file(scenario(BANDIT_SCENARIO))?
        .policy(POLICY, |arms| ExploreThenCommit::new(arms, EXPLORE))
        .run()?
    {
        StudyResult::Bandit(r) => Ok(*r),
        _ => Err(StudyError::Invalid(format!(
            "{BANDIT_SCENARIO} is not a bandit scenario"
        ))),
    }
}

/// Monte Carlo standard deviations a rate may stray from its truth before
/// the check fails: about 1 in 16,000 for a correct method.
pub const MC_SDS: f64 = 4.0;

/// The plug-in's false-positive rate on the A/A run is alpha within
/// [`MC_SDS`] Monte Carlo standard deviations for the replication count.
pub fn check_fpr(result: &ExperimentResult) -> Result<String, String> {
    let method = result
        .methods
        .iter()
        .find(|m| m.name == METHOD)
        .ok_or_else(|| format!("no method `{METHOD}` in the result"))?;
    let rate = &method.comparisons[0].rejection_rate;
    let alpha = result.alpha;
    let half = MC_SDS * (alpha * (1.0 - alpha) / result.replications as f64).sqrt();
    let (lo, hi) = (alpha - half, alpha + half);
    let line = format!(
        "{METHOD} FPR {:.4} within alpha ± {MC_SDS} MC sd [{lo:.4}, {hi:.4}]",
        rate.value
    );
    if (lo..=hi).contains(&rate.value) {
        Ok(line)
    } else {
        Err(format!("{line}: NO"))
    }
}

/// The plug-in policy's regret is finite, non-negative up to noise, and below
/// the run's worst case: always pulling the worst arm, horizon × largest gap.
pub fn check_regret(result: &BanditResult, max_gap: f64) -> Result<String, String> {
    let policy = result
        .policies
        .iter()
        .find(|p| p.name == POLICY)
        .ok_or_else(|| format!("no policy `{POLICY}` in the result"))?;
    let regret = policy.final_regret.value;
    let worst = result.horizon as f64 * max_gap;
    let line = format!("{POLICY} regret {regret:.1} finite and within [0, {worst:.1}]");
    if regret.is_finite() && policy.final_regret.hi >= 0.0 && regret <= worst {
        Ok(line)
    } else {
        Err(format!("{line}: NO"))
    }
}
