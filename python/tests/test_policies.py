"""Python bandit policies: equivalence with the built-ins, determinism,
per-batch state, and errors."""

import json
import math

import numpy as np
import pytest

import umpire
from impls import UCB1, Thompson

BANDIT = "bandit_bernoulli_10arms.toml"


def regret_row(res, policy):
    r = res.regret[res.regret.policy == policy]
    return r[r.checkpoint == r.checkpoint.max()].iloc[0]


def policy_result(res, name):
    return next(p for p in res.json["policies"] if p["name"] == name)


def test_numpy_ucb1_pulls_the_same_arms(scenario):
    """MUST-SHOW: a deterministic NumPy UCB1 pulls exactly the arms the
    built-in UCB1 pulls: same regret to the last digit, same pull counts."""
    res = umpire.run(scenario(BANDIT), replications=60, policies={"numpy_ucb1": UCB1})
    a, b = regret_row(res, "ucb1"), regret_row(res, "numpy_ucb1")
    assert a["mean"] > 0
    for col in ["mean", "se", "low", "high", "p5", "p50", "p95"]:
        assert a[col] == b[col], col
    ours, builtin = policy_result(res, "numpy_ucb1"), policy_result(res, "ucb1")
    for key in builtin:
        if key not in ("name", "spec"):
            assert ours[key] == builtin[key], key


def test_numpy_thompson_within_monte_carlo_error(scenario):
    """MUST-SHOW: a vectorised NumPy Thompson's regret at the horizon is the
    built-in Thompson's within Monte Carlo error: the difference of the two
    means is within 4 standard errors of the difference (se² summed as if
    independent; common random numbers only make the difference tighter)."""
    res = umpire.run(scenario(BANDIT), replications=300, policies={"numpy_thompson": Thompson})
    a, b = regret_row(res, "thompson"), regret_row(res, "numpy_thompson")
    se = math.hypot(a["se"], b["se"])
    assert abs(a["mean"] - b["mean"]) <= 4 * se, (a["mean"], b["mean"], se)
    # And it learns: far below uniform's regret.
    assert b["mean"] < 0.6 * regret_row(res, "uniform")["mean"]


def test_random_policy_same_for_any_thread_count(scenario):
    kw = dict(replications=40, policies={"ts": Thompson})
    one = umpire.run(scenario(BANDIT), threads=1, **kw)
    two = umpire.run(scenario(BANDIT), threads=2, **kw)
    assert one.to_json() == two.to_json()


class Greedy:
    """An instance with state and reset: each batch gets its own copy."""

    def __init__(self):
        self.resets = 0
        self.seen = None

    def reset(self, replications, arms):
        self.resets += 1
        assert self.resets == 1, "a batch's copy is reset once"
        self.seen = np.zeros((replications, arms))

    def select(self, t, pulls, reward_sums, rng):
        assert pulls.dtype == np.int64 and reward_sums.dtype == np.float64
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(pulls > 0, reward_sums / np.maximum(pulls, 1), np.inf)
        return mean.argmax(axis=1)

    def update(self, t, arms, rewards):
        assert arms.dtype == np.int64 and rewards.shape == arms.shape
        self.seen[np.arange(len(arms)), arms] += 1


def test_instances_are_copied_per_batch(scenario):
    g = Greedy()
    res = umpire.run(scenario(BANDIT), replications=10, policies={"greedy": g})
    assert g.resets == 0, "the user's own instance is never stepped"
    assert regret_row(res, "greedy")["mean"] > 0


def test_exception_in_select(scenario):
    class Bad:
        def __init__(self, r, a):
            pass

        def select(self, t, pulls, reward_sums, rng):
            raise KeyError("oops")

    with pytest.raises(umpire.PluginError, match=r"plug-in `bad` failed on replications 0\.\.\d+: KeyError") as e:
        umpire.run(scenario(BANDIT), replications=10, policies={"bad": Bad})
    assert isinstance(e.value.__cause__, KeyError)


def test_exception_in_factory(scenario):
    def factory(replications, arms):
        raise ValueError(f"no policy for {arms} arms")

    with pytest.raises(umpire.PluginError, match="ValueError: no policy for 10 arms"):
        umpire.run(scenario(BANDIT), replications=10, policies={"f": factory})


@pytest.mark.parametrize(
    "arms, message",
    [
        (lambda r: np.zeros(r), "select must return integer arms, got dtype float64"),
        (lambda r: np.zeros((r, 1), dtype=np.int64), r"select returned shape \(\d+, 1\), expected \(\d+,\)"),
        (lambda r: np.full(r, 10), "select returned arm 10: arms are 0..10"),
        (lambda r: np.full(r, -1), "select returned arm -1: arms are 0..10"),
        # Not wrapped to a negative int64: the error names the arm returned.
        (lambda r: np.full(r, 2**63, dtype=np.uint64), "select returned arm 9223372036854775808: arms are 0..10"),
        (lambda r: np.full(r, 2**64 - 1, dtype=np.uint64), "select returned arm 18446744073709551615: arms are 0..10"),
        (lambda r: np.full(r, 10, dtype=np.uint64), "select returned arm 10: arms are 0..10"),
    ],
)
def test_bad_arms_get_clear_messages(scenario, arms, message):
    class Wrong:
        def select(self, t, pulls, reward_sums, rng):
            return arms(len(pulls))

    with pytest.raises(umpire.PluginError, match=message):
        umpire.run(scenario(BANDIT), replications=10, policies={"wrong": Wrong()})


def test_policy_needs_select(scenario):
    with pytest.raises(TypeError, match="must be an object with select"):
        umpire.run(scenario(BANDIT), policies={"x": 5})
    with pytest.raises(umpire.ScenarioError, match="takes methods, not policies"):
        umpire.run(scenario("aa_conversion.toml"), policies={"t": Thompson})


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("threads", [1, 2])
def test_an_interrupt_in_select_is_raised_as_itself(scenario, interrupt, threads):
    """A BaseException that is not an Exception (Ctrl-C, sys.exit) stops the
    run and reaches the caller as itself, not as a PluginError."""

    class Interrupted:
        def __init__(self, r, a):
            pass

        def select(self, t, pulls, reward_sums, rng):
            if t == 3:
                raise interrupt()
            return np.zeros(len(pulls), dtype=np.int64)

    with pytest.raises(interrupt):
        umpire.run(scenario(BANDIT), replications=10, threads=threads, policies={"i": Interrupted})


def test_an_interrupt_in_a_factory_is_raised_as_itself(scenario):
    def factory(replications, arms):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        umpire.run(scenario(BANDIT), replications=10, policies={"f": factory})


class Snapshots:
    """Checks the arrays hold the rewards delivered so far, and cycles
    through the arms."""

    def __init__(self, replications, arms):
        pass

    def select(self, t, pulls, reward_sums, rng):
        assert pulls.shape == reward_sums.shape
        assert int(pulls.sum()) == t * len(pulls), (t, int(pulls.sum()))
        assert (reward_sums <= pulls).all()
        return np.full(len(pulls), t % pulls.shape[1])


def test_select_sees_the_rewards_delivered_so_far(scenario):
    res = umpire.run(scenario(BANDIT), replications=12, policies={"s": Snapshots})
    shares = policy_result(res, "s")["pull_shares"]
    assert all(abs(s - 0.1) < 1e-3 for s in shares), shares
