#!/usr/bin/env python3
"""Reference values for umpire's off-policy estimators (IPS, SNIPS, DM, DR),
computed with Open Bandit Pipeline (obp).

What it computes
----------------
Four fixed logged-bandit data sets, generated here with seeded numpy
(`numpy.random.default_rng(seed)` per case):

1. uniform_logging_near_target   n=300, K=4, d=3: uniform logging (pscore 0.25),
   Bernoulli rewards from a logistic model, target = softmax of a small linear
   score (close to uniform).
2. softmax_logging_greedy_target n=300, K=5, d=4: logging softmax(beta*score),
   pscore = probability of the logged action, Gaussian rewards linear in the
   context, target deterministic greedy on the true mean reward (one-hot rows,
   far from the logging policy).
3. small_n_small_pscores         n=60, K=3, d=2: logging that gives one arm a
   probability of about 0.02 (arm 2 when x1 > 0, arm 0 otherwise), Bernoulli
   rewards, target favouring the rarely logged arms (large weights).
4. epsilon_greedy_logging        n=400, K=5, d=3: logging epsilon-greedy
   (eps=0.2) on one linear score, target epsilon-greedy (eps=0.05) on a
   different score.

context[:, 0] is the constant 1.0 (the ridge model has no separate intercept).
Contexts and continuous rewards are rounded to 6 decimals before anything is
computed, so the JSON holds exactly the data the values come from. Actions are
drawn by inverse CDF from one uniform per round.

For every case:
- ridge_theta: disjoint ridge per arm a, numpy closed form
  theta_a = solve(X_a^T X_a + lambda I_d, X_a^T r_a) over the rounds with
  action == a (theta_a = 0 for an arm never logged; no case here has one);
- q_hat[i][a] = context[i] . theta_a;
- estimates: obp.ope InverseProbabilityWeighting (ips),
  SelfNormalizedInverseProbabilityWeighting (snips), DirectMethod (dm),
  DoublyRobust (dr), default parameters, estimate_policy_value with
  action_dist and estimated_rewards_by_reg_model = q_hat shaped (n, K, 1) and
  position=None.

The script asserts that each obp estimate equals a plain-numpy computation of
the textbook formula to 1e-12 (absolute):
  ips   = mean(r*w),  w_i = pi_e(a_i|x_i) / pscore_i
  snips = sum(r*w) / sum(w)
  dm    = mean_i sum_a pi_e(a|x_i) q_hat[i,a]
  dr    = mean_i [sum_a pi_e(a|x_i) q_hat[i,a] + w_i (r_i - q_hat[i,a_i])]
How obp's code writes these (algebraically the same) is recorded under
"notes" in the JSON, with the largest |obp - plain| seen.

How to run
----------
obp 0.4.1 is the newest obp that installs on Python 3.11 (0.5.x declares
python <3.11 and pins torch 1.12). obp imports torch, so torch is installed too
(the PyPI torch wheel for Linux pulls the CUDA libraries; it is only imported).

    python3.11 -m venv /tmp/venv-obp
    /tmp/venv-obp/bin/pip install -r sim/tests/reference/obp-requirements.txt
    /tmp/venv-obp/bin/python sim/tests/reference/obp_reference.py

It writes sim/tests/reference/obp.json next to this script (one line per
array row) and prints one summary line per case. The output, obp.json, is
committed; re-running with the pinned versions reproduces it byte for byte.
"""

import importlib.metadata
import json
import platform
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", category=DeprecationWarning)

from obp.ope import (  # noqa: E402
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    SelfNormalizedInverseProbabilityWeighting,
)

OUT = Path(__file__).resolve().parent / "obp.json"
TOL = 1e-12


# ---------------------------------------------------------------- helpers

