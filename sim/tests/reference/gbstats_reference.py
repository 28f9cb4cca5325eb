#!/usr/bin/env python3
"""Reference values for the ratio and quantile tests (sim/src/analysis/ratio.rs,
quantile.rs), computed with GrowthBook's stats engine, gbstats.

Run from the repository root, in a venv with the pinned versions (see README.md):

    python3 sim/tests/reference/gbstats_reference.py

Writes sim/tests/reference/gbstats.json next to this script.

Sections:
- ratio: fixed sufficient statistics of a ratio metric per arm, tested with
  gbstats.models.statistics.RatioStatistic and gbstats's frequentist
  TwoSidedTTest, difference_type "absolute" and "relative".
- ratio_ra: the regression-adjusted (CUPED) ratio. gbstats 0.8.0, the newest
  release on PyPI, has no RegressionAdjustedRatioStatistic (it appeared later in
  the GrowthBook repository, unreleased on PyPI), so the statistic is computed
  here by `RaRatio` below from that class's documented formulas (gradient times
  the 4x4 sample covariance matrix, theta pooled over the arms), and the
  two-sample test is still gbstats 0.8.0's TwoSidedTTest run on it.
- quantile / quantile_clustered: fixed QuantileStatistic and
  QuantileClusteredStatistic inputs, gbstats's TwoSidedTTest.
- raw_ratio: simulated per-user (M, D, Mpre, Dpre), the numpy delta-method
  variances computed directly from the arrays (np.cov), and gbstats on the sums.
- raw_quantile: simulated values (unclustered) and (cluster, value) events, the
  QuantileStatistic fields computed with numpy from the definition in
  quantile.rs, and gbstats's variances and tests on them.

All raw data are rounded to 6 decimals before anything is computed, so the JSON
holds exactly the data the values come from.
"""

import json
import math
import platform
from pathlib import Path

import numpy as np
import pandas
import scipy
import scipy.stats as st
import importlib.metadata

from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
from gbstats.models.statistics import (
    QuantileClusteredStatistic,
    QuantileStatistic,
    RatioStatistic,
    SampleMeanStatistic,
)

OUT = Path(__file__).resolve().parent / "gbstats.json"


def f(x):
    """Plain Python float (never a numpy scalar)."""
    return float(x)


def rounded(a):
    return [float(v) for v in np.round(np.asarray(a, dtype=float), 6)]


# ---------------------------------------------------------------------------
# The two-sample test, as gbstats runs it
# ---------------------------------------------------------------------------


def run_tests(stat_a, stat_b, alpha):
    """gbstats's TwoSidedTTest, absolute and relative, every figure it computes."""
    out = {}
    for kind in ("absolute", "relative"):
        cfg = FrequentistConfig(alpha=alpha, difference_type=kind)
        t = TwoSidedTTest(stat_a, stat_b, cfg)
        res = t.compute_result()
        assert res.error_message is None, res.error_message
        ci = [f(c) for c in t.confidence_interval]
        out[kind] = {
            "estimate": f(t.point_estimate),
            "variance": f(t.variance),
            "se": f(math.sqrt(t.variance)),
            "statistic": f(t.critical_value),
            "df": f(t.dof),
            "p_value": f(t.p_value),
            "ci": ci,
        }
        # compute_result must report the same figures.
        assert res.expected == out[kind]["estimate"]
        assert res.p_value == out[kind]["p_value"]
        assert list(res.ci) == ci
    return out


# ---------------------------------------------------------------------------
# 1. Ratio metrics: sums built from chosen means, sds and correlations
# ---------------------------------------------------------------------------


def ratio_sums(n, mu_m, sd_m, mu_d, sd_d, rho):
    """Sums whose sample moments (ddof=1) are the given ones."""
    return {
        "n": n,
        "m_sum": n * mu_m,
        "m_sum_sq": (n - 1) * sd_m**2 + n * mu_m**2,
        "d_sum": n * mu_d,
        "d_sum_sq": (n - 1) * sd_d**2 + n * mu_d**2,
        "md_sum": (n - 1) * rho * sd_m * sd_d + n * mu_m * mu_d,
    }


