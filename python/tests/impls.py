"""NumPy re-implementations of built-in methods and policies, written from
the papers' formulas in the same floating-point order as umpire's Rust, for
the equivalence tests."""

import math

import numpy as np

_erfc = np.frompyfunc(math.erfc, 1, 1)


def two_sided_p(z):
    """2(1 - Phi(|z|)) through erfc, as umpire computes it; 1 where z = 0."""
    p = _erfc(np.abs(z) / math.sqrt(2.0)).astype(np.float64)
    return np.where(z == 0.0, 1.0, np.minimum(p, 1.0))


def pooled_z(nc, sc, nt, st):
    """The pooled two-proportion z statistic; 0 for an empty arm or no
    variation (no evidence of a difference)."""
    nc = nc.astype(np.float64)
    nt = nt.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pbar = (sc + st) / (nc + nt)
        se0 = np.sqrt(pbar * (1.0 - pbar) * (1.0 / nc + 1.0 / nt))
        z = (st / nt - sc / nc) / se0
    return np.where((nc > 0) & (nt > 0) & (se0 > 0), z, 0.0)


def _arms(batch, look, metric, variant):
    return (
        batch.n[:, look, metric, 0],
        batch.sum[:, look, metric, 0],
        batch.n[:, look, metric, variant],
        batch.sum[:, look, metric, variant],
    )


def fixed_z(batch):
    """The fixed-horizon pooled z-test at the last look: reject when p <= alpha."""
    shape = (batch.replications, len(batch.comparisons))
    reject = np.zeros(shape, dtype=bool)
    p = np.ones(shape)
    for c, (m, v) in enumerate(batch.comparisons):
        z = pooled_z(*_arms(batch, -1, m, v))
        p[:, c] = two_sided_p(z)
        reject[:, c] = p[:, c] <= batch.alpha
    return {"reject": reject, "p": p}


def naive_peeking(batch):
    """The pooled z-test at every look, stopping at the first p < alpha."""
    shape = (batch.replications, len(batch.comparisons))
    reject = np.zeros(shape, dtype=bool)
    look = np.full(shape, batch.looks - 1, dtype=np.int64)
    for c, (m, v) in enumerate(batch.comparisons):
        for k in range(batch.looks):
            z = pooled_z(*_arms(batch, k, m, v))
            hit = (two_sided_p(z) < batch.alpha) & ~reject[:, c]
            look[hit, c] = k
            reject[hit, c] = True
    return {"reject": reject, "look": look}


class UCB1:
    """UCB1 (Auer, Cesa-Bianchi & Fischer 2002), deterministic: an unpulled
    arm first (the lowest), else argmax of mean + sqrt(2 ln t / n), ties to
    the lowest arm; t is the rewards seen so far."""

    def __init__(self, replications, arms):
        self.arms = arms

    def select(self, t, pulls, reward_sums, rng):
        n = pulls.astype(np.float64)
        total = pulls.sum(axis=1)
        # ln through math.log (the C library's, as Rust's f64::ln), one
        # call per distinct t: NumPy's vectorised log may differ in the last bit.
        logs = {v: math.log(float(max(v, 1))) for v in np.unique(total).tolist()}
        two_ln_t = 2.0 * np.array([logs[v] for v in total.tolist()])
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / n
            index = reward_sums * inv + np.sqrt(two_ln_t[:, None] * inv)
        unpulled = pulls == 0
        return np.where(unpulled.any(axis=1), unpulled.argmax(axis=1), index.argmax(axis=1))


class Thompson:
    """Beta-Bernoulli Thompson sampling with a uniform prior, vectorised."""

    def __init__(self, replications, arms):
        pass

    def select(self, t, pulls, reward_sums, rng):
        draws = rng.beta(1.0 + reward_sums, 1.0 + pulls - reward_sums)
        return draws.argmax(axis=1)


def cuped_ratio_estimate(batch):
    """The regression-adjusted ratio difference at the last look, from the
    batch's ratio sums and pre-period sums, with θ pooled over the two arms
    as GrowthBook's stats engine pools it (delta-method gradients of the
    post- and pre-period ratios against the 4×4 sample covariance of
    (M, D, Mpre, Dpre)). Estimates only: it never rejects."""
    shape = (batch.replications, len(batch.comparisons))
    estimate = np.zeros(shape)
    pre = batch.pre

    def arm(m, a):
        n = batch.n[:, -1, m, a].astype(np.float64)
        s = [batch.sum[:, -1, m, a], batch.x_sum[:, -1, m, a],
             pre["m_pre_sum"][:, -1, m, a], pre["d_pre_sum"][:, -1, m, a]]
        cross = [
            [batch.sum_sq, batch.xy_sum, pre["m_mpre_sum"], pre["m_dpre_sum"]],
            [batch.xy_sum, batch.x_sum_sq, pre["d_mpre_sum"], pre["d_dpre_sum"]],
            [pre["m_mpre_sum"], pre["d_mpre_sum"], pre["m_pre_sum_sq"], pre["md_pre_sum"]],
            [pre["m_dpre_sum"], pre["d_dpre_sum"], pre["md_pre_sum"], pre["d_pre_sum_sq"]],
        ]
        lam = [[(cross[i][j][:, -1, m, a] - s[i] * s[j] / n) / (n - 1.0) for j in range(4)]
               for i in range(4)]
        mu = [x / n for x in s]
        g = (1.0 / mu[1], -mu[0] / mu[1] ** 2)
        h = (1.0 / mu[3], -mu[2] / mu[3] ** 2)
        v = sum(h[i] * lam[2 + i][2 + j] * h[j] for i in range(2) for j in range(2))
        c = sum(h[i] * lam[2 + i][j] * g[j] for i in range(2) for j in range(2))
        return s[0] / s[1], s[2] / s[3], v, c

    for k, (m, var) in enumerate(batch.comparisons):
        rc, pc, vc, cc = arm(m, 0)
        rt, pt, vt, ct = arm(m, var)
        theta = (cc + ct) / (vc + vt)
        estimate[:, k] = (rt - theta * pt) - (rc - theta * pc)
    return {"reject": np.zeros(shape, dtype=bool), "estimate": estimate}
