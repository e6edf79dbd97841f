"""The one training loop: S agents (seeds x hyperparameter values; S = 1 for a single run) step
S host environments in lockstep, with ONE jitted agent step per env step.

``train`` is the library entry point; run folders, checkpoints and plots are optional and are
driven through ``RunFiles`` so that notebooks can call ``train`` with no I/O at all.
"""

from __future__ import annotations

import dataclasses
import functools
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from noisyjax.agent.agent import Agent, AgentState, HParams, Transition, hparams_from_config
from noisyjax.config import Config
from noisyjax.io.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from noisyjax.io.csvlog import RunWriter
from noisyjax.nn.networks import noisy_layer_names
from noisyjax.run.devices import agent_mesh, over_devices, place
from noisyjax.run.envs import HostEnvs, solve_threshold
from noisyjax.run.evaluation import evaluate

WINDOW = 100  # episodes in the "solved" moving average (gymnasium's definition)


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
    """Seconds of training loop (compilation included, evaluation not; summed over the sessions of
    a resumed run) until ``steps_to_solve``; None if never solved."""

    def last_mean(self, n: int = WINDOW) -> float | None:
        """Mean return of the last ``n`` episodes (None before the first episode)."""
        return float(np.mean(self.returns[-n:])) if self.returns else None


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


@dataclasses.dataclass
class RunFiles:
    """Where a run writes: one folder per agent for logs, one checkpoint folder for the run."""

    agent_dirs: list[Path]
    checkpoint_dir: Path
    resume: bool = False


class _StopFlag:
    """Turns Ctrl-C (SIGINT) and SIGTERM into a flag the loop checks between steps, so the
    state is always consistent when it writes its checkpoint."""

    def __init__(self):
        self.stop = False
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, *_):
        if self.stop:  # a second Ctrl-C aborts at once
            raise KeyboardInterrupt
        self.stop = True

    def __exit__(self, *exc):
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def stack_hparams(config: Config, overrides: Sequence[dict]) -> HParams:
    """``HParams`` with leaves ``[agents]`` from the config and one override dict per agent."""
    per_agent = [hparams_from_config(config, **o) for o in overrides]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *per_agent)


