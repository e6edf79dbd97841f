"""The end of a run, per agent folder: ``summary.json`` and the PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

from noisyjax.io.rundir import SUMMARY_FILE, eval_summary, write_json
from noisyjax.run.loop import TrainResult


def finish_agent_dir(agent_dir: Path, result: TrainResult, i: int, extra: dict | None = None) -> dict:
    """Write agent ``i``'s ``summary.json`` and plots into ``agent_dir``; returns the summary.

    Wall time adds up over the parts of a resumed run; steps/s is this process's.
    """
    agent_dir = Path(agent_dir)
    a = result.agents[i]
    config = result.agent.config
    previous = 0.0
    old = agent_dir / SUMMARY_FILE
    if old.is_file():
        previous = float(json.loads(old.read_text()).get("wall_time_s") or 0.0)
    summary = {
        "status": "interrupted" if result.interrupted else "finished",
        "env": config.env,
        "seed": a.seed,
        "overrides": a.overrides,
        "noisy": config.noisy,
        "env_steps": result.env_steps,
        "episodes": len(a.returns),
        "solve_threshold": result.threshold,
        "steps_to_solve": a.steps_to_solve,
        "seconds_to_solve": a.seconds_to_solve,
        "last100_mean": a.last_mean(),
        "final_eval": eval_summary(a.eval_returns, config.eval_policy),
        "wall_time_s": previous + result.wall_time,
        "steps_per_sec": result.steps_per_sec / len(result.agents),
        "aggregate_steps_per_sec": result.steps_per_sec,
        **(extra or {}),
    }
    write_json(old, summary)
    write_plots(agent_dir, result.threshold, title=f"{config.env} seed {a.seed}")
    return summary


def write_plots(agent_dir: Path, threshold: float | None, title: str = "") -> None:
    """Learning curve, mean |sigma| per layer, and loss / mean Q of one agent folder."""
    from noisyjax.analysis import plots  # matplotlib is slow to import: only when writing plots

    agent_dir = Path(agent_dir)
    plots.plot_learning_curve(agent_dir / "episodes.csv", agent_dir / "learning_curve.png", threshold, title)
    plots.plot_sigma(agent_dir / "metrics.csv", agent_dir / "sigma.png", title)
    plots.plot_training_metrics(agent_dir / "metrics.csv", agent_dir / "training_metrics.png")
