"""What the plots of ``noisyjax.analysis.plots`` (one run) and ``noisyjax.analysis.sweep_plots``
(several seeds and configurations) share: reading the CSV logs (``episodes.csv``, ``metrics.csv``;
see ``noisyjax.io.csvlog``), axis styling, colours, legends and saving PNGs.

Uses matplotlib's non-interactive "Agg" backend (never opens a window), so it works on headless
machines and while a run is still writing its files: empty files, empty or "nan" cells and a
half-written last line are tolerated.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from noisyjax.io import atomic  # noqa: E402

DPI = 110
SIGMA_PREFIX = "sigma_"
NO_EPISODES = "no finished episodes yet"
NO_NOISY = "no noisy layers (epsilon-greedy baseline)"


# ---------------------------------------------------------------------------------------- reading CSVs


def read_columns(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
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


def read_episodes(episodes_csv: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(end_steps, returns)`` of the finished episodes in ``episodes_csv`` (rows with NaNs dropped)."""
    _, cols = read_columns(episodes_csv)
    if "env_step" not in cols or "return" not in cols:
        return np.zeros(0), np.zeros(0)
    steps, rets = cols["env_step"], cols["return"]
    ok = np.isfinite(steps) & np.isfinite(rets)
    return steps[ok], rets[ok]


def agent_folder(path: Path) -> Path:
    """The agent folder of ``path``: the folder itself, or the folder a CSV file is in."""
    path = Path(path)
    return path.parent if path.suffix == ".csv" else path



# ------------------------------------------------------------------------------------------- drawing


def fmt_steps(x: float, _pos=None) -> str:
    """Env steps in short form (``1.5k``, ``2M``); a matplotlib tick formatter."""
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    if abs(x) >= 1e3:
        return f"{x / 1e3:g}k"
    return f"{x:g}"


def style_steps_axis(ax) -> None:
    """Label the x axis "env steps" with short tick labels, and draw a light grid."""
    ax.set_xlabel("env steps")
    ax.xaxis.set_major_formatter(FuncFormatter(fmt_steps))
    ax.grid(alpha=0.3)


_ALSO: list[str] = []  # vector formats written beside every PNG (``also_save_as``)


@contextlib.contextmanager
def also_save_as(formats: tuple[str, ...]) -> Iterator[None]:
    """Within the block, every figure saved as ``name.png`` is also saved as ``name.<fmt>`` for
    each of ``formats`` (e.g. ``("pdf", "svg")``: vector copies for a paper)."""
    before = list(_ALSO)
    _ALSO[:] = [f for f in formats if f != "png"]
    try:
        yield
    finally:
        _ALSO[:] = before


def save(fig, out_png: Path, tight: bool = True) -> Path:
    """Write ``fig`` to ``out_png`` atomically (creating its folder; and the ``also_save_as``
    copies) and close it; returns ``out_png``. ``tight=False`` keeps the caller's layout (e.g.
    room left for a figure legend)."""
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    try:
        if tight:
            fig.tight_layout()
        atomic.write_with(out_png, lambda tmp: fig.savefig(tmp, dpi=DPI, bbox_inches="tight"))
        for fmt in _ALSO:
            atomic.write_with(out_png.with_suffix(f".{fmt}"),
                              lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, bbox_inches="tight"))
    finally:
        plt.close(fig)
    return out_png


def message(ax, text: str) -> None:
    """Grey ``text`` in the middle of ``ax`` (a panel with nothing to draw)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=13, color="0.35")


def message_figure(out_png: Path, title: str, text: str, ylabel: str = "") -> Path:
    """A figure with empty axes that says ``text``, saved to ``out_png``; returns ``out_png``."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("env steps")
    ax.set_xticks([])
    ax.set_yticks([])
    message(ax, text)
    return save(fig, out_png)


def palette(n: int) -> list:
    """``n`` distinct colours (tab10, or tab20 above 10; repeating past 20)."""
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def legend(ax, n_entries: int, **kwargs) -> None:
    """The legend of ``ax``: beside the axes when there are more than 6 entries, else inside."""
    if n_entries > 6:  # many configurations: keep the curves visible
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, **kwargs)
    else:
        ax.legend(loc="best", fontsize=9, **kwargs)


def title_or(title: str, default: str) -> str:
    """``title`` unless it is empty, else ``default``."""
    return title if title else default
