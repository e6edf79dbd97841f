"""Periodic evaluations while training (``Config.eval_every``) and the best parameters they find.

Every ``eval_every`` env steps each healthy agent plays ``eval_every_episodes`` episodes with
``eval_policy`` on the selection stream (``SELECT_STREAM``): never a training episode's start, and
not the final evaluation's episodes either, so evaluating the best checkpoint afterwards is not
biased by having chosen it on those same episodes. The hooks get every result (``evals.csv``); an
agent whose mean beats its best so far has its parameters kept in ``checkpoints/best.npz``.

Both engines call this between chunks of training, with their own ``evaluate``; training's keys
and envs are untouched, so a run with periodic evaluations trains exactly as one without.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from noisyjax.io.checkpoint import load_best, save_best
from noisyjax.run.envs import SELECT_STREAM


class BestParams:
    """Per agent: the best periodic-evaluation mean so far (None: not evaluated yet), the env step
    it was measured at, and the flat parameters ``[P]`` that scored it (host numpy)."""

    def __init__(self, n: int):
        self.steps: list[int | None] = [None] * n
        self.means: list[float | None] = [None] * n
        self.params: np.ndarray | None = None  # [n, P] once any agent was evaluated

    def offer(self, i: int, t: int, mean: float, params: np.ndarray) -> bool:
        """Agent ``i`` scored ``mean`` at env step ``t`` with ``params [P]``; keep them if it beats
        its best (ties keep the earlier). Returns whether they were kept."""
        if self.means[i] is not None and not mean > self.means[i]:
            return False
        params = np.asarray(params)
        if self.params is None:
            self.params = np.zeros((len(self.means), *params.shape), params.dtype)
        self.params[i] = params
        self.steps[i], self.means[i] = int(t), float(mean)
        return True

    def summary(self, i: int) -> dict | None:
        """Agent ``i``'s best as ``{"env_step", "mean"}``; None before its first evaluation."""
        return None if self.means[i] is None else {"env_step": self.steps[i], "mean": self.means[i]}

    def save(self, directory: Path, episodes: int, policy: str) -> None:
        save_best(directory, self.params, self.steps, self.means, episodes, policy)

    def load(self, directory: Path) -> None:
        """Take back a run folder's ``best.npz`` (on resume). A best measured after the checkpoint
        the run resumes from is measured again, to the same value, and kept (ties keep it)."""
        loaded = load_best(directory)
        if loaded is not None:
            self.params, meta = loaded
            self.steps, self.means = list(meta["env_step"]), list(meta["mean"])


def periodic_evaluation(run, files, hooks) -> None:
    """Evaluate every healthy agent of ``run`` (a host-loop or jitted-engine run) at its env step;
    hand each result to ``hooks`` and write ``best.npz`` (with ``files``) if any agent improved."""
    c = run.config
    improved = False
    for i, seed in enumerate(run.seeds):
        if run.diverged[i] is not None:
            continue
        returns = run.evaluate(i, c.eval_every_episodes, SELECT_STREAM)
        for hook in hooks:
            hook.evaluation(i, seed, run.t, returns)
        params = np.asarray(run.states.learner.params[i])
        improved |= run.best.offer(i, run.t, float(np.mean(returns)), params)
    if improved and files is not None:
        run.best.save(files.checkpoint_dir, c.eval_every_episodes, c.eval_policy)
