"""Statistics of learning curves that rliable does not provide (pure numpy): moving averages,
steps-to-solve, curves on a common env-step grid, the fraction of runs solved. Interval estimates
(IQM, bootstrap, probability of improvement) are rliable's: ``noisyjax.analysis.intervals``.

Conventions follow the training loop: an agent "solves" the task at the env step of the first
episode after which the mean of its last ``window`` episode returns (exactly ``window`` of them)
is >= the threshold, tested by the loop's own ``noisyjax.run.episodes.is_solved``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from noisyjax.run.episodes import WINDOW, is_solved


def _check_window(window: int) -> None:
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")


def _episodes(end_steps, returns) -> tuple[np.ndarray, np.ndarray]:
    steps = np.asarray(end_steps, dtype=np.float64).reshape(-1)
    rets = np.asarray(returns, dtype=np.float64).reshape(-1)
    if steps.shape != rets.shape:
        raise ValueError(f"end_steps and returns differ in length: {steps.size} != {rets.size}")
    if steps.size > 1 and np.any(np.diff(steps) < 0):
        raise ValueError("end_steps must be non-decreasing")
    return steps, rets


def moving_average(x, window: int = WINDOW) -> np.ndarray:
    """Trailing mean over up to ``window`` past items, including the current one.

    ``x``: ``[n]``. Returns float ``[n]`` with item i = ``mean(x[max(0, i - window + 1) : i + 1])``, so
    the first ``window - 1`` items average fewer than ``window`` values. Each window is summed on its
    own (no running-sum drift over long runs). A NaN in ``x`` makes the ``window`` items it enters NaN.
    """
    _check_window(window)
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    n = x.size
    if n == 0:
        return np.zeros(0)
    w = min(int(window), n)
    padded = np.concatenate([np.zeros(w - 1), x])
    sums = np.lib.stride_tricks.sliding_window_view(padded, w).sum(axis=1)
    counts = np.minimum(np.arange(1, n + 1), w)
    return sums / counts


def steps_to_solve(end_steps, returns, threshold: float, window: int = WINDOW) -> int | None:
    """First env step at which the mean of the last ``window`` episode returns is >= ``threshold``.

    ``end_steps``, ``returns``: ``[episodes]`` (env step at which each episode ended, non-decreasing;
    its return). At least ``window`` episodes are required. Returns the ``end_steps`` entry of the
    episode that completed the first such window, or None if that never happens (including when
    there are fewer than ``window`` episodes).
    """
    _check_window(window)
    steps, rets = _episodes(end_steps, returns)
    for i in range(window - 1, steps.size):
        if is_solved(rets[: i + 1], threshold, window):
            return int(steps[i])
    return None


def curve_on_grid(end_steps, returns, grid, window: int = WINDOW) -> np.ndarray:
    """Trailing-``window`` mean return as a step function of env steps, evaluated on ``grid``.

    ``end_steps``, ``returns``: ``[episodes]`` (non-decreasing end steps); ``grid``: ``[points]`` env
    steps. Item j is ``moving_average(returns, window)`` at the last episode that ended at or before
    ``grid[j]`` (a partial mean while fewer than ``window`` episodes have ended); NaN before the first
    episode, and everywhere when there are no episodes. After the last episode the value is held.
    """
    _check_window(window)
    steps, rets = _episodes(end_steps, returns)
    grid = np.asarray(grid, dtype=np.float64)
    out = np.full(grid.shape, np.nan)
    if steps.size == 0:
        return out
    curve = moving_average(rets, window)
    idx = np.searchsorted(steps, grid, side="right") - 1
    seen = idx >= 0
    out[seen] = curve[idx[seen]]
    return out


def median_to_solve(values: Sequence[float | None]) -> float:
    """Median over seeds of the steps (or seconds) to solve, ``None`` (never solved) counted as
    infinite: the median is ``inf`` when fewer than half solved."""
    return float(np.median([np.inf if v is None else float(v) for v in values]))


def fraction_solved(solve_steps: Sequence[int | None], grid) -> np.ndarray:
    """Fraction of runs whose steps-to-solve is <= each grid step.

    ``solve_steps``: ``[runs]``, each run's steps-to-solve or None if it never solved (counted as not
    solved at every step); ``grid``: ``[points]`` env steps. Returns float ``[points]`` in [0, 1];
    all NaN when there are no runs.
    """
    grid = np.asarray(grid, dtype=np.float64)
    if len(solve_steps) == 0:
        return np.full(grid.shape, np.nan)
    solved = np.array([np.inf if s is None else float(s) for s in solve_steps])
    return np.mean(solved[:, None] <= grid.reshape(-1)[None, :], axis=0).reshape(grid.shape)