RATIO_CASES = [
    # name, alpha, control (n, mu_m, sd_m, mu_d, sd_d, rho), treatment (...)
    ("moderate_positive_cov", 0.05, (1000, 2.0, 1.5, 4.0, 2.0, 0.6), (1000, 2.2, 1.6, 4.1, 2.1, 0.6)),
    ("negative_cov", 0.05, (800, 3.0, 2.0, 5.0, 1.5, -0.4), (850, 2.9, 2.1, 5.2, 1.4, -0.35)),
    ("unequal_n_1_to_5", 0.05, (200, 1.0, 0.8, 2.0, 1.0, 0.3), (1000, 1.1, 0.9, 2.0, 1.1, 0.3)),
    ("small_n_12", 0.05, (12, 5.0, 3.0, 10.0, 4.0, 0.5), (15, 6.0, 3.5, 10.5, 4.5, 0.45)),
    ("small_n_3", 0.1, (3, 2.0, 1.0, 3.0, 1.0, 0.2), (4, 2.5, 1.2, 3.2, 0.9, 0.1)),
    ("large_n_1e6", 0.05, (1_000_000, 0.30, 0.9, 3.0, 2.5, 0.7), (1_000_000, 0.301, 0.91, 3.0, 2.5, 0.7)),
    ("large_n_unequal_alpha_001", 0.01, (2_000_000, 12.5, 40.0, 1.5, 1.2, 0.8), (500_000, 12.9, 41.0, 1.52, 1.25, 0.8)),
    ("ctr_like_alpha_010", 0.1, (5000, 0.12, 0.4, 1.8, 1.1, 0.35), (5100, 0.125, 0.41, 1.8, 1.1, 0.36)),
    ("treatment_lower", 0.05, (3000, 8.0, 6.0, 2.0, 1.0, 0.5), (3000, 7.6, 6.0, 2.05, 1.0, 0.5)),
    ("zero_cov", 0.05, (400, 1.0, 1.0, 1.0, 0.5, 0.0), (400, 1.05, 1.0, 1.0, 0.5, 0.0)),
]


def ratio_stat(s):
    return RatioStatistic(
        n=s["n"],
        m_statistic=SampleMeanStatistic(n=s["n"], sum=s["m_sum"], sum_squares=s["m_sum_sq"]),
        d_statistic=SampleMeanStatistic(n=s["n"], sum=s["d_sum"], sum_squares=s["d_sum_sq"]),
        m_d_sum_of_products=s["md_sum"],
    )


def ratio_case(name, alpha, c, t):
    sc, stt = ratio_sums(*c), ratio_sums(*t)
    a, b = ratio_stat(sc), ratio_stat(stt)
    return {
        "name": name,
        "alpha": alpha,
        "control": sc,
        "treatment": stt,
        "mean_control": f(a.mean),
        "mean_treatment": f(b.mean),
        "unit_variance_control": f(a.variance),
        "unit_variance_treatment": f(b.variance),
        **run_tests(a, b, alpha),
    }


# ---------------------------------------------------------------------------
# 2. Regression-adjusted ratio
# ---------------------------------------------------------------------------