def softmax_rows(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def contexts(rng, n, d):
    x = np.ones((n, d))
    x[:, 1:] = np.round(rng.normal(size=(n, d - 1)), 6)
    return x


def sample_actions(rng, probs):
    """Inverse-CDF draw of one action per row of probs (one uniform per row)."""
    u = rng.random(probs.shape[0])
    cdf = np.cumsum(probs, axis=1)
    a = (u[:, None] < cdf).argmax(axis=1)
    # u beyond the float cumsum of the last column (cdf[-1] may be 1 - 1ulp)
    a[u >= cdf[:, -1]] = probs.shape[1] - 1
    return a.astype(np.int64)


def eps_greedy(scores, eps):
    n, k = scores.shape
    probs = np.full((n, k), eps / k)
    probs[np.arange(n), scores.argmax(axis=1)] += 1.0 - eps
    return probs


def ridge_per_arm(x, a, r, k, lam):
    d = x.shape[1]
    theta = np.zeros((k, d))
    for arm in range(k):
        m = a == arm
        if not m.any():
            continue  # never logged: theta stays 0
        xa, ra = x[m], r[m]
        theta[arm] = np.linalg.solve(xa.T @ xa + lam * np.eye(d), xa.T @ ra)
    return theta


# ---------------------------------------------------------------- cases

def case_uniform_logging_near_target():
    rng = np.random.default_rng(20251202)
    n, k, d, lam = 300, 4, 3, 1.0
    x = contexts(rng, n, d)
    beta = rng.normal(scale=0.8, size=(k, d))
    logging = np.full((n, k), 1.0 / k)
    a = sample_actions(rng, logging)
    p = sigmoid(x @ beta.T)[np.arange(n), a]
    r = (rng.random(n) < p).astype(float)
    gamma = rng.normal(size=(k, d))
    target = softmax_rows(0.3 * (x @ gamma.T))
    return dict(name="uniform_logging_near_target", n=n, k=k, d=d, lam=lam,
                x=x, a=a, r=r, pscore=logging[np.arange(n), a], target=target)


def case_softmax_logging_greedy_target():
    rng = np.random.default_rng(20251203)
    n, k, d, lam = 300, 5, 4, 0.5
    x = contexts(rng, n, d)
    theta_true = rng.normal(size=(k, d))
    log_w = rng.normal(size=(k, d))
    logging = softmax_rows(1.5 * (x @ log_w.T))
    a = sample_actions(rng, logging)
    mean = (x @ theta_true.T)[np.arange(n), a]
    r = np.round(mean + rng.normal(scale=0.5, size=n), 6)
    target = np.zeros((n, k))
    target[np.arange(n), (x @ theta_true.T).argmax(axis=1)] = 1.0
    return dict(name="softmax_logging_greedy_target", n=n, k=k, d=d, lam=lam,
                x=x, a=a, r=r, pscore=logging[np.arange(n), a], target=target)


def case_small_n_small_pscores():
    rng = np.random.default_rng(20251228)
    n, k, d, lam = 60, 3, 2, 2.0
    x = contexts(rng, n, d)
    x1 = x[:, 1]
    rare = 0.015 + 0.01 * sigmoid(x1)  # about 0.02
    logging = np.empty((n, k))
    pos = x1 > 0
    # x1 > 0: arm 2 rare; otherwise arm 0 rare
    logging[pos, 2] = rare[pos]
    logging[pos, 0] = 0.6 * (1.0 - rare[pos])
    logging[pos, 1] = 1.0 - logging[pos, 0] - logging[pos, 2]
    logging[~pos, 0] = rare[~pos]
    logging[~pos, 2] = 0.6 * (1.0 - rare[~pos])
    logging[~pos, 1] = 1.0 - logging[~pos, 0] - logging[~pos, 2]
    a = sample_actions(rng, logging)
    beta = np.array([[-0.5, 1.0], [0.0, 0.2], [0.3, -1.0]])
    r = (rng.random(n) < sigmoid((x @ beta.T)[np.arange(n), a])).astype(float)
    target = softmax_rows(np.column_stack([-2.0 * x1, np.zeros(n), 2.0 * x1]))
    ps = logging[np.arange(n), a]
    assert (ps < 0.03).sum() == 3, "this seed logs a rare arm 3 times"
    return dict(name="small_n_small_pscores", n=n, k=k, d=d, lam=lam,
                x=x, a=a, r=r, pscore=ps, target=target)


def case_epsilon_greedy_logging():
    rng = np.random.default_rng(20251204)
    n, k, d, lam = 400, 5, 3, 1.5
    x = contexts(rng, n, d)
    s_log = rng.normal(size=(k, d))
    s_tgt = rng.normal(size=(k, d))
    theta_true = rng.normal(scale=0.7, size=(k, d))
    logging = eps_greedy(x @ s_log.T, 0.2)
    a = sample_actions(rng, logging)
    mean = (x @ theta_true.T)[np.arange(n), a]
    r = np.round(mean + rng.uniform(-1.0, 1.0, size=n), 6)
    target = eps_greedy(x @ s_tgt.T, 0.05)
    return dict(name="epsilon_greedy_logging", n=n, k=k, d=d, lam=lam,
                x=x, a=a, r=r, pscore=logging[np.arange(n), a], target=target)


# ---------------------------------------------------------------- estimates

def obp_estimates(a, r, ps, target, q_hat):
    ad = target[:, :, None]
    qh = q_hat[:, :, None]
    common = dict(reward=r, action=a, pscore=ps, action_dist=ad, position=None)
    return {
        "ips": float(InverseProbabilityWeighting().estimate_policy_value(**common)),
        "snips": float(
            SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**common)
        ),
        "dm": float(
            DirectMethod().estimate_policy_value(
                action_dist=ad, estimated_rewards_by_reg_model=qh, position=None
            )
        ),
        "dr": float(
            DoublyRobust().estimate_policy_value(
                **common, estimated_rewards_by_reg_model=qh
            )
        ),
    }


