//! umpire's own analysis methods behind the plug-in trait: reading a batch of
//! replications' looks with one method (its tests, stopping rule, estimates
//! at stopping and multiple-testing correction). Each look costs O(1) per
//! comparison: methods see only sufficient statistics.

use crate::analysis::TestKind;
use crate::analysis::bayes::{self, Posterior};
use crate::analysis::group_sequential::{BoundaryError, boundaries};
use crate::analysis::msprt::{Msprt, MsprtState};
use crate::analysis::multiple::{Correction, reject};
use crate::analysis::ratio;
use crate::analysis::{ArmStats, TestResult, TestSetup, pooled_z, run_test, testable};
use crate::experiment::accumulator::Decision;
use crate::experiment::analysis_method::{AnalysisMethod, LookBatch, PluginError};
use crate::experiment::{Comparison, Experiment};
use crate::method::{Method, MethodKind};

/// One replication of a [`LookBatch`]: its cumulative statistics at each look.
#[derive(Clone, Copy)]
struct Looks<'b> {
    batch: &'b LookBatch<'b>,
    r: usize,
    looks: usize,
    /// Per metric, whether it is a ratio (its CUPED reads the batch's
    /// pre-period parts).
    ratio: &'b [bool],
}

impl Looks<'_> {
    /// Metric `m` in every arm at look `k`.
    fn row(&self, k: usize, m: usize) -> &[ArmStats] {
        self.batch.arms_at(self.r, k, m)
    }
}

/// Units in the compared arms at look `k`.
fn size(l: &Looks<'_>, k: usize, c: Comparison) -> u64 {
    let row = l.row(k, c.metric);
    row[0].n + row[c.variant].n
}

/// A method with everything it needs precomputed.
pub struct PreparedMethod {
    /// The method as configured.
    pub method: Method,
    /// Group-sequential critical values per look.
    critical: Vec<f64>,
    /// mSPRT per metric (tau in the metric's units).
    msprt: Vec<Msprt>,
}

impl PreparedMethod {
    /// Validation has computed the same boundaries, so they cannot fail
    /// here; if they did, the method would never reject rather than panic.
    pub fn new(exp: &Experiment, method: &Method) -> Self {
        let critical = match method.kind {
            MethodKind::GroupSequential { boundary } => {
                boundaries(boundary, exp.analysis.alpha, &exp.planned_fractions()).map_or_else(
                    |_: BoundaryError| vec![f64::INFINITY; exp.analysis.looks],
                    |b| b.critical,
                )
            }
            _ => Vec::new(),
        };
        let msprt = match method.kind {
            MethodKind::Msprt { tau } => exp
                .metrics
                .iter()
                .map(|m| Msprt::new(tau * m.baseline.variance().sqrt(), exp.analysis.alpha))
                .collect(),
            MethodKind::Fixed { .. }
            | MethodKind::Naive
            | MethodKind::GroupSequential { .. }
            | MethodKind::Bayesian { .. }
            | MethodKind::Plugin => Vec::new(),
        };
        Self {
            method: method.clone(),
            critical,
            msprt,
        }
    }

    /// Group-sequential critical values per look (empty for other methods).
    pub fn critical(&self) -> &[f64] {
        &self.critical
    }
}

/// The two arms of a comparison at one look, CUPED-adjusted if asked, and the
/// variance reduction the adjustment achieved. A ratio metric's arms carry
/// its pre-period parts beside them in the batch
/// ([`ratio::cuped_ratio_arms`]); where its adjusted test is undefined, so
/// are the arms (empty).
fn arms_at(l: &Looks<'_>, k: usize, c: Comparison, cuped: bool) -> (ArmStats, ArmStats, f64) {
    let row = l.row(k, c.metric);
    let (control, treatment) = (row[0], row[c.variant]);
    if !cuped {
        return (control, treatment, f64::NAN);
    }
    if l.ratio[c.metric] {
        // Validation gives every ratio metric under CUPED its covariate, so
        // the batch carries its pre-period parts.
        return l
            .batch
            .pre_at(l.r, k, c.metric)
            .and_then(|pre| {
                ratio::cuped_ratio_arms((&control, &pre[0]), (&treatment, &pre[c.variant]))
            })
            .unwrap_or_default();
    }
    cuped_adjust(&control, &treatment)
}

