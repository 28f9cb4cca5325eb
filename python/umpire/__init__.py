"""umpire from Python: run a scenario on umpire's deterministic engine, with
your own analysis methods and bandit policies next to the built-ins, and get
the results as pandas DataFrames.

    import umpire
    res = umpire.run("scenarios/aa_fixed.toml", replications=2000,
                     methods={"mine": my_method})
    res.summary            # one row per method x comparison x measure
    res.by_look            # cumulative rejection rate per look
    res.regret             # bandits: regret curve per policy and checkpoint
    res.to_json()          # the result JSON `umpire run` writes

A method is called once per batch of replications with a `Batch` of NumPy
arrays; a policy's vectorised `select` once per step for a batch. See the
README section "Bring your own method".
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._umpire import PluginError, ScenarioError, __version__, _run

__all__ = ["run", "Result", "Batch", "ScenarioError", "PluginError", "__version__"]

_STATS = ("n", "sum", "sum_sq", "x_sum", "x_sum_sq", "xy_sum")
_FLOATS = ("estimate", "low", "high", "p", "rel_estimate", "rel_low", "rel_high")


def _generator(words):
    """The NumPy Generator umpire hands a plug-in for one batch: PCG64 seeded
    from umpire's keyed stream for (seed, plug-in name, batch index)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(words))))


class Batch:
    """A batch of consecutive replications' cumulative statistics at every look.

    Arrays shaped (replications, looks, metrics, arms); arm 0 is the control:

    - ``n`` (int64): units; ``sum``, ``sum_sq`` (float64): the metric's sum
      and sum of squares;
    - ``x_sum``, ``x_sum_sq``, ``xy_sum`` (float64): the pre-period covariate's
      sums, where the metric has one (CUPED), else zero; for a ratio metric,
      the denominator's sums (ΣD, ΣD², ΣM·D, with M in ``sum``).
    - ``pre``: ``None``, or, when a ratio metric has a covariate, a dict of
      its pre-period sums in the same shape (zero for other metrics):
      ``m_pre_sum``, ``m_pre_sum_sq``, ``d_pre_sum``, ``d_pre_sum_sq``,
      ``md_pre_sum`` (ΣMpre, ΣMpre², ΣDpre, ΣDpre², ΣMpre·Dpre) and the
      cross sums ``m_mpre_sum``, ``m_dpre_sum``, ``d_mpre_sum``,
      ``d_dpre_sum`` (ΣM·Mpre, ΣM·Dpre, ΣD·Mpre, ΣD·Dpre).

    Also ``comparisons`` (list of ``(metric, variant)``, the order of the
    answer's columns), ``alpha`` (the scenario's significance level),
    ``first`` (the batch's first replication), ``index`` (the batch's index),
    ``rng`` (a ``numpy.random.Generator`` for this batch, the same for any
    thread count), and the sizes ``replications``, ``looks``, ``metrics``,
    ``arms``. ``batch["n"]`` works too.
    """

    __slots__ = _STATS + ("pre", "comparisons", "alpha", "first", "index", "_words", "_rng")

    def __init__(self, raw):
        for key in _STATS:
            setattr(self, key, raw[key])
        self.pre = raw["pre"]
        self.comparisons = [tuple(c) for c in raw["comparisons"]]
        self.alpha = raw["alpha"]
        self.first = raw["first"]
        self.index = raw["index"]
        self._words = raw["seed_words"]
        self._rng = None

    @property
    def rng(self):
        """The batch's random generator (made on first use)."""
        if self._rng is None:
            self._rng = _generator(self._words)
        return self._rng

    @property
    def replications(self):
        return self.n.shape[0]

    @property
    def looks(self):
        return self.n.shape[1]

    @property
    def metrics(self):
        return self.n.shape[2]

    @property
    def arms(self):
        return self.n.shape[3]

    def __getitem__(self, key):
        return getattr(self, key)

    def __repr__(self):
        return (
            f"Batch(first={self.first}, replications={self.replications}, looks={self.looks}, "
            f"metrics={self.metrics}, arms={self.arms}, comparisons={self.comparisons})"
        )


def _field(answer, key):
    if isinstance(answer, Mapping):
        return answer.get(key)
    return getattr(answer, key, None)


