"""Tests of noisyjax.analysis.plots on small synthetic run folders (written into tmp_path)."""

from pathlib import Path

import numpy as np
import pytest

from noisyjax.analysis import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LAYERS = ("hidden_0", "hidden_1", "q")


def assert_png(path: Path, min_bytes: int = 5_000) -> None:
    assert path.exists(), path
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_bytes, f"{path} is only {len(data)} bytes"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()  # IHDR: width and height, big-endian, at bytes 16..24
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def write_episodes(agent_dir: Path, n: int, seed: int = 0, slope: float = 1.0) -> None:
    """``n`` episodes of ~100 env steps whose returns rise by ``slope`` per episode (plus noise)."""
    agent_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = ["seed,episode,env_step,return,length"]
    step = 0
    for ep in range(n):
        length = int(rng.integers(50, 150))
        step += length
        ret = slope * ep + rng.normal(scale=20.0)
        lines.append(f"{seed},{ep},{step},{ret:.6f},{length}")
    (agent_dir / "episodes.csv").write_text("\n".join(lines) + "\n")


def write_metrics(
    agent_dir: Path, steps: int, layers=LAYERS, every: int = 500, seed: int = 0, sigma0: float = 0.5
) -> None:
    """Metrics rows every ``every`` steps; empty loss/mean_q/last100 before step 1000, one "nan" loss."""
    agent_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    header = ["env_step", "loss", "mean_q", *[f"sigma_{m}" for m in layers], "last100", "steps_per_sec"]
    lines = [",".join(header)]
    for i, t in enumerate(range(every, steps + 1, every)):
        learning = t >= 1000
        loss = "nan" if i == 3 else (f"{1.0 / (1 + t / 2000) + rng.uniform(0, 0.05):.6g}" if learning else "")
        q = f"{10 * (1 - np.exp(-t / 5000)):.6g}" if learning else ""
        decay = np.exp(-t / 20000) * rng.uniform(0.95, 1.05)
        sig = [f"{sigma0 / np.sqrt(64) * (1 + j) * decay:.6g}" for j in range(len(layers))]
        last = f"{t / 100:.6g}" if learning else ""
        lines.append(",".join([str(t), loss, q, *sig, last, "1234.5"]))
    (agent_dir / "metrics.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    d = tmp_path / "agent_0"
    write_episodes(d, n=300, slope=1.0)
    write_metrics(d, steps=30_000)
    return d


# ------------------------------------------------------------------------------------- learning curve


def test_learning_curve_solved(agent: Path, tmp_path: Path):
    out = tmp_path / "out" / "curve.png"
    assert plots.plot_learning_curve(agent / "episodes.csv", out, threshold=150.0, title="synthetic") == out
    assert_png(out, 20_000)
    width, height = png_size(out)
    assert 600 < width < 1400 and 300 < height < 900


def test_learning_curve_unsolved_and_without_threshold(agent: Path, tmp_path: Path):
    plots.plot_learning_curve(agent / "episodes.csv", tmp_path / "a.png", threshold=1e6)
    plots.plot_learning_curve(agent / "episodes.csv", tmp_path / "b.png", threshold=None)
    assert_png(tmp_path / "a.png", 20_000)
    assert_png(tmp_path / "b.png", 20_000)


def test_learning_curve_with_no_episodes(tmp_path: Path):
    csv = tmp_path / "empty" / "episodes.csv"
    csv.parent.mkdir()
    csv.write_text("seed,episode,env_step,return,length\n")
    plots.plot_learning_curve(csv, tmp_path / "empty.png", threshold=200.0)
    assert_png(tmp_path / "empty.png")
    csv.write_text("")  # not even a header yet
    plots.plot_learning_curve(csv, tmp_path / "empty2.png", threshold=None)
    assert_png(tmp_path / "empty2.png")


def test_learning_curve_tolerates_half_written_last_line(tmp_path: Path):
    d = tmp_path / "agent"
    write_episodes(d, n=20)
    with open(d / "episodes.csv", "a") as f:
        f.write("0,20,21")  # the loop was writing this row when we read the file
    plots.plot_learning_curve(d / "episodes.csv", tmp_path / "partial.png", threshold=10.0)
    assert_png(tmp_path / "partial.png")


# ------------------------------------------------------------------------------------ sigma and metrics


def test_plot_sigma(agent: Path, tmp_path: Path):
    plots.plot_sigma(agent / "metrics.csv", tmp_path / "sigma.png")
    assert_png(tmp_path / "sigma.png", 15_000)


def test_plot_sigma_without_noisy_layers(tmp_path: Path):
    d = tmp_path / "baseline"
    write_metrics(d, steps=5_000, layers=())
    plots.plot_sigma(d / "metrics.csv", tmp_path / "nosigma.png")
    assert_png(tmp_path / "nosigma.png")


def test_plot_training_metrics(agent: Path, tmp_path: Path):
    plots.plot_training_metrics(agent / "metrics.csv", tmp_path / "metrics.png")
    assert_png(tmp_path / "metrics.png", 15_000)


def test_plot_training_metrics_before_learning(tmp_path: Path):
    d = tmp_path / "early"
    write_metrics(d, steps=500)  # one row, empty loss and mean_q
    plots.plot_training_metrics(d / "metrics.csv", tmp_path / "early.png")
    assert_png(tmp_path / "early.png")


# ---------------------------------------------------------------------------------------------- sweeps


def make_sweep(root: Path, seeds: int = 3) -> dict[str, list[Path]]:
    groups = {}
    configs = [("lr=0.001 sigma0=0.5", 1.2, 0.5), ("lr=0.0003 sigma0=0.1", 0.6, 0.1)]
    for g, (label, slope, sigma0) in enumerate(configs):
        dirs = []
        for s in range(seeds):
            d = root / f"g{g}" / f"seed_{s}"
            write_episodes(d, n=250, seed=10 * g + s, slope=slope * (1 + 0.2 * s))
            write_metrics(d, steps=25_000, seed=s, sigma0=sigma0)
            dirs.append(d)
        groups[label] = dirs
    return groups


def test_plot_sweep_two_groups_three_seeds(tmp_path: Path):
    groups = make_sweep(tmp_path / "runs")
    paths = plots.plot_sweep(groups, tmp_path / "sweep", threshold=150.0, grid_points=150)
    names = ["sweep_returns.png", "sweep_solved.png", "sweep_sigma.png"]
    assert paths == [tmp_path / "sweep" / n for n in names]
    for p in paths:
        assert_png(p, 20_000)


def test_plot_sweep_one_seed_no_threshold_no_sigma(tmp_path: Path):
    d = tmp_path / "runs" / "only"
    write_episodes(d, n=50)
    write_metrics(d, steps=5_000, layers=())
    paths = plots.plot_sweep({"epsilon-greedy": [d]}, tmp_path / "sweep", threshold=None)
    assert paths == [tmp_path / "sweep" / "sweep_returns.png"]
    assert_png(paths[0])


def test_plot_sweep_with_a_seed_without_episodes(tmp_path: Path):
    groups = make_sweep(tmp_path / "runs", seeds=2)
    empty = tmp_path / "runs" / "empty_seed"
    empty.mkdir()
    (empty / "episodes.csv").write_text("seed,episode,env_step,return,length\n")
    groups["lr=0.001 sigma0=0.5"].append(empty)
    groups["nothing yet"] = [empty]
    paths = plots.plot_sweep(groups, tmp_path / "sweep", threshold=100.0, grid_points=50)
    assert [p.name for p in paths] == ["sweep_returns.png", "sweep_solved.png", "sweep_sigma.png"]
    for p in paths:
        assert_png(p)


def test_plot_sweep_shorter_than_one_log_interval(tmp_path: Path):
    """Noisy agents whose run ended before the first metrics row (total steps < --log-every):
    the sigma figure has no curve to label and must still be written (it used to crash)."""
    dirs = []
    for s in range(2):
        d = tmp_path / "runs" / f"seed_{s}"
        write_episodes(d, n=30, seed=s)
        (d / "metrics.csv").write_text(
            "env_step,loss,mean_q,sigma_hidden_0,sigma_q,last100,steps_per_sec\n"
        )
        dirs.append(d)
    paths = plots.plot_sweep({"noisy": dirs}, tmp_path / "sweep", threshold=100.0, grid_points=50)
    for p in paths:
        assert_png(p)


@pytest.fixture
def saved_figures(monkeypatch):
    """The figures the plot functions save, by file name (closed, still inspectable)."""
    from noisyjax.analysis import figures as figures_module
    from noisyjax.analysis import sweep_plots

    figures: dict = {}
    original = figures_module.save

    def save(fig, out_png, *args, **kwargs):
        figures[Path(out_png).name] = fig
        return original(fig, out_png, *args, **kwargs)

    for module in (plots, sweep_plots):
        monkeypatch.setattr(module, "save", save)
    return figures


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


@pytest.mark.parametrize("seeds, iqm", [(3, False), (4, True)])
def test_sweep_returns_draws_the_iqm_from_four_seeds(tmp_path: Path, saved_figures, seeds, iqm):
    """Below 4 seeds the IQM (which then trims nothing) is neither drawn nor in the legend; each
    seed is drawn instead. Every panel of sweep_sigma.png has its y-label."""
    pytest.importorskip("rliable")
    groups = make_sweep(tmp_path / "runs", seeds=seeds)
    plots.plot_sweep(groups, tmp_path / "sweep", threshold=150.0, grid_points=40)
    texts = _legend_texts(saved_figures["sweep_returns.png"])
    assert any("IQM across seeds" in t for t in texts) == iqm, texts
    assert any(t.startswith("each seed (IQM and intervals from 4 seeds") for t in texts) == (not iqm), texts
    panels = [ax for ax in saved_figures["sweep_sigma.png"].axes if ax.get_visible()]
    assert len(panels) >= 2 and all(ax.get_ylabel() == "mean |σ| of layer" for ax in panels)


def test_training_metrics_title_is_the_given_one(agent: Path, tmp_path: Path, saved_figures):
    """A run folder's training_metrics.png is titled like its other plots (env and seed), not by
    its timestamped folder name."""
    from noisyjax.io.summary import write_plots

    write_plots(agent, 100.0, title="CartPole-v1 seed 0")
    titles = [ax.get_title() for ax in saved_figures["training_metrics.png"].axes]
    assert "CartPole-v1 seed 0" in titles, titles