/// Within-arm centred moments: (Sxx, Sxy, Syy).
fn moments(a: &ArmStats) -> (f64, f64, f64) {
    let n = a.n as f64;
    if a.n == 0 {
        return (0.0, 0.0, 0.0);
    }
    (
        a.x_sum_sq - a.x_sum * a.x_sum / n,
        a.xy_sum - a.x_sum * a.sum / n,
        a.sum_sq - a.sum * a.sum / n,
    )
}

/// CUPED: Y' = Y − θ(X − x̄), θ = ΣSxy / ΣSxx pooled within arms (so the
/// treatment effect does not leak into θ). Returns adjusted statistics with
/// the same n whose mean and sample variance are those of Y', and the share
/// of the within-arm variance removed.
pub fn cuped_adjust(control: &ArmStats, treatment: &ArmStats) -> (ArmStats, ArmStats, f64) {
    let (cxx, cxy, cyy) = moments(control);
    let (txx, txy, tyy) = moments(treatment);
    let (sxx, sxy, syy) = (cxx + txx, cxy + txy, cyy + tyy);
    if sxx <= 0.0 || syy <= 0.0 {
        return (*control, *treatment, 0.0);
    }
    let theta = sxy / sxx;
    let n_all = (control.n + treatment.n) as f64;
    let x_bar = (control.x_sum + treatment.x_sum) / n_all;
    let adjust = |a: &ArmStats, xx: f64, xy: f64, yy: f64| {
        let n = a.n as f64;
        if a.n < 2 {
            return *a;
        }
        let mean = (a.sum - theta * (a.x_sum - n * x_bar)) / n;
        let ss = (yy - 2.0 * theta * xy + theta * theta * xx).max(0.0);
        ArmStats {
            n: a.n,
            sum: n * mean,
            sum_sq: ss + n * mean * mean,
            ..Default::default()
        }
    };
    let adjusted_ss = (syy - 2.0 * theta * sxy + theta * theta * sxx).max(0.0);
    (
        adjust(control, cxx, cxy, cyy),
        adjust(treatment, txx, txy, tyy),
        1.0 - adjusted_ss / syy,
    )
}

fn variance_of_diff(control: &ArmStats, treatment: &ArmStats, kind: TestKind) -> f64 {
    let var_mean = |a: &ArmStats| match kind {
        TestKind::Z => {
            let p = a.mean();
            p * (1.0 - p) / a.n as f64
        }
        TestKind::Welch | TestKind::Quantile => a.variance() / a.n as f64,
        TestKind::Ratio => {
            crate::analysis::ratio::RatioStats::from_arm_stats(a).variance_of_ratio()
        }
    };
    var_mean(control) + var_mean(treatment)
}

fn from_test(t: &TestResult, look: usize, n: u64, vr: f64, rejected: bool) -> Decision {
    Decision {
        // The test is undefined exactly when an arm has too few units (and
        // the caller overrides this otherwise).
        defined: true,
        rejected,
        look,
        p_value: t.p_value,
        diff: t.diff,
        diff_ci: t.diff_ci,
        rel: t.rel,
        rel_ci: t.rel_ci,
        sample_size: n,
        variance_reduction: vr,
    }
}

/// Jennison & Turnbull's repeated confidence interval at a group-sequential
/// look: estimate ± c_k · se, with c_k the look's critical value instead of
/// the fixed-sample quantile, so that intervals at stopping keep their
/// coverage. The relative interval is widened by the same factor.
fn repeated_interval(mut d: Decision, t: &TestResult, crit: f64, z_crit: f64) -> Decision {
    if !crit.is_finite() {
        return d;
    }
    let se = if t.statistic.is_finite() && t.statistic != 0.0 {
        (t.diff / t.statistic).abs()
    } else {
        (t.diff_ci.1 - t.diff_ci.0) / (2.0 * z_crit)
    };
    d.diff_ci = (t.diff - crit * se, t.diff + crit * se);
    let rel_half = (t.rel_ci.1 - t.rel_ci.0) / 2.0 * crit / z_crit;
    d.rel_ci = (t.rel - rel_half, t.rel + rel_half);
    d
}

/// Buffers of the multiple-testing correction, reused across replications.
#[derive(Default)]
struct Correcting {
    p_values: Vec<f64>,
    rejected: Vec<bool>,
    order: Vec<usize>,
}

