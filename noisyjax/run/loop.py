"""The host loop: S agents (seeds x hyperparameter values; S = 1 for a single run) step S host
environments in lockstep, with ONE jitted agent step per env step.

``train`` is the library entry point: set up, loop, finish. The parts own their state: the
episode tracker (``noisyjax.run.episodes``), the host envs (``noisyjax.run.envs``) and the CSV hook
(``noisyjax.run.hooks``) each give a ``get_state`` for the checkpoint and take it back on resume;
logging and progress are hooks. Run folders are optional (``RunFiles``), so a notebook can call
``train`` with no I/O at all.
"""

from __future__ import annotations

import dataclasses
import functools
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from noisyjax.agent.agent import Agent
from noisyjax.agent.types import AgentState, Transition, stack_hparams
from noisyjax.config import Config
from noisyjax.io.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from noisyjax.nn.networks import noisy_layer_names
from noisyjax.run.devices import agent_mesh, over_devices, place
from noisyjax.run.envs import HostEnvs, solve_threshold
from noisyjax.run.episodes import WINDOW, EpisodeTracker, last_mean
from noisyjax.run.evaluation import evaluate
from noisyjax.run.hooks import CsvLogHook, Hook, LogPoint, NoStopwatch, ProgressHook, Stopwatch


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


@dataclasses.dataclass
class _Programs:
    """The jitted functions of a run, each over the agent axis (split over devices if any)."""

    step: dict[bool, Callable]  # keyed by whether the step updates
    act: Callable
    sigma: Callable
    metrics: Callable
    init: Callable


@functools.lru_cache(maxsize=8)
def _compile(agent: Agent, mesh) -> _Programs:
    """The run's jitted functions, kept for the next ``train`` of the same agent (a frozen, hashable
    description) on the same devices: a notebook or test that trains the same setting again reuses
    the compiled programs instead of tracing and compiling them anew."""
    # One jitted step per env step, compiled with and without the update: the host knows the
    # schedule, and the step without it leaves the learner's buffers in place.
    step = {
        due: jax.jit(over_devices(functools.partial(agent.step_batch, update=due), mesh), donate_argnums=0)
        for due in (False, True)
    }
    return _Programs(
        step=step,
        act=jax.jit(over_devices(agent.act_batch, mesh), donate_argnums=0),
        sigma=jax.jit(over_devices(agent.sigma_stats, mesh)),
        metrics=jax.jit(over_devices(agent.reset_metrics, mesh), donate_argnums=0),
        init=jax.jit(over_devices(agent.init_batch, mesh)),
    )


