"""Interval estimates over runs, by rliable (Agarwal et al. 2021): the interquartile mean with
stratified-bootstrap 95% intervals, the probability of improvement, performance profiles.

Thin adapters from noisyjax's arrays to rliable's calls, nothing re-implemented: rliable is the
optional ``analysis`` extra (``pip install -e ".[analysis]"``). Score matrices are
``[runs, tasks]`` as rliable takes them; learning curves are ``[runs, tasks, points]``.

rliable's bootstrap (arch's) costs about a millisecond per resample and call here, so the defaults
are 2,000 resamples for point estimates and 1,000 for curves and profiles (rliable's own default
of 50,000 would take minutes per interval).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import numpy as np

from noisyjax.run.env_ids import MissingExtra

INSTALL = 'pip install -e ".[analysis]"'


def require_rliable() -> None:
    """Raise ``MissingExtra`` (with the pip command) when rliable cannot be imported."""
    try:
        import rliable  # noqa: F401
        from rliable import library, metrics  # noqa: F401
    except ImportError as err:
        why = f"rliable cannot be imported ({err})"
        raise MissingExtra(f"{why}; install the analysis extra: {INSTALL}") from None


@contextlib.contextmanager
def _seeded(seed: int):
    # rliable's stratified bootstrap draws its resamples from numpy's global generator (its
    # random_state argument reaches only arch, which does not draw them): seeding that generator
    # makes an interval reproducible; the caller's state is put back afterwards.
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def iqm_intervals(
    scores: Mapping[str, np.ndarray], reps: int = 2_000, seed: int = 0
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """IQM over all runs and tasks of each ``scores[name]`` (``[runs, tasks]``), and its
    stratified-bootstrap 95% interval (runs resampled within each task): ``(point, (low, high))``
    per name. The same ``seed`` gives the same intervals (rliable draws from numpy's global
    generator: it is seeded with ``seed`` for the call, then restored)."""
    require_rliable()
    from rliable import library as rly
    from rliable import metrics

    def iqm(x):
        return np.array([metrics.aggregate_iqm(x)])

    with _seeded(seed):
        point, ci = rly.get_interval_estimates({k: np.asarray(v, np.float64) for k, v in scores.items()},
                                               iqm, reps=reps)
    return ({k: float(v[0]) for k, v in point.items()},
            {k: (float(v[0, 0]), float(v[1, 0])) for k, v in ci.items()})


def curve_intervals(
    curves: Mapping[str, np.ndarray], reps: int = 1_000, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """IQM at each point of learning curves ``[runs, tasks, points]`` (over runs and tasks) and
    its stratified-bootstrap 95% band: ``(point [points], band [2, points])`` per name. Points
    where a run has no value yet (NaN) give NaN."""
    require_rliable()
    from rliable import library as rly
    from scipy import stats

    def iqm_per_point(x):
        # rliable's aggregate_iqm (scipy's trim_mean of 25% over every run and task) at all points
        # in one call: a per-point loop of aggregate_iqm took 0.6 ms per point and resample.
        return stats.trim_mean(x.reshape(-1, x.shape[-1]), proportiontocut=0.25, axis=0)

    point, band = {}, {}
    for name, c in curves.items():
        c = np.asarray(c, np.float64)
        seen = np.all(np.isfinite(c), axis=(0, 1))
        p = np.full(c.shape[-1], np.nan)
        b = np.full((2, c.shape[-1]), np.nan)
        if seen.any():
            with _seeded(seed):
                pt, ci = rly.get_interval_estimates({name: c[..., seen]}, iqm_per_point, reps=reps)
            p[seen], b[:, seen] = pt[name], ci[name]
        point[name], band[name] = p, b
    return point, band


def improvement_probability(
    x: np.ndarray, y: np.ndarray, reps: int = 2_000, seed: int = 0
) -> tuple[float, tuple[float, float]]:
    """rliable's ``probability_of_improvement`` P(X > Y) of runs ``x`` over runs ``y`` (each
    ``[runs, tasks]``; ties count one half), averaged over tasks, with its stratified-bootstrap
    95% interval: ``(point, (low, high))``."""
    require_rliable()
    from rliable import library as rly
    from rliable import metrics

    with _seeded(seed):
        point, ci = rly.get_interval_estimates(
            {"x,y": (np.asarray(x, np.float64), np.asarray(y, np.float64))},
            metrics.probability_of_improvement, reps=reps,
        )
    low, high = np.asarray(ci["x,y"], np.float64).reshape(-1)
    return float(np.asarray(point["x,y"]).reshape(-1)[0]), (float(low), float(high))


def performance_profiles(
    scores: Mapping[str, np.ndarray], taus: np.ndarray, reps: int = 1_000, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """rliable's score distributions: the fraction of runs (over all tasks) with a score above
    each of ``taus`` ``[points]``, and its stratified-bootstrap 95% band ``[2, points]``, per name.

    The same ``seed`` gives the same band."""
    require_rliable()
    from rliable import library as rly

    with _seeded(seed):
        return rly.create_performance_profile(
            {k: np.asarray(v, np.float64) for k, v in scores.items()}, np.asarray(taus, np.float64),
            reps=reps,
        )
