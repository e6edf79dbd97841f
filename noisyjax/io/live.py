"""Live logging beside the CSVs: TensorBoard event files and Weights & Biases runs, as loop hooks.

The CSVs stay the source of truth (resume, plots and summaries read them); these only mirror what
the loop logs, for watching a run while it trains. Each is an optional extra: ``tensorboard``
(tensorboardX) and ``wandb``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from noisyjax.run.env_ids import MissingExtra
from noisyjax.run.hooks import Hook, LogPoint, eval_row, metric_row

LiveLog = Literal["tensorboard", "wandb"]
TB_DIR = "tb"
_PACKAGES = {"tensorboard": ("tensorboardX", "tensorboard"), "wandb": ("wandb", "wandb")}


def require(kinds: tuple[str, ...]) -> None:
    """Raise ``MissingExtra`` naming the pip command for the first of ``kinds`` not installed."""
    for kind in kinds:
        module, extra = _PACKAGES[kind]
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(f"--log {kind} needs {module}: pip install -e '.[{extra}]'")


class TensorBoardHook(Hook):
    """One tensorboardX writer per agent folder (``<agent_dir>/tb``): every episode's return and
    length at the env step it ended (``episode/*``), every log point's ``metrics.csv`` values
    (``train/*``) and every periodic evaluation's ``evals.csv`` values (``eval/*``) at its env step."""

    def __init__(self, agent_dirs: list[Path]):
        from tensorboardX import SummaryWriter

        self.writers = [SummaryWriter(str(Path(d) / TB_DIR)) for d in agent_dirs]

    def episode(self, i: int, seed: int, episode: int, t: int, ret: float, length: int) -> None:
        self.writers[i].add_scalar("episode/return", ret, t)
        self.writers[i].add_scalar("episode/length", length, t)

    def evaluation(self, i: int, seed: int, t: int, returns) -> None:
        for name, value in eval_row(returns).items():
            self.writers[i].add_scalar(f"eval/{name}", value, t)
        self.writers[i].flush()

    def log(self, point: LogPoint) -> None:
        for i, writer in enumerate(self.writers):
            for name, value in metric_row(point, i).items():
                if value is not None:
                    writer.add_scalar(f"train/{name}", value, point.t)
            writer.flush()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


class WandbHook(Hook):
    """One W&B run per agent (named after its folder, grouped by the run or sweep folder), with the
    same values as ``TensorBoardHook``; ``WANDB_MODE=offline`` keeps them on disk
    (``<agent_dir>/wandb``) for ``wandb sync``."""

    def __init__(self, agent_dirs: list[Path], config: dict, seeds: list[int]):
        import wandb

        self.runs = [
            wandb.init(project="noisyjax", name=Path(d).name, group=Path(d).resolve().parent.name,
                       dir=str(d), config={**config, "seed": seed}, reinit="create_new")
            for d, seed in zip(agent_dirs, seeds)
        ]

    def episode(self, i: int, seed: int, episode: int, t: int, ret: float, length: int) -> None:
        self.runs[i].log({"episode/return": ret, "episode/length": length, "env_step": t})

    def evaluation(self, i: int, seed: int, t: int, returns) -> None:
        self.runs[i].log({**{f"eval/{k}": v for k, v in eval_row(returns).items()}, "env_step": t})

    def log(self, point: LogPoint) -> None:
        for i, run in enumerate(self.runs):
            row = {f"train/{k}": v for k, v in metric_row(point, i).items() if v is not None}
            run.log({**row, "env_step": point.t})

    def close(self) -> None:
        for run in self.runs:
            run.finish()


def live_hooks(kinds: tuple[str, ...], agent_dirs: list[Path], config: dict, seeds: list[int]) -> list[Hook]:
    """The hooks of ``--log`` (each of ``kinds`` once), for the agents in ``agent_dirs``."""
    require(kinds)
    hooks: list[Hook] = []
    if "tensorboard" in kinds:
        hooks.append(TensorBoardHook(agent_dirs))
    if "wandb" in kinds:
        hooks.append(WandbHook(agent_dirs, config, seeds))
    return hooks