class RaRatio:
    """The regression-adjusted ratio statistic of one arm, from sums.

    Order of the four per-unit variables: M (post numerator), D (post
    denominator), Mpre, Dpre. Means and the ddof=1 sample covariance matrix
    come from the sums; the per-unit variance of R_post - theta R_pre is
    grad' L grad with grad = (1/D, -M/D^2, -theta/Dpre, theta Mpre/Dpre^2)
    (bars omitted), the zero vector when a denominator mean is 0.
    """

    def __init__(self, s, theta):
        self.n = s["n"]
        self.theta = theta
        n = self.n
        pre = s["pre"]
        sums = np.array([s["m_sum"], s["d_sum"], pre["m_sum"], pre["d_sum"]])
        # cross[i][j] = sum over units of X_i X_j
        cross = np.array(
            [
                [s["m_sum_sq"], s["md_sum"], pre["m_mpre_sum"], pre["m_dpre_sum"]],
                [s["md_sum"], s["d_sum_sq"], pre["d_mpre_sum"], pre["d_dpre_sum"]],
                [pre["m_mpre_sum"], pre["d_mpre_sum"], pre["m_sum_sq"], pre["md_sum"]],
                [pre["m_dpre_sum"], pre["d_dpre_sum"], pre["md_sum"], pre["d_sum_sq"]],
            ]
        )
        self.sums = sums
        self.means = sums / n
        self.lam = (cross - np.outer(sums, sums) / n) / (n - 1)

    def grad(self, theta):
        m, d, mp, dp = self.means
        if d == 0 or dp == 0:
            return np.zeros(4)
        return np.array([1 / d, -m / d**2, -theta / dp, theta * mp / dp**2])

    @property
    def r_post(self):
        return 0.0 if self.sums[1] == 0 else self.sums[0] / self.sums[1]

    @property
    def r_pre(self):
        return 0.0 if self.sums[3] == 0 else self.sums[2] / self.sums[3]

    # the interface gbstats's TTest reads
    @property
    def mean(self):
        if self.sums[1] == 0 or self.sums[3] == 0:
            return 0.0
        return self.r_post - self.theta * self.r_pre

    @property
    def unadjusted_mean(self):
        return self.r_post

    @property
    def variance(self):
        g = self.grad(self.theta)
        return float(g @ self.lam @ g)

    @property
    def _has_zero_variance(self):
        return self.variance <= 0.0

    # with theta = 1: the pre part's variance and its covariance with the post part
    def var_pre_1(self):
        g = self.grad(1.0)
        return float(g[2:] @ self.lam[2:, 2:] @ g[2:])

    def cov_1(self):
        g = self.grad(1.0)
        return float(g[2:] @ self.lam[2:, :2] @ g[:2])


def ra_theta(a_sums, b_sums):
    a, b = RaRatio(a_sums, 1.0), RaRatio(b_sums, 1.0)
    den = a.var_pre_1() + b.var_pre_1()
    if den == 0:
        return 0.0
    return -(a.cov_1() + b.cov_1()) / den


def ra_sums(n, mu, sd, corr):
    """Sums with the given means, sds and correlation matrix of (M, D, Mpre, Dpre)."""
    mu = np.asarray(mu, float)
    sd = np.asarray(sd, float)
    corr = np.asarray(corr, float)
    assert np.all(np.linalg.eigvalsh(corr) > 0)
    cov = corr * np.outer(sd, sd)
    cross = (n - 1) * cov + n * np.outer(mu, mu)
    s = n * mu
    return {
        "n": n,
        "m_sum": f(s[0]),
        "m_sum_sq": f(cross[0, 0]),
        "d_sum": f(s[1]),
        "d_sum_sq": f(cross[1, 1]),
        "md_sum": f(cross[0, 1]),
        "pre": {
            "m_sum": f(s[2]),
            "m_sum_sq": f(cross[2, 2]),
            "d_sum": f(s[3]),
            "d_sum_sq": f(cross[3, 3]),
            "md_sum": f(cross[2, 3]),
            "m_mpre_sum": f(cross[0, 2]),
            "m_dpre_sum": f(cross[0, 3]),
            "d_mpre_sum": f(cross[1, 2]),
            "d_dpre_sum": f(cross[1, 3]),
        },
    }


CORR_A = [
    [1.0, 0.5, 0.7, 0.4],
    [0.5, 1.0, 0.35, 0.75],
    [0.7, 0.35, 1.0, 0.5],
    [0.4, 0.75, 0.5, 1.0],
]
CORR_B = [
    [1.0, -0.3, 0.6, -0.2],
    [-0.3, 1.0, -0.25, 0.65],
    [0.6, -0.25, 1.0, -0.3],
    [-0.2, 0.65, -0.3, 1.0],
]
CORR_WEAK = [
    [1.0, 0.2, 0.1, 0.05],
    [0.2, 1.0, 0.05, 0.1],
    [0.1, 0.05, 1.0, 0.2],
    [0.05, 0.1, 0.2, 1.0],
]