def _method_call(fn):
    """Wrap a user's method: build the Batch, call it, check what it gave."""

    def call(raw):
        batch = Batch(raw)
        answer = fn(batch)
        if answer is None:
            raise TypeError("the method returned None; return a dict with at least `reject`")
        shape = (batch.replications, len(batch.comparisons))
        reject = _field(answer, "reject")
        if reject is None:
            raise TypeError("the method's answer has no `reject`")
        reject = np.asarray(reject)
        if reject.dtype != np.bool_:
            raise TypeError(f"`reject` must be a bool array, got dtype {reject.dtype}")
        _shape("reject", reject, shape)
        look = _field(answer, "look")
        if look is not None:
            look = np.asarray(look)
            if look.dtype.kind not in "iu":
                raise TypeError(f"`look` must be an integer array (0-based looks), got dtype {look.dtype}")
            _shape("look", look, shape)
            look = np.ascontiguousarray(look, dtype=np.int64)
        floats = []
        for key in _FLOATS:
            x = _field(answer, key)
            if x is not None:
                x = np.asarray(x)
                if x.dtype.kind not in "fiu":
                    raise TypeError(f"`{key}` must be a float array, got dtype {x.dtype}")
                _shape(key, x, shape)
                x = np.ascontiguousarray(x, dtype=np.float64)
            floats.append(x)
        return (np.ascontiguousarray(reject), look, *floats)

    return call


def _shape(key, x, shape):
    if x.shape != shape:
        raise ValueError(
            f"`{key}` has shape {x.shape}, expected {shape} (replications, comparisons)"
        )


class _PolicyRunner:
    """One batch's policy: the user's object, its Generator, and the checks
    on the arms it picks."""

    __slots__ = ("policy", "rng", "replications", "arms", "_update", "wants_update", "_select")

    def __init__(self, policy, replications, arms, rng):
        self.policy = policy
        self.rng = rng
        self.replications = replications
        self.arms = arms
        self._select = policy.select
        self._update = getattr(policy, "update", None)
        self.wants_update = callable(self._update)

    def select(self, t, pulls, reward_sums):
        arms = self._select(t, pulls, reward_sums, self.rng)
        if type(arms) is not np.ndarray:
            arms = np.asarray(arms)
        if arms.dtype.kind not in "iu":
            raise TypeError(f"select must return integer arms, got dtype {arms.dtype}")
        if arms.shape != (self.replications,):
            raise ValueError(
                f"select returned shape {arms.shape}, expected ({self.replications},) (one arm per replication)"
            )
        if arms.dtype.kind == "u" and arms.dtype.itemsize == 8:
            # uint64 arms of 2**63 and above would wrap negative as int64:
            # name the arm the policy returned.
            high = arms >= self.arms
            if high.any():
                raise ValueError(f"select returned arm {int(arms[high][0])}: arms are 0..{self.arms}")
        return arms.astype(np.int64, copy=False)

    def update(self, t, arms, rewards):
        self._update(t, arms, rewards)


def _policy_maker(name, spec):
    """How each batch gets its own policy: a class or factory is called as
    ``spec(replications, arms)``; an instance (anything with ``select``) is
    deep-copied and its optional ``reset(replications, arms)`` called, so
    batches never share state."""
    if isinstance(spec, type) or (callable(spec) and not hasattr(spec, "select")):
        def fresh(replications, arms):
            return spec(replications, arms)
    elif callable(getattr(spec, "select", None)):
        def fresh(replications, arms):
            policy = copy.deepcopy(spec)
            reset = getattr(policy, "reset", None)
            if reset is not None:
                reset(replications, arms)
            return policy
    else:
        raise TypeError(
            f"policy `{name}` must be an object with select(t, pulls, reward_sums, rng) "
            "or a class/factory called as factory(replications, arms)"
        )

    def make(first, replications, arms, words):
        policy = fresh(replications, arms)
        if not callable(getattr(policy, "select", None)):
            raise TypeError(f"the factory returned {type(policy).__name__}, which has no select method")
        return _PolicyRunner(policy, replications, arms, _generator(words))

    return make


def _frame(columns, data):
    out = {}
    for col in columns:
        kind, *values = data[col]
        if kind == "int":
            ints, mask = values
            out[col] = pd.arrays.IntegerArray(ints, mask) if mask.any() else ints
        elif kind == "text":
            out[col] = pd.array(values[0], dtype=object)
        else:
            out[col] = values[0]
    return pd.DataFrame(out, columns=list(columns))


def _wide(points, rows):
    """``rows`` with one column per swept path: the point's value (a number
    where the path takes numbers, else its text), in the order swept."""
    if points.empty:
        return rows.copy()
    paths = list(dict.fromkeys(points["path"]))
    out = rows.copy()
    at = out.columns.get_loc("point") + 1
    for path in paths:
        p = points[points["path"] == path]
        numeric = p["value"].notna().all()
        values = dict(zip(p["point"], p["value"] if numeric else p["text"]))
        out.insert(at, path, out["point"].map(values))
        at += 1
    return out


