"""umpire.run: tables, dict input, overrides and errors (no plug-ins)."""

import json

import numpy as np
import pytest

import umpire

SUMMARY = ["scenario", "kind", "method", "policy", "metric", "control", "variant", "arm",
           "measure", "value", "low", "high", "sd", "successes", "trials", "replications", "theory"]

AA = {
    "kind": "experiment",
    "run": {"seed": 11, "replications": 500},
    "population": {"users": 2000},
    "metrics": {"conversion": {"type": "bernoulli", "p": 0.1}},
    "analysis": {"alpha": 0.05, "looks": 4, "methods": {"naive": {"type": "naive"}}},
}


def test_experiment_tables_have_the_export_columns(scenario):
    res = umpire.run(scenario("aa_conversion.toml"), replications=400)
    assert res.kind == "experiment"
    assert list(res.summary.columns) == SUMMARY
    assert list(res.by_look.columns)[:7] == ["scenario", "method", "metric", "control",
                                             "variant", "measure", "look"]
    assert res.regret.empty
    fpr = res.summary.query("method == 'fixed' and measure == 'false_positive_rate'")
    assert len(fpr) == 1
    row = fpr.iloc[0]
    assert row.trials == 400 and row.low <= row.value <= row.high
    doc = json.loads(res.to_json())
    assert doc["kind"] == "experiment" and doc["replications"] == 400
    method = next(m for m in doc["methods"] if m["name"] == "fixed")
    assert row.successes == method["comparisons"][0]["rejection_rate"]["successes"]


def test_bandit_regret_table(scenario):
    res = umpire.run(scenario("bandit_bernoulli_10arms.toml"), replications=20)
    assert res.kind == "bandit"
    assert res.by_look.empty
    assert set(res.regret.policy) >= {"ucb1", "thompson"}
    last = res.regret[res.regret.checkpoint == res.regret.checkpoint.max()]
    assert (last["mean"] > 0).all()


def test_dict_input_and_overrides():
    res = umpire.run(AA, seed=3, replications=300)
    assert res.json["replications"] == 300
    by_look = res.by_look[res.by_look.method == "naive"]
    assert list(by_look.look) == [1, 2, 3, 4]
    assert np.all(np.diff(by_look.value.to_numpy()) >= 0)
    # The same dict and seed give the same result.
    assert umpire.run(AA, seed=3, replications=300).to_json() == res.to_json()


def test_threads_do_not_change_the_result():
    one = umpire.run(AA, threads=1, replications=3000)
    two = umpire.run(AA, threads=2, replications=3000)
    assert one.to_json() == two.to_json()


def test_scenario_errors_are_located():
    bad = dict(AA, population={"users": 2000, "typo": 1})
    with pytest.raises(umpire.ScenarioError, match=r"<dict>:\d+:\d+: population.typo: unknown key"):
        umpire.run(bad)
    with pytest.raises(ValueError, match="missing table"):
        umpire.run({"kind": "experiment", "population": {"users": 10}})


def test_bad_toml_file(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('kind = "experiment"\n[population]\nusers = "many"\n')
    with pytest.raises(umpire.ScenarioError, match="bad.toml:3"):
        umpire.run(f)


def test_files_that_cannot_run(scenario):
    with pytest.raises(umpire.ScenarioError, match="cannot read"):
        umpire.run(scenario("no_such_file.toml"))
    for cli_only in ["serving_slo.toml", "serve_reference.toml"]:  # load, serve
        with pytest.raises(umpire.ScenarioError, match="serve and load scenarios run from the CLI"):
            umpire.run(scenario(cli_only))


def test_bad_arguments(scenario):
    with pytest.raises(umpire.ScenarioError, match="no None"):
        umpire.run({"kind": None})
    with pytest.raises(TypeError, match="path or a dict"):
        umpire.run(42)
    with pytest.raises(ValueError, match="replications must be at least 1"):
        umpire.run(AA, replications=0)
    with pytest.raises(TypeError, match="seed must be an int"):
        umpire.run(AA, seed="7")
    with pytest.raises(ValueError, match="seed must be at least 0, got -1"):
        umpire.run(AA, seed=-1)
    with pytest.raises(ValueError, match="seed must be at most 18446744073709551615, got 18446744073709551616"):
        umpire.run(AA, seed=2**64)
    with pytest.raises(ValueError, match="replications must be at most 18446744073709551615"):
        umpire.run(AA, replications=2**64)
    with pytest.raises(ValueError, match="threads must be at least 1, got 0"):
        umpire.run(AA, threads=0)
    with pytest.raises(ValueError, match="threads must be at most 1024, got 1025"):
        umpire.run(AA, threads=1025)
    # The extremes themselves run.
    assert umpire.run(AA, seed=2**64 - 1, replications=20).json["replications"] == 20
    with pytest.raises(umpire.ScenarioError, match="takes policies, not methods"):
        umpire.run(scenario("bandit_bernoulli_10arms.toml"), methods={"m": lambda b: None})
    with pytest.raises(umpire.ScenarioError, match="already taken"):
        umpire.run(AA, methods={"naive": lambda b: None})
    with pytest.raises(TypeError, match="must be callable"):
        umpire.run(AA, methods={"m": 3})
