#!/usr/bin/env python3
"""Monte Carlo reference values for two Bernoulli bandit policies.

Run from the repository root:

    python3 sim/tests/reference/bandit_reference.py

Writes sim/tests/reference/bandit_regret.json next to this script.

Problem: K = 10 Bernoulli arms with means 0.10, 0.11, ..., 0.19 (best 0.19),
horizon T = 10,000, policy updated after every pull.

Policies (all R replications advance one step at a time as (R, K) arrays):

* Thompson sampling, Beta(1, 1) priors: at every step draw
  theta_k ~ Beta(a_k, b_k) for every arm, pull argmax_k theta_k (ties: lowest
  index), observe r ~ Bernoulli(mu_k), update a_k += r, b_k += 1 - r.
* UCB1 (Auer, Cesa-Bianchi & Fischer 2002): pull arms 0..9 once each, in
  index order, in steps 1..10; afterwards pull
  argmax_k  mean_k + sqrt(2 ln t / n_k)  (ties: lowest index), where t is the
  number of pulls made so far (before this step, so t >= 10) and n_k the
  number of pulls of arm k so far.

Pseudo-regret after t steps = sum_{s <= t} (mu* - mu_{arm pulled at s})
                            = sum_k Delta_k * n_k(t).

Pseudo-regret is accumulated exactly as an integer number of hundredths.
Reported per policy: mean and standard deviation (ddof = 1) across
replications of the pseudo-regret at the checkpoints, and the mean share of the
T pulls that went to the best arm. Also the Lai-Robbins constant
sum_{k suboptimal} Delta_k / KL(mu_k, mu*) and that constant times ln T.
"""

import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "bandit_regret.json"

MEANS = np.array([0.10, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.17, 0.18, 0.19])
K = MEANS.size
BEST = int(np.argmax(MEANS))
MU_STAR = float(MEANS[BEST])
# Gaps Delta_k = mu* - mu_k are whole hundredths; keep them as integers so the
# pseudo-regret of every run is an exact integer number of hundredths (no
# float round-off accumulates in the sums; 0.19 - 0.10 != 0.09 in binary).
DELTA_CENTS = np.rint((MU_STAR - MEANS) * 100).astype(np.int64)
assert np.allclose(DELTA_CENTS / 100, MU_STAR - MEANS, rtol=0, atol=1e-12)
DELTA = DELTA_CENTS / 100  # Delta_k as floats, 0 for the best arm
HORIZON = 10_000
CHECKPOINTS = [10, 100, 1000, 2000, 5000, 10000]

REPLICATIONS = 20_000
SEED = 20251125
# Independent streams for the two policies (SeedSequence(SEED).spawn(2)):
# child 0 -> Thompson sampling, child 1 -> UCB1.
SS_THOMPSON, SS_UCB1 = np.random.SeedSequence(SEED).spawn(2)


def summarize(regret_cents, best_pulls):
    """regret_cents: (R, len(CHECKPOINTS)) int64 pseudo-regret in hundredths;
    best_pulls: (R,) int64 pulls of the best arm over the horizon."""
    R = regret_cents.shape[0]
    mean = regret_cents.sum(axis=0) / (R * 100)  # exact integer sums
    sd = regret_cents.astype(float).std(axis=0, ddof=1) / 100
    return {
        "mean_regret": [float(v) for v in mean],
        "sd_regret": [float(v) for v in sd],
        "best_arm_share": float(best_pulls.sum() / (R * HORIZON)),
    }


def pseudo_regret_cents(counts):
    """counts: (R, K) int64 pull counts -> (R,) int64 pseudo-regret x 100."""
    return counts @ DELTA_CENTS


def run_thompson(R, seed_seq):
    rng = np.random.default_rng(seed_seq)
    rows = np.arange(R)
    a = np.ones((R, K))  # 1 + successes
    b = np.ones((R, K))  # 1 + failures
    counts = np.zeros((R, K), dtype=np.int64)
    out = np.empty((R, len(CHECKPOINTS)), dtype=np.int64)
    ci = 0
    for s in range(1, HORIZON + 1):
        theta = rng.beta(a, b)
        arm = np.argmax(theta, axis=1)  # first maximum = lowest index
        r = rng.random(R) < MEANS[arm]
        a[rows, arm] += r
        b[rows, arm] += ~r
        counts[rows, arm] += 1
        if s == CHECKPOINTS[ci]:
            out[:, ci] = pseudo_regret_cents(counts)
            ci += 1
    assert ci == len(CHECKPOINTS)
    assert np.all(counts.sum(axis=1) == HORIZON)
    return out, counts[:, BEST]


def run_ucb1(R, seed_seq):
    rng = np.random.default_rng(seed_seq)
    rows = np.arange(R)
    sums = np.zeros((R, K))  # total reward per arm
    counts = np.zeros((R, K), dtype=np.int64)
    out = np.empty((R, len(CHECKPOINTS)), dtype=np.int64)
    ci = 0
    for s in range(1, HORIZON + 1):
        t = s - 1  # pulls made before this step
        if t < K:
            arm = np.full(R, t, dtype=np.int64)  # initial round, index order
        else:
            n = counts.astype(float)
            index = sums / n + np.sqrt(2.0 * math.log(t) / n)
            arm = np.argmax(index, axis=1)  # first maximum = lowest index
        r = rng.random(R) < MEANS[arm]
        sums[rows, arm] += r
        counts[rows, arm] += 1
        if s == CHECKPOINTS[ci]:
            out[:, ci] = pseudo_regret_cents(counts)
            ci += 1
    assert ci == len(CHECKPOINTS)
    assert np.all(counts.sum(axis=1) == HORIZON)
    return out, counts[:, BEST]


def bernoulli_kl(p, q):
    return p * math.log(p / q) + (1.0 - p) * math.log((1.0 - p) / (1.0 - q))


def lai_robbins():
    coef = sum(
        float(DELTA[k]) / bernoulli_kl(float(MEANS[k]), MU_STAR)
        for k in range(K)
        if k != BEST
    )
    return {"coefficient": coef, "at_horizon": coef * math.log(HORIZON)}


def main():
    R = REPLICATIONS
    result = {
        "generated_with": {
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "problem": {"means": [float(m) for m in MEANS], "horizon": HORIZON},
        "replications": R,
        "checkpoints": CHECKPOINTS,
        "lai_robbins": lai_robbins(),
    }

    t0 = time.perf_counter()
    reg, best = run_thompson(R, SS_THOMPSON)
    result["thompson_beta_1_1"] = summarize(reg, best)
    t1 = time.perf_counter()
    print(f"thompson_beta_1_1: {t1 - t0:.1f} s", file=sys.stderr)

    reg, best = run_ucb1(R, SS_UCB1)
    result["ucb1"] = summarize(reg, best)
    t2 = time.perf_counter()
    print(f"ucb1: {t2 - t1:.1f} s", file=sys.stderr)

    with open(OUT, "w") as fh:
        json.dump(result, fh, indent=2, sort_keys=True)
        fh.write("\n")

    for name in ("thompson_beta_1_1", "ucb1"):
        r = result[name]
        print(name)
        for c, m, sd in zip(CHECKPOINTS, r["mean_regret"], r["sd_regret"]):
            se = sd / math.sqrt(R)
            print(f"  t={c:>6}: mean {m:10.4f}  sd {sd:9.4f}  se {se:7.4f}")
        print(f"  best_arm_share {r['best_arm_share']:.5f}")
    lr = result["lai_robbins"]
    print(f"lai_robbins: coefficient {lr['coefficient']:.4f}, "
          f"at_horizon {lr['at_horizon']:.4f}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
