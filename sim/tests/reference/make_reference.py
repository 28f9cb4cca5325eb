#!/usr/bin/env python3
"""Generate reference values for the fixed-horizon statistics in the Rust crate.

Run from the repository root:

    python3 sim/tests/reference/make_reference.py

Writes sim/tests/reference/fixed_horizon.json next to this script. All random
data come from numpy.random.default_rng with fixed seeds and are rounded to
6 decimals *before* any statistic is computed, so the data stored in the JSON
are exactly the data the reference values were computed from.
"""

import json
import math
import platform
from pathlib import Path

import numpy as np
import scipy
import scipy.stats as st
import statsmodels
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

OUT = Path(__file__).resolve().parent / "fixed_horizon.json"


def f(x):
    """Plain Python float (never a numpy scalar)."""
    return float(x)


def rounded(a):
    """Round to 6 decimals and return a list of plain Python floats."""
    return [float(v) for v in np.round(np.asarray(a, dtype=float), 6)]


def close(a, b, tol=1e-12):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


# ---------------------------------------------------------------------------
# 1. Pooled two-proportion z-test
# ---------------------------------------------------------------------------

ZTEST_CASES = [
    # name, n_control, x_control, n_treatment, x_treatment, alpha
    ("small_n_20", 20, 4, 20, 9, 0.05),
    ("small_n_50_unequal", 30, 6, 50, 17, 0.05),
    ("moderate_treatment_higher", 1000, 100, 1000, 125, 0.05),
    ("moderate_treatment_lower", 1000, 130, 1000, 104, 0.05),
    ("equal_rates", 5000, 500, 5000, 500, 0.05),
    ("large_n_1e6", 1_000_000, 100_000, 1_000_000, 100_900, 0.05),
    ("large_n_1e6_alpha_001", 1_000_000, 50_000, 1_000_000, 50_400, 0.01),
    ("alpha_010", 2000, 300, 2000, 330, 0.1),
    ("alpha_001_lower", 4000, 880, 4000, 800, 0.01),
    ("near_zero_x1", 10_000, 1, 10_000, 5, 0.05),
    ("near_zero_control_x1_treatment_x1", 500, 1, 800, 1, 0.05),
    ("near_one", 1000, 999, 1000, 990, 0.05),
    ("unequal_arms_10_to_1", 100_000, 12_000, 10_000, 1_260, 0.05),
    ("unequal_arms_1_to_3_alpha_010", 3000, 450, 9000, 1400, 0.1),
]


def ztest_case(name, n_c, x_c, n_t, x_t, alpha):
    p_c = x_c / n_c
    p_t = x_t / n_t
    pbar = (x_c + x_t) / (n_c + n_t)
    assert 0.0 < pbar < 1.0, f"degenerate pooled rate in {name}"

    z, p_value = proportions_ztest(
        [x_t, x_c], [n_t, n_c], value=0, alternative="two-sided", prop_var=False
    )
    z = f(z)
    p_value = f(p_value)

    # Cross-check z against the textbook formula (and its sign convention).
    se0 = math.sqrt(pbar * (1 - pbar) * (1 / n_c + 1 / n_t))
    z_formula = (p_t - p_c) / se0
    assert close(z, z_formula, 1e-10), (name, z, z_formula)
    if p_t > p_c:
        assert z > 0, name
    elif p_t < p_c:
        assert z < 0, name
    p_formula = 2 * st.norm.sf(abs(z_formula))
    assert close(p_value, p_formula, 1e-10), (name, p_value, p_formula)

    q = f(st.norm.ppf(1 - alpha / 2))

    diff = p_t - p_c
    lo, hi = confint_proportions_2indep(
        x_t, n_t, x_c, n_c, method="wald", compare="diff", alpha=alpha
    )
    lo, hi = f(lo), f(hi)
    se1 = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    assert abs(lo - (diff - q * se1)) <= 1e-12, (name, lo, diff - q * se1)
    assert abs(hi - (diff + q * se1)) <= 1e-12, (name, hi, diff + q * se1)

    rel = p_t / p_c - 1
    se_rel = math.sqrt(
        p_t * (1 - p_t) / n_t / p_c**2 + p_t**2 * p_c * (1 - p_c) / n_c / p_c**4
    )
    return {
        "name": name,
        "n_control": n_c,
        "x_control": x_c,
        "n_treatment": n_t,
        "x_treatment": x_t,
        "alpha": alpha,
        "z": z,
        "p_value": p_value,
        "diff": f(diff),
        "diff_ci": [lo, hi],
        "rel": f(rel),
        "rel_ci": [f(rel - q * se_rel), f(rel + q * se_rel)],
    }


