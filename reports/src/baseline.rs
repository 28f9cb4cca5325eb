//! Compare a suite run against a baseline run and flag regressions.
//!
//! Results are matched by scenario name. Each measure is judged by a test
//! suited to what it is, never by a fixed percentage:
//!
//! - **proportions** (rejection rates, coverage, relative coverage, the
//!   family-wise error rate, the SRM detection rate, a bandit's best-arm
//!   identification rate): a pooled two-proportion z-test on the two runs'
//!   (successes, trials), two-sided;
//! - **means** (a bandit policy's regret at the horizon): a Welch z-test on
//!   the difference of the means, SE = √(sd₁²/n₁ + sd₂²/n₂), n the
//!   replications;
//! - **latency** (a load endpoint's corrected p50/p95/p99/p99.9): a
//!   distribution-free confidence interval on each percentile from the order
//!   statistics of the exported histogram ([`quantile_ci_ranks`], level
//!   1 − [`BaselineOptions::alpha`]). A percentile is flagged only when the
//!   intervals of the two runs lie apart by more than
//!   [`BaselineOptions::latency_ratio`] (and by more than
//!   [`BaselineOptions::latency_floor_ms`]), and only when both runs have
//!   enough requests for it ([`BaselineOptions::latency_min_tail`] expected
//!   beyond the percentile). An endpoint's **error rate** is judged by the
//!   two-proportion test on errors out of requests.
//!
//! A change is *flagged* when the test's p-value is below
//! [`BaselineOptions::alpha`] (or the latency intervals lie apart), and a
//! *regression* when it is flagged and goes the bad way. Which way is bad
//! depends on the measure, and for a rejection rate on the truth: a false
//! positive rate should not rise, power should not fall. Where the direction
//! is not known, a regression is any flagged change.
//!
//! The output is deterministic: scenarios in the current run's order (then
//! those only in the baseline, in its order), and within a scenario the
//! measures in a fixed order.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use statrs::distribution::{Binomial, DiscreteCDF};
use umpire_sim::bandit::result::{BanditResult, PolicyResult};
use umpire_sim::design::result::DesignResult;
use umpire_sim::experiment::Measure;
use umpire_sim::experiment::result::{ComparisonResult, ExperimentResult, MethodResult};
use umpire_sim::load::result::{EndpointResult, LoadResult, decode};
use umpire_sim::result::MeanEstimate;
use umpire_sim::stats::Proportion;
use umpire_sim::sweep::result::{PointOutcome, SweepResult};

use crate::AnyResult;

/// How strict the comparison is.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineOptions {
    /// Significance level of the two-proportion and Welch tests (two-sided).
    /// Small by default: a suite compares hundreds of measures.
    pub alpha: f64,
    /// A latency percentile is flagged when the lower end of its current
    /// interval exceeds this times the upper end of the baseline's (a
    /// regression), or the other way round (an improvement).
    pub latency_ratio: f64,
    /// … and only when the intervals lie more than this many milliseconds
    /// apart: on loopback, sub-millisecond percentiles move by large ratios
    /// with scheduler noise alone.
    pub latency_floor_ms: f64,
    /// A percentile q is compared only when both runs have at least
    /// `latency_min_tail / min(q, 1 − q)` requests, i.e. this many expected
    /// on its far side: p99.9 needs 10,000 requests at the default 10.
    #[serde(default = "default_min_tail")]
    pub latency_min_tail: u64,
}

fn default_min_tail() -> u64 {
    10
}

impl Default for BaselineOptions {
    fn default() -> Self {
        Self {
            alpha: 0.001,
            latency_ratio: 1.25,
            latency_floor_ms: 1.0,
            latency_min_tail: default_min_tail(),
        }
    }
}

