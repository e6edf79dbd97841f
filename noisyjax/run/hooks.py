"""Hooks of the training loop: what happens at an episode's end, at a log point, before a
checkpoint and at the end. The loop itself only calls them; CSV logs and the progress bar are
two hooks, and a notebook can pass its own (``train(..., hooks=[...])``).

``Stopwatch`` times the parts of the real loop (``benchmarks.profile`` uses it), so that no copy
of the loop is ever profiled instead of the loop.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from noisyjax.io.csvlog import RunWriter
from noisyjax.run.episodes import EpisodeTracker, last_mean


@dataclasses.dataclass
class LogPoint:
    """The training metrics of every agent at a ``log_every`` point."""

    t: int  # env step (per agent)
    loss: np.ndarray  # [agents] mean loss since the last log point (NaN if no update)
    mean_q: np.ndarray  # [agents] mean Q of the taken actions (NaN if no update)
    sigma: np.ndarray  # [agents, noisy layers] mean |sigma| per layer
    layer_names: list[str]  # names of the noisy layers, the columns of ``sigma``
    steps_per_sec: float  # aggregate env steps per second since the last log point
    tracker: EpisodeTracker
    updates: np.ndarray | None = None
    """[agents] TD updates since the last log point; None: unknown. With 0 (warm-up) the loss and
    mean Q cells of ``metrics.csv`` are left empty instead of NaN."""


class Hook:
    """Base hook: every method does nothing; subclasses override what they need."""

    def episode(self, i: int, seed: int, episode: int, t: int, ret: float, length: int) -> None:
        """Agent ``i`` (of seed ``seed``) finished its ``episode``-th episode at env step ``t``."""

    def log(self, point: LogPoint) -> None:
        """A ``log_every`` point."""

    def diverged(self, i: int, seed: int, t: int) -> None:
        """Agent ``i`` has a non-finite loss or parameter at env step ``t``."""

    def evaluation(self, i: int, seed: int, t: int, returns: np.ndarray) -> None:
        """Agent ``i``'s periodic evaluation at env step ``t`` (``Config.eval_every``):
        ``returns [eval_every_episodes]``."""

    def before_checkpoint(self) -> dict:
        """Flush what must be on disk with the checkpoint; returns host state to store in it."""
        return {}

    def close(self) -> None:
        """The loop is over (finished, stopped or interrupted)."""


EVAL_FIELDS = ["mean", "std", "min", "max", "episodes"]
"""Columns of ``evals.csv`` after ``env_step``: a periodic evaluation's returns."""


def eval_row(returns: np.ndarray) -> dict:
    """A periodic evaluation's ``returns`` as an ``evals.csv`` row (without ``env_step``)."""
    r = np.asarray(returns, np.float64)
    return {"mean": float(r.mean()), "std": float(r.std()), "min": float(r.min()), "max": float(r.max()),
            "episodes": int(r.size)}


def metric_row(point: LogPoint, i: int) -> dict:
    """Agent ``i``'s values at ``point``, as ``metrics.csv`` holds them (without ``env_step``):
    loss and mean_q (None with no update since the last point), ``sigma_<layer>`` per noisy
    layer, ``last100`` (None before the first episode) and ``steps_per_sec``."""
    learned = point.updates is None or point.updates[i] > 0
    row = {"loss": float(point.loss[i]) if learned else None,
           "mean_q": float(point.mean_q[i]) if learned else None}
    row.update({f"sigma_{m}": float(point.sigma[i, j]) for j, m in enumerate(point.layer_names)})
    row["last100"] = last_mean(point.tracker.returns[i])  # 100 episodes, whatever solve_window is
    row["steps_per_sec"] = point.steps_per_sec
    return row


class HistoryHook(Hook):
    """Keeps every agent's ``metric_row``s in memory (with ``env_step``), so a run with no files
    still has its loss, Q and sigma history: ``rows[i]`` is agent ``i``'s list."""

    def __init__(self, agents: int):
        self.rows: list[list[dict]] = [[] for _ in range(agents)]
        self.evals: list[list[dict]] = [[] for _ in range(agents)]  # evals.csv rows

    def log(self, point: LogPoint) -> None:
        for i in range(len(point.loss)):
            self.rows[i].append({"env_step": point.t, **metric_row(point, i)})

    def evaluation(self, i, seed, t, returns):
        self.evals[i].append({"env_step": t, **eval_row(returns)})