RA_CASES = [
    # name, alpha, (n, mu, sd, corr) control, treatment
    ("ra_moderate", 0.05,
     (1000, [2.0, 4.0, 1.9, 3.9], [1.5, 2.0, 1.4, 2.0], CORR_A),
     (1000, [2.2, 4.1, 1.95, 3.95], [1.6, 2.1, 1.45, 2.0], CORR_A)),
    ("ra_negative_cov", 0.05,
     (700, [3.0, 5.0, 3.1, 5.1], [2.0, 1.5, 2.1, 1.6], CORR_B),
     (900, [2.9, 5.2, 3.0, 5.0], [2.1, 1.4, 2.0, 1.5], CORR_B)),
    ("ra_small_n_20", 0.1,
     (20, [5.0, 10.0, 4.8, 9.5], [3.0, 4.0, 2.8, 3.9], CORR_A),
     (25, [6.0, 10.5, 5.0, 9.8], [3.5, 4.5, 3.0, 4.1], CORR_A)),
    ("ra_large_n_unequal", 0.05,
     (1_000_000, [0.3, 3.0, 0.29, 2.9], [0.9, 2.5, 0.88, 2.4], CORR_A),
     (250_000, [0.302, 3.0, 0.291, 2.91], [0.91, 2.5, 0.88, 2.41], CORR_A)),
    ("ra_weak_covariate", 0.01,
     (3000, [8.0, 2.0, 7.5, 1.9], [6.0, 1.0, 5.5, 1.1], CORR_WEAK),
     (3000, [7.6, 2.05, 7.4, 1.9], [6.0, 1.0, 5.6, 1.1], CORR_WEAK)),
]


def ra_case(name, alpha, c, t):
    sc, stt = ra_sums(*c), ra_sums(*t)
    theta = ra_theta(sc, stt)
    a, b = RaRatio(sc, theta), RaRatio(stt, theta)
    return {
        "name": name,
        "alpha": alpha,
        "control": sc,
        "treatment": stt,
        "theta": f(theta),
        "mean_control": f(a.mean),
        "mean_treatment": f(b.mean),
        "unadjusted_mean_control": f(a.unadjusted_mean),
        "unadjusted_mean_treatment": f(b.unadjusted_mean),
        "unit_variance_control": f(a.variance),
        "unit_variance_treatment": f(b.variance),
        **run_tests(a, b, alpha),
    }


# ---------------------------------------------------------------------------
# 3. Quantiles
# ---------------------------------------------------------------------------

N_STAR_GRID = [100 * 2**k for k in range(20)]
Z_975 = st.norm.ppf(0.975)


def n_star_for(n):
    """The largest grid value below n; the smallest grid value if none is."""
    below = [g for g in N_STAR_GRID if g < n]
    return max(below) if below else N_STAR_GRID[0]


def bound_levels(nu, n_star):
    half = Z_975 * math.sqrt(nu * (1 - nu) / n_star)
    return max(nu - half, 1e-8), min(nu + half, 1 - 1e-8)


QUANTILE_CASES = [
    # name, alpha, nu, control (n, q, lower, upper), treatment (...)
    ("median_n_1000", 0.05, 0.5, (1000, 10.0, 9.2, 10.9), (1000, 10.6, 9.8, 11.5)),
    ("p90_n_5000", 0.05, 0.9, (5000, 52.0, 50.1, 54.2), (5200, 55.0, 52.9, 57.4)),
    ("median_small_n_40", 0.1, 0.5, (40, 3.0, 2.1, 4.2), (45, 3.4, 2.5, 4.4)),
    ("p90_small_n_60", 0.05, 0.9, (60, 20.0, 17.0, 26.0), (70, 22.0, 18.5, 27.0)),
    ("p90_large_n_2e6", 0.01, 0.9, (2_000_000, 1.25, 1.2495, 1.2506), (2_100_000, 1.251, 1.2504, 1.2515)),
    ("median_unequal_n", 0.05, 0.5, (300, 100.0, 95.0, 104.0), (3000, 98.0, 96.5, 99.4)),
]