def plain_estimates(a, r, ps, target, q_hat):
    n = len(a)
    idx = np.arange(n)
    w = target[idx, a] / ps
    dm_i = (target * q_hat).sum(axis=1)
    return {
        "ips": float(np.mean(r * w)),
        "snips": float(np.sum(r * w) / np.sum(w)),
        "dm": float(np.mean(dm_i)),
        "dr": float(np.mean(dm_i + w * (r - q_hat[idx, a]))),
    }


# ---------------------------------------------------------------- output

def dumps_case(c):
    """One key per line, one row per line for 2-D arrays (keeps diffs readable)."""
    lines = []
    for key, val in c.items():
        if isinstance(val, list) and val and isinstance(val[0], list):
            rows = ",\n        ".join(json.dumps(row) for row in val)
            lines.append(f'      {json.dumps(key)}: [\n        {rows}\n      ]')
        else:
            lines.append(f"      {json.dumps(key)}: {json.dumps(val)}")
    return "    {\n" + ",\n".join(lines) + "\n    }"


def main():
    notes = [
        "obp 0.4.1 is the newest obp that installs on Python 3.11; 0.5.x "
        "declares python <3.11 (and pins torch 1.12). In 0.5.7, IPW and DR gained "
        "lambda_ (default inf, np.minimum(iw, inf) == iw), so defaults compute "
        "the same.",
        "SNIPS: obp computes mean(r*w / mean(w)) instead of sum(r*w)/sum(w): "
        "equal algebraically, can differ in the last bits.",
        "DM and the DM part of DR: obp computes np.average(q_hat[i], "
        "weights=pi_e[i]) = sum_a pi_e*q_hat / sum_a pi_e, i.e. it renormalises "
        "each row of action_dist (identical when rows sum to 1; obp only checks "
        "np.allclose(row sums, 1)).",
        "obp's estimate_policy_value rejects pscore <= 0 and action_dist rows "
        "not summing to 1 (np.allclose); no clipping by default.",
    ]
    builders = [
        case_uniform_logging_near_target,
        case_softmax_logging_greedy_target,
        case_small_n_small_pscores,
        case_epsilon_greedy_logging,
    ]
    cases = []
    max_diff = 0.0
    inexact = []
    for build in builders:
        c = build()
        x, a, r, ps, target = c["x"], c["a"], c["r"], c["pscore"], c["target"]
        assert np.all(ps > 0)
        assert np.allclose(target.sum(axis=1), 1.0)
        theta = ridge_per_arm(x, a, r, c["k"], c["lam"])
        q_hat = x @ theta.T
        est = obp_estimates(a, r, ps, target, q_hat)
        plain = plain_estimates(a, r, ps, target, q_hat)
        for key in est:
            diff = abs(est[key] - plain[key])
            assert diff <= TOL, (c["name"], key, est[key], plain[key])
            max_diff = max(max_diff, diff)
            if est[key] != plain[key]:
                inexact.append(f"{c['name']}.{key}: {est[key] - plain[key]!r}")
        counts = np.bincount(a, minlength=c["k"])
        print(
            f"{c['name']}: n={c['n']} K={c['k']} d={c['d']} "
            f"counts={counts.tolist()} min_pscore={ps.min():.4g} "
            + " ".join(f"{k}={v!r}" for k, v in est.items())
        )
        cases.append({
            "name": c["name"],
            "n_rounds": c["n"],
            "n_actions": c["k"],
            "dim": c["d"],
            "ridge_lambda": c["lam"],
            "context": x.tolist(),
            "action": [int(v) for v in a],
            "reward": r.tolist(),
            "pscore": ps.tolist(),
            "action_dist": target.tolist(),
            "ridge_theta": theta.tolist(),
            "q_hat": q_hat.tolist(),
            "estimates": est,
        })
    notes.append(
        f"All 16 obp estimates match the plain-numpy formulas within {TOL:g}: "
        f"largest |obp - plain| = {max_diff!r}"
        + (
            "; obp - plain where not bit-identical: " + ", ".join(inexact) + "."
            if inexact
            else " (all bit-identical)."
        )
    )
    print(notes[-1])

    head = {
        "generated_with": {
            "obp": importlib.metadata.version("obp"),
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "notes": notes,
    }
    text = "{\n"
    for key, val in head.items():
        text += f"  {json.dumps(key)}: {json.dumps(val, indent=2)},\n".replace(
            "\n  ", "\n    "
        ).replace("\n}", "\n  }").replace("\n]", "\n  ]")
    text += '  "cases": [\n' + ",\n".join(dumps_case(c) for c in cases) + "\n  ]\n}\n"
    json.loads(text)  # must be valid JSON
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text.encode())} bytes)")


if __name__ == "__main__":
    main()
