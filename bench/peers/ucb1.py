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

import math
import time

import peer_common
import numpy as np

def main() -> None:
    a = peer_common.bandit_args(__doc__)
    means = np.array(peer_common.BANDIT_MEANS)
    r, k = a.replications, len(means)
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
    peer_common.bandit_report("ucb1", a, elapsed, n, means)

if __name__ == "__main__":
    main()
