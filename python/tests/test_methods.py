"""Python analysis methods: equivalence with the built-ins, determinism,
and the errors a researcher meets."""

import json

import numpy as np
import pytest

import umpire
from impls import cuped_ratio_estimate, fixed_z, naive_peeking

PEEKING = {
    "kind": "experiment",
    "run": {"seed": 1969, "replications": 4000},
    "population": {"users": 10000},
    "metrics": {"conversion": {"type": "bernoulli", "p": 0.1}},
    "analysis": {"alpha": 0.05, "looks": 10, "methods": {"naive": {"type": "naive"}}},
}


def comparison(res, method):
    doc = json.loads(res.to_json())
    m = next(m for m in doc["methods"] if m["name"] == method)
    return m["comparisons"][0]


def test_numpy_pooled_z_decides_like_fixed_aa(scenario):
    """MUST-SHOW: a NumPy pooled z-test, plugged in, rejects exactly as the
    built-in `fixed` does (same simulated data: common random numbers)."""
    res = umpire.run(scenario("aa_conversion.toml"), replications=20000,
                     methods={"numpy_z": fixed_z})
    builtin, plugged = comparison(res, "fixed"), comparison(res, "numpy_z")
    assert builtin["rejection_rate"]["successes"] > 0
    assert plugged["rejection_rate"] == builtin["rejection_rate"]
    assert plugged["mean_sample_size"] == builtin["mean_sample_size"]
    assert plugged["ks_distance"] == pytest.approx(builtin["ks_distance"], abs=1e-12)


def test_numpy_pooled_z_decides_like_fixed_under_effect(scenario):
    """The same on an A/B test with a real lift (power, not only FPR)."""
    res = umpire.run(scenario("ab_conversion_power.toml"), replications=5000, seed=5,
                     methods={"numpy_z": fixed_z})
    fixed = next(m["name"] for m in res.json["methods"] if m["name"] != "numpy_z")
    builtin, plugged = comparison(res, fixed), comparison(res, "numpy_z")
    assert 0 < builtin["rejection_rate"]["successes"] < 5000
    assert plugged["rejection_rate"] == builtin["rejection_rate"]


def test_numpy_peeking_stops_where_naive_does():
    """A plug-in's stopping look counts as the built-ins' do: NumPy naive
    peeking matches `naive` look by look."""
    res = umpire.run(PEEKING, methods={"numpy_naive": naive_peeking})
    builtin, plugged = comparison(res, "naive"), comparison(res, "numpy_naive")
    assert plugged["rejection_rate"] == builtin["rejection_rate"]
    assert plugged["mean_stopping_look"] == builtin["mean_stopping_look"]
    assert plugged["mean_sample_size"] == builtin["mean_sample_size"]
    a = res.by_look[res.by_look.method == "naive"].successes.to_numpy()
    b = res.by_look[res.by_look.method == "numpy_naive"].successes.to_numpy()
    assert len(a) == 10 and (a == b).all()


def random_method(batch):
    """Rejects at random at 5%, at a random look, from umpire's stream."""
    shape = (batch.replications, len(batch.comparisons))
    return {
        "reject": batch.rng.random(shape) < 0.05,
        "look": batch.rng.integers(0, batch.looks, size=shape),
    }


def test_random_plugin_same_for_any_thread_count():
    one = umpire.run(PEEKING, threads=1, methods={"coin": random_method})
    two = umpire.run(PEEKING, threads=2, methods={"coin": random_method})
    assert one.to_json() == two.to_json()
    fpr = comparison(one, "coin")["rejection_rate"]
    # 4000 replications at 5%: the Wilson interval holds 0.05.
    assert fpr["lo"] <= 0.05 <= fpr["hi"]
    # A different seed draws differently.
    other = umpire.run(PEEKING, seed=1, methods={"coin": random_method})
    assert comparison(other, "coin")["rejection_rate"] != fpr


def test_batches_cover_every_replication_once():
    seen = []

    def record(batch):
        seen.append((batch.first, batch.replications))
        assert batch.n.dtype == np.int64 and batch.sum.dtype == np.float64
        assert batch.n.shape == (batch.replications, 10, 1, 2)
        assert batch["xy_sum"].shape == batch.n.shape
        # Cumulative statistics never shrink from one look to the next.
        assert (np.diff(batch.n, axis=1) >= 0).all()
        assert batch.comparisons == [(0, 1)] and batch.alpha == 0.05
        return {"reject": np.zeros((batch.replications, 1), dtype=bool)}

    umpire.run(PEEKING, replications=3000, methods={"rec": record})
    seen.sort()
    assert seen[0][0] == 0
    assert all(a + n == b for (a, n), (b, _) in zip(seen, seen[1:]))
    assert sum(n for _, n in seen) == 3000