/// One measure of one scenario, in the baseline and the current run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The scenario's name.
    pub scenario: String,
    /// What was compared, e.g. `naive/conversion/treatment rejection_rate`,
    /// `thompson regret` or `overall p99_ms (corrected)`.
    pub measure: String,
    /// The measure in the baseline run.
    pub baseline: f64,
    /// The measure in the current run.
    pub current: f64,
    /// `current - baseline`.
    pub delta: f64,
    /// How it was judged, e.g. `two-proportion z = 3.40, p = 6.75e-4 (…)` or
    /// `ratio 1.31 > 1.25`; or why no test was possible.
    pub test: String,
    /// The test's p-value; `None` for a ratio rule or when no test was possible.
    pub p_value: Option<f64>,
    /// A significant (or over-ratio) change, either way.
    pub flagged: bool,
    /// Flagged and in the bad direction; where the bad direction is not
    /// known, equal to `flagged`.
    pub regression: bool,
}

/// Which way a measure gets worse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bad {
    Up,
    Down,
    Unknown,
}

impl Bad {
    fn is_worse(self, delta: f64) -> bool {
        match self {
            Bad::Up => delta > 0.0,
            Bad::Down => delta < 0.0,
            Bad::Unknown => true,
        }
    }
}

/// Two-sided p-value of a standard-normal statistic, 2·(1 − Φ(|z|)), via
/// erfc so tiny p-values keep their precision.
fn two_sided_p(z: f64) -> f64 {
    statrs::function::erf::erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0)
}