def train(
    config: Config,
    seeds: Sequence[int],
    *,
    overrides: Sequence[dict] | None = None,
    files: RunFiles | None = None,
    progress: bool = False,
    evaluate_at_end: bool = True,
) -> TrainResult:
    """Train one agent per entry of ``seeds`` in one loop (one jitted step per env step).

    ``overrides``: one dict per agent of swept values (``SWEEPABLE`` fields); None means every
    agent uses the config. ``files``: where to write logs and checkpoints (None: no I/O), and
    whether to resume from its checkpoint. Agent k's run depends only on ``seeds[k]``, its
    overrides and the config, never on the other agents.
    """
    seeds = [int(s) for s in seeds]
    overrides = [dict(o) for o in overrides] if overrides is not None else [{} for _ in seeds]
    if len(overrides) != len(seeds):
        raise ValueError(f"overrides has {len(overrides)} entries for {len(seeds)} seeds")
    n = len(seeds)
    envs = HostEnvs(config.env, seeds)
    agent = Agent(config, envs.obs_dim, envs.num_actions)
    threshold = solve_threshold(config.env, config.solve_threshold)
    hparams = stack_hparams(config, overrides)

    # With several XLA devices (``--cpu-cores all`` in a sweep) each runs its share of agents.
    mesh = agent_mesh(n)
    # One jitted step per env step, compiled with and without the update: the host knows the
    # schedule, and the step without it leaves the learner's buffers in place.
    step_fns = {
        due: jax.jit(over_devices(functools.partial(agent.step_batch, update=due), mesh), donate_argnums=0)
        for due in (False, True)
    }
    act_fn = jax.jit(over_devices(agent.act_batch, mesh), donate_argnums=0)
    sigma_fn = jax.jit(over_devices(agent.sigma_stats, mesh))
    metrics_fn = jax.jit(over_devices(agent.reset_metrics, mesh), donate_argnums=0)

    states = jax.jit(over_devices(agent.init_batch, mesh))(jnp.asarray(seeds), hparams)
    returns = [[] for _ in range(n)]
    lengths = [[] for _ in range(n)]
    end_steps = [[] for _ in range(n)]
    solved_at: list[int | None] = [None] * n
    solved_time: list[float | None] = [None] * n
    wall_before = 0.0  # loop seconds of earlier sessions of a resumed run
    ep_return = np.zeros(n)
    ep_len = np.zeros(n, np.int64)
    t = 0
    lines = None
    if files is not None and files.resume:
        ckpt = latest_checkpoint(files.checkpoint_dir)
        if ckpt is None:
            raise FileNotFoundError(f"no checkpoint in {files.checkpoint_dir}")
        states, host = load_checkpoint(ckpt, states)
        states = place(states, mesh)
        t = int(host["t"])
        returns, lengths, end_steps = host["returns"], host["lengths"], host["end_steps"]
        solved_at = host["solved_at"]
        # Checkpoints written before seconds-to-solve was recorded have neither key.
        solved_time = host.get("solved_time", [None] * n)
        wall_before = float(host.get("wall_s", 0.0))
        ep_return = np.asarray(host["ep_return"], np.float64)
        ep_len = np.asarray(host["ep_len"], np.int64)
        lines = host["lines"]
        obs = envs.restore(np.asarray(host["episode"]), host["actions"])
        if not np.array_equal(obs, np.asarray(host["obs"], np.float32)):
            raise RuntimeError("resumed environments do not match the checkpoint's observations")
        actions = np.asarray(host["next_actions"], np.int32)
    else:
        obs = envs.reset()
        states, actions = act_fn(states, obs)
        actions = np.asarray(actions)

    layer_names = noisy_layer_names(agent.param_tree(states.learner.params[0]))
    writer = None
    if files is not None:
        fields = ["loss", "mean_q", *[f"sigma_{name}" for name in layer_names]]
        writer = RunWriter(files.agent_dirs, fields + ["last100", "steps_per_sec"], lines)

    def checkpoint():
        if files is None:
            return
        writer.flush()
        save_checkpoint(
            files.checkpoint_dir,
            states,
            {
                "t": t, "seeds": seeds, "returns": returns, "lengths": lengths,
                "end_steps": end_steps, "solved_at": solved_at, "solved_time": solved_time,
                "wall_s": wall_before + time.perf_counter() - t_start,
                "ep_return": ep_return.tolist(), "ep_len": ep_len.tolist(),
                "episode": envs.episode.tolist(), "actions": envs.actions,
                "obs": obs.tolist(), "next_actions": actions.tolist(), "lines": writer.lines(),
            },
        )

    bar = tqdm(
        total=config.total_steps * n, initial=t * n, disable=not progress, unit="step",
        unit_scale=True, dynamic_ncols=True, smoothing=0.05,
    )
    t_start, t_log, start_t = time.perf_counter(), time.perf_counter(), t
    interrupted = False
    log_times: list[tuple[int, float]] = []
    with _StopFlag() as flag:
        while t < config.total_steps:
            next_obs, reward, terminated, truncated = envs.step(actions)
            t += 1
            transitions = Transition(obs, actions, reward, next_obs, terminated, truncated)
            ep_return += reward
            ep_len += 1
            done = terminated | truncated
            if done.any():
                for i in np.flatnonzero(done):
                    returns[i].append(float(ep_return[i]))
                    lengths[i].append(int(ep_len[i]))
                    end_steps[i].append(t)
                    if writer is not None:
                        writer.episode(i, seeds[i], len(returns[i]) - 1, t, ep_return[i], ep_len[i])
                    recent = returns[i][-WINDOW:]
                    if (
                        solved_at[i] is None and threshold is not None
                        and len(recent) == WINDOW and np.mean(recent) >= threshold
                    ):
                        solved_at[i] = t
                        solved_time[i] = wall_before + time.perf_counter() - t_start
                    ep_return[i], ep_len[i] = 0.0, 0
                obs = envs.reset_done(done)
            else:
                obs = next_obs
            states, actions = step_fns[agent.update_due_at(t)](states, transitions, obs)
            actions = np.asarray(actions)

            if t % config.log_every == 0:
                now = time.perf_counter()
                sps = config.log_every * n / max(now - t_log, 1e-9)
                t_log = now
                log_times.append((t, now - t_start))
                states, loss, q, _ = metrics_fn(states)
                sig = np.asarray(sigma_fn(states))
                if writer is not None:
                    loss, q = np.asarray(loss), np.asarray(q)
                    for i in range(n):
                        row = {"loss": float(loss[i]), "mean_q": float(q[i]), "steps_per_sec": sps}
                        row.update({f"sigma_{m}": float(sig[i, j]) for j, m in enumerate(layer_names)})
                        last = np.mean(returns[i][-WINDOW:]) if returns[i] else None
                        row["last100"] = None if last is None else float(last)
                        writer.metrics(i, t, row)
                    writer.flush()
                bar.update(config.log_every * n)
                bar.set_postfix_str(_postfix(returns, solved_at, sps), refresh=False)
            if t % config.checkpoint_every == 0:
                checkpoint()
            if config.stop_when_solved and all(s is not None for s in solved_at):
                break
            if flag.stop:
                interrupted = True
                break
        wall = time.perf_counter() - t_start
        checkpoint()
    bar.close()
    if writer is not None:
        writer.close()
    envs.close()

    results = [
        AgentResult(
            seeds[i], overrides[i], returns[i], lengths[i], end_steps[i], solved_at[i],
            seconds_to_solve=solved_time[i],
        )
        for i in range(n)
    ]
    if evaluate_at_end and not interrupted:
        for i, r in enumerate(results):
            r.eval_returns = evaluate(
                agent, states.learner.params[i], seed=seeds[i],
                episodes=config.eval_episodes, policy=config.eval_policy,
            ).tolist()
    return TrainResult(
        agents=results, states=states, agent=agent, env_steps=t, wall_time=wall,
        steps_per_sec=(t - start_t) * n / max(wall, 1e-9), interrupted=interrupted,
        threshold=threshold, devices=1 if mesh is None else mesh.size, log_times=log_times,
    )


def _postfix(returns: list[list[float]], solved_at: list, sps: float) -> str:
    episodes = sum(len(r) for r in returns)
    means = [np.mean(r[-WINDOW:]) for r in returns if r]
    last = f"{np.mean(means):.1f}" if means else "-"
    solved = sum(s is not None for s in solved_at)
    return f"episodes={episodes} last100={last} solved={solved}/{len(returns)} {sps:,.0f} steps/s"
