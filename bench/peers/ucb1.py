"""UCB1 in NumPy: the peer of `umpire run bench/scenarios/ucb1.toml --threads 1`.

10 Bernoulli arms (means 0.10, 0.11, ..., 0.19, as in the scenario),
`--replications` independent bandits run side by side as arrays of shape
(replications, arms), `--horizon` pulls each, learning after every pull.
Each arm is pulled once first; then step t (t pulls so far) takes the argmax
of mean + sqrt(2 ln t / n), umpire's UCB1, draws a Bernoulli reward for the
chosen arm and updates.

Prints one JSON line: rate = pulls (replications x horizon) per second, and
the mean pseudo-regret at the horizon, sum over arms of pulls x gap (umpire's
`regret at T`).
"""

import argparse
import math
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
        n = np.zeros((r, k))
        s = np.zeros((r, k))
        for t in range(a.horizon):
            if t < k:
                arm = np.full(r, t)
            else:
                inv = 1.0 / n
                arm = (s * inv + np.sqrt((2.0 * math.log(t)) * inv)).argmax(axis=1)
            reward = rng.random(r) < means[arm]
            n[rows, arm] += 1.0
            s[rows, arm] += reward
        elapsed = time.perf_counter() - start
    regret = (n * (means.max() - means)).sum(axis=1)
    peer_common.report(
        "ucb1",
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