/// Pooled two-proportion z-test of `x1 / n1` (current) against `x2 / n2`
/// (baseline): `(z, two-sided p)`, z positive when the current rate is
/// higher. `None` when no test is possible: an empty sample, a count above
/// its trials, or a pooled rate of 0 or 1 (no variance).
pub fn two_proportion_z_test(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<(f64, f64)> {
    if n1 == 0 || n2 == 0 || x1 > n1 || x2 > n2 {
        return None;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let pooled = (x1 + x2) as f64 / (n1f + n2f);
    if pooled <= 0.0 || pooled >= 1.0 {
        return None;
    }
    let se = (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    let z = (x1 as f64 / n1f - x2 as f64 / n2f) / se;
    Some((z, two_sided_p(z)))
}

/// Welch z-test of the mean `m1` (sd `sd1` over `n1` replications, current)
/// against `m2` (baseline): `(z, two-sided p)` with
/// SE = √(sd₁²/n₁ + sd₂²/n₂), z positive when the current mean is higher.
/// `None` when no test is possible: an empty sample, a non-finite input, or
/// a zero standard error.
pub fn welch_z_test(m1: f64, sd1: f64, n1: u64, m2: f64, sd2: f64, n2: u64) -> Option<(f64, f64)> {
    if n1 == 0 || n2 == 0 || ![m1, sd1, m2, sd2].iter().all(|v| v.is_finite()) {
        return None;
    }
    let se = (sd1 * sd1 / n1 as f64 + sd2 * sd2 / n2 as f64).sqrt();
    if se <= 0.0 || !se.is_finite() {
        return None;
    }
    let z = (m1 - m2) / se;
    Some((z, two_sided_p(z)))
}

/// The smallest `k` in `0..=n` for which `holds(k)`, for a predicate that
/// turns true once and stays true (it must hold at `n`).
fn first_k(n: u64, holds: impl Fn(u64) -> bool) -> u64 {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if holds(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// The 1-based ranks `(l, u)` of the order statistics that bound the
/// q-quantile of a continuous distribution from `n` independent draws with
/// confidence at least `1 − alpha`, equal tails.
///
/// The number B of draws below the quantile is Binomial(n, q), so
/// P(X₍ₗ₎ > ξ) = P(B ≤ l − 1) and P(X₍ᵤ₎ < ξ) = P(B ≥ u). `l` is the smallest
/// k with P(B ≤ k) ≥ α/2 and `u − 1` the smallest k with P(B > k) ≤ α/2
/// (scipy's `binom.ppf(α/2)` and `binom.ppf(1 − α/2) + 1`). `l = 0` means no
/// draw bounds it below, `u = n + 1` none above: too few draws.
pub fn quantile_ci_ranks(n: u64, q: f64, alpha: f64) -> (u64, u64) {
    let Ok(b) = Binomial::new(q, n) else {
        return (0, n + 1);
    };
    if n == 0 || !(alpha > 0.0 && alpha < 1.0) {
        return (0, n + 1);
    }
    let tail = alpha / 2.0;
    let lo = first_k(n, |k| b.cdf(k) >= tail);
    let hi = first_k(n, |k| b.sf(k) <= tail) + 1;
    (lo, hi)
}

/// The value (µs) of the rank-th smallest recorded value, as the range of
/// its histogram bucket `(lowest, highest)` equivalent value; `None` past
/// the count.
fn order_statistic(h: &Histogram<u64>, rank: u64) -> Option<(u64, u64)> {
    let mut seen = 0u64;
    for v in h.iter_recorded() {
        seen += v.count_at_value();
        if seen >= rank {
            let x = v.value_iterated_to();
            return Some((h.lowest_equivalent(x), h.highest_equivalent(x)));
        }
    }
    None
}

/// A confidence interval (ms) on the q-quantile of a latency histogram from
/// its order statistics, at level `1 − alpha`. The ends are widened to
/// their buckets' edges, so the histogram's resolution only makes it wider.
/// An open end is 0 below and infinity above.
pub fn latency_quantile_ci(h: &Histogram<u64>, q: f64, alpha: f64) -> (f64, f64) {
    let (l, u) = quantile_ci_ranks(h.len(), q, alpha);
    let ms = |us: u64| us as f64 / 1000.0;
    let lo = match l {
        0 => 0.0,
        r => order_statistic(h, r).map_or(0.0, |(lo, _)| ms(lo)),
    };
    let hi = order_statistic(h, u).map_or(f64::INFINITY, |(_, hi)| ms(hi));
    (lo, hi)
}

/// Requests a run needs for percentile `q` to be compared: `min_tail`
/// expected on the rarer side of it.
pub fn min_requests(q: f64, min_tail: u64) -> u64 {
    let side = q.min(1.0 - q);
    if side <= 0.0 {
        return u64::MAX;
    }
    (min_tail as f64 / side - 1e-9).ceil() as u64
}

/// Compare every result of `current` with the baseline result of the same
/// scenario.
pub fn compare(
    current: &[AnyResult],
    baseline: &[AnyResult],
    opts: &BaselineOptions,
) -> Vec<Delta> {
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for cur in current {
        let name = cur.scenario();
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let mut c = Cmp {
            scenario: name,
            opts,
            out: &mut out,
        };
        match baseline.iter().find(|b| b.scenario() == name) {
            None => c.note(
                "missing in baseline",
                "not compared: the baseline has no result for this scenario (values are 0)",
            ),
            Some(base) => match (cur, base) {
                (AnyResult::Experiment(cur), AnyResult::Experiment(base)) => {
                    c.experiment(cur, base);
                }
                (AnyResult::Bandit(cur), AnyResult::Bandit(base)) => c.bandit(cur, base),
                (AnyResult::Load(cur), AnyResult::Load(base)) => c.load(cur, base),
                (AnyResult::Sweep(cur), AnyResult::Sweep(base)) => c.sweep(cur, base),
                (AnyResult::Design(cur), AnyResult::Design(base)) => c.design(cur, base),
                _ => c.note(
                    "kind changed",
                    &format!(
                        "not compared: a {} result in the baseline, a {} result now (values are 0)",
                        base.kind(),
                        cur.kind()
                    ),
                ),
            },
        }
    }
    for base in baseline {
        let name = base.scenario();
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        Cmp {
            scenario: name,
            opts,
            out: &mut out,
        }
        .note(
            "missing in current run",
            "not compared: the current run has no result for this scenario (values are 0)",
        );
    }
    out
}

/// The deltas of one scenario.
struct Cmp<'a> {
    scenario: &'a str,
    opts: &'a BaselineOptions,
    out: &'a mut Vec<Delta>,
}

/// The first item of `items` whose key is `key`.
fn find_by<'t, T>(items: &'t [T], key: &str, key_of: impl Fn(&T) -> String) -> Option<&'t T> {
    items.iter().find(|t| key_of(t) == key)
}

fn comparison_key(method: &str, c: &ComparisonResult) -> String {
    format!("{method}/{}/{}", c.metric, c.variant)
}

fn rejection_direction(m: Measure) -> Bad {
    match m {
        Measure::FalsePositiveRate => Bad::Up,
        Measure::Power => Bad::Down,
        _ => Bad::Unknown,
    }
}

impl Cmp<'_> {
    fn push(&mut self, measure: String, baseline: f64, current: f64, test: String) -> &mut Delta {
        self.out.push(Delta {
            scenario: self.scenario.to_owned(),
            measure,
            baseline,
            current,
            delta: current - baseline,
            test,
            p_value: None,
            flagged: false,
            regression: false,
        });
        self.out.last_mut().expect("just pushed")
    }

    /// A row that compares nothing (a missing scenario or part of one).
    fn note(&mut self, measure: &str, test: &str) {
        self.push(measure.to_owned(), 0.0, 0.0, test.to_owned());
    }

    fn proportion(&mut self, measure: String, cur: &Proportion, base: &Proportion, bad: Bad) {
        let rate = |p: &Proportion| {
            if p.trials > 0 {
                p.successes as f64 / p.trials as f64
            } else {
                0.0
            }
        };
        let counts = format!(
            "{}/{} vs {}/{}",
            cur.successes, cur.trials, base.successes, base.trials
        );
        let alpha = self.opts.alpha;
        let tested = two_proportion_z_test(cur.successes, cur.trials, base.successes, base.trials);
        let d = self.push(measure, rate(base), rate(cur), String::new());
        let Some((z, p)) = tested else {
            d.test = match (cur.trials, base.trials) {
                (0, 0) => "no test: no trials in either run".to_owned(),
                (0, _) => "no test: no trials in the current run".to_owned(),
                (_, 0) => "no test: no trials in the baseline".to_owned(),
                _ if cur.successes > cur.trials || base.successes > base.trials => {
                    format!("no test: more successes than trials ({counts})")
                }
                _ if cur.successes + base.successes == 0 => {
                    format!("no test: pooled rate is 0 ({counts})")
                }
                _ => format!("no test: pooled rate is 1 ({counts})"),
            };
            return;
        };
        d.test = format!("two-proportion z = {z:.2}, p = {p:.2e} ({counts})");
        judge(d, Some(p), p < alpha, bad, z);
    }

    fn mean(
        &mut self,
        measure: String,
        cur: (&MeanEstimate, u64),
        base: (&MeanEstimate, u64),
        bad: Bad,
    ) {
        let ((c, nc), (b, nb)) = (cur, base);
        let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
        let alpha = self.opts.alpha;
        let d = self.push(measure, finite(b.value), finite(c.value), String::new());
        match welch_z_test(c.value, c.sd, nc, b.value, b.sd, nb) {
            Some((z, p)) => {
                d.test = format!(
                    "Welch z = {z:.2}, p = {p:.2e} (mean {:.4} ± sd {:.4} over {nc} vs {:.4} ± {:.4} over {nb})",
                    c.value, c.sd, b.value, b.sd
                );
                judge(d, Some(p), p < alpha, bad, z);
            }
            None => {
                d.test = if nc == 0 || nb == 0 {
                    "no test: no replications in one run".to_owned()
                } else if ![c.value, c.sd, b.value, b.sd].iter().all(|v| v.is_finite()) {
                    "no test: a mean or standard deviation is not finite (shown as 0)".to_owned()
                } else {
                    "no test: both standard deviations are 0".to_owned()
                };
            }
        }
    }

    /// One latency percentile: the stored values are shown, the intervals
    /// from the histograms judge.
    fn latency(&mut self, measure: String, q: f64, cur: Latency<'_>, base: Latency<'_>) {
        let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
        let (limit, floor) = (self.opts.latency_ratio, self.opts.latency_floor_ms);
        let alpha = self.opts.alpha;
        let tail = self.opts.latency_min_tail;
        let need = min_requests(q, tail);
        let d = self.push(
            measure,
            finite(base.value),
            finite(cur.value),
            String::new(),
        );
        let (hc, hb) = match (decode(cur.histogram), decode(base.histogram)) {
            (Some(c), Some(b)) => (c, b),
            (c, _) => {
                d.test = format!(
                    "no test: the {} histogram does not decode",
                    if c.is_none() { "current" } else { "baseline" }
                );
                return;
            }
        };
        let (nc, nb) = (hc.len(), hb.len());
        if nc == 0 || nb == 0 {
            d.test = format!(
                "no test: no requests in {}",
                match (nc, nb) {
                    (0, 0) => "either run",
                    (0, _) => "the current run",
                    _ => "the baseline",
                }
            );
            return;
        }
        let label = percentile_label(q);
        if nc < need || nb < need {
            d.test = format!(
                "no test: {label} needs ≥ {need} requests per run ({tail} beyond it), {nc} now and {nb} in the baseline"
            );
            return;
        }
        let (cl, ch) = latency_quantile_ci(&hc, q, alpha);
        let (bl, bh) = latency_quantile_ci(&hb, q, alpha);
        let level = (1.0 - alpha) * 100.0;
        let cis = format!(
            "{level}% order-statistic CIs: [{cl:.3}, {ch:.3}] ms now, [{bl:.3}, {bh:.3}] ms in the baseline ({nc} vs {nb} requests)"
        );
        if cl > bh * limit && cl - bh > floor {
            d.test = format!("slower: {cis}; {cl:.3} > {limit} × {bh:.3}");
            judge(d, None, true, Bad::Up, 1.0);
        } else if bl > ch * limit && bl - ch > floor {
            d.test = format!("faster: {cis}; {bl:.3} > {limit} × {ch:.3}");
            judge(d, None, true, Bad::Up, -1.0);
        } else if cl > bh * limit || bl > ch * limit {
            d.test = format!("{cis}; apart by more than × {limit}, but by less than {floor} ms");
        } else {
            d.test = format!("{cis}; not apart by more than × {limit}");
        }
    }

    /// Point by point, matched by their coordinates: each point's measures
    /// as its own run's, under `SCENARIO [PATH = VALUE, …]`.
    fn sweep(&mut self, cur: &SweepResult, base: &SweepResult) {
        for p in &cur.points {
            let label = format!("{} [{}]", self.scenario, crate::result::point_label(&p.at));
            let mut c = Cmp {
                scenario: &label,
                opts: self.opts,
                out: &mut *self.out,
            };
            match (base.points.iter().find(|b| b.at == p.at).map(|b| &b.result), &p.result) {
                (Some(PointOutcome::Experiment(b)), PointOutcome::Experiment(x)) => c.experiment(x, b),
                (Some(PointOutcome::Bandit(b)), PointOutcome::Bandit(x)) => c.bandit(x, b),
                _ => c.note(
                    "point missing in baseline",
                    "not compared: the baseline has no point of this kind at these values (values are 0)",
                ),
            }
        }
    }

    /// Each method's answer: a larger sample size (or effect) needed is
    /// worse. A z-test on the two answers, each with the standard error its
    /// reported interval implies.
    fn design(&mut self, cur: &DesignResult, base: &DesignResult) {
        use umpire_sim::design::search::Outcome;
        let z95 = umpire_sim::stats::normal_quantile(1.0 - (1.0 - cur.confidence) / 2.0);
        let zb = umpire_sim::stats::normal_quantile(1.0 - (1.0 - base.confidence) / 2.0);
        for m in &cur.methods {
            let measure = format!("{} answer ({})", m.method, cur.vary);
            let b = base.methods.iter().find(|b| b.method == m.method);
            let found = |o: &Outcome| match *o {
                Outcome::Found {
                    estimate,
                    low,
                    high,
                    ..
                } => Some((estimate, low, high)),
                _ => None,
            };
            match (found(&m.answer.outcome), b.and_then(|b| found(&b.answer.outcome))) {
                (Some((x, lo, hi)), Some((bx, blo, bhi))) if base.vary == cur.vary => {
                    let se = ((hi - lo) / (2.0 * z95)).hypot((bhi - blo) / (2.0 * zb));
                    let alpha = self.opts.alpha;
                    let d = self.push(measure, bx, x, String::new());
                    if se > 0.0 {
                        let z = (x - bx) / se;
                        let p = umpire_sim::stats::normal_two_sided_p(z);
                        d.test = format!(
                            "z = {z:.2}, p = {p:.2e} ({x} [{lo}, {hi}] vs {bx} [{blo}, {bhi}])"
                        );
                        judge(d, Some(p), p < alpha, Bad::Up, z);
                    } else {
                        d.test = "no test: both intervals are empty".to_owned();
                    }
                }
                _ => self.note(
                    &measure,
                    "not compared: one run has no answer for this method, or the runs vary different keys (values are 0)",
                ),
            }
        }
    }

    fn experiment(&mut self, cur: &ExperimentResult, base: &ExperimentResult) {
        for m in &cur.methods {
            match find_by(&base.methods, &m.name, |b: &MethodResult| b.name.clone()) {
                None => self.note(
                    &format!("{} missing in baseline", m.name),
                    "not compared: the baseline has no such method (values are 0)",
                ),
                Some(bm) => self.method(m, bm),
            }
        }
        for bm in &base.methods {
            if find_by(&cur.methods, &bm.name, |m: &MethodResult| m.name.clone()).is_none() {
                self.note(
                    &format!("{} missing in current run", bm.name),
                    "not compared: the current run has no such method (values are 0)",
                );
            }
        }
        self.proportion(
            "srm_detection_rate".to_owned(),
            &cur.srm_detection_rate,
            &base.srm_detection_rate,
            srm_direction(cur),
        );
    }

    fn method(&mut self, m: &MethodResult, bm: &MethodResult) {
        for c in &m.comparisons {
            let key = comparison_key(&m.name, c);
            let Some(bc) = find_by(&bm.comparisons, &key, |b| comparison_key(&bm.name, b)) else {
                self.note(
                    &format!("{key} missing in baseline"),
                    "not compared: the baseline has no such comparison (values are 0)",
                );
                continue;
            };
            // The truth decides which way a rejection rate should not move;
            // if it differs between the runs, no direction is known.
            let bad = if c.rejection_measure == bc.rejection_measure {
                rejection_direction(c.rejection_measure)
            } else {
                Bad::Unknown
            };
            self.proportion(
                format!("{key} rejection_rate"),
                &c.rejection_rate,
                &bc.rejection_rate,
                bad,
            );
            self.proportion(
                format!("{key} coverage"),
                &c.coverage,
                &bc.coverage,
                Bad::Down,
            );
            self.proportion(
                format!("{key} relative_coverage"),
                &c.relative_coverage,
                &bc.relative_coverage,
                Bad::Down,
            );
        }
        for bc in &bm.comparisons {
            let key = comparison_key(&bm.name, bc);
            if find_by(&m.comparisons, &key, |c| comparison_key(&m.name, c)).is_none() {
                self.note(
                    &format!("{key} missing in current run"),
                    "not compared: the current run has no such comparison (values are 0)",
                );
            }
        }
        // The family-wise error rate counts rejected true nulls: without a
        // true null it is 0 by construction, and not worth a row.
        let has_null = |m: &MethodResult| {
            m.comparisons
                .iter()
                .any(|c| c.rejection_measure == Measure::FalsePositiveRate)
        };
        if has_null(m) || has_null(bm) {
            self.proportion(
                format!("{} family_wise_error_rate", m.name),
                &m.family_wise_error_rate,
                &bm.family_wise_error_rate,
                Bad::Up,
            );
        }
    }

    fn bandit(&mut self, cur: &BanditResult, base: &BanditResult) {
        for p in &cur.policies {
            let Some(bp) = find_by(&base.policies, &p.name, |b: &PolicyResult| b.name.clone())
            else {
                self.note(
                    &format!("{} missing in baseline", p.name),
                    "not compared: the baseline has no such policy (values are 0)",
                );
                continue;
            };
            self.mean(
                format!("{} regret", p.name),
                (&p.final_regret, cur.replications),
                (&bp.final_regret, base.replications),
                Bad::Up,
            );
            self.proportion(
                format!("{} best_arm_identified", p.name),
                &p.best_arm_identified,
                &bp.best_arm_identified,
                Bad::Down,
            );
        }
        for bp in &base.policies {
            if find_by(&cur.policies, &bp.name, |p: &PolicyResult| p.name.clone()).is_none() {
                self.note(
                    &format!("{} missing in current run", bp.name),
                    "not compared: the current run has no such policy (values are 0)",
                );
            }
        }
    }

    fn load(&mut self, cur: &LoadResult, base: &LoadResult) {
        let key = |e: &EndpointResult| e.endpoint.key().to_owned();
        for e in &cur.endpoints {
            let name = key(e);
            let Some(be) = find_by(&base.endpoints, &name, key) else {
                self.note(
                    &format!("{name} missing in baseline"),
                    "not compared: the baseline has no such endpoint (values are 0)",
                );
                continue;
            };
            let (c, b) = (&e.corrected, &be.corrected);
            for (what, q, cv, bv) in [
                ("p50_ms", 0.5, c.p50_ms, b.p50_ms),
                ("p95_ms", 0.95, c.p95_ms, b.p95_ms),
                ("p99_ms", 0.99, c.p99_ms, b.p99_ms),
                ("p999_ms", 0.999, c.p999_ms, b.p999_ms),
            ] {
                self.latency(
                    format!("{name} {what} (corrected)"),
                    q,
                    Latency {
                        value: cv,
                        histogram: &e.corrected_histogram,
                    },
                    Latency {
                        value: bv,
                        histogram: &be.corrected_histogram,
                    },
                );
            }
            let errors = |e: &EndpointResult| Proportion {
                value: e.error_rate,
                lo: 0.0,
                hi: 1.0,
                successes: e.errors,
                trials: e.count,
            };
            self.proportion(
                format!("{name} error_rate"),
                &errors(e),
                &errors(be),
                Bad::Up,
            );
        }
        for be in &base.endpoints {
            let name = key(be);
            if find_by(&cur.endpoints, &name, key).is_none() {
                self.note(
                    &format!("{name} missing in current run"),
                    "not compared: the current run has no such endpoint (values are 0)",
                );
            }
        }
    }
}

/// One run's latency percentile: the stored value and the exported
/// histogram it came from.
struct Latency<'h> {
    value: f64,
    histogram: &'h str,
}

