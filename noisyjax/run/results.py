"""What a run returns and where it writes: per-agent results, the run's result, the run folder's
paths, and the config as a checkpoint records it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from noisyjax.agent.agent import Agent
from noisyjax.agent.types import AgentState
from noisyjax.config import Config
from noisyjax.run.episodes import WINDOW, last_mean


@dataclasses.dataclass
class AgentResult:
    """What one agent did: its episodes, when it solved the task, its final evaluation."""

    seed: int
    overrides: dict
    returns: list[float]
    lengths: list[int]
    end_steps: list[int]  # env step at which each episode ended
    steps_to_solve: int | None  # first env step with last-100 mean >= threshold; None if never
    eval_returns: list[float] | None = None
    seconds_to_solve: float | None = None
    """Seconds of training loop (compilation included, evaluation not; summed over every part of
    a resumed run) until ``steps_to_solve``; None if never solved."""
    diverged_at: int | None = None
    """Env step at which a non-finite loss or parameter was found (its episodes stop counting
    there); None if the agent stayed finite."""

    metrics: list[dict] = dataclasses.field(default_factory=list)
    """Every log point of this process's part of the run, as ``metrics.csv`` rows (``env_step``,
    ``loss``, ``mean_q``, ``sigma_<layer>``, ``last100``, ``steps_per_sec``; None where the CSV
    cell is empty), kept in memory whether or not the run writes files."""
    evals: list[dict] = dataclasses.field(default_factory=list)
    """Every periodic evaluation (``Config.eval_every``) of this process's part of the run, as
    ``evals.csv`` rows (``env_step``, ``mean``, ``std``, ``min``, ``max``, ``episodes``)."""

    best_eval: dict | None = None
    """``{"env_step", "mean"}`` of the periodic evaluation with the highest mean (the earliest of
    ties) over every part of a resumed run, as ``checkpoints/best.npz`` records it; None without
    ``eval_every`` (or before the first evaluation)."""

    def last_mean(self, n: int = WINDOW) -> float | None:
        """Mean return of the last ``n`` episodes (None before the first episode)."""
        return last_mean(self.returns, n)


@dataclasses.dataclass
class TrainResult:
    """Per-agent results plus the final state (leaves ``[agents, ...]``)."""

    agents: list[AgentResult]
    states: AgentState
    agent: Agent
    env_steps: int  # per agent
    wall_time: float  # seconds in this process (excluding evaluation)
    steps_per_sec: float  # aggregate env steps per second over all agents
    interrupted: bool
    threshold: float | None
    devices: int = 1
    """XLA devices the agents were split over (``noisyjax.run.devices``)."""
    log_times: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    """``(env step, seconds since the loop started)`` at each ``log_every`` point of this
    process: throughput after warm-up or compilation is a difference of two entries."""
    total_wall_time: float = 0.0
    """Training-loop seconds summed over every part of a resumed run (this one included)."""

    def to_dataframe(self):
        """``(episodes, metrics)`` as two pandas DataFrames, one row per episode (``agent``,
        ``seed``, the swept settings, ``episode``, ``env_step``, ``return``, ``length``) and per
        agent and log point (``agent``, ``seed``, the swept settings and the ``metrics`` columns).
        Needs pandas (the ``analysis`` extra)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError('to_dataframe needs pandas: pip install -e ".[analysis]"') from None
        episodes, metrics = [], []
        for i, a in enumerate(self.agents):
            who = {"agent": i, "seed": a.seed, **a.overrides}
            episodes += [{**who, "episode": k, "env_step": t, "return": r, "length": n}
                         for k, (t, r, n) in enumerate(zip(a.end_steps, a.returns, a.lengths))]
            metrics += [{**who, **row} for row in a.metrics]
        return pd.DataFrame(episodes), pd.DataFrame(metrics)

    def plot(self, out_dir: Path | str) -> list[Path]:
        """Write the run's figures into ``out_dir`` (created): per agent ``agent<k>/`` with its
        ``episodes.csv``, ``metrics.csv`` (from ``metrics``) and the three run plots, and with
        several agents the sweep figures over them. Returns the figure paths."""
        from noisyjax.analysis.plots import plot_sweep
        from noisyjax.io.csvlog import RunWriter
        from noisyjax.io.summary import PLOTS, write_plots

        out_dir = Path(out_dir)
        dirs = [out_dir / f"agent{k:03d}-seed{a.seed}" for k, a in enumerate(self.agents)]
        first = next((a.metrics[0] for a in self.agents if a.metrics), None)  # metrics.csv's order
        fields = [k for k in first if k != "env_step"] if first else ["loss", "mean_q", "last100"]
        writer = RunWriter(dirs, fields)
        for i, a in enumerate(self.agents):
            for k, (t, r, n) in enumerate(zip(a.end_steps, a.returns, a.lengths)):
                writer.episode(i, a.seed, k, t, r, n)
            for row in a.metrics:
                writer.metrics(i, row["env_step"], {k: v for k, v in row.items() if k != "env_step"})
        writer.close()
        paths = []
        for d, a in zip(dirs, self.agents):
            write_plots(d, self.threshold, title=f"{self.agent.config.env} seed {a.seed}",
                        window=self.agent.config.solve_window)
            paths += [d / name for name in PLOTS]
        if len(self.agents) > 1:
            window = self.agent.config.solve_window
            paths += plot_sweep({"agents": dirs}, out_dir, self.threshold, window=window)
        return paths

    @property
    def diverged(self) -> bool:
        """Whether any agent diverged (see ``AgentResult.diverged_at``)."""
        return any(a.diverged_at is not None for a in self.agents)


@dataclasses.dataclass
class RunFiles:
    """Where a run writes: one folder per agent for logs, one checkpoint folder for the run."""

    agent_dirs: list[Path]
    checkpoint_dir: Path
    resume: bool = False
    keep_checkpoints: int = 2
    """The newest checkpoints kept (older ones are deleted); at least 1."""


def config_record(config: Config) -> dict:
    """``config`` as the JSON it is stored as (tuples become lists): what a checkpoint records,
    so that resume can refuse a ``config.json`` edited since."""
    return json.loads(json.dumps(dataclasses.asdict(config)))