CLUSTERED_CASES = [
    # name, alpha, nu, control (n, q, lower, upper, n_clusters, mu_s, sd_s, mu_n, sd_n, rho), treatment
    ("clustered_median", 0.05, 0.5,
     (3000, 10.0, 9.4, 10.7, 1000, 1.5, 1.2, 3.0, 1.8, 0.85),
     (3100, 10.5, 9.9, 11.2, 1020, 1.52, 1.25, 3.04, 1.85, 0.85)),
    ("clustered_p90", 0.05, 0.9,
     (8000, 52.0, 50.5, 53.8, 2000, 3.6, 2.1, 4.0, 2.3, 0.95),
     (8000, 53.5, 51.9, 55.2, 2000, 3.6, 2.2, 4.0, 2.35, 0.94)),
    ("clustered_small_n", 0.1, 0.5,
     (150, 4.0, 3.1, 5.0, 50, 1.5, 1.0, 3.0, 1.5, 0.7),
     (160, 4.5, 3.6, 5.3, 55, 1.45, 1.0, 2.9, 1.4, 0.72)),
    ("clustered_p90_large", 0.05, 0.9,
     (1_000_000, 7.0, 6.98, 7.02, 200_000, 4.5, 3.0, 5.0, 3.2, 0.97),
     (1_000_000, 7.05, 7.03, 7.07, 200_000, 4.5, 3.0, 5.0, 3.25, 0.97)),
]


def quantile_arm(nu, n, q, lo, hi):
    return {"n": n, "n_star": n_star_for(n), "nu": nu, "quantile_hat": q,
            "quantile_lower": lo, "quantile_upper": hi}


def quantile_stat(a):
    return QuantileStatistic(n=a["n"], n_star=a["n_star"], nu=a["nu"],
                             quantile_hat=a["quantile_hat"],
                             quantile_lower=a["quantile_lower"],
                             quantile_upper=a["quantile_upper"])


def clustered_arm(nu, n, q, lo, hi, k, mu_s, sd_s, mu_n, sd_n, rho):
    a = quantile_arm(nu, n, q, lo, hi)
    a.update({
        "n_clusters": k,
        "main_sum": k * mu_s,
        "main_sum_squares": (k - 1) * sd_s**2 + k * mu_s**2,
        "denominator_sum": k * mu_n,
        "denominator_sum_squares": (k - 1) * sd_n**2 + k * mu_n**2,
        "main_denominator_sum_product": (k - 1) * rho * sd_s * sd_n + k * mu_s * mu_n,
    })
    return a


def clustered_stat(a):
    return QuantileClusteredStatistic(
        n=a["n"], n_star=a["n_star"], nu=a["nu"], quantile_hat=a["quantile_hat"],
        quantile_lower=a["quantile_lower"], quantile_upper=a["quantile_upper"],
        main_sum=a["main_sum"], main_sum_squares=a["main_sum_squares"],
        denominator_sum=a["denominator_sum"],
        denominator_sum_squares=a["denominator_sum_squares"],
        main_denominator_sum_product=a["main_denominator_sum_product"],
        n_clusters=a["n_clusters"])


def quantile_case(name, alpha, nu, c, t, clustered):
    if clustered:
        ac, at = clustered_arm(nu, *c), clustered_arm(nu, *t)
        a, b = clustered_stat(ac), clustered_stat(at)
    else:
        ac, at = quantile_arm(nu, *c), quantile_arm(nu, *t)
        a, b = quantile_stat(ac), quantile_stat(at)
    out = {
        "name": name, "alpha": alpha, "control": ac, "treatment": at,
        "variance_init_control": f(a.variance_init),
        "variance_init_treatment": f(b.variance_init),
        "unit_variance_control": f(a.variance),
        "unit_variance_treatment": f(b.variance),
        **run_tests(a, b, alpha),
    }
    if clustered:
        out["cluster_variance_control"] = f(a.get_cluster_variance)
        out["cluster_variance_treatment"] = f(b.get_cluster_variance)
    return out


# ---------------------------------------------------------------------------
# 4. Raw data: numpy's direct computation against the sums
# ---------------------------------------------------------------------------


def simulate_arm(rng, n, lift):
    d = rng.poisson(3.0, n) + 1.0
    d_pre = np.maximum(d + rng.poisson(1.0, n) - 1.0, 1.0)
    rate = rng.gamma(2.0, 0.5, n)
    m = np.round(d * rate * lift + rng.normal(0, 0.3, n), 6)
    m_pre = np.round(d_pre * rate + rng.normal(0, 0.3, n), 6)
    return {"m": rounded(m), "d": rounded(d), "m_pre": rounded(m_pre), "d_pre": rounded(d_pre)}


