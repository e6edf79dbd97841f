"""Tests of noisyjax.analysis.stats against hand-computed values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noisyjax.analysis.stats import (
    bootstrap_ci,
    curve_on_grid,
    fraction_solved,
    iqm,
    median_to_solve,
    moving_average,
    steps_to_solve,
)

nan = np.nan


# ---------------------------------------------------------------------------------------- moving_average


def test_moving_average_small_array():
    # window 3: [1], [1,2], [1,2,3], [2,3,4], [3,4,5] -> 1, 1.5, 2, 3, 4
    np.testing.assert_allclose(moving_average([1, 2, 3, 4, 5], window=3), [1.0, 1.5, 2.0, 3.0, 4.0])


def test_moving_average_window_longer_than_data_and_window_one():
    np.testing.assert_allclose(moving_average([4, 0, 2], window=100), [4.0, 2.0, 2.0])
    np.testing.assert_allclose(moving_average([4, 0, 2], window=1), [4.0, 0.0, 2.0])
    assert moving_average([], window=3).shape == (0,)


def test_moving_average_rejects_bad_window():
    with pytest.raises(ValueError):
        moving_average([1.0], window=0)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), max_size=40),
    st.integers(1, 12),
)
def test_moving_average_matches_definition(xs, window):
    expected = [np.mean(xs[max(0, i - window + 1) : i + 1]) for i in range(len(xs))]
    np.testing.assert_allclose(moving_average(xs, window), expected, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------------------- steps_to_solve

END_STEPS = [10, 25, 40, 60, 90, 100]
RETURNS = [1, 2, 3, 9, 9, 0]
# trailing-3 means at episodes 3..6: 2, 14/3 = 4.67, 7, 6


def test_steps_to_solve_solved():
    assert steps_to_solve(END_STEPS, RETURNS, threshold=5, window=3) == 90
    assert steps_to_solve(END_STEPS, RETURNS, threshold=4.5, window=3) == 60
    assert steps_to_solve(END_STEPS, RETURNS, threshold=2, window=3) == 40  # first full window


def test_steps_to_solve_threshold_is_inclusive():
    assert steps_to_solve([5, 6, 7], [5, 5, 5], threshold=5, window=3) == 7


def test_steps_to_solve_never_solved():
    assert steps_to_solve(END_STEPS, RETURNS, threshold=7.5, window=3) is None


def test_steps_to_solve_needs_a_full_window():
    # the partial means (100, 100) exceed the threshold, but two episodes are fewer than window=3
    assert steps_to_solve([10, 20], [100, 100], threshold=5, window=3) is None
    assert steps_to_solve([], [], threshold=5, window=3) is None


def test_steps_to_solve_returns_python_int():
    assert type(steps_to_solve(np.array([1, 2, 3]), np.array([9.0, 9.0, 9.0]), 1.0, window=3)) is int


def test_steps_to_solve_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        steps_to_solve([1, 2, 3], [1.0, 2.0], threshold=0.0, window=1)


# ---------------------------------------------------------------------------------------- curve_on_grid


def test_curve_on_grid_nan_before_first_episode_then_step_function():
    # trailing-2 means of [1, 3, 5]: 1, 2, 4 at steps 10, 20, 30; held after the last episode
    got = curve_on_grid([10, 20, 30], [1, 3, 5], grid=[0, 5, 10, 15, 20, 29, 30, 100], window=2)
    np.testing.assert_allclose(got, [nan, nan, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0])


def test_curve_on_grid_without_episodes_is_all_nan():
    got = curve_on_grid([], [], grid=[0, 50, 100])
    assert got.shape == (3,) and np.isnan(got).all()


# ---------------------------------------------------------------------------------------------------- iqm


def test_iqm_of_one_to_eight():
    # 8 items: trim floor(8/4) = 2 from each end -> mean(3, 4, 5, 6) = 4.5
    assert iqm(np.arange(1, 9)) == pytest.approx(4.5)


def test_iqm_ignores_an_outlier():
    # sorted [1, 2, 3, 4, 5, 6, 7, 1000]: the outlier is trimmed -> mean(3, 4, 5, 6) = 4.5
    assert iqm([5, 1, 1000, 3, 2, 7, 4, 6]) == pytest.approx(4.5)
    assert np.mean([5, 1, 1000, 3, 2, 7, 4, 6]) == pytest.approx(128.5)


def test_iqm_small_counts_and_odd_counts():
    assert iqm([7.0]) == 7.0
    assert iqm([1.0, 2.0, 9.0]) == pytest.approx(4.0)  # n=3: floor(3/4)=0 trimmed
    assert iqm([1, 2, 3, 4, 100]) == pytest.approx(3.0)  # n=5: trim 1 each end -> mean(2, 3, 4)


def test_iqm_ignores_nans_and_reduces_an_axis():
    x = np.array([[1, 2, 3, 4, 5, 6, 7, 8], [nan, 1, 2, 3, 4, nan, nan, nan], [nan] * 8])
    got = iqm(x, axis=1)
    np.testing.assert_allclose(got, [4.5, 2.5, nan])  # row 2: [1, 2, 3, 4] -> mean(2, 3)
    np.testing.assert_allclose(iqm(x[:2].T, axis=0), [4.5, 2.5])


def test_iqm_matches_scipy_trim_mean():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    for n in range(1, 25):
        x = rng.standard_cauchy(n)
        assert iqm(x) == pytest.approx(scipy_stats.trim_mean(x, 0.25))
    x = rng.normal(size=(9, 6))
    np.testing.assert_allclose(iqm(x, axis=0), scipy_stats.trim_mean(x, 0.25, axis=0))


# ---------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_brackets_true_mean():
    # a fixed sample (a 95% interval misses the true mean for ~1 sample in 20; this one is covered)
    x = np.random.default_rng(0).normal(loc=3.0, scale=1.0, size=200)
    low, high = bootstrap_ci(x)
    assert isinstance(low, float) and isinstance(high, float)
    assert low < 3.0 < high
    assert low < x.mean() < high
    assert high - low == pytest.approx(2 * 1.96 / np.sqrt(200), rel=0.25)  # normal-theory width


def test_bootstrap_ci_coverage_is_about_95_percent():
    # 400 independent normal data sets of 50 runs, one per column: ~95% of the intervals cover the mean
    data = np.random.default_rng(0).normal(loc=3.0, scale=2.0, size=(50, 400))
    low, high = bootstrap_ci(data, n_boot=1000)
    coverage = np.mean((low < 3.0) & (3.0 < high))
    assert 0.88 < coverage < 0.99


def test_bootstrap_ci_is_deterministic_for_a_seed():
    x = np.random.default_rng(1).normal(size=30)
    assert bootstrap_ci(x, seed=5) == bootstrap_ci(x, seed=5)
    assert bootstrap_ci(x, seed=5) != bootstrap_ci(x, seed=6)


def test_bootstrap_ci_narrows_with_more_samples():
    rng = np.random.default_rng(2)
    lo_small, hi_small = bootstrap_ci(rng.normal(size=20))
    lo_big, hi_big = bootstrap_ci(rng.normal(size=500))
    # width ~ 1/sqrt(n): about 5x narrower
    assert hi_big - lo_big < (hi_small - lo_small) / 3


def test_bootstrap_ci_degenerate_cases():
    assert bootstrap_ci([2.5]) == (2.5, 2.5)
    assert bootstrap_ci([4.0, 4.0, 4.0]) == (4.0, 4.0)
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_bootstrap_ci_vectorised_over_points_equals_per_point():
    curves = np.random.default_rng(4).normal(size=(10, 300)).cumsum(axis=1)  # [runs, points]
    low, high = bootstrap_ci(curves, n_boot=500, seed=3)
    assert low.shape == high.shape == (300,)
    mean = curves.mean(axis=0)
    assert np.all(low <= mean) and np.all(mean <= high)
    for j in (0, 123, 299):  # same seed -> same resampled runs for every point
        assert bootstrap_ci(curves[:, j], n_boot=500, seed=3) == pytest.approx((low[j], high[j]))


def test_bootstrap_ci_with_iqm_statistic():
    curves = np.random.default_rng(5).normal(size=(12, 7))
    low, high = bootstrap_ci(curves, iqm, n_boot=300)
    assert low.shape == (7,)
    assert np.all(low <= high)
    assert bootstrap_ci(curves[:, 2], iqm, n_boot=300) == pytest.approx((low[2], high[2]))


def test_bootstrap_ci_nan_point_gives_nan_bounds():
    curves = np.array([[1.0, nan], [2.0, 5.0], [3.0, 6.0]])
    low, high = bootstrap_ci(curves, n_boot=200)
    assert np.isfinite(low[0]) and np.isnan(low[1]) and np.isnan(high[1])


# ------------------------------------------------------------------------------------------ fraction_solved


def test_fraction_solved_table():
    solve = [100, None, 50, 300]
    grid = [0, 50, 99, 100, 299, 300, 1000]
    np.testing.assert_allclose(fraction_solved(solve, grid), [0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75])


def test_fraction_solved_edge_cases():
    np.testing.assert_allclose(fraction_solved([None, None], [0, 10]), [0.0, 0.0])
    assert np.isnan(fraction_solved([], [0, 10])).all()


def test_median_to_solve_counts_unsolved_as_never():
    assert median_to_solve([300, None, 100]) == 300.0  # [100, 300, inf]
    assert median_to_solve([10.5, 20.5]) == 15.5
    assert median_to_solve([100, None, None]) == np.inf  # fewer than half solved
    assert type(median_to_solve([1, 2, 3])) is float