class Result:
    """A run's result: ``kind`` (``"experiment"``, ``"bandit"`` or
    ``"sweep"``), the tidy tables ``summary``, ``by_look`` and ``regret``
    (pandas DataFrames, the tables ``umpire export --to csv`` writes; a table
    the kind lacks is empty), and the result JSON (``to_json()``, or ``json``
    parsed).

    A sweep's tables are ``sweep_points`` (one row per point and swept
    path), ``sweep_summary``, ``sweep_by_look`` and ``sweep_regret`` (the
    tables above for every point, each row led by ``point``), and ``sweep``:
    ``sweep_summary`` with one column per swept path, the point's value."""

    def __init__(self, kind, json_text, tables):
        self.kind = kind
        self._json = json_text
        self.summary = _frame(*tables["summary"])
        self.by_look = _frame(*tables["by_look"])
        self.regret = _frame(*tables["regret"])
        self.sweep_points = _frame(*tables["sweep_points"])
        self.sweep_summary = _frame(*tables["sweep_summary"])
        self.sweep_by_look = _frame(*tables["sweep_by_look"])
        self.sweep_regret = _frame(*tables["sweep_regret"])
        self.sweep = _wide(self.sweep_points, self.sweep_summary)

    def to_json(self):
        """The result as JSON text (what ``umpire run`` writes)."""
        return self._json

    @property
    def json(self):
        """The result JSON, parsed."""
        return json.loads(self._json)

    def __repr__(self):
        return f"<umpire.Result {self.kind}: {len(self.summary)} summary rows>"


_U64_MAX = 2**64 - 1
_MAX_THREADS = 1024


def _count(name, x, least, most=_U64_MAX):
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(x).__name__}")
    x = int(x)
    if x < least:
        raise ValueError(f"{name} must be at least {least}, got {x}")
    if x > most:
        raise ValueError(f"{name} must be at most {most}, got {x}")
    return x


def _named(what, plugins):
    if plugins is None:
        return {}
    if not isinstance(plugins, Mapping):
        raise TypeError(f"{what} must be a dict of name -> plug-in")
    for name in plugins:
        if not isinstance(name, str):
            raise TypeError(f"{what} names must be str, got {name!r}")
    return plugins


def run(scenario, seed=None, replications=None, threads=None, methods=None, policies=None):
    """Run a scenario and return its :class:`Result`.

    ``scenario`` is a scenario file's path, or a dict of the same keys as its
    TOML. ``seed`` (0 to 2**64 - 1) and ``replications`` override the
    scenario's; ``threads`` is the worker count, 1 to 1024 (default: one per
    core; the result does not depend on it). ``methods`` maps names to
    callables ``method(batch) -> answer`` (experiment scenarios);
    ``policies`` maps names to policy objects, classes or factories (bandit
    scenarios). Load and serve scenarios run from the CLI only.

    A Python policy has no ``deliver`` callback (under delayed or batched
    feedback it sees delivered rewards in ``pulls`` and ``reward_sums``
    only) and no ``recommend``: its best-arm guess at the horizon is
    umpire's default, the arm with the best mean of delivered rewards (arms
    with no delivered reward last, ties to the lowest arm).

    Raises :class:`ScenarioError` (a ``ValueError``) for a scenario or option
    that cannot run, and :class:`PluginError` when a plug-in raises or returns
    something wrong; its message names the plug-in and the replication range,
    and the original exception is its ``__cause__``. A ``KeyboardInterrupt``,
    ``SystemExit`` or other ``BaseException`` that is not an ``Exception``
    raised in a plug-in stops the run and is raised as itself.
    """
    seed = _count("seed", seed, 0)
    replications = _count("replications", replications, 1)
    threads = _count("threads", threads, 1, _MAX_THREADS)
    methods = [(n, _method_call(_callable(n, f))) for n, f in _named("methods", methods).items()]
    policies = [(n, _policy_maker(n, p)) for n, p in _named("policies", policies).items()]
    if isinstance(scenario, Mapping):
        try:
            text = json.dumps(scenario, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ScenarioError(f"<dict>: cannot express the dict as TOML: {e}") from e
        kind, js, tables = _run(
            json=text, seed=seed, replications=replications, threads=threads,
            methods=methods, policies=policies,
        )
    elif isinstance(scenario, (str, os.PathLike)):
        kind, js, tables = _run(
            path=os.fspath(scenario), seed=seed, replications=replications, threads=threads,
            methods=methods, policies=policies,
        )
    else:
        raise TypeError(f"scenario must be a path or a dict, got {type(scenario).__name__}")
    return Result(kind, js, tables)


def _callable(name, fn):
    if not callable(fn):
        raise TypeError(f"method `{name}` must be callable as method(batch) -> answer")
    return fn
