"""The end of a run, per agent folder: ``summary.json`` and the PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

from noisyjax.io.rundir import SUMMARY_FILE, eval_summary, write_json
from noisyjax.run.episodes import WINDOW
from noisyjax.run.loop import TrainResult


def status(result: TrainResult, i: int) -> str:
    """``"diverged"``, ``"interrupted"`` or ``"finished"``: how agent ``i``'s run ended."""
    if result.agents[i].diverged_at is not None:
        return "diverged"
    return "interrupted" if result.interrupted else "finished"


def finish_agent_dir(agent_dir: Path, result: TrainResult, i: int, extra: dict | None = None) -> dict:
    """Write agent ``i``'s plots, then its ``summary.json`` (last: a summary that exists means
    the plots do too); returns the summary.

    Wall time adds up over the parts of a resumed run (the checkpoint carries it); steps/s is
    this process's.
    """
    agent_dir = Path(agent_dir)
    a = result.agents[i]
    config = result.agent.config
    summary = {
        "status": status(result, i),
        "env": config.env,
        "seed": a.seed,
        "overrides": a.overrides,
        "noisy": config.noisy,
        "env_steps": result.env_steps,
        "episodes": len(a.returns),
        "solve_threshold": result.threshold,
        "solve_window": config.solve_window,
        "steps_to_solve": a.steps_to_solve,
        "seconds_to_solve": a.seconds_to_solve,
        "last100_mean": a.last_mean(),
        "final_eval": eval_summary(a.eval_returns, config.eval_policy),
        "best_eval": a.best_eval,  # of the periodic evaluations (--eval-every); None without
        "diverged_at": a.diverged_at,
        "wall_time_s": result.total_wall_time,
        "steps_per_sec": result.steps_per_sec / len(result.agents),
        "aggregate_steps_per_sec": result.steps_per_sec,
        **(extra or {}),
    }
    write_plots(agent_dir, result.threshold, title=f"{config.env} seed {a.seed}", window=config.solve_window)
    write_json(agent_dir / SUMMARY_FILE, summary)
    return summary


PLOTS = ("learning_curve.png", "sigma.png", "training_metrics.png")


def rebuild_plots(agent_dir: Path, threshold: float | None) -> bool:
    """Write the plots of a finished agent folder again from its logs if any is missing;
    returns whether it did."""
    agent_dir = Path(agent_dir)
    if all((agent_dir / name).is_file() for name in PLOTS):
        return False
    summary = json.loads((agent_dir / SUMMARY_FILE).read_text())
    write_plots(agent_dir, threshold, title=f"{summary.get('env')} seed {summary.get('seed')}",
                window=summary.get("solve_window", WINDOW))
    return True


def write_plots(agent_dir: Path, threshold: float | None, title: str = "", window: int = WINDOW) -> None:
    """Learning curve (solve marker: the last ``window`` returns at ``threshold``), mean |sigma|
    per layer, and loss / mean Q of one agent folder."""
    from noisyjax.analysis import plots  # matplotlib is slow to import: only when writing plots

    agent_dir = Path(agent_dir)
    plots.plot_learning_curve(agent_dir / "episodes.csv", agent_dir / "learning_curve.png", threshold, title,
                              window)
    plots.plot_sigma(agent_dir / "metrics.csv", agent_dir / "sigma.png", title)
    plots.plot_training_metrics(agent_dir / "metrics.csv", agent_dir / "training_metrics.png", title)