# ---------------------------------------------------------------------------
# 2. Welch t-test
# ---------------------------------------------------------------------------


def zero_inflated_lognormal(rng, n, p_nonzero=0.1, mu=2.0, sigma=1.0, min_nonzero=3):
    """About 90% zeros; redraw (deterministically, same rng) until >= min_nonzero."""
    while True:
        mask = rng.random(n) < p_nonzero
        if mask.sum() >= min_nonzero:
            break
    vals = rng.lognormal(mu, sigma, n)
    return np.where(mask, vals, 0.0)


def welch_data():
    cases = []

    rng = np.random.default_rng(1001)
    cases.append(("normal_small_5_vs_7", rng.normal(10, 2, 5), rng.normal(11, 3, 7), 0.05))

    rng = np.random.default_rng(1002)
    cases.append(("normal_equal_means_100", rng.normal(50, 5, 100), rng.normal(50, 5, 100), 0.05))

    rng = np.random.default_rng(1003)
    cases.append(
        ("normal_unequal_var_unequal_n", rng.normal(20, 1, 40), rng.normal(21, 6, 250), 0.01)
    )

    rng = np.random.default_rng(1004)
    cases.append(("normal_treatment_lower_alpha_010", rng.normal(100, 15, 300), rng.normal(97, 15, 280), 0.1))

    rng = np.random.default_rng(1005)
    cases.append(("lognormal_200", rng.lognormal(3, 1, 200), rng.lognormal(3.1, 1, 200), 0.05))

    rng = np.random.default_rng(1006)
    cases.append(("lognormal_heavy_tail_unequal_n", rng.lognormal(1, 1.5, 60), rng.lognormal(1, 1.5, 150), 0.05))

    rng = np.random.default_rng(1007)
    cases.append(
        (
            "zero_inflated_lognormal_300",
            zero_inflated_lognormal(rng, 300),
            zero_inflated_lognormal(rng, 300),
            0.05,
        )
    )

    rng = np.random.default_rng(1008)
    cases.append(
        (
            "zero_inflated_lognormal_small_40_vs_60",
            zero_inflated_lognormal(rng, 40),
            zero_inflated_lognormal(rng, 60),
            0.1,
        )
    )

    rng = np.random.default_rng(1009)
    cases.append(("poisson_rate_3_vs_3_5", rng.poisson(3.0, 120), rng.poisson(3.5, 120), 0.05))

    rng = np.random.default_rng(1010)
    cases.append(("poisson_small_rate_unequal_n", rng.poisson(0.8, 25), rng.poisson(0.6, 90), 0.01))

    return cases