def test_estimates_feed_coverage():
    def wide(batch):
        shape = (batch.replications, 1)
        return {"reject": np.zeros(shape, dtype=bool), "estimate": np.zeros(shape),
                "low": np.full(shape, -1.0), "high": np.full(shape, 1.0)}

    res = umpire.run(PEEKING, replications=500, methods={"wide": wide})
    c = comparison(res, "wide")
    assert c["coverage"]["successes"] == 500 and c["rejection_rate"]["successes"] == 0


def test_exception_names_plugin_and_range():
    def boom(batch):
        return 1 / 0

    with pytest.raises(umpire.PluginError, match=r"plug-in `boom` failed on replications \d+\.\.\d+: ZeroDivisionError") as e:
        umpire.run(PEEKING, replications=100, methods={"boom": boom})
    assert isinstance(e.value.__cause__, ZeroDivisionError)
    assert isinstance(e.value, RuntimeError)


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda r: None, "returned None"),
        (lambda r: {"look": np.zeros((r, 1), dtype=np.int64)}, "no `reject`"),
        (lambda r: {"reject": np.zeros((r, 1))}, "`reject` must be a bool array, got dtype float64"),
        (lambda r: {"reject": np.zeros(r, dtype=bool)}, r"`reject` has shape \(\d+,\), expected \(\d+, 1\)"),
        (lambda r: {"reject": np.zeros((r, 1), dtype=bool), "look": np.full((r, 1), 10)}, "`look` is 10 .* looks are 0..10"),
        (lambda r: {"reject": np.zeros((r, 1), dtype=bool), "look": np.zeros((r, 1))}, "`look` must be an integer array"),
        (lambda r: {"reject": np.zeros((r, 1), dtype=bool), "p": np.zeros((r, 2))}, "`p` has shape"),
        (lambda r: {"reject": np.zeros((r, 1), dtype=bool), "estimate": np.array(["x"] * r).reshape(r, 1)}, "`estimate` must be a float array"),
    ],
)
def test_bad_answers_get_clear_messages(answer, message):
    with pytest.raises(umpire.PluginError, match=r"plug-in `bad` failed on replications .*" + message):
        umpire.run(PEEKING, replications=100, methods={"bad": lambda b: answer(b.replications)})


def test_answer_may_be_an_object():
    class Answer:
        def __init__(self, r):
            self.reject = np.ones((r, 1), dtype=bool)

    res = umpire.run(PEEKING, replications=200, methods={"all": lambda b: Answer(b.replications)})
    assert comparison(res, "all")["rejection_rate"]["successes"] == 200


def test_a_ratio_covariate_reaches_plugins_as_pre_period_sums(scenario):
    """A ratio metric's pre-period sums reach a Python method: a NumPy
    regression-adjusted ratio, written from gbstats's formulas, estimates
    the lift as the built-in CUPED method does, replication by replication
    (so their mean estimates agree to rounding)."""
    res = umpire.run(scenario("ratio_cuped.toml"), replications=300,
                     methods={"numpy_cuped_ratio": cuped_ratio_estimate})
    doc = json.loads(res.to_json())
    by_name = {m["name"]: m for m in doc["methods"]}
    for builtin, plugged in zip(by_name["cuped"]["comparisons"],
                                by_name["numpy_cuped_ratio"]["comparisons"]):
        assert plugged["bias"] == pytest.approx(builtin["bias"], rel=1e-9, abs=1e-12)
    raw = comparison(res, "raw")
    assert by_name["cuped"]["comparisons"][0]["bias"] != raw["bias"]


def test_batches_without_a_ratio_covariate_have_no_pre_period(scenario):
    seen = []

    def look(batch):
        seen.append(batch.pre)
        return {"reject": np.zeros((batch.replications, len(batch.comparisons)), dtype=bool)}

    umpire.run(scenario("cuped.toml"), replications=10, methods={"look": look})
    assert seen and all(p is None for p in seen)
