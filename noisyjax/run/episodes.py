"""Episode bookkeeping of S agents: returns, lengths, end steps, and the one solve test.

"Solved" follows gymnasium's ``reward_threshold`` convention: the mean return of the last
``WINDOW`` (100) episodes reaches the threshold. ``is_solved`` is the only place that test is
written; the loop (through ``EpisodeTracker``) and ``noisyjax.analysis.stats`` both call it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WINDOW = 100  # episodes in the "solved" moving average (gymnasium's definition)


def is_solved(returns: Sequence[float], threshold: float | None, window: int = WINDOW) -> bool:
    """Whether the last ``window`` of ``returns [episodes]`` (exactly that many are needed)
    average at least ``threshold``; always False when ``threshold`` is None (no threshold)."""
    if threshold is None or len(returns) < window:
        return False
    return bool(np.mean(returns[len(returns) - window :]) >= threshold)


def last_mean(returns: Sequence[float], window: int = WINDOW) -> float | None:
    """Mean of the last ``window`` returns (fewer if there are fewer); None before any episode."""
    return float(np.mean(returns[-window:])) if len(returns) else None


class EpisodeTracker:
    """Per-agent episode state of a run of ``n`` agents (host numpy, float64 returns).

    ``get_state``/``set_state`` give and take the JSON-able part a checkpoint stores (its keys are
    the checkpoint's host keys, so checkpoints written before this class existed still load).
    """

    def __init__(self, n: int, threshold: float | None, window: int = WINDOW):
        self.threshold = threshold
        self.window = window
        self.returns: list[list[float]] = [[] for _ in range(n)]
        self.lengths: list[list[int]] = [[] for _ in range(n)]
        self.end_steps: list[list[int]] = [[] for _ in range(n)]
        self.solved_at: list[int | None] = [None] * n
        self.solved_time: list[float | None] = [None] * n
        self.ep_return = np.zeros(n)  # return of the episode in progress
        self.ep_len = np.zeros(n, np.int64)
        self.frozen: set[int] = set()  # agents whose episodes no longer count (diverged)

    def freeze(self, i: int) -> None:
        """Agent ``i``'s episodes stop counting from now on (it diverged); ``all_solved`` then
        no longer waits for it."""
        self.frozen.add(int(i))

    def add(self, reward: np.ndarray) -> None:
        """Count one env step of every agent, ``reward [n]``."""
        self.ep_return += reward
        self.ep_len += 1

    def end(self, i: int, t: int, seconds: float) -> tuple[int, float, int] | None:
        """Agent ``i``'s episode ended at env step ``t`` (``seconds`` of training so far): record
        it, test for the solve, and start the next one. Returns ``(episode index, return,
        length)``, or None for a frozen agent (the episode is not recorded)."""
        ret, length = float(self.ep_return[i]), int(self.ep_len[i])
        if i in self.frozen:
            self.ep_return[i], self.ep_len[i] = 0.0, 0
            return None
        self.returns[i].append(ret)
        self.lengths[i].append(length)
        self.end_steps[i].append(t)
        if self.solved_at[i] is None and is_solved(self.returns[i], self.threshold, self.window):
            self.solved_at[i] = t
            self.solved_time[i] = seconds
        self.ep_return[i], self.ep_len[i] = 0.0, 0
        return len(self.returns[i]) - 1, ret, length

    def last_mean(self, i: int) -> float | None:
        """Agent ``i``'s mean return over the last ``window`` episodes (None before any)."""
        return last_mean(self.returns[i], self.window)

    def all_solved(self) -> bool:
        """Whether every agent has solved the task (a frozen agent counts as done)."""
        return all(s is not None or i in self.frozen for i, s in enumerate(self.solved_at))

    def postfix(self) -> str:
        """Progress-bar text: episodes, mean of the agents' last-window means, agents solved."""
        means = [self.last_mean(i) for i in range(len(self.returns)) if self.returns[i]]
        last = f"{np.mean(means):.1f}" if means else "-"
        solved = sum(s is not None for s in self.solved_at)
        episodes = sum(len(r) for r in self.returns)
        return f"episodes={episodes} last{self.window}={last} solved={solved}/{len(self.returns)}"

    def get_state(self) -> dict:
        """JSON-able state for a checkpoint."""
        return {
            "returns": self.returns, "lengths": self.lengths, "end_steps": self.end_steps,
            "solved_at": self.solved_at, "solved_time": self.solved_time,
            "ep_return": self.ep_return.tolist(), "ep_len": self.ep_len.tolist(),
        }

    def set_state(self, state: dict) -> None:
        """Restore ``get_state``'s output (checkpoints older than seconds-to-solve lack
        ``solved_time``: unknown, None)."""
        n = len(self.returns)
        self.returns, self.lengths = state["returns"], state["lengths"]
        self.end_steps, self.solved_at = state["end_steps"], state["solved_at"]
        self.solved_time = state.get("solved_time", [None] * n)
        self.ep_return = np.asarray(state["ep_return"], np.float64)
        self.ep_len = np.asarray(state["ep_len"], np.int64)