def welch_case(name, control_raw, treatment_raw, alpha):
    control = rounded(control_raw)
    treatment = rounded(treatment_raw)
    c = np.asarray(control)
    t = np.asarray(treatment)
    assert 5 <= len(c) <= 300 and 5 <= len(t) <= 300, name

    res = st.ttest_ind(t, c, equal_var=False)
    n_c, n_t = len(c), len(t)
    mean_c, mean_t = float(np.mean(c)), float(np.mean(t))
    var_c, var_t = float(np.var(c, ddof=1)), float(np.var(t, ddof=1))
    assert var_c > 0 and var_t > 0 and mean_c != 0, name

    a, b = var_t / n_t, var_c / n_c
    df_formula = (a + b) ** 2 / (a**2 / (n_t - 1) + b**2 / (n_c - 1))
    df = f(res.df) if hasattr(res, "df") else df_formula
    assert close(df, df_formula, 1e-10), (name, df, df_formula)

    ci = res.confidence_interval(confidence_level=1 - alpha)
    diff = mean_t - mean_c
    # Cross-check CI against the formula with the t quantile at Welch df.
    tq = st.t.ppf(1 - alpha / 2, df_formula)
    se = math.sqrt(a + b)
    assert close(f(ci.low), diff - tq * se, 1e-9), name
    assert close(f(ci.high), diff + tq * se, 1e-9), name

    q = f(st.norm.ppf(1 - alpha / 2))
    rel = mean_t / mean_c - 1
    se_rel = math.sqrt(var_t / n_t / mean_c**2 + mean_t**2 * var_c / n_c / mean_c**4)
    return {
        "name": name,
        "control": control,
        "treatment": treatment,
        "alpha": alpha,
        "t": f(res.statistic),
        "df": df,
        "p_value": f(res.pvalue),
        "diff": f(diff),
        "diff_ci": [f(ci.low), f(ci.high)],
        "rel": f(rel),
        "rel_ci": [f(rel - q * se_rel), f(rel + q * se_rel)],
    }


# ---------------------------------------------------------------------------
# 3. Sample-ratio-mismatch chi-square test
# ---------------------------------------------------------------------------


def exact_weights(ws):
    """Make weights sum to exactly 1.0 in float: last = 1 - sum(others)."""
    ws = [float(w) for w in ws[:-1]]
    last = 1.0 - sum(ws)
    ws.append(last)
    assert sum(ws) == 1.0, ws
    return ws


SRM_CASES = [
    ("two_arm_balanced", [50_000, 50_000], [0.5, 0.5]),
    ("two_arm_slightly_unbalanced", [50_210, 49_790], [0.5, 0.5]),
    ("two_arm_srm_detected", [10_300, 9_700], [0.5, 0.5]),
    ("three_arm_equal", [3_390, 3_290, 3_320], [1 / 3, 1 / 3, 1 / 3]),
    ("three_arm_uneven_weights", [2_050, 3_920, 4_030], [0.2, 0.4, 0.4]),
    ("uneven_10_90", [1_012, 8_988], [0.1, 0.9]),
    ("uneven_10_90_small_counts", [7, 93], [0.1, 0.9]),
    ("four_arm", [2_480, 2_530, 2_510, 2_480], [0.25, 0.25, 0.25, 0.25]),
    ("huge_imbalance_tiny_p", [51_800, 48_200], [0.5, 0.5]),
]


def srm_case(name, observed, weights):
    weights = exact_weights(weights)
    total = sum(observed)
    expected = [total * w for w in weights]
    res = st.chisquare(observed, f_exp=expected)
    chi2 = f(res.statistic)
    chi2_formula = sum((o - e) ** 2 / e for o, e in zip(observed, expected))
    assert close(chi2, chi2_formula, 1e-10), (name, chi2, chi2_formula)
    return {
        "name": name,
        "observed": [int(o) for o in observed],
        "weights": weights,
        "chi2": chi2,
        "p_value": f(res.pvalue),
    }


# ---------------------------------------------------------------------------
# 4. Wilson score interval
# ---------------------------------------------------------------------------

WILSON_CASES = [
    # successes, trials, alpha
    (0, 10, 0.05),
    (10, 10, 0.05),
    (0, 1, 0.05),
    (1, 1, 0.05),
    (50, 1000, 0.05),
    (50, 1000, 0.01),
    (3, 7, 0.1),
    (1, 20_000, 0.05),
    (9_876, 20_000, 0.05),
    (500, 20_000, 0.01),
    (0, 20_000, 0.05),
]


