"""PNG plots of runs read from their CSV logs (``episodes.csv``, ``metrics.csv``; see ``noisyjax.io.csvlog``).

Uses matplotlib's non-interactive "Agg" backend (never opens a window), so it works on headless
machines and while a run is still writing its files: empty files, empty or "nan" cells and a
half-written last line are tolerated.
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

from noisyjax.analysis.stats import (  # noqa: E402
    WINDOW,
    bootstrap_ci,
    curve_on_grid,
    fraction_solved,
    iqm,
    moving_average,
    steps_to_solve,
)

DPI = 110
SIGMA_PREFIX = "sigma_"
NO_EPISODES = "no finished episodes yet"
NO_NOISY = "no noisy layers (epsilon-greedy baseline)"


# ---------------------------------------------------------------------------------------- reading CSVs


def _read_columns(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """Header and float columns of a CSV file; empty/unparsable cells are NaN, malformed rows skipped.

    A missing or empty file gives ``([], {})``.
    """
    path = Path(path)
    if not path.exists():
        return [], {}
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return [], {}
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    columns = {name: np.full(len(body), np.nan) for name in header}
    for i, row in enumerate(body):
        for name, cell in zip(header, row):
            try:
                columns[name][i] = float(cell) if cell.strip() else np.nan
            except ValueError:
                pass
    return header, columns


def _read_episodes(episodes_csv: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(end_steps, returns)`` of the finished episodes in ``episodes_csv`` (rows with NaNs dropped)."""
    _, cols = _read_columns(episodes_csv)
    if "env_step" not in cols or "return" not in cols:
        return np.zeros(0), np.zeros(0)
    steps, rets = cols["env_step"], cols["return"]
    ok = np.isfinite(steps) & np.isfinite(rets)
    return steps[ok], rets[ok]


def _agent_dir(path: Path) -> Path:
    path = Path(path)
    return path.parent if path.suffix == ".csv" else path


# ------------------------------------------------------------------------------------------- helpers


def _fmt_steps(x: float, _pos=None) -> str:
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    if abs(x) >= 1e3:
        return f"{x / 1e3:g}k"
    return f"{x:g}"


def _style_steps_axis(ax) -> None:
    ax.set_xlabel("env steps")
    ax.xaxis.set_major_formatter(FuncFormatter(_fmt_steps))
    ax.grid(alpha=0.3)


def _save(fig, out_png: Path) -> Path:
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.tight_layout()
        fig.savefig(out_png, dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return out_png


def _message(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=13, color="0.35")


def _message_figure(out_png: Path, title: str, text: str, ylabel: str = "") -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("env steps")
    ax.set_xticks([])
    ax.set_yticks([])
    _message(ax, text)
    return _save(fig, out_png)


def _colors(n: int) -> list:
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _legend(ax, n_entries: int, **kwargs) -> None:
    if n_entries > 6:  # many configurations: keep the curves visible
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, **kwargs)
    else:
        ax.legend(loc="best", fontsize=9, **kwargs)


def _title(title: str, default: str) -> str:
    return title if title else default


# ------------------------------------------------------------------------------------------ one agent


