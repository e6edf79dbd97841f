"""Tests of noisyjax.analysis.stats against hand-computed values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noisyjax.analysis.stats import (
    curve_on_grid,
    fraction_solved,
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