class CsvLogHook(Hook):
    """``episodes.csv`` and ``metrics.csv`` (and with ``evals``, ``evals.csv``) per agent folder
    (``noisyjax.io.csvlog``); on resume the files are cut back to the lines the checkpoint
    (``lines``) had seen."""

    def __init__(self, agent_dirs: list[Path], layer_names: list[str], lines: list[dict] | None,
                 evals: bool = False):
        self.layer_names = layer_names
        fields = ["loss", "mean_q", *[f"sigma_{name}" for name in layer_names]]
        self.writer = RunWriter(agent_dirs, fields + ["last100", "steps_per_sec"], lines,
                                EVAL_FIELDS if evals else None)

    def evaluation(self, i, seed, t, returns):
        self.writer.evaluation(i, t, eval_row(returns))
        self.writer.flush()

    def episode(self, i, seed, episode, t, ret, length):
        self.writer.episode(i, seed, episode, t, ret, length)

    def log(self, point: LogPoint) -> None:
        for i in range(len(point.loss)):
            self.writer.metrics(i, point.t, metric_row(point, i))
        self.writer.flush()

    def before_checkpoint(self) -> dict:
        self.writer.flush()
        return {"lines": self.writer.lines()}

    def close(self) -> None:
        self.writer.close()


class ProgressHook(Hook):
    """A tqdm bar over all agents' env steps, with episodes, last-100 mean, solved, the mean over
    agents of their latest periodic evaluation (with ``eval_every``) and steps/s.

    One speed is shown: the aggregate env steps/s of the last log interval (tqdm's own smoothed
    rate, which also counted compilation, is left out of the bar). ``file``: where the bar is
    drawn (None: stderr)."""

    BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"

    def __init__(self, total: int, initial: int, agents: int, file=None):
        self.agents = agents
        self.bar = tqdm(
            total=total * agents, initial=initial * agents, unit="step", unit_scale=True,
            dynamic_ncols=True, bar_format=self.BAR_FORMAT, file=file,
        )
        self.t = initial
        self.evals: dict[int, float] = {}  # agent -> mean of its latest periodic evaluation

    def log(self, point: LogPoint) -> None:
        # the fields first, then the update that redraws the bar: it shows this point's values
        evals = f" eval={np.mean(list(self.evals.values())):.1f}" if self.evals else ""
        self.bar.set_postfix_str(
            f"{point.tracker.postfix()}{evals} {point.steps_per_sec:,.0f} steps/s", refresh=False
        )
        self.bar.update((point.t - self.t) * self.agents)
        self.t = point.t

    def evaluation(self, i, seed, t, returns):
        self.evals[i] = float(np.mean(returns))

    def diverged(self, i: int, seed: int, t: int) -> None:
        tqdm.write(f"agent {i} (seed {seed}) diverged at env step {t}: its episodes stop counting")

    def close(self) -> None:
        self.bar.close()


PARTS = ("env", "bookkeeping", "step_act", "step_update", "transfer_out", "logging", "checkpoint")


class Stopwatch:
    """Seconds spent in each part of the loop (``PARTS``) over the env steps ``(start, end]``.

    Given to ``train``, it makes the loop wait for each jitted step before reading its actions
    back, so that the step and the transfer are timed apart (the only change it makes).
    """

    blocking = True

    def __init__(self, start: int = 0, end: int | None = None):
        self.start, self.end = start, end
        self.seconds = dict.fromkeys(PARTS, 0.0)
        self.steps = 0
        self.updates = 0
        self._on = False
        self._last = 0.0

    def begin(self, t: int) -> None:
        """Env step ``t`` is about to run."""
        self._on = t > self.start and (self.end is None or t <= self.end)
        self.steps += self._on
        self._last = time.perf_counter()

    def lap(self, part: str) -> None:
        """Charge the time since the last mark to ``part``."""
        now = time.perf_counter()
        if self._on:
            self.seconds[part] += now - self._last
            self.updates += part == "step_update"
        self._last = now


class NoStopwatch(Stopwatch):
    """The loop's default: times nothing."""

    blocking = False

    def begin(self, t: int) -> None:
        pass

    def lap(self, part: str) -> None:
        pass