def plot_learning_curve(episodes_csv: Path, out_png: Path, threshold: float | None, title: str = "") -> Path:
    """Episode returns and their trailing-100 mean against env steps, from one agent's ``episodes.csv``.

    Draws the solve threshold (dashed) when ``threshold`` is not None and marks the steps-to-solve
    (dotted vertical line) if it was reached. With no finished episodes, writes a figure saying so.
    Returns ``out_png``.
    """
    episodes_csv = Path(episodes_csv)
    title = _title(title, f"{episodes_csv.parent.name}: episode returns")
    steps, rets = _read_episodes(episodes_csv)
    if steps.size == 0:
        return _message_figure(out_png, title, NO_EPISODES, ylabel="episode return")

    mean = moving_average(rets, WINDOW)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(steps, rets, ".", ms=3, alpha=0.35, color="C0", label=f"episode return ({steps.size} episodes)")
    ax.plot(steps, mean, lw=2.2, color="C0", label=f"mean of last {WINDOW} (final {mean[-1]:.1f})")
    if threshold is not None:
        ax.axhline(threshold, ls="--", lw=1.3, color="C3", label=f"solved ({threshold:g})")
        solved_at = steps_to_solve(steps, rets, threshold, WINDOW)
        if solved_at is not None:
            ax.axvline(solved_at, ls=":", lw=1.6, color="C2", label=f"solved at {solved_at:,} env steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    _style_steps_axis(ax)
    ax.legend(loc="best", fontsize=9)
    return _save(fig, out_png)


def plot_sigma(metrics_csv: Path, out_png: Path, title: str = "") -> Path:
    """Mean |sigma| of each noisy layer against env steps, from one agent's ``metrics.csv``.

    One line per ``sigma_<layer>`` column. Without sigma columns (a non-noisy run), or before the first
    metrics row, writes a figure saying so. Returns ``out_png``.
    """
    metrics_csv = Path(metrics_csv)
    title = _title(title, f"{metrics_csv.parent.name}: noise scale of the noisy layers")
    header, cols = _read_columns(metrics_csv)
    layers = [c for c in header if c.startswith(SIGMA_PREFIX)]
    ylabel = "mean |σ| of layer"
    if not layers:
        return _message_figure(out_png, title, NO_NOISY, ylabel=ylabel)
    steps = cols.get("env_step", np.zeros(0))
    if steps.size == 0:
        return _message_figure(out_png, title, "no metrics logged yet", ylabel=ylabel)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for color, col in zip(_colors(len(layers)), layers):
        ok = np.isfinite(steps) & np.isfinite(cols[col])
        ax.plot(steps[ok], cols[col][ok], lw=1.8, color=color, label=col[len(SIGMA_PREFIX) :])
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _style_steps_axis(ax)
    _legend(ax, len(layers), title="noisy layer")
    return _save(fig, out_png)


def plot_training_metrics(metrics_csv: Path, out_png: Path, title: str = "") -> Path:
    """TD loss and mean Q against env steps (two stacked panels), from one agent's ``metrics.csv``.

    Empty and NaN cells (before learning starts) are skipped; a panel with no values says so.
    Returns ``out_png``.
    """
    metrics_csv = Path(metrics_csv)
    _, cols = _read_columns(metrics_csv)
    steps = cols.get("env_step", np.zeros(0))
    fig, (ax_loss, ax_q) = plt.subplots(2, 1, sharex=True, figsize=(8, 6))
    panels = ((ax_loss, "loss", "TD loss", "C1"), (ax_q, "mean_q", "mean Q", "C0"))
    for ax, col, ylabel, color in panels:
        values = cols.get(col, np.full(steps.shape, np.nan))
        ok = np.isfinite(steps) & np.isfinite(values)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if not ok.any():
            _message(ax, f"no {ylabel} logged yet")
            continue
        ax.plot(steps[ok], values[ok], lw=1.5, color=color)
        positive = values[ok][values[ok] > 0]
        if col == "loss" and positive.size == ok.sum() and positive.max() > 100 * positive.min():
            ax.set_yscale("log")
    ax_loss.set_title(_title(title, f"{metrics_csv.parent.name}: training metrics"))
    _style_steps_axis(ax_q)
    return _save(fig, out_png)


# --------------------------------------------------------------------------------------------- sweeps


def _last_logged_step(agent_dir: Path, steps: np.ndarray) -> float:
    last = float(steps[-1]) if steps.size else 0.0
    _, cols = _read_columns(agent_dir / "metrics.csv")
    logged = cols.get("env_step", np.zeros(0))
    logged = logged[np.isfinite(logged)]
    return max(last, float(logged.max())) if logged.size else last


def _plot_sweep_returns(runs, colors, grid, threshold, out_png: Path) -> Path:
    title = f"Mean return of the last {WINDOW} episodes, across seeds"
    ylabel = f"mean return of last {WINDOW} episodes"
    fig, ax = plt.subplots(figsize=(9, 5))
    any_curve = False
    for (label, seeds), color in zip(runs.items(), colors):
        curves = [curve_on_grid(s, r, grid, WINDOW) for s, r in seeds if s.size]
        if not curves:
            ax.plot([], [], color=color, lw=2, label=f"{label} (0/{len(seeds)} seeds with episodes)")
            continue
        any_curve = True
        c = np.stack(curves)  # [seeds, points]; NaN before a seed's first episode
        mean = c.mean(axis=0)  # NaN until every seed has finished an episode
        shown = np.isfinite(mean)
        middle = np.where(shown, iqm(c, axis=0), np.nan)
        n_text = f"n={len(curves)}" if len(curves) == len(seeds) else f"{len(curves)}/{len(seeds)} seeds"
        ax.plot(grid, mean, lw=2, color=color, label=f"{label} ({n_text})")
        ax.plot(grid, middle, lw=1.3, ls="--", color=color)
        if len(curves) > 1:
            low, high = bootstrap_ci(c, np.mean, seed=0)
            ax.fill_between(grid, low, high, where=shown, color=color, alpha=0.18, lw=0)
    handles, labels = ax.get_legend_handles_labels()
    extra = [
        (Line2D([], [], color="0.3", lw=2), "mean across seeds"),
        (Line2D([], [], color="0.3", lw=1.3, ls="--"), "IQM across seeds (= mean for < 4 seeds)"),
        (Patch(color="0.3", alpha=0.18), "95% bootstrap CI of the mean"),
    ]
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
        _message(ax, NO_EPISODES)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _style_steps_axis(ax)
    return _save(fig, out_png)


def _plot_sweep_solved(runs, colors, grid, threshold: float, out_png: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 5))
    for (label, seeds), color in zip(runs.items(), colors):
        solved = [steps_to_solve(s, r, threshold, WINDOW) for s, r in seeds]
        jumps = [s for s in solved if s is not None]
        x = np.union1d(grid, np.asarray(jumps, dtype=np.float64))  # exact jump positions
        ax.step(x, fraction_solved(solved, x), where="post", lw=2, color=color,
                label=f"{label} ({len(jumps)}/{len(seeds)} solved)")
    ax.set_ylim(-0.03, 1.03)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("seeds solved")
    ax.set_title(f"Seeds whose last-{WINDOW} mean return reached {threshold:g}")
    _style_steps_axis(ax)
    _legend(ax, len(runs))
    return _save(fig, out_png)


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
        _style_steps_axis(ax)
    for ax in axes[:, 0]:
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
    return _save(fig, out_png)


