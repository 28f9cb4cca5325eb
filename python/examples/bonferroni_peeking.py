# python/examples/bonferroni_peeking.py
import statistics

import numpy as np


def bonferroni_peeking(batch):
    """The pooled two-proportion z-test at every look, each at level
    alpha / looks (Bonferroni over the looks): stop at the first look that
    rejects. Valid under peeking, at the price of power."""
    level = batch.alpha / batch.looks
    z_crit = statistics.NormalDist().inv_cdf(1 - level / 2)
    shape = (batch.replications, len(batch.comparisons))
    out = {key: np.full(shape, np.nan) for key in ("estimate", "low", "high")}
    out["reject"] = np.zeros(shape, dtype=bool)
    out["look"] = np.full(shape, batch.looks - 1)
    rows = np.arange(batch.replications)
    for c, (m, v) in enumerate(batch.comparisons):
        # Cumulative statistics at every look: arrays shaped (replications, looks).
        n_c, n_t = batch.n[:, :, m, 0], batch.n[:, :, m, v]
        s_c, s_t = batch.sum[:, :, m, 0], batch.sum[:, :, m, v]
        p_c, p_t = s_c / n_c, s_t / n_t
        pooled = (s_c + s_t) / (n_c + n_t)
        z = (p_t - p_c) / np.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
        hit = np.abs(z) > z_crit
        rejected = hit.any(axis=1)
        k = np.where(rejected, hit.argmax(axis=1), batch.looks - 1)  # stopping look
        diff = (p_t - p_c)[rows, k]
        se = np.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)[rows, k]
        out["reject"][:, c], out["look"][:, c] = rejected, k
        out["estimate"][:, c] = diff
        out["low"][:, c], out["high"][:, c] = diff - z_crit * se, diff + z_crit * se
    return out
