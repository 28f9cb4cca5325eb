"""A/A per unit in NumPy: the peer of `umpire run bench/scenarios/aa_per_unit.toml
--per-unit --threads 1`.

Each replication has 10,000 users. Every user draws an arm bit (random 50/50
assignment) and a conversion (Bernoulli p = 0.1) of their own; each
replication is analysed with the pooled two-proportion z-test at alpha =
0.05. Replications are drawn in batches of `--batch` rows, so memory stays
bounded (about 6 bytes per unit of a batch).

The draws are as lean as NumPy allows and as exact as umpire's: the arm bit
is one random bit (bytes unpacked), the conversion a 32-bit integer compared
with round(p * 2^32), umpire's threshold (faster than a float64 uniform).

Prints one JSON line: rate = unit-events (users x replications) per second,
and the false-positive rate, which should be near 0.05.
"""

import argparse
import time

import peer_common
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--replications", type=int, default=100_000)
    ap.add_argument("--p", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=100, help="replications per batch")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.users % 8:
        ap.error("--users must be a multiple of 8 (arm bits are unpacked from bytes)")
    threshold = round(a.p * 2**32)
    with peer_common.one_thread():
        rng = np.random.default_rng(a.seed)
        rejected = 0
        start = time.perf_counter()
        done = 0
        while done < a.replications:
            b = min(a.batch, a.replications - done)
            arm = np.unpackbits(
                rng.integers(0, 256, (b, a.users // 8), dtype=np.uint8), axis=1
            ).view(bool)
            if threshold >= 2**32:
                conv = np.ones((b, a.users), dtype=bool)
            else:
                conv = rng.integers(0, 2**32, (b, a.users), dtype=np.uint32) < threshold
            n_t = np.count_nonzero(arm, axis=1)
            c_t = np.count_nonzero(conv & arm, axis=1)
            c_c = np.count_nonzero(conv, axis=1) - c_t
            rejected += int(np.count_nonzero(peer_common.z_reject(c_c, a.users - n_t, c_t, n_t)))
            done += b
        elapsed = time.perf_counter() - start
    peer_common.report(
        "aa_per_unit",
        "unit-events/s",
        a.users * a.replications,
        elapsed,
        users=a.users,
        replications=a.replications,
        false_positive_rate=rejected / a.replications,
    )


if __name__ == "__main__":
    main()