/// "p99.9" for 0.999.
fn percentile_label(q: f64) -> String {
    format!("p{}", (q * 1000.0).round() / 10.0)
}

/// Record a test's verdict: flagged when `significant`, a regression when
/// also in the bad direction (`signed` is positive when the current value
/// is higher).
fn judge(d: &mut Delta, p: Option<f64>, significant: bool, bad: Bad, signed: f64) {
    d.p_value = p;
    d.flagged = significant;
    d.regression = significant && bad.is_worse(signed);
}

/// Which way the SRM detection rate should not move. The result does not
/// record the scenario's faults, so the scenario's own expectation on the
/// rate says what it is: a floor (`min`) makes it a detection power (down is
/// bad), a ceiling alone (`max`) a false positive rate (up is bad). Without
/// such an expectation the direction is unknown.
fn srm_direction(r: &ExperimentResult) -> Bad {
    let bounds: Vec<_> = r
        .expectations
        .iter()
        .filter(|e| e.measure == Measure::SrmDetectionRate)
        .map(|e| e.bound)
        .collect();
    let floor = bounds.iter().any(|b| b.min.is_some());
    let ceiling = bounds.iter().any(|b| b.max.is_some());
    match (floor, ceiling) {
        (true, false) => Bad::Down,
        (false, true) => Bad::Up,
        _ => Bad::Unknown,
    }
}
