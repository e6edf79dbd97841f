"""The episode tracker and the one solve test, against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from noisyjax.analysis.stats import steps_to_solve
from noisyjax.run.episodes import WINDOW, EpisodeTracker, is_solved, last_mean


def test_is_solved_needs_a_full_window_at_the_threshold():
    """Exactly ``window`` returns are needed; the mean of the LAST window counts; >= is solved;
    no threshold never solves."""
    assert not is_solved([300.0] * 99, 200.0)  # 99 < WINDOW episodes
    assert is_solved([300.0] * 100, 200.0)
    assert is_solved([200.0] * 100, 200.0)  # equal counts
    assert not is_solved([199.0] * 100, 200.0)
    assert is_solved([-1e9] + [200.0] * 100, 200.0)  # the first episode left the window
    assert not is_solved([300.0] * 100, None)
    assert is_solved([1.0, 2.0, 3.0], 2.0, window=3) and not is_solved([1.0, 2.0, 2.9], 2.0, window=3)
    assert WINDOW == 100


def test_tracker_records_episodes_and_the_solve_step():
    """Two agents, window 2, threshold 1: agent 0 solves at its second episode's end (returns
    1 and 1, mean 1); agent 1 has a single episode, too few for the window."""
    tr = EpisodeTracker(2, threshold=1.0, window=2)
    tr.add(np.array([1.0, 0.0], np.float32))
    assert tr.end(0, 1, 0.5) == (0, 1.0, 1)
    tr.add(np.array([1.0, 0.0], np.float32))
    tr.add(np.array([0.0, 0.5], np.float32))
    assert tr.end(0, 3, 1.5) == (1, 1.0, 2)  # mean(1, 1) = 1 >= 1: solved at step 3
    assert tr.end(1, 3, 1.5) == (0, 0.5, 3)
    assert tr.solved_at == [3, None] and tr.solved_time == [1.5, None]
    assert not tr.all_solved()
    assert tr.last_mean(0) == 1.0 and tr.last_mean(1) == 0.5
    assert tr.ep_return.tolist() == [0.0, 0.0] and tr.ep_len.tolist() == [0, 0]
    assert "episodes=3" in tr.postfix() and "solved=1/2" in tr.postfix()


def test_tracker_state_round_trips_through_json():
    """get_state is JSON-able, and set_state gives back a tracker that continues identically,
    also from a checkpoint written before seconds-to-solve existed (no solved_time)."""
    tr = EpisodeTracker(1, threshold=4.5, window=2)
    tr.add(np.array([3.0], np.float32))
    tr.end(0, 4, 0.1)
    tr.add(np.array([2.5], np.float32))  # an episode in progress
    state = json.loads(json.dumps(tr.get_state()))
    again = EpisodeTracker(1, threshold=4.5, window=2)
    again.set_state(state)
    for t in (tr, again):
        t.add(np.array([4.0], np.float32))
        t.end(0, 9, 2.0)
    assert again.get_state() == tr.get_state()
    assert again.solved_at == [9] and again.returns == [[3.0, 6.5]]  # mean 4.75 >= 4.5
    del state["solved_time"]
    old = EpisodeTracker(1, threshold=4.5, window=2)
    old.set_state(state)
    assert old.solved_time == [None]


@pytest.mark.parametrize("seed", range(5))
def test_stats_steps_to_solve_agrees_with_the_tracker(seed):
    """analysis.stats.steps_to_solve on the tracker's episodes gives the tracker's solve step."""
    rng = np.random.default_rng(seed)
    returns = np.cumsum(rng.normal(0.5, 3.0, 400))
    tr = EpisodeTracker(1, threshold=float(np.median(returns)), window=20)
    for k, r in enumerate(returns):
        tr.add(np.array([r], np.float64))
        tr.end(0, 10 * (k + 1), 0.0)
    assert steps_to_solve(tr.end_steps[0], tr.returns[0], tr.threshold, 20) == tr.solved_at[0]
    assert last_mean(tr.returns[0], 20) == pytest.approx(np.mean(returns[-20:]))


def test_a_frozen_agent_records_no_episodes_and_does_not_block_all_solved():
    tracker = EpisodeTracker(2, threshold=1.0, window=1)
    tracker.add(np.array([2.0, 2.0]))
    tracker.freeze(1)
    assert tracker.end(1, 1, 0.1) is None and tracker.returns[1] == []
    assert tracker.ep_return[1] == 0.0  # the episode in progress starts over
    assert not tracker.all_solved()
    assert tracker.end(0, 1, 0.1) == (0, 2.0, 1)
    assert tracker.all_solved()  # agent 0 solved; agent 1 is frozen
