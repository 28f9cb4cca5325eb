"""Shared by the NumPy baselines of scripts/bench-vs-peers.sh: one-thread
pinning, the BLAS kernel report, and the one JSON line each script prints.

Import this module before numpy: it pins NumPy's thread pools to one thread
(umpire runs with `--threads 1`) unless the caller set the variables itself.
"""

import argparse
import json
import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

# The pooled two-proportion z-test rejects at alpha = 0.05 when |z| exceeds
# the 0.975 normal quantile; comparing with it is the same decision as
# p < alpha, without a vectorised erfc (NumPy has none).
Z_975 = 1.959963984540054


def blas() -> dict:
    """The BLAS kernel threadpoolctl sees, and the OpenBLAS variables that
    would force an old kernel on a current NumPy (they should be unset)."""
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    p = pools[0] if pools else {}
    return {
        "internal_api": p.get("internal_api"),
        "architecture": p.get("architecture"),
        "blas_version": p.get("version"),
        "blas_threads": p.get("num_threads"),
        "openblas_env": {
            k: os.environ[k]
            for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
            if k in os.environ
        },
    }


def one_thread():
    """A context that holds every native thread pool at one thread."""
    return threadpool_limits(limits=1)


def report(workload: str, unit: str, units: float, elapsed: float, **extra) -> None:
    """Print the script's one JSON line: the rate in `unit` per second over
    the timed part (after imports and set-up), and what it computed."""
    line = {
        "workload": workload,
        "tool": "numpy",
        "rate": units / elapsed,
        "unit": unit,
        "elapsed_s": round(elapsed, 6),
        **extra,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        **blas(),
    }
    print(json.dumps(line), flush=True)


def z_reject(c_c, n_c, c_t, n_t):
    """Pooled two-proportion z-test at alpha = 0.05, vectorised: which
    replications reject (an arm without units, or no variance, does not)."""
    n_c = n_c.astype(np.float64)
    n_t = n_t.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (c_c + c_t) / (n_c + n_t)
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_c + 1.0 / n_t))
        z = (c_t / n_t - c_c / n_c) / se
        return np.abs(z) > Z_975


# The scenario's arm means (bench/scenarios/thompson.toml and ucb1.toml).
BANDIT_MEANS = [0.10, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.17, 0.18, 0.19]


def bandit_args(doc: str) -> argparse.Namespace:
    """The bandit baselines' command line: replications, horizon, seed."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--replications", type=int, default=1000)
    ap.add_argument("--horizon", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    return ap.parse_args()


def bandit_report(workload: str, a: argparse.Namespace, elapsed: float, pulls, means) -> None:
    """The JSON line of a bandit baseline: pulls/s and the mean pseudo-regret
    at the horizon, sum over arms of pulls x gap (umpire's `regret at T`)."""
    regret = (pulls * (means.max() - means)).sum(axis=1)
    report(
        workload,
        "pulls/s",
        a.replications * a.horizon,
        elapsed,
        replications=a.replications,
        horizon=a.horizon,
        arms=len(means),
        mean_regret=float(regret.mean()),
    )
