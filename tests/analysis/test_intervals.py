"""rliable's interval estimates through noisyjax's adapters: hand-computed points, reproducible
intervals, the shapes the report and plots rely on, and the missing-extra message."""

import builtins
import warnings

import numpy as np
import pytest

from noisyjax.analysis import intervals
from noisyjax.run.env_ids import MissingExtra

pytest.importorskip("rliable", reason="the analysis extra is part of the test command")
warnings.filterwarnings("ignore", category=FutureWarning)  # arch's RandomState notice

REPS = 200


def test_iqm_point_is_hand_computed():
    # 8 runs of one task: the IQM drops the lowest and highest 2 -> mean(3, 4, 5, 6) = 4.5
    x = np.array([5, 1, 1000, 3, 2, 7, 4, 6], float)[:, None]
    point, ci = intervals.iqm_intervals({"a": x}, reps=REPS)
    assert point["a"] == pytest.approx(4.5)
    assert ci["a"][0] <= 4.5 <= ci["a"][1]


def test_iqm_interval_brackets_the_point_and_is_reproducible():
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(10, 3)), "b": rng.normal(2.0, 1.0, size=(10, 3))}
    p1, c1 = intervals.iqm_intervals(x, reps=REPS, seed=3)
    p2, c2 = intervals.iqm_intervals(x, reps=REPS, seed=3)
    assert c1 == c2 and p1 == p2
    for k in x:
        assert c1[k][0] <= p1[k] <= c1[k][1]
    assert c1["a"][1] < c1["b"][0]  # two well-separated groups have disjoint intervals
    _, c3 = intervals.iqm_intervals(x, reps=REPS, seed=4)
    assert c3 != c1
    # the caller's global numpy generator is left as it was
    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    intervals.iqm_intervals(x, reps=REPS)
    assert np.random.rand() == expected


def test_probability_of_improvement_extremes_and_ties():
    low, high = np.zeros((10, 2)), np.ones((10, 2))
    p, ci = intervals.improvement_probability(high, low, reps=REPS)
    assert p == 1.0 and ci == (1.0, 1.0)
    p, ci = intervals.improvement_probability(low, high, reps=REPS)
    assert p == 0.0 and ci == (0.0, 0.0)
    p, _ = intervals.improvement_probability(low, low, reps=REPS)
    assert p == 0.5  # ties count one half


def test_probability_of_improvement_hand_computed():
    # x = [1, 3] against y = [2, 2]: of the 4 pairs, 2 have x > y -> 0.5
    p, _ = intervals.improvement_probability(np.array([[1.0], [3.0]]), np.array([[2.0], [2.0]]), reps=REPS)
    assert p == pytest.approx(0.5)
    # x = [3, 1] against y = [2, 0]: pairs (3>2, 3>0, 1<2, 1>0) -> 3/4
    p, _ = intervals.improvement_probability(np.array([[3.0], [1.0]]), np.array([[2.0], [0.0]]), reps=REPS)
    assert p == pytest.approx(0.75)


def test_curve_intervals_shapes_and_nan_before_first_value():
    rng = np.random.default_rng(1)
    c = rng.normal(size=(6, 1, 5))
    c[2, 0, 0] = np.nan  # one run has no value yet at the first point
    point, band = intervals.curve_intervals({"m": c}, reps=REPS)
    assert point["m"].shape == (5,) and band["m"].shape == (2, 5)
    assert np.isnan(point["m"][0]) and np.isnan(band["m"][:, 0]).all()
    assert np.all(band["m"][0, 1:] <= point["m"][1:]) and np.all(point["m"][1:] <= band["m"][1, 1:])
    # the IQM at each point equals rliable's aggregate_iqm of that point's runs
    from rliable import metrics

    for j in range(1, 5):
        assert point["m"][j] == pytest.approx(metrics.aggregate_iqm(c[:, :, j]))


def test_performance_profile_is_a_decreasing_fraction():
    x = {"a": np.linspace(0, 1, 20).reshape(10, 2)}
    taus = np.array([-0.1, 0.25, 0.5, 1.1])
    prof, band = intervals.performance_profiles(x, taus, reps=REPS)
    assert prof["a"][0] == 1.0 and prof["a"][-1] == 0.0
    assert np.all(np.diff(prof["a"]) <= 0)
    assert band["a"].shape == (2, 4)


def test_missing_rliable_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_rliable(name, *args, **kwargs):
        if name.startswith("rliable"):
            raise ImportError("No module named 'rliable'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rliable)
    with pytest.raises(MissingExtra, match=r'pip install -e "\.\[analysis\]"'):
        intervals.iqm_intervals({"a": np.zeros((3, 1))})
