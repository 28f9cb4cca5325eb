#!/usr/bin/env python3
"""Reference values for the baseline comparison's tests (reports/src/baseline.rs).

Run from the repository root:

    pip install scipy statsmodels
    python3 reports/tests/reference/two_proportion.py

Writes reports/tests/reference/two_proportion.json next to this script
(indented, sorted keys, floats as Python repr, so they round-trip exactly).

- `two_proportion`: the pooled two-proportion z-test of x1/n1 (the current
  run) against x2/n2 (the baseline), two-sided, from
  statsmodels.stats.proportion.proportions_ztest (its default: pooled
  variance under the null), cross-checked against the formula with
  scipy.stats.norm to 1e-12.
- `welch_z`: the Welch z-test on a difference of means,
  z = (m1 - m2) / sqrt(sd1^2/n1 + sd2^2/n2), p = 2 * norm.sf(|z|), from
  scipy.stats.norm.

reports/tests/baseline.rs compares umpire's values with these to 1e-9
(relative for p-values, which span many orders of magnitude).
"""

import json
import math
import platform
from pathlib import Path

import numpy
import scipy
import scipy.stats as st
import statsmodels
from statsmodels.stats.proportion import proportions_ztest

OUT = Path(__file__).resolve().parent / "two_proportion.json"


def close(a, b, tol=1e-12):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


# name, x1 (current successes), n1, x2 (baseline successes), n2
TWO_PROPORTION = [
    # The test data: aa_conversion at seeds 7 (current) and 20261125 (baseline),
    # 2,000 replications each: fixed/conversion/treatment rejection_rate.
    ("aa_fpr_seed7_vs_seed20261125", 115, 2000, 92, 2000),
    # ab_conversion_power at seeds 7 and 8020: power.
    ("ab_power_seed7_vs_seed8020", 1612, 2000, 1570, 2000),
    # The edited FPR: 0.05 -> 0.08 at 20,000 replications (a regression).
    ("fpr_005_to_008_20000", 1600, 20000, 1000, 20000),
    # And back down (flagged, not a regression).
    ("fpr_008_to_005_20000", 1000, 20000, 1600, 20000),
    # Power 0.80 -> 0.70 at 2,000.
    ("power_080_to_070_2000", 1400, 2000, 1600, 2000),
    # Unequal trials, small counts.
    ("unequal_small", 7, 120, 2, 90),
    ("unequal_large", 52_345, 1_000_000, 4_950, 100_000),
    # Identical rates: z = 0, p = 1.
    ("identical", 500, 5000, 1000, 10000),
    # A tiny p-value (needs erfc, not 1 - cdf).
    ("tiny_p", 3000, 10000, 1000, 10000),
    # Near the edges of the pooled rate.
    ("near_zero", 1, 20000, 9, 20000),
    ("near_one", 19999, 20000, 19990, 20000),
    # An endpoint's errors out of requests.
    ("errors", 12, 3441, 0, 3600),
]

# name, m1, sd1, n1, m2, sd2, n2
WELCH_Z = [
    # The test data: bandit_small thompson regret, seed 32 vs seed 31.
    ("thompson_seed32_vs_seed31", 19.811599999999807, 10.24806928451899, 200,
     19.525699999999834, 9.909628103807906, 200),
    ("regret_up", 25.0, 10.0, 200, 19.5, 9.9, 200),
    ("regret_down_unequal_n", 30.0, 3.0, 50, 33.0, 2.9, 300),
    ("identical", 10.0, 1.0, 100, 10.0, 1.0, 100),
    ("tiny_p", 450.0, 5.0, 2000, 448.0, 5.0, 2000),
]


def two_proportion():
    cases = []
    for name, x1, n1, x2, n2 in TWO_PROPORTION:
        z, p = proportions_ztest([x1, x2], [n1, n2])
        pooled = (x1 + x2) / (n1 + n2)
        z2 = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        p2 = 2 * st.norm.sf(abs(z2))
        assert close(float(z), z2), (name, z, z2)
        assert close(float(p), p2) or abs(float(p) - p2) <= 1e-12 * p2, (name, p, p2)
        cases.append(dict(name=name, x1=x1, n1=n1, x2=x2, n2=n2, z=float(z), p_value=float(p)))
        print(f"two_proportion {name:32} z = {float(z):+.6f}  p = {float(p):.6e}")
    return cases


def welch_z():
    cases = []
    for name, m1, sd1, n1, m2, sd2, n2 in WELCH_Z:
        z = (m1 - m2) / math.sqrt(sd1 * sd1 / n1 + sd2 * sd2 / n2)
        p = 2 * st.norm.sf(abs(z))
        cases.append(dict(name=name, m1=m1, sd1=sd1, n1=n1, m2=m2, sd2=sd2, n2=n2,
                          z=float(z), p_value=float(p)))
        print(f"welch_z        {name:32} z = {z:+.6f}  p = {p:.6e}")
    return cases


def main():
    out = {
        "two_proportion": two_proportion(),
        "welch_z": welch_z(),
        "generated_with": {
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
        },
    }
    OUT.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