def raw_sums(arm):
    m, d, mp, dp = (np.array(arm[k]) for k in ("m", "d", "m_pre", "d_pre"))
    n = len(m)
    return {
        "n": n, "m_sum": f(m.sum()), "m_sum_sq": f((m * m).sum()),
        "d_sum": f(d.sum()), "d_sum_sq": f((d * d).sum()), "md_sum": f((m * d).sum()),
        "pre": {
            "m_sum": f(mp.sum()), "m_sum_sq": f((mp * mp).sum()),
            "d_sum": f(dp.sum()), "d_sum_sq": f((dp * dp).sum()), "md_sum": f((mp * dp).sum()),
            "m_mpre_sum": f((m * mp).sum()), "m_dpre_sum": f((m * dp).sum()),
            "d_mpre_sum": f((d * mp).sum()), "d_dpre_sum": f((d * dp).sum()),
        },
    }


def numpy_arm(arm, theta):
    """Delta-method figures straight from the arrays (np.cov, ddof=1)."""
    x = np.vstack([arm["m"], arm["d"], arm["m_pre"], arm["d_pre"]])
    n = x.shape[1]
    mu = x.mean(axis=1)
    cov = np.cov(x, ddof=1)
    g_post = np.array([1 / mu[1], -mu[0] / mu[1] ** 2])
    g_pre = np.array([1 / mu[3], -mu[2] / mu[3] ** 2])
    unit_var = g_post @ cov[:2, :2] @ g_post
    g = np.concatenate([g_post, -theta * g_pre])
    ra_unit_var = g @ cov @ g
    return {
        "ratio": f(x[0].sum() / x[1].sum()),
        "unit_variance": f(unit_var),
        "variance_of_ratio": f(unit_var / n),
        "ra_unit_variance": f(ra_unit_var),
        # for theta: the pre part's variance and its covariance with the post part
        "pre_var": f(g_pre @ cov[2:, 2:] @ g_pre),
        "pre_post_cov": f(g_pre @ cov[2:, :2] @ g_post),
    }


def raw_ratio():
    rng = np.random.default_rng(20261202)
    control = simulate_arm(rng, 200, 1.0)
    treatment = simulate_arm(rng, 200, 1.08)
    # theta from the arrays: the pooled covariance over the pooled pre variance
    p = [numpy_arm(a, 0.0) for a in (control, treatment)]
    theta = (p[0]["pre_post_cov"] + p[1]["pre_post_cov"]) / (p[0]["pre_var"] + p[1]["pre_var"])
    nc, nt = numpy_arm(control, theta), numpy_arm(treatment, theta)
    sc, stt = raw_sums(control), raw_sums(treatment)
    # gbstats on the sums must agree with numpy on the arrays
    a, b = ratio_stat(sc), ratio_stat(stt)
    assert abs(a.variance - nc["unit_variance"]) <= 1e-10 * nc["unit_variance"]
    theta_sums = ra_theta(sc, stt)
    assert abs(theta_sums - theta) <= 1e-10 * abs(theta)
    ra_a = RaRatio(sc, theta_sums)
    assert abs(ra_a.variance - nc["ra_unit_variance"]) <= 1e-10 * nc["ra_unit_variance"]
    return {
        "seed": 20261202,
        "alpha": 0.05,
        "control": control,
        "treatment": treatment,
        "numpy_control": nc,
        "numpy_treatment": nt,
        "numpy_theta": f(theta),
        "gbstats": run_tests(a, b, 0.05),
        "gbstats_ra": run_tests(RaRatio(sc, theta_sums), RaRatio(stt, theta_sums), 0.05),
    }


def numpy_quantile_fields(values, nu):
    v = np.sort(np.asarray(values, float))
    n = len(v)
    n_star = n_star_for(n)
    lo_level, hi_level = bound_levels(nu, n_star)
    # method="linear": h = (n-1)p, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h])
    return {
        "n": n,
        "n_star": n_star,
        "nu": nu,
        "quantile_hat": f(np.quantile(v, nu, method="linear")),
        "quantile_lower": f(np.quantile(v, lo_level, method="linear")),
        "quantile_upper": f(np.quantile(v, hi_level, method="linear")),
        "lower_level": f(lo_level),
        "upper_level": f(hi_level),
    }


