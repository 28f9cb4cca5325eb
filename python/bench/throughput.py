"""Throughput of Python plug-ins on umpire's engine (issue 14's goals).

(a) A Python method on a 10-look A/A test with 10,000 users: replications
    evaluated per second (goal: at least 1 M/s).
(b) A vectorised NumPy Thompson sampling on 10 Bernoulli arms: pulls per
    second (goal: at least 1 M/s, about NumPy's own speed).

Each figure is split into where the time goes: the engine without the
plug-in (the baseline run), the plug-in's own Python code (timed inside
it), and the rest (umpire's conversion to NumPy arrays, the call, the
checks of what it returned). Run from the repository root:

    python python/bench/throughput.py [--replications N] [--threads T]
"""

import argparse
import time

import numpy as np

import umpire


def aa_scenario(replications):
    return {
        "kind": "experiment",
        "run": {"seed": 2026, "replications": replications},
        "population": {"users": 10000},
        "metrics": {"conversion": {"type": "bernoulli", "p": 0.1}},
        "analysis": {"alpha": 0.05, "looks": 10},
    }


def bandit_scenario(replications, horizon):
    means = [0.10 + 0.01 * k for k in range(10)]
    return {
        "kind": "bandit",
        "run": {"seed": 2026, "replications": replications},
        "bandit": {"horizon": horizon, "means": means},
        "policies": {"uniform": {"type": "uniform"}},
    }


class Timed:
    """Wraps a plug-in and adds up the seconds spent in its own code."""

    def __init__(self):
        self.seconds = 0.0
        self.calls = 0


def peeking_z(timer):
    """Naive peeking with the pooled z-test, vectorised over replications
    and looks: reject at the first look with |z| > z_crit."""
    z_crit = 1.959963984540054

    def method(batch):
        t0 = time.perf_counter()
        n = batch.n[:, :, 0, :].astype(np.float64)
        s = batch.sum[:, :, 0, :]
        nc, nt, sc, st = n[..., 0], n[..., 1], s[..., 0], s[..., 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            pbar = (sc + st) / (nc + nt)
            z = (st / nt - sc / nc) / np.sqrt(pbar * (1 - pbar) * (1 / nc + 1 / nt))
        hit = np.abs(np.nan_to_num(z)) > z_crit
        reject = hit.any(axis=1)
        look = np.where(reject, hit.argmax(axis=1), batch.looks - 1)
        out = {"reject": reject[:, None], "look": look[:, None]}
        timer.seconds += time.perf_counter() - t0
        timer.calls += 1
        return out

    return method


def thompson(timer):
    class Thompson:
        def __init__(self, replications, arms):
            pass

        def select(self, t, pulls, reward_sums, rng):
            t0 = time.perf_counter()
            arms = rng.beta(1.0 + reward_sums, 1.0 + pulls - reward_sums).argmax(axis=1)
            timer.seconds += time.perf_counter() - t0
            timer.calls += 1
            return arms

    return Thompson


def best_of(k, f):
    best = None
    for _ in range(k):
        t0 = time.perf_counter()
        out = f()
        dt = time.perf_counter() - t0
        if best is None or dt < best[0]:
            best = (dt, out)
    return best


def bench_method(replications, threads, repeats):
    scenario = aa_scenario(replications)
    base, _ = best_of(repeats, lambda: umpire.run(scenario, threads=threads))
    timer = Timed()
    with_plugin, _ = best_of(
        repeats, lambda: umpire.run(scenario, threads=threads, methods={"peek": peeking_z(timer)})
    )
    own = timer.seconds / repeats
    added = with_plugin - base
    print(f"(a) Python method, 10-look A/A, 10,000 users, {replications:,} replications, threads={threads}")
    print(f"    engine alone (built-in fixed)      {base:8.3f} s  {replications / base:14,.0f} repl/s")
    print(f"    engine + Python method             {with_plugin:8.3f} s  {replications / with_plugin:14,.0f} repl/s end to end")
    print(f"    added by the Python method         {added:8.3f} s  {replications / added:14,.0f} repl/s evaluated")
    print(f"      of which the method's own NumPy  {own:8.3f} s  ({timer.calls // repeats} calls per run)")
    print(f"      conversion, call and checks      {added - own:8.3f} s")
    return replications / added


def bench_policy(replications, horizon, threads, repeats):
    scenario = bandit_scenario(replications, horizon)
    pulls = replications * horizon
    base, _ = best_of(repeats, lambda: umpire.run(scenario, threads=threads))
    timer = Timed()
    with_plugin, _ = best_of(
        repeats, lambda: umpire.run(scenario, threads=threads, policies={"ts": thompson(timer)})
    )
    own = timer.seconds / repeats
    added = with_plugin - base
    rng = np.random.default_rng(1)
    a = rng.integers(0, 50, size=(256, 10)).astype(np.float64)
    t0 = time.perf_counter()
    for _ in range(200):
        rng.beta(1.0 + a, 1.0 + a).argmax(axis=1)
    numpy_alone = 256 * 200 / (time.perf_counter() - t0)
    print(f"(b) NumPy Thompson, 10 arms, horizon {horizon:,}, {replications:,} replications, threads={threads}")
    print(f"    engine alone (built-in uniform)    {base:8.3f} s")
    print(f"    engine + Python policy             {with_plugin:8.3f} s  {pulls / with_plugin:14,.0f} pulls/s end to end")
    print(f"    added by the Python policy         {added:8.3f} s  {pulls / added:14,.0f} pulls/s")
    print(f"      of which the policy's own NumPy  {own:8.3f} s  ({timer.calls // repeats} select calls per run)")
    print(f"      conversion, calls and checks     {added - own:8.3f} s")
    print(f"    NumPy alone (beta + argmax, 256x10 per call): {numpy_alone:,.0f} pulls/s")
    return pulls / added


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replications", type=int, default=200_000)
    ap.add_argument("--bandit-replications", type=int, default=512)
    ap.add_argument("--horizon", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", choices=["method", "policy"], default=None)
    args = ap.parse_args()
    if args.only != "policy":
        bench_method(args.replications, args.threads, args.repeats)
    if args.only != "method":
        bench_policy(args.bandit_replications, args.horizon, args.threads, args.repeats)


if __name__ == "__main__":
    main()
