"""PNG plots of one run read from its CSV logs (``episodes.csv``, ``metrics.csv``; see
``noisyjax.io.csvlog``): learning curve, noise scale of the noisy layers, training metrics.

The plots comparing seeds and configurations are in ``noisyjax.analysis.sweep_plots``;
``plot_sweep`` is importable from here too. Uses matplotlib's non-interactive "Agg" backend (never
opens a window), so it works on headless machines and while a run is still writing its files:
empty files, empty or "nan" cells and a half-written last line are tolerated.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from noisyjax.analysis.figures import (  # noqa: E402
    NO_EPISODES,
    NO_NOISY,
    SIGMA_PREFIX,
    legend,
    message,
    message_figure,
    palette,
    read_columns,
    read_episodes,
    save,
    style_steps_axis,
    title_or,
)
from noisyjax.analysis.stats import WINDOW, moving_average, steps_to_solve  # noqa: E402
from noisyjax.analysis.sweep_plots import plot_sweep  # noqa: E402

__all__ = ["plot_learning_curve", "plot_sigma", "plot_sweep", "plot_training_metrics"]


def plot_learning_curve(episodes_csv: Path, out_png: Path, threshold: float | None, title: str = "",
                        window: int = WINDOW) -> Path:
    """Episode returns and their trailing-100 mean against env steps, from one agent's ``episodes.csv``.

    Draws the solve threshold (dashed) when ``threshold`` is not None and marks the steps-to-solve
    (dotted vertical line) if it was reached: the first step whose last ``window`` returns average
    at least ``threshold``. With no finished episodes, writes a figure saying so.
    Returns ``out_png``.
    """
    episodes_csv = Path(episodes_csv)
    title = title_or(title, f"{episodes_csv.parent.name}: episode returns")
    steps, rets = read_episodes(episodes_csv)
    if steps.size == 0:
        return message_figure(out_png, title, NO_EPISODES, ylabel="episode return")

    mean = moving_average(rets, WINDOW)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(steps, rets, ".", ms=3, alpha=0.35, color="C0", label=f"episode return ({steps.size} episodes)")
    ax.plot(steps, mean, lw=2.2, color="C0", label=f"mean of last {WINDOW} (final {mean[-1]:.1f})")
    if threshold is not None:
        ax.axhline(threshold, ls="--", lw=1.3, color="C3", label=f"solved ({threshold:g})")
        solved_at = steps_to_solve(steps, rets, threshold, window)
        if solved_at is not None:
            ax.axvline(solved_at, ls=":", lw=1.6, color="C2", label=f"solved at {solved_at:,} env steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    style_steps_axis(ax)
    ax.legend(loc="best", fontsize=9)
    return save(fig, out_png)


def plot_sigma(metrics_csv: Path, out_png: Path, title: str = "") -> Path:
    """Mean |sigma| of each noisy layer against env steps, from one agent's ``metrics.csv``.

    One line per ``sigma_<layer>`` column. Without sigma columns (a non-noisy run), or before the first
    metrics row, writes a figure saying so. Returns ``out_png``.
    """
    metrics_csv = Path(metrics_csv)
    title = title_or(title, f"{metrics_csv.parent.name}: noise scale of the noisy layers")
    header, cols = read_columns(metrics_csv)
    layers = [c for c in header if c.startswith(SIGMA_PREFIX)]
    ylabel = "mean |σ| of layer"
    if not layers:
        return message_figure(out_png, title, NO_NOISY, ylabel=ylabel)
    steps = cols.get("env_step", np.zeros(0))
    if steps.size == 0:
        return message_figure(out_png, title, "no metrics logged yet", ylabel=ylabel)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for color, col in zip(palette(len(layers)), layers):
        ok = np.isfinite(steps) & np.isfinite(cols[col])
        ax.plot(steps[ok], cols[col][ok], lw=1.8, color=color, label=col[len(SIGMA_PREFIX) :])
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    style_steps_axis(ax)
    legend(ax, len(layers), title="noisy layer")
    return save(fig, out_png)


def plot_training_metrics(metrics_csv: Path, out_png: Path, title: str = "") -> Path:
    """TD loss and mean Q against env steps (two stacked panels), from one agent's ``metrics.csv``.

    Empty and NaN cells (before learning starts) are skipped; a panel with no values says so.
    Returns ``out_png``.
    """
    metrics_csv = Path(metrics_csv)
    _, cols = read_columns(metrics_csv)
    steps = cols.get("env_step", np.zeros(0))
    fig, (ax_loss, ax_q) = plt.subplots(2, 1, sharex=True, figsize=(8, 6))
    panels = ((ax_loss, "loss", "TD loss", "C1"), (ax_q, "mean_q", "mean Q", "C0"))
    for ax, col, ylabel, color in panels:
        values = cols.get(col, np.full(steps.shape, np.nan))
        ok = np.isfinite(steps) & np.isfinite(values)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if not ok.any():
            message(ax, f"no {ylabel} logged yet")
            continue
        ax.plot(steps[ok], values[ok], lw=1.5, color=color)
        positive = values[ok][values[ok] > 0]
        if col == "loss" and positive.size == ok.sum() and positive.max() > 100 * positive.min():
            ax.set_yscale("log")
    ax_loss.set_title(title_or(title, f"{metrics_csv.parent.name}: training metrics"))
    style_steps_axis(ax_q)
    return save(fig, out_png)