/// One of umpire's own methods (a scenario's `[analysis.methods.*]`) as an
/// [`AnalysisMethod`]: the engine evaluates it exactly as it evaluates a
/// plug-in. Each replication's decisions depend on its statistics alone, so
/// it may be evaluated on any split of a batch.
pub struct BuiltinMethod {
    prepared: PreparedMethod,
    /// The scenario's test per metric.
    tests: Vec<TestKind>,
    /// Whether each metric is binary (Beta posteriors for Bayesian methods).
    binary: Vec<bool>,
    /// Whether each metric's test is the ratio test.
    ratio: Vec<bool>,
    setup: TestSetup,
}

impl BuiltinMethod {
    /// Method `method` of experiment `exp`, with its boundaries precomputed.
    pub fn new(exp: &Experiment, method: &Method) -> Self {
        Self {
            prepared: PreparedMethod::new(exp, method),
            tests: exp.analysis.tests.clone(),
            binary: exp.metrics.iter().map(|m| m.baseline.is_binary()).collect(),
            ratio: exp
                .analysis
                .tests
                .iter()
                .map(|&t| t == TestKind::Ratio)
                .collect(),
            setup: TestSetup::new(exp.analysis.alpha),
        }
    }

    /// Group-sequential critical values per look (empty for other methods).
    pub fn critical(&self) -> &[f64] {
        self.prepared.critical()
    }

    /// The test a comparison uses: CUPED always uses Welch on the adjusted
    /// values.
    fn test_kind(&self, c: Comparison, cuped: bool) -> TestKind {
        if cuped {
            TestKind::Welch
        } else {
            self.tests[c.metric]
        }
    }

    /// Decide replication `r` of `batch`: `row[c]` per comparison.
    fn replication(
        &self,
        batch: &LookBatch<'_>,
        r: usize,
        row: &mut [Decision],
        correcting: &mut Correcting,
    ) {
        let looks = Looks {
            batch,
            r,
            looks: batch.looks,
            ratio: &self.ratio,
        };
        for (d, &c) in row.iter_mut().zip(batch.comparisons) {
            *d = self.one(c, &looks);
        }
        if let MethodKind::Fixed { correction } = self.prepared.method.kind
            && correction != Correction::None
        {
            let Correcting {
                p_values,
                rejected,
                order,
            } = correcting;
            p_values.clear();
            p_values.extend(row.iter().map(|d| d.p_value));
            rejected.clear();
            rejected.resize(row.len(), false);
            reject(correction, p_values, batch.alpha, rejected, order);
            for (d, &r) in row.iter_mut().zip(rejected.iter()) {
                d.rejected = r;
            }
        }
    }
    fn one(&self, c: Comparison, looks: &Looks<'_>) -> Decision {
        let pm = &self.prepared;
        let cuped = pm.method.cuped;
        let kind = self.test_kind(c, cuped);
        let last = looks.looks - 1;
        let test_at = |k: usize| {
            let (ctl, trt, vr) = arms_at(looks, k, c, cuped);
            let defined = testable(kind, &ctl, &trt);
            (
                run_test(kind, &self.setup, &ctl, &trt),
                vr,
                size(looks, k, c),
                defined,
            )
        };
        match pm.method.kind {
            MethodKind::Fixed { .. } => {
                let (t, vr, n, defined) = test_at(last);
                Decision {
                    defined,
                    ..from_test(&t, last, n, vr, t.p_value < self.setup.alpha)
                }
            }
            MethodKind::Naive => {
                for k in 0..looks.looks {
                    // The z-test rejects exactly when |z| > z_crit, so a look
                    // needs only the statistic; Welch's needs its p-value.
                    let go_on = kind == TestKind::Z && k < last && {
                        let (ctl, trt, _) = arms_at(looks, k, c, cuped);
                        pooled_z(&ctl, &trt).abs() <= self.setup.z_crit
                    };
                    if go_on {
                        continue;
                    }
                    let (t, vr, n, defined) = test_at(k);
                    if t.p_value < self.setup.alpha || k == last {
                        return Decision {
                            defined,
                            ..from_test(&t, k, n, vr, t.p_value < self.setup.alpha)
                        };
                    }
                }
                Decision::empty()
            }
            MethodKind::GroupSequential { .. } => {
                for k in 0..looks.looks {
                    let crit = pm.critical.get(k).copied().unwrap_or(f64::INFINITY);
                    let go_on = kind == TestKind::Z && k < last && {
                        let (ctl, trt, _) = arms_at(looks, k, c, cuped);
                        pooled_z(&ctl, &trt).abs() < crit
                    };
                    if go_on {
                        continue;
                    }
                    let (t, vr, n, defined) = test_at(k);
                    let rejected = t.statistic.abs() >= crit;
                    if rejected || k == last {
                        return repeated_interval(
                            Decision {
                                defined,
                                ..from_test(&t, k, n, vr, rejected)
                            },
                            &t,
                            crit,
                            self.setup.z_crit,
                        );
                    }
                }
                Decision::empty()
            }
            MethodKind::Msprt { .. } => self.msprt(&pm.msprt[c.metric], c, looks, kind, cuped),
            MethodKind::Bayesian {
                prior_a,
                prior_b,
                min_chance,
                max_relative_loss,
            } => {
                let prior = (prior_a, prior_b);
                let rule = (min_chance, max_relative_loss);
                self.bayesian(c, looks, kind, cuped, prior, rule)
            }
            // Plug-ins are not built-in methods: the engine never builds one.
            MethodKind::Plugin => Decision::empty(),
        }
    }

