"""PNG plots comparing configurations across seeds, read from the agents' CSV logs: ``plot_sweep``
(mean return, and with the ``analysis`` extra the IQM with rliable's 95% band; fraction of seeds
solved; noise scale per noisy layer).

Uses matplotlib's non-interactive "Agg" backend, like ``noisyjax.analysis.plots`` (one run's plots).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from noisyjax.analysis.figures import (  # noqa: E402
    NO_EPISODES,
    SIGMA_PREFIX,
    agent_folder,
    legend,
    message,
    palette,
    read_columns,
    read_episodes,
    save,
    style_steps_axis,
)
from noisyjax.analysis.stats import WINDOW, curve_on_grid, fraction_solved, steps_to_solve  # noqa: E402
from noisyjax.run.env_ids import MissingExtra  # noqa: E402

BAND_REPS = 1_000
"""rliable resamples of the IQM band of ``sweep_returns.png`` (about 1.5 s per configuration)."""
IQM_MIN_SEEDS = 4
"""Fewest seeds with an IQM band; below it each seed is drawn."""


def _have_rliable() -> bool:
    from noisyjax.analysis.intervals import require_rliable

    try:
        require_rliable()
    except MissingExtra:
        return False
    return True


def _iqm_band(c: np.ndarray):
    """rliable's IQM over seeds and its 95% band at each point of ``c [seeds, points]``, or None
    without the analysis extra."""
    from noisyjax.analysis.intervals import curve_intervals

    if not _have_rliable():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # arch's deprecation notice about RandomState
        point, band = curve_intervals({"c": c[:, None, :]}, reps=BAND_REPS)
    return point["c"], band["c"]


def _last_logged_step(agent_dir: Path, steps: np.ndarray) -> float:
    last = float(steps[-1]) if steps.size else 0.0
    _, cols = read_columns(agent_dir / "metrics.csv")
    logged = cols.get("env_step", np.zeros(0))
    logged = logged[np.isfinite(logged)]
    return max(last, float(logged.max())) if logged.size else last


def _plot_sweep_returns(runs, colors, grid, threshold, out_png: Path) -> Path:
    title = f"Mean return of the last {WINDOW} episodes, across seeds"
    ylabel = f"mean return of last {WINDOW} episodes"
    fig, ax = plt.subplots(figsize=(9, 5))
    any_curve = False
    banded = False
    for (label, seeds), color in zip(runs.items(), colors):
        curves = [curve_on_grid(s, r, grid, WINDOW) for s, r in seeds if s.size]
        if not curves:
            ax.plot([], [], color=color, lw=2, label=f"{label} (0/{len(seeds)} seeds with episodes)")
            continue
        any_curve = True
        c = np.stack(curves)  # [seeds, points]; NaN before a seed's first episode
        mean = c.mean(axis=0)  # NaN until every seed has finished an episode
        shown = np.isfinite(mean)
        n_text = f"n={len(curves)}" if len(curves) == len(seeds) else f"{len(curves)}/{len(seeds)} seeds"
        ax.plot(grid, mean, lw=2, color=color, label=f"{label} ({n_text})")
        # the IQM of 2 or 3 seeds trims nothing and hides under the mean: each seed instead
        band = _iqm_band(c) if len(curves) >= IQM_MIN_SEEDS else None
        if band is not None:
            banded = True
            ax.plot(grid, np.where(shown, band[0], np.nan), lw=1.3, ls="--", color=color)
            ax.fill_between(grid, band[1][0], band[1][1], where=shown, color=color, alpha=0.18, lw=0)
        elif len(curves) > 1:  # no analysis extra: every seed, thin, instead of an interval
            for row in c:
                ax.plot(grid, row, lw=0.5, alpha=0.3, color=color)
    handles, labels = ax.get_legend_handles_labels()
    extra = [(Line2D([], [], color="0.3", lw=2), "mean across seeds")]
    if banded:
        extra += [(Line2D([], [], color="0.3", lw=1.3, ls="--"), "IQM across seeds (rliable)"),
                  (Patch(color="0.3", alpha=0.18), "95% stratified-bootstrap CI of the IQM (rliable)")]
    elif any(len(seeds) > 1 for seeds in runs.values()):
        why = (f"IQM and intervals from {IQM_MIN_SEEDS} seeds" if _have_rliable()
               else 'IQM and intervals: pip install -e ".[analysis]"')
        extra.append((Line2D([], [], color="0.3", lw=0.5, alpha=0.5), f"each seed ({why})"))
    if threshold is not None:
        ax.axhline(threshold, ls="-.", lw=1.2, color="black", alpha=0.7)
        extra.append((Line2D([], [], color="black", alpha=0.7, lw=1.2, ls="-."), f"solved ({threshold:g})"))
    handles += [h for h, _ in extra]
    labels += [lab for _, lab in extra]
    n_entries = len(handles)
    if n_entries > 9:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    else:
        ax.legend(handles, labels, loc="best", fontsize=8)
    if not any_curve:
        message(ax, NO_EPISODES)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    style_steps_axis(ax)
    return save(fig, out_png)


def _plot_sweep_solved(runs, colors, grid, threshold: float, out_png: Path, window: int = WINDOW) -> Path:
    fig, ax = plt.subplots(figsize=(9, 5))
    for (label, seeds), color in zip(runs.items(), colors):
        solved = [steps_to_solve(s, r, threshold, window) for s, r in seeds]
        jumps = [s for s in solved if s is not None]
        x = np.union1d(grid, np.asarray(jumps, dtype=np.float64))  # exact jump positions
        ax.step(x, fraction_solved(solved, x), where="post", lw=2, color=color,
                label=f"{label} ({len(jumps)}/{len(seeds)} solved)")
    ax.set_ylim(-0.03, 1.03)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("seeds solved")
    ax.set_title(f"Seeds whose last-{window} mean return reached {threshold:g}")
    style_steps_axis(ax)
    legend(ax, len(runs))
    return save(fig, out_png)


def _plot_sweep_sigma(sigmas, colors, grid, out_png: Path) -> Path | None:
    """``sigmas``: label -> list (per seed) of (env_steps, {layer: values}). None if no sigma columns."""
    layers: list[str] = []
    for seeds in sigmas.values():
        for _, cols in seeds:
            layers += [layer for layer in cols if layer not in layers]
    if not layers:
        return None
    ncols = min(3, len(layers))
    nrows = math.ceil(len(layers) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.4 * nrows + 0.6), squeeze=False)
    for ax, layer in zip(axes.flat, layers):
        for (label, seeds), color in zip(sigmas.items(), colors):
            curves = []
            for steps, cols in seeds:
                if layer not in cols:
                    continue
                ok = np.isfinite(steps) & np.isfinite(cols[layer])
                if ok.any():
                    curves.append(np.interp(grid, steps[ok], cols[layer][ok], left=np.nan, right=np.nan))
            if not curves:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN points
                mean = np.nanmean(np.stack(curves), axis=0)
            ax.plot(grid, mean, lw=1.8, color=color, label=f"{label} (n={len(curves)})")
        ax.set_title(f"layer {layer}", fontsize=10)
        ax.set_xlim(grid[0], grid[-1])
        style_steps_axis(ax)
    for ax in list(axes.flat)[: len(layers)]:
        ax.set_ylabel("mean |σ| of layer")
    for ax in list(axes.flat)[len(layers) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in list(axes.flat)[1 : len(layers)]:  # configurations missing from the first layer's panel
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.suptitle("Noise scale of the noisy layers (mean across seeds)")
    fig.tight_layout()
    if labels:  # a run shorter than --log-every has no sigma points, so nothing to label
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=min(3, len(labels)), fontsize=9, frameon=False)
    return save(fig, out_png)


def plot_sweep(
    groups: dict[str, list[Path]],
    out_dir: Path,
    threshold: float | None,
    grid_points: int = 200,
    window: int = WINDOW,
) -> list[Path]:
    """Compare configurations across seeds; writes up to three PNGs into ``out_dir``.

    ``groups`` maps a configuration label to its seeds' agent folders (each with ``episodes.csv`` and,
    optionally, ``metrics.csv``). All curves share a grid of ``grid_points`` env steps from 0 to the
    last step any agent logged; a seed's trailing-100 return is held after its last episode.

    - ``sweep_returns.png``: per configuration, the mean across seeds of the trailing-100 return (solid;
      drawn once every seed with episodes has finished one); with 2+ seeds and the ``analysis``
      extra, rliable's IQM across seeds (dashed, same colour) and its 95% stratified-bootstrap band
      (each seed as a thin line without the extra); the threshold line if given.
      Seeds without finished episodes are left out of the curves (the legend says how many).
    - ``sweep_solved.png`` (only when ``threshold`` is not None): fraction of seeds solved (all seeds;
      one without episodes counts as unsolved) against env steps; solved: the mean of the last
      ``window`` returns reached ``threshold``.
    - ``sweep_sigma.png`` (only when some ``metrics.csv`` has sigma columns): one panel per noisy layer,
      the mean across seeds of its mean |sigma|, one line per configuration.

    Returns the paths written, in that order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    sigmas: dict[str, list[tuple[np.ndarray, dict[str, np.ndarray]]]] = {}
    last_step = 0.0
    for label, paths in groups.items():
        runs[label], sigmas[label] = [], []
        for path in paths:
            agent_dir = agent_folder(path)
            steps, rets = read_episodes(agent_dir / "episodes.csv")
            runs[label].append((steps, rets))
            last_step = max(last_step, _last_logged_step(agent_dir, steps))
            header, cols = read_columns(agent_dir / "metrics.csv")
            layer_cols = {c[len(SIGMA_PREFIX) :]: cols[c] for c in header if c.startswith(SIGMA_PREFIX)}
            if layer_cols:
                sigmas[label].append((cols.get("env_step", np.zeros(0)), layer_cols))
    grid = np.linspace(0.0, max(last_step, 1.0), max(int(grid_points), 2))
    colors = palette(len(groups))

    written = [_plot_sweep_returns(runs, colors, grid, threshold, out_dir / "sweep_returns.png")]
    if threshold is not None:
        solved_png = out_dir / "sweep_solved.png"
        written.append(_plot_sweep_solved(runs, colors, grid, threshold, solved_png, window))
    sigma_png = _plot_sweep_sigma(sigmas, colors, grid, out_dir / "sweep_sigma.png")
    if sigma_png is not None:
        written.append(sigma_png)
    return written