def wilson_case(s, n, alpha):
    lo, hi = proportion_confint(s, n, alpha=alpha, method="wilson")
    return {"successes": s, "trials": n, "alpha": alpha, "lo": f(lo), "hi": f(hi)}


# ---------------------------------------------------------------------------
# 5. Closed-form power of the pooled two-proportion z-test
# ---------------------------------------------------------------------------

POWER_CASES = [
    # p_control, p_treatment, n_control, n_treatment, alpha
    (0.10, 0.102, 354_000, 354_000, 0.05),
    (0.10, 0.10, 10_000, 10_000, 0.05),
    (0.05, 0.055, 50_000, 50_000, 0.05),
    (0.20, 0.19, 20_000, 60_000, 0.05),
    (0.30, 0.33, 1_000, 4_000, 0.01),
    (0.50, 0.52, 5_000, 5_000, 0.1),
]


def power_case(p_c, p_t, n_c, n_t, alpha):
    pbar = (n_c * p_c + n_t * p_t) / (n_c + n_t)
    sigma0 = math.sqrt(pbar * (1 - pbar) * (1 / n_c + 1 / n_t))
    sigma1 = math.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
    d = p_t - p_c
    z = st.norm.ppf(1 - alpha / 2)
    power = st.norm.cdf((abs(d) - z * sigma0) / sigma1) + st.norm.cdf(
        (-abs(d) - z * sigma0) / sigma1
    )
    return {
        "p_control": p_c,
        "p_treatment": p_t,
        "n_control": n_c,
        "n_treatment": n_t,
        "alpha": alpha,
        "power": f(power),
    }


# ---------------------------------------------------------------------------
# 6. One-sample KS distance from Uniform(0, 1)
# ---------------------------------------------------------------------------


def ks_cases():
    out = []
    for seed, n, kind in [(2001, 10, "uniform"), (2002, 50, "uniform"),
                          (2003, 200, "uniform"), (2004, 100, "beta_2_5")]:
        rng = np.random.default_rng(seed)
        raw = rng.random(n) if kind == "uniform" else rng.beta(2.0, 5.0, n)
        sample = rounded(raw)
        d = f(st.kstest(sample, "uniform").statistic)
        out.append({"sample": sample, "d": d})
    return out


# ---------------------------------------------------------------------------


def main():
    data = {}

    data["ztest"] = [ztest_case(*c) for c in ZTEST_CASES]
    print(f"ztest:  {len(data['ztest'])} cases (statsmodels proportions_ztest + Wald/delta CIs)")

    data["welch"] = [welch_case(*c) for c in welch_data()]
    print(f"welch:  {len(data['welch'])} cases (scipy ttest_ind equal_var=False, "
          f"n from {min(min(len(c['control']), len(c['treatment'])) for c in data['welch'])} "
          f"to {max(max(len(c['control']), len(c['treatment'])) for c in data['welch'])})")

    data["srm"] = [srm_case(*c) for c in SRM_CASES]
    print(f"srm:    {len(data['srm'])} cases (scipy chisquare), "
          f"min p = {min(c['p_value'] for c in data['srm']):.3g}")

    data["wilson"] = [wilson_case(*c) for c in WILSON_CASES]
    print(f"wilson: {len(data['wilson'])} cases (statsmodels proportion_confint method='wilson')")

    data["power"] = [power_case(*c) for c in POWER_CASES]
    print(f"power:  {len(data['power'])} cases, powers = "
          + ", ".join(f"{c['power']:.4f}" for c in data["power"]))

    data["ks"] = ks_cases()
    print(f"ks:     {len(data['ks'])} cases (scipy kstest vs uniform), sizes = "
          + ", ".join(str(len(c["sample"])) for c in data["ks"]))

    data["generated_with"] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
    }
    print("generated_with: " + ", ".join(f"{k} {v}" for k, v in data["generated_with"].items()))

    with open(OUT, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, allow_nan=False)
        fh.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
