"""A/A from sufficient statistics in NumPy: the peer of
`umpire run bench/scenarios/aa_aggregate.toml --threads 1`.

Per replication: the arm sizes of 10,000 users split 50/50 from one
multinomial draw, each arm's conversions from an exact Binomial(n_arm, 0.1)
draw, then the pooled two-proportion z-test at alpha = 0.05, all
vectorised over `--batch` replications at a time.

Prints one JSON line: rate = replications per second, and the false-positive
rate, which should be near 0.05.
"""

import argparse
import time

import peer_common
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--replications", type=int, default=10_000_000)
    ap.add_argument("--p", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=1_000_000, help="replications per batch")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    with peer_common.one_thread():
        rng = np.random.default_rng(a.seed)
        rejected = 0
        start = time.perf_counter()
        done = 0
        while done < a.replications:
            b = min(a.batch, a.replications - done)
            n = rng.multinomial(a.users, [0.5, 0.5], size=b)
            c = rng.binomial(n, a.p)
            rejected += int(
                np.count_nonzero(peer_common.z_reject(c[:, 0], n[:, 0], c[:, 1], n[:, 1]))
            )
            done += b
        elapsed = time.perf_counter() - start
    peer_common.report(
        "aa_aggregate",
        "replications/s",
        a.replications,
        elapsed,
        users=a.users,
        replications=a.replications,
        false_positive_rate=rejected / a.replications,
    )


if __name__ == "__main__":
    main()
