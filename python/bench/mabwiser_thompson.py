"""The peer figure quoted beside the vectorised NumPy Thompson: MABWiser's
Thompson sampling on 10 Bernoulli arms, one decision and one update per
pull, as its API is used in a bandit loop. Not a CI requirement:

    pip install mabwiser==2.7.4
    python python/bench/mabwiser_thompson.py [PULLS]
"""

import sys
import time

import numpy as np
from mabwiser.mab import MAB, LearningPolicy


def main(pulls):
    arms = list(range(10))
    means = np.linspace(0.05, 0.14, 10)
    rng = np.random.default_rng(1)
    mab = MAB(arms, LearningPolicy.ThompsonSampling(), seed=1)
    mab.fit(decisions=arms, rewards=[0] * len(arms))
    start = time.perf_counter()
    for _ in range(pulls):
        arm = mab.predict()
        mab.partial_fit([arm], [int(rng.random() < means[arm])])
    elapsed = time.perf_counter() - start
    print(f"MABWiser Thompson, 10 arms: {pulls} pulls in {elapsed:.2f} s, "
          f"{pulls / elapsed:,.0f} pulls/s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