class _Run:
    """The loop's state: the env step ``t``, the agents, the envs and the episode tracker."""

    def __init__(self, config: Config, seeds: list[int], envs: HostEnvs, agent: Agent, programs, mesh):
        self.config, self.seeds, self.envs, self.agent, self.fns = config, seeds, envs, agent, programs
        self.mesh = mesh
        self.tracker = EpisodeTracker(len(seeds), solve_threshold(config.env, config.solve_threshold))
        self.t = 0
        self.wall_before = 0.0  # loop seconds of the earlier parts of a resumed run
        self.t_start = self.t_log = time.perf_counter()
        self.states: AgentState | None = None
        self.obs = self.actions = None
        self.layer_names: list[str] = []

    def seconds(self) -> float:
        """Training-loop seconds so far, earlier parts of a resumed run included."""
        return self.wall_before + time.perf_counter() - self.t_start

    def begin(self, hparams, files: RunFiles | None) -> list[dict] | None:
        """Fresh agents acting on the envs' first observations, or (``files.resume``) the state of
        the latest checkpoint; returns the CSV line counts that checkpoint had seen (or None)."""
        states = self.fns.init(jnp.asarray(self.seeds), hparams)
        self.layer_names = noisy_layer_names(self.agent.param_tree(states.learner.params[0]))
        if files is None or not files.resume:
            self.obs = self.envs.reset()
            self.states, actions = self.fns.act(states, self.obs)
            self.actions = np.asarray(actions)
            return None
        ckpt = latest_checkpoint(files.checkpoint_dir)
        if ckpt is None:
            raise FileNotFoundError(f"no checkpoint in {files.checkpoint_dir}")
        states, host = load_checkpoint(ckpt, states)
        self.set_state(states, host)
        return host["lines"]

    def get_state(self) -> dict:
        """The host part of a checkpoint (JSON-able): counters, tracker and envs."""
        return {
            "t": self.t, "seeds": self.seeds, "wall_s": self.seconds(), **self.tracker.get_state(),
            **self.envs.get_state(), "obs": self.obs.tolist(), "next_actions": self.actions.tolist(),
        }

    def set_state(self, states: AgentState, host: dict) -> None:
        self.states = place(states, self.mesh)
        self.t = int(host["t"])
        self.wall_before = float(host.get("wall_s", 0.0))
        self.tracker.set_state(host)
        self.obs = self.envs.set_state(host)
        if not np.array_equal(self.obs, np.asarray(host["obs"], np.float32)):
            raise RuntimeError("resumed environments do not match the checkpoint's observations")
        self.actions = np.asarray(host["next_actions"], np.int32)

    def env_step(self, hooks: list[Hook], watch: Stopwatch) -> Transition:
        next_obs, reward, terminated, truncated = self.envs.step(self.actions)
        watch.lap("env")
        self.t += 1
        transitions = Transition(self.obs, self.actions, reward, next_obs, terminated, truncated)
        self.tracker.add(reward)
        done = terminated | truncated
        if done.any():
            for i in np.flatnonzero(done):
                episode, ret, length = self.tracker.end(i, self.t, self.seconds())
                for hook in hooks:
                    hook.episode(i, self.seeds[i], episode, self.t, ret, length)
            watch.lap("bookkeeping")
            self.obs = self.envs.reset_done(done)
            watch.lap("env")
        else:
            self.obs = next_obs
        watch.lap("bookkeeping")
        return transitions

    def agent_step(self, transitions: Transition, watch: Stopwatch) -> None:
        due = self.agent.update_due_at(self.t)
        self.states, actions = self.fns.step[due](self.states, transitions, self.obs)
        if watch.blocking:
            jax.block_until_ready(actions)
            watch.lap("step_update" if due else "step_act")
        self.actions = np.asarray(actions)
        watch.lap("transfer_out")

    def log(self, hooks: list[Hook], log_times: list) -> None:
        now = time.perf_counter()
        sps = self.config.log_every * len(self.seeds) / max(now - self.t_log, 1e-9)
        self.t_log = now
        log_times.append((self.t, now - self.t_start))
        self.states, loss, q, _ = self.fns.metrics(self.states)
        sigma = np.asarray(self.fns.sigma(self.states))
        point = LogPoint(self.t, np.asarray(loss), np.asarray(q), sigma, self.layer_names, sps, self.tracker)
        for hook in hooks:
            hook.log(point)

    def checkpoint(self, files: RunFiles | None, hooks: list[Hook]) -> None:
        if files is None:
            return
        host = self.get_state()
        for hook in hooks:
            host.update(hook.before_checkpoint())
        save_checkpoint(files.checkpoint_dir, self.states, host)


def _loop(
    run: _Run, files: RunFiles | None, hooks: list[Hook], watch: Stopwatch, log_times: list
) -> tuple[bool, float]:
    """Step until the budget, the solve (with ``stop_when_solved``) or Ctrl-C, then write the
    last checkpoint (Ctrl-C during it only sets the flag). Returns ``(interrupted, loop seconds)``."""
    c = run.config
    interrupted = False
    with _StopFlag() as flag:
        while run.t < c.total_steps:
            watch.begin(run.t + 1)
            run.agent_step(run.env_step(hooks, watch), watch)
            if run.t % c.log_every == 0:
                run.log(hooks, log_times)
                watch.lap("logging")
            if run.t % c.checkpoint_every == 0:
                run.checkpoint(files, hooks)
                watch.lap("checkpoint")
            if c.stop_when_solved and run.tracker.all_solved():
                break
            if flag.stop:
                interrupted = True
                break
        wall = time.perf_counter() - run.t_start
        run.checkpoint(files, hooks)
    return interrupted, wall