def numpy_clustered_fields(clusters, values, nu):
    base = numpy_quantile_fields(values, nu)
    clusters = np.asarray(clusters)
    values = np.asarray(values, float)
    ids = np.unique(clusters)
    s = np.array([np.sum(values[clusters == i] <= base["quantile_hat"]) for i in ids], float)
    k = np.array([np.sum(clusters == i) for i in ids], float)
    base.update({
        "n_clusters": len(ids),
        "main_sum": f(s.sum()),
        "main_sum_squares": f((s * s).sum()),
        "denominator_sum": f(k.sum()),
        "denominator_sum_squares": f((k * k).sum()),
        "main_denominator_sum_product": f((s * k).sum()),
    })
    return base


def raw_quantile():
    rng = np.random.default_rng(20261203)
    out = {"seed": 20261203, "alpha": 0.05, "unclustered": [], "clustered": []}
    for nu, n, scale in ((0.5, 150, 1.0), (0.9, 400, 1.0)):
        ctrl = rounded(rng.lognormal(0.0, 1.0, n))
        trt = rounded(rng.lognormal(0.1, 1.0, n + 17) * scale)
        fc, ft = numpy_quantile_fields(ctrl, nu), numpy_quantile_fields(trt, nu)
        strip = lambda a: {k: a[k] for k in ("n", "n_star", "nu", "quantile_hat", "quantile_lower", "quantile_upper")}
        a, b = quantile_stat(strip(fc)), quantile_stat(strip(ft))
        out["unclustered"].append({
            "nu": nu, "control": ctrl, "treatment": trt,
            "fields_control": fc, "fields_treatment": ft,
            "unit_variance_control": f(a.variance), "unit_variance_treatment": f(b.variance),
            **run_tests(a, b, 0.05),
        })
    for nu, k in ((0.5, 60), (0.9, 90)):
        arms = []
        for shift in (0.0, 0.15):
            sizes = rng.poisson(2.0, k) + 1
            cl = np.repeat(np.arange(k), sizes)
            user = rng.normal(shift, 0.5, k)
            vals = rounded(np.exp(user[cl] + rng.normal(0, 0.7, len(cl))))
            arms.append(([int(c) for c in cl], vals))
        (cc, vc), (ct, vt) = arms
        fc, ft = numpy_clustered_fields(cc, vc, nu), numpy_clustered_fields(ct, vt, nu)
        drop = lambda a: {x: y for x, y in a.items() if x not in ("lower_level", "upper_level")}
        a, b = clustered_stat(drop(fc)), clustered_stat(drop(ft))
        out["clustered"].append({
            "nu": nu,
            "control_clusters": cc, "control_values": vc,
            "treatment_clusters": ct, "treatment_values": vt,
            "fields_control": fc, "fields_treatment": ft,
            "unit_variance_control": f(a.variance), "unit_variance_treatment": f(b.variance),
            **run_tests(a, b, 0.05),
        })
    return out


def main():
    ref = {
        "generated_with": {
            "python": platform.python_version(),
            "gbstats": importlib.metadata.version("gbstats"),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pandas": pandas.__version__,
        },
        "ratio": [ratio_case(*c) for c in RATIO_CASES],
        "ratio_ra": [ra_case(*c) for c in RA_CASES],
        "quantile": [quantile_case(*c, clustered=False) for c in QUANTILE_CASES],
        "quantile_clustered": [quantile_case(*c, clustered=True) for c in CLUSTERED_CASES],
        "raw_ratio": raw_ratio(),
        "raw_quantile": raw_quantile(),
    }
    for key in ("ratio", "ratio_ra", "quantile", "quantile_clustered"):
        for c in ref[key]:
            print(f"{key:18} {c['name']:28} abs p={c['absolute']['p_value']:.6g} "
                  f"rel={c['relative']['estimate']:+.5f} p={c['relative']['p_value']:.6g}")
    OUT.write_text(json.dumps(ref, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
