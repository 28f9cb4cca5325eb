#!/usr/bin/env python3
"""Reference ranks for the latency baseline's order-statistic intervals
(reports/src/baseline.rs, `quantile_ci_ranks`).

Run from the repository root:

    pip install scipy
    python3 reports/tests/reference/quantile_ci.py

Writes reports/tests/reference/quantile_ci.json next to this script.

The distribution-free confidence interval for the q-quantile xi of a
continuous distribution from n independent draws is [X_(l), X_(u)], the l-th
and u-th smallest draws. The number B of draws below xi is Binomial(n, q), so

    P(X_(l) > xi) = P(B <= l - 1)   and   P(X_(u) < xi) = P(B >= u).

With equal tails of at most alpha / 2 each:

    l = binom.ppf(alpha / 2, n, q)        (the smallest k with P(B <= k) >= alpha/2)
    u = binom.ppf(1 - alpha / 2, n, q) + 1

so P(B <= l - 1) < alpha / 2 and P(B >= u) <= alpha / 2, and the coverage
P(l <= B <= u - 1) is at least 1 - alpha. l = 0 means there is no lower
order statistic (the interval is open below); u = n + 1 means there is no
upper one (open above: too few draws for that quantile).

Each case records n, q, alpha, l, u, and the two tail probabilities and the
coverage from scipy.stats.binom, which reports/tests/baseline.rs checks:
the ranks exactly, and that the tails are within alpha / 2.
"""

import json
import platform
from pathlib import Path

import numpy
import scipy
from scipy.stats import binom

OUT = Path(__file__).resolve().parent / "quantile_ci.json"

NS = [1, 5, 10, 20, 50, 100, 367, 1000, 3687, 10_000, 100_000, 1_000_000]
QS = [0.5, 0.95, 0.99, 0.999]
ALPHAS = [0.05, 0.001]


def ranks(n, q, alpha):
    lo = int(binom.ppf(alpha / 2, n, q))
    hi = int(binom.ppf(1 - alpha / 2, n, q)) + 1
    return lo, hi


def main():
    cases = []
    for alpha in ALPHAS:
        for q in QS:
            for n in NS:
                lo, hi = ranks(n, q, alpha)
                below = float(binom.cdf(lo - 1, n, q)) if lo > 0 else 0.0
                above = float(binom.sf(hi - 1, n, q))
                assert below < alpha / 2 and above <= alpha / 2, (n, q, alpha, lo, hi)
                coverage = 1.0 - below - above
                cases.append(dict(n=n, q=q, alpha=alpha, lo=lo, hi=hi,
                                  p_below=below, p_above=above, coverage=coverage))
                print(f"n {n:>8} q {q:<6} alpha {alpha:<6} ranks [{lo}, {hi}]  coverage {coverage:.6f}")
    out = {
        "cases": cases,
        "generated_with": {
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
        },
    }
    OUT.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