    /// mSPRT: stops at the first look whose mixture likelihood ratio
    /// reaches 1/alpha, with its always-valid interval.
    fn msprt(
        &self,
        m: &Msprt,
        c: Comparison,
        looks: &Looks<'_>,
        kind: TestKind,
        cuped: bool,
    ) -> Decision {
        let last = looks.looks - 1;
        let mut state = MsprtState::default();
        for k in 0..looks.looks {
            let (ctl, trt, vr) = arms_at(looks, k, c, cuped);
            let diff = trt.mean() - ctl.mean();
            let rejected = state.update(m, diff, variance_of_diff(&ctl, &trt, kind));
            if rejected || k == last {
                let t = run_test(kind, &self.setup, &ctl, &trt);
                // The relative interval is the fixed-horizon one: mSPRT's
                // always-valid interval is for the difference.
                return Decision {
                    defined: testable(kind, &ctl, &trt),
                    p_value: state.p_value,
                    diff_ci: (state.lo, state.hi),
                    ..from_test(&t, k, size(looks, k, c), vr, rejected)
                };
            }
        }
        Decision::empty()
    }

    /// Bayesian: stops at the first look whose leader is decided by the
    /// chance to beat control and the expected loss.
    fn bayesian(
        &self,
        c: Comparison,
        looks: &Looks<'_>,
        kind: TestKind,
        cuped: bool,
        (prior_a, prior_b): (f64, f64),
        (min_chance, max_relative_loss): (f64, f64),
    ) -> Decision {
        let last = looks.looks - 1;
        let binary = self.binary[c.metric] && !cuped;
        let posterior = |a: &ArmStats| {
            if binary {
                bayes::beta_posterior(a.sum, a.n as f64, prior_a, prior_b)
            } else {
                bayes::normal_posterior(a.mean(), a.variance(), a.n as f64)
            }
        };
        for k in 0..looks.looks {
            let (ctl, trt, vr) = arms_at(looks, k, c, cuped);
            let (pc, pt): (Posterior, Posterior) = (posterior(&ctl), posterior(&trt));
            let cmp = bayes::compare(pc, pt);
            let decided = bayes::decide(&cmp, pc.mean, min_chance, max_relative_loss).is_some();
            if decided || k == last {
                let t = run_test(kind, &self.setup, &ctl, &trt);
                // Credible interval for the difference from the normal
                // posterior of D = μ_t − μ_c.
                let (m, s) = (pt.mean - pc.mean, (pt.var + pc.var).sqrt());
                let z = self.setup.z_crit;
                return Decision {
                    defined: testable(kind, &ctl, &trt),
                    p_value: f64::NAN,
                    diff: m,
                    diff_ci: (m - z * s, m + z * s),
                    ..from_test(&t, k, size(looks, k, c), vr, decided)
                };
            }
        }
        Decision::empty()
    }
}

impl AnalysisMethod for BuiltinMethod {
    fn evaluate(&self, batch: &LookBatch<'_>, out: &mut [Decision]) -> Result<(), PluginError> {
        let nc = batch.comparisons.len();
        if nc == 0 || batch.looks == 0 {
            return Ok(());
        }
        // The engine hands a built-in cache-sized parts of a chunk, already
        // in parallel: no parallelism of its own here.
        let mut correcting = Correcting::default();
        for (r, row) in out.chunks_mut(nc).enumerate() {
            self.replication(batch, r, row, &mut correcting);
        }
        Ok(())
    }

    fn splittable(&self) -> bool {
        true
    }
}
