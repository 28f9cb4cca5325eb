"""Sweeps from Python: a `[sweep]` scenario runs every point with the
plug-ins, and the Result carries the sweep tables the CSV export writes."""

import umpire
from impls import fixed_z

SWEEP = {
    "kind": "experiment",
    "run": {"seed": 11, "replications": 3000},
    "population": {"users": 20000},
    "metrics": {"conversion": {"type": "bernoulli", "p": 0.1}},
    "effect": {"treatment": {"conversion": {"relative": 0.05}}},
    "sweep": {
        "population.users": [10000, 40000],
        "effect.treatment.conversion.relative": [0.0, 0.05, 0.1],
        "monotone": {"measure": "power", "along": "population.users"},
    },
}


def test_a_plugged_method_decides_like_fixed_at_every_point():
    res = umpire.run(SWEEP, methods={"numpy_z": fixed_z})
    assert res.kind == "sweep"
    doc = res.json
    assert len(doc["points"]) == 6
    for p in doc["points"]:
        methods = {m["name"]: m for m in p["result"]["methods"]}
        builtin = methods["fixed"]["comparisons"][0]["rejection_rate"]
        plugged = methods["numpy_z"]["comparisons"][0]["rejection_rate"]
        assert plugged == builtin, p["at"]
    # The curve verdicts cover the plug-in too.
    names = {v["name"] for v in doc["expectations"]}
    assert names == {"fixed", "numpy_z"}


def test_the_sweep_tables_hold_every_point():
    res = umpire.run(SWEEP)
    assert list(res.sweep_points.columns) == ["scenario", "point", "path", "value", "text"]
    assert len(res.sweep_points) == 6 * 2
    # `sweep`: the summary with one column per swept path.
    wide = res.sweep
    assert list(wide.columns[:4]) == [
        "point",
        "population.users",
        "effect.treatment.conversion.relative",
        "scenario",
    ]
    power = wide[(wide.measure.isin(["power", "false_positive_rate"])) & (wide.method == "fixed")]
    assert len(power) == 6
    null = power[power["effect.treatment.conversion.relative"] == 0.0]
    assert set(null.measure) == {"false_positive_rate"}
    # Each row is the point's own result: the rates are the JSON's.
    for p in res.json["points"]:
        fixed = next(m for m in p["result"]["methods"] if m["name"] == "fixed")
        want = fixed["comparisons"][0]["rejection_rate"]["value"]
        got = power[power.point == p["index"]].value.iloc[0]
        assert got == want, p["at"]