def train(
    config: Config,
    seeds: Sequence[int],
    *,
    overrides: Sequence[dict] | None = None,
    files: RunFiles | None = None,
    progress: bool = False,
    evaluate_at_end: bool = True,
    hooks: Sequence[Hook] = (),
    stopwatch: Stopwatch | None = None,
    optimizer: optax.GradientTransformation | None = None,
) -> TrainResult:
    """Train one agent per entry of ``seeds`` in one loop (one jitted step per env step).

    ``overrides``: one dict per agent of swept values (``SWEEPABLE`` fields); None means every
    agent uses the config. ``files``: where to write logs and checkpoints (None: no I/O), and
    whether to resume from its checkpoint. ``hooks``: more ``Hook``s (after the CSV and progress
    ones). ``stopwatch``: times the loop's parts (None: no timing). ``optimizer``: an optax
    transformation every agent uses (None: the default chain from each agent's ``HParams``; see
    ``Agent``). Agent k's run depends only on
    ``seeds[k]``, its overrides and the config, never on the other agents.
    """
    seeds = [int(s) for s in seeds]
    overrides = [dict(o) for o in overrides] if overrides is not None else [{} for _ in seeds]
    if len(overrides) != len(seeds):
        raise ValueError(f"overrides has {len(overrides)} entries for {len(seeds)} seeds")
    envs = HostEnvs(config.env, seeds)
    agent = Agent(config, envs.obs_dim, envs.num_actions, optimizer)
    mesh = agent_mesh(len(seeds))  # with several XLA devices each runs its share of the agents
    run = _Run(config, seeds, envs, agent, _compile(agent, mesh), mesh)
    lines = run.begin(stack_hparams(config, overrides), files)
    all_hooks: list[Hook] = []
    if files is not None:
        all_hooks.append(CsvLogHook(files.agent_dirs, run.layer_names, lines))
    if progress:
        all_hooks.append(ProgressHook(config.total_steps, run.t, len(seeds)))
    all_hooks += list(hooks)

    start_t, log_times = run.t, []
    run.t_start = run.t_log = time.perf_counter()
    interrupted, wall = _loop(run, files, all_hooks, stopwatch or NoStopwatch(), log_times)
    for hook in all_hooks:
        hook.close()
    envs.close()
    return _finish(run, overrides, evaluate_at_end and not interrupted, TrainResult(
        agents=[], states=run.states, agent=agent, env_steps=run.t, wall_time=wall,
        steps_per_sec=(run.t - start_t) * len(seeds) / max(wall, 1e-9), interrupted=interrupted,
        threshold=run.tracker.threshold, devices=1 if mesh is None else mesh.size, log_times=log_times,
    ))


def _finish(run: _Run, overrides: list[dict], evaluate_now: bool, result: TrainResult) -> TrainResult:
    """Fill ``result.agents`` from the tracker, with the final evaluation when asked for."""
    tr, c = run.tracker, run.config
    for i, seed in enumerate(run.seeds):
        a = AgentResult(
            seed, overrides[i], tr.returns[i], tr.lengths[i], tr.end_steps[i], tr.solved_at[i],
            seconds_to_solve=tr.solved_time[i],
        )
        if evaluate_now:
            params = run.states.learner.params[i]
            a.eval_returns = evaluate(
                run.agent, params, seed=seed, episodes=c.eval_episodes, policy=c.eval_policy
            ).tolist()
        result.agents.append(a)
    return result