def plot_sweep(
    groups: dict[str, list[Path]],
    out_dir: Path,
    threshold: float | None,
    grid_points: int = 200,
) -> list[Path]:
    """Compare configurations across seeds; writes up to three PNGs into ``out_dir``.

    ``groups`` maps a configuration label to its seeds' agent folders (each with ``episodes.csv`` and,
    optionally, ``metrics.csv``). All curves share a grid of ``grid_points`` env steps from 0 to the
    last step any agent logged; a seed's trailing-100 return is held after its last episode.

    - ``sweep_returns.png``: per configuration, the mean across seeds of the trailing-100 return (solid;
      drawn once every seed with episodes has finished one), a 95% percentile-bootstrap band across
      seeds (2+ seeds) and the IQM across seeds (dashed, same colour); the threshold line if given.
      Seeds without finished episodes are left out of the curves (the legend says how many).
    - ``sweep_solved.png`` (only when ``threshold`` is not None): fraction of seeds solved (all seeds;
      one without episodes counts as unsolved) against env steps.
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
            agent_dir = _agent_dir(path)
            steps, rets = _read_episodes(agent_dir / "episodes.csv")
            runs[label].append((steps, rets))
            last_step = max(last_step, _last_logged_step(agent_dir, steps))
            header, cols = _read_columns(agent_dir / "metrics.csv")
            layer_cols = {c[len(SIGMA_PREFIX) :]: cols[c] for c in header if c.startswith(SIGMA_PREFIX)}
            if layer_cols:
                sigmas[label].append((cols.get("env_step", np.zeros(0)), layer_cols))
    grid = np.linspace(0.0, max(last_step, 1.0), max(int(grid_points), 2))
    colors = _colors(len(groups))

    written = [_plot_sweep_returns(runs, colors, grid, threshold, out_dir / "sweep_returns.png")]
    if threshold is not None:
        written.append(_plot_sweep_solved(runs, colors, grid, threshold, out_dir / "sweep_solved.png"))
    sigma_png = _plot_sweep_sigma(sigmas, colors, grid, out_dir / "sweep_sigma.png")
    if sigma_png is not None:
        written.append(sigma_png)
    return written
