"""Beta-Bernoulli Thompson sampling in NumPy: the peer of
`umpire run bench/scenarios/thompson.toml --threads 1`.

10 Bernoulli arms (means 0.10, 0.11, ..., 0.19, as in the scenario),
`--replications` independent bandits run side by side as arrays of shape
(replications, arms), `--horizon` pulls each, learning after every pull.
Per step: one Beta(1 + successes, 1 + failures) draw per arm and
replication (as a ratio of two Gamma draws), the argmax, a Bernoulli reward
for the chosen arm, the update.

Prints one JSON line: rate = pulls (replications x horizon) per second, and
the mean pseudo-regret at the horizon, sum over arms of pulls x gap (umpire's
`regret at T`).
"""

import argparse
import time

import peer_common
import numpy as np

MEANS = [0.10, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.17, 0.18, 0.19]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replications", type=int, default=1000)
    ap.add_argument("--horizon", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    means = np.array(MEANS)
    r, k = a.replications, len(MEANS)
    with peer_common.one_thread():
        rng = np.random.default_rng(a.seed)
        rows = np.arange(r)
        start = time.perf_counter()
        alpha = np.ones((r, k))  # prior_a + successes
        beta = np.ones((r, k))  # prior_b + failures
        for _ in range(a.horizon):
            # Beta(a, b) = X / (X + Y), X ~ Gamma(a), Y ~ Gamma(b): the same
            # construction as rng.beta for shapes >= 1 (and umpire's), and
            # about 13% faster than calling rng.beta on the arrays.
            x = rng.standard_gamma(alpha)
            arm = (x / (x + rng.standard_gamma(beta))).argmax(axis=1)
            reward = rng.random(r) < means[arm]
            alpha[rows, arm] += reward
            beta[rows, arm] += ~reward
        elapsed = time.perf_counter() - start
    pulls = alpha + beta - 2.0
    regret = (pulls * (means.max() - means)).sum(axis=1)
    peer_common.report(
        "thompson",
        "pulls/s",
        r * a.horizon,
        elapsed,
        replications=r,
        horizon=a.horizon,
        arms=k,
        mean_regret=float(regret.mean()),
    )


if __name__ == "__main__":
    main()
