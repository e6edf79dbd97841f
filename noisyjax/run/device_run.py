"""``train`` on the jitted engine: the host loop's frame (run folder, hooks, checkpoints, Ctrl-C,
evaluation) around chunks of env steps that run entirely in jit (``noisyjax.run.engine``).

The host reads each chunk's rewards and episode ends back once, and replays them through the
same ``EpisodeTracker`` and hooks as the host loop, so ``episodes.csv``, ``metrics.csv``,
``summary.json`` and the plots are the same files with the same meaning.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from noisyjax.config import Config
from noisyjax.io.checkpoint import latest_checkpoint, load_checkpoint
from noisyjax.nn.networks import noisy_layer_names
from noisyjax.run.device_envs import make_device_env
from noisyjax.run.device_eval import evaluate_device
from noisyjax.run.devices import agent_mesh, place
from noisyjax.run.engine import (
    EngineState,
    chunk_bounds,
    chunk_plan,
    compile_chunk,
    init_state,
    make_agent,
)
from noisyjax.run.envs import EVAL_STREAM
from noisyjax.run.hooks import Hook, NoStopwatch
from noisyjax.run.loop import RunFiles, TrainResult, _Run, drive, step_loop
from noisyjax.run.programs import compile_programs


class _Envs:
    """What the host loop's frame needs of the envs (``close``), for a device env."""

    def __init__(self, denv):
        self.denv = denv

    def close(self) -> None:
        getattr(self.denv, "close", lambda: None)()


class _DeviceRun(_Run):
    """The host loop's ``_Run`` with the carry of the jitted engine in place of host envs."""

    def __init__(self, config: Config, seeds: list[int], denv, agent, mesh):
        self.carry: EngineState | None = None
        self.denv = denv
        super().__init__(config, seeds, _Envs(denv), agent, compile_programs(agent, mesh), mesh)
        # the base class's tracker already holds the threshold (solve_threshold knows device ids)
        self.chunk = compile_chunk(agent, denv, self.tracker.threshold, config.log_every, mesh)

    # The base class reads and writes the agents' states as ``states``: they live in the carry.
    @property
    def states(self):
        return None if self.carry is None else self.carry.agents

    @states.setter
    def states(self, value) -> None:
        if value is not None:
            self.carry = self.carry._replace(agents=value)

    def fresh(self, hparams) -> EngineState:
        init = jax.jit(functools.partial(init_state, self.agent, self.denv))
        return init(jnp.asarray(self.seeds, jnp.uint32), hparams)

    def begin(self, hparams, files: RunFiles | None) -> list[dict] | None:
        carry = self.fresh(hparams)
        self.layer_names = noisy_layer_names(self.agent.param_tree(carry.agents.learner.params[0]))
        ckpt = latest_checkpoint(files.checkpoint_dir) if files is not None and files.resume else None
        if ckpt is None:
            self.carry = place(carry, self.mesh)
            return None
        if not self.denv.resumable:
            raise ValueError(f"{self.config.env} keeps its state in C++: its runs cannot be resumed")
        carry, host = load_checkpoint(ckpt, carry)
        self.best.load(files.checkpoint_dir)
        self.carry = place(carry, self.mesh)
        self.set_counters(host)
        return host["lines"]

    def get_state(self) -> dict:
        return {**self.counters(), "engine": "jit"}  # the envs' state is in the carry

    def checkpoint_tree(self):
        return self.carry

    def evaluate(self, i: int, episodes: int | None = None, stream: int = EVAL_STREAM) -> np.ndarray:
        c = self.config
        params = self.states.learner.params[i]
        return evaluate_device(self.agent, params, seed=self.seeds[i], episodes=episodes or c.eval_episodes,
                               policy=c.eval_policy, stream=stream)

    def advance(self, t1: int, hooks: list[Hook]) -> None:
        """Run the chunk of env steps ``(t, t1]`` and replay its episodes on the host."""
        t0, n = self.t, t1 - self.t
        before = self.seconds()
        self.carry, log = self.chunk(self.carry, jnp.asarray(chunk_plan(self.agent, t0, n)))
        rewards, dones = np.asarray(log.reward), np.asarray(log.done)
        after = self.seconds()
        for j in range(n):
            self.tracker.add(rewards[:, j])
            for i in np.flatnonzero(dones[:, j]):
                t = t0 + j + 1
                # a solve's time is read off the chunk's span, in proportion to its steps
                ended = self.tracker.end(i, t, before + (after - before) * (j + 1) / n)
                if ended is None:  # a diverged agent: its episodes no longer count
                    continue
                episode, ret, length = ended
                for hook in hooks:
                    hook.episode(i, self.seeds[i], episode, t, ret, length)
        self.t = t1


def _device_loop(run: _DeviceRun, files: RunFiles | None, hooks: list[Hook], log_times: list):
    """The host loop's ``step_loop`` with one chunk per turn: a stop (the budget, the solve with
    ``stop_when_solved``, Ctrl-C) takes effect at the end of the chunk in progress."""
    bounds = iter(chunk_bounds(run.config, run.t))
    return step_loop(run, files, hooks, NoStopwatch(), log_times,
                     advance=lambda: run.advance(next(bounds)[1], hooks))


def train_device(
    config: Config,
    seeds: Sequence[int],
    *,
    overrides: list[dict],
    files: RunFiles | None,
    progress: bool,
    evaluate_at_end: bool,
    hooks: Sequence[Hook],
    optimizer: optax.GradientTransformation | None,
) -> TrainResult:
    """``noisyjax.run.loop.train`` for a ``gymnax:``/``envpool:`` env id (same arguments)."""
    seeds = [int(s) for s in seeds]
    denv = make_device_env(config.env, seeds, config.agent_axis)
    denv.check()
    agent = make_agent(config, denv, optimizer)
    # envpool's envs are C++ objects of this process: its agents stay on one device.
    mesh = agent_mesh(len(seeds)) if denv.resumable else None
    run = _DeviceRun(config, seeds, denv, agent, mesh)
    return drive(run, overrides, files, progress, hooks, evaluate_at_end, _device_loop)
