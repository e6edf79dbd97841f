"""The jitted engine: whole runs inside jit on device-side environments (``gymnax:``/``envpool:``).

A chunk is one jitted call that steps every agent and its env for up to ``log_every`` env steps
(``lax.fori_loop``s; the carry, ``EngineState``, holds the agents, the env states and the
per-episode bookkeeping as arrays). The agent step is ``Agent.step_batch``, the host loop's own,
with the update decided statically: the host knows the schedule (``Agent.update_due_at``), so a
chunk is ``p`` steps without an update, then ``g`` groups of one updating step followed by
``train_freq - 1`` steps without (the last group ``r``), as the plan ``[p, g, r]``; no step carries
a ``lax.cond`` copy of the parameters. The host reads back once per chunk (every step's rewards
and episode ends), writes the same CSV rows and checkpoints as the host loop, and checks Ctrl-C.

``make_train`` gives the whole run as one pure function, for a notebook's own ``jit``/``vmap``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from noisyjax.agent.agent import Agent
from noisyjax.agent.types import AgentState, HParams, Transition
from noisyjax.config import Config
from noisyjax.run.device_envs import make_device_env
from noisyjax.run.devices import AXIS


class EngineState(NamedTuple):
    """The carry of the jitted engine; every leaf has a leading ``[agents]`` axis."""

    agents: AgentState
    env: Any  # the device env's state (gymnax: a pytree; envpool: C++ handles)
    obs: jax.Array  # [agents, *obs_shape] the observation each agent acts on next
    actions: jax.Array  # int32 [agents] the actions chosen on ``obs``
    seeds: jax.Array  # uint32 [agents] run seeds (episode keys derive from them)
    episode: jax.Array  # int32 [agents] index of the episode in progress
    ep_return: jax.Array  # float32 [agents] return of the episode in progress
    ep_len: jax.Array  # int32 [agents] steps of the episode in progress
    recent: jax.Array  # float32 [agents, window] returns of the last solve_window episodes (a ring)
    solved_at: jax.Array  # int32 [agents] env step of the solve (device float32 test); -1 if not yet
    t: jax.Array  # int32 [agents] env steps taken (the same for every agent)


class StepLog(NamedTuple):
    """What the host reads of each env step of a chunk: ``[agents, log_every]`` each."""

    reward: jax.Array  # float32
    done: jax.Array  # bool: the episode ended at this step (terminated or truncated)


def init_state(agent: Agent, denv, seeds: jax.Array, hparams: HParams) -> EngineState:
    """Fresh agents acting on the first observations of their envs' episode 0."""
    seeds = jnp.asarray(seeds, jnp.uint32)
    n = seeds.shape[0]
    agents = agent.init_batch(seeds, hparams)
    zeros = jnp.zeros(n, jnp.int32)
    env, obs = denv.reset(seeds, zeros)
    agents, actions = agent.act_batch(agents, obs)
    return EngineState(
        agents, env, obs, actions, seeds, zeros, jnp.zeros(n, jnp.float32), zeros,
        jnp.zeros((n, agent.config.solve_window), jnp.float32), jnp.full(n, -1, jnp.int32), zeros,
    )


def env_step(agent: Agent, denv, threshold: float | None, s: EngineState, update: bool):
    """One env step of every agent, then its agent step (``update``: a static bool). Returns
    ``(state, (reward [agents], done [agents]))``."""
    env, next_obs, reward, terminated, truncated = denv.step(s.env, s.actions, s.seeds, s.episode, s.ep_len)
    transition = Transition(s.obs, s.actions, reward, next_obs, terminated, truncated)
    t = s.t + 1
    ret, length = s.ep_return + reward, s.ep_len + 1
    done = terminated | truncated
    # The solve test of noisyjax.run.episodes, in float32 on the device (the host's float64 test
    # on the same returns is what run folders report).
    window = s.recent.shape[1]  # config.solve_window (static)
    slot = jnp.arange(window)[None, :] == (s.episode % window)[:, None]
    recent = jnp.where(done[:, None] & slot, ret[:, None], s.recent)
    solved = jnp.zeros_like(done)
    if threshold is not None:
        full = s.episode + 1 >= window
        solved = done & full & (recent.sum(axis=1) / window >= threshold) & (s.solved_at < 0)
    episode = s.episode + done.astype(jnp.int32)
    env, obs = denv.reset_done(env, next_obs, done, s.seeds, episode)
    agents, actions = agent.step_batch(s.agents, transition, obs, update=update)
    state = EngineState(
        agents, env, obs, actions, s.seeds, episode, jnp.where(done, 0.0, ret),
        jnp.where(done, 0, length), recent, jnp.where(solved, t, s.solved_at), t,
    )
    return state, (reward, done)


def chunk_fn(agent: Agent, denv, threshold: float | None, length: int) -> Callable:
    """``(state, plan int32 [3]) -> (state, StepLog)``: the steps of one chunk (module docstring),
    at most ``length`` of them; columns of the log past the chunk's end stay zero."""
    tf = agent.config.train_freq

    def run(s: EngineState, plan: jax.Array):
        p, g, r = plan[0], plan[1], plan[2]
        n = s.t.shape[0]
        log = StepLog(jnp.zeros((n, length), jnp.float32), jnp.zeros((n, length), jnp.bool_))

        def one(update):
            def body(i, carry):
                st, lg = carry
                st, (reward, done) = env_step(agent, denv, threshold, st, update)
                lg = StepLog(
                    jax.lax.dynamic_update_slice(lg.reward, reward[:, None], (0, i)),
                    jax.lax.dynamic_update_slice(lg.done, done[:, None], (0, i)),
                )
                return st, lg

            return body

        plain, learn = one(False), one(True)
        carry = jax.lax.fori_loop(0, p, plain, (s, log))

        def group(k, carry):
            start = p + k * tf
            carry = learn(start, carry)
            rest = jnp.where(k == g - 1, r, tf - 1)
            return jax.lax.fori_loop(0, rest, lambda j, c: plain(start + 1 + j, c), carry)

        return jax.lax.fori_loop(0, g, group, carry)

    return run


def chunk_plan(agent: Agent, t0: int, n: int) -> np.ndarray:
    """The plan ``[p, g, r]`` of the env steps ``(t0, t0 + n]``: ``p`` steps without an update, ``g``
    updating steps each followed by ``train_freq - 1`` steps without (the last by ``r``)."""
    due = [t for t in range(t0 + 1, t0 + n + 1) if agent.update_due_at(t)]
    if not due:
        return np.array([n, 0, 0], np.int32)
    tf = agent.config.train_freq
    if due != list(range(due[0], due[-1] + 1, tf)):  # update_due is periodic once it starts
        raise AssertionError(f"update schedule of steps {t0 + 1}..{t0 + n} is not periodic: {due}")
    return np.array([due[0] - 1 - t0, len(due), t0 + n - due[-1]], np.int32)


@functools.lru_cache(maxsize=8)
def compile_chunk(agent: Agent, denv, threshold: float | None, length: int, mesh) -> Callable:
    """The jitted chunk (the carry donated), over ``mesh``'s devices when given; kept for the next
    run of the same agent and env."""
    fn = chunk_fn(agent, denv, threshold, length)
    if mesh is not None:
        # check_vma=False: an env's reset branch builds fresh constants that the varying-axis
        # check would refuse next to the carried, per-device state of the other branch.
        fn = jax.shard_map(fn, mesh=mesh, in_specs=(PartitionSpec(AXIS), PartitionSpec()),
                           out_specs=PartitionSpec(AXIS), check_vma=False)
    return jax.jit(fn, donate_argnums=0)


class TrainOutput(NamedTuple):
    """What ``make_train``'s function returns: the final state and one row per chunk."""

    state: EngineState
    t: jax.Array  # int32 [chunks] env step at each chunk's end
    loss: jax.Array  # float32 [chunks, agents] mean loss of the chunk's updates (NaN: none)
    last_mean: jax.Array  # float32 [chunks, agents] mean of the last solve_window returns (NaN: fewer)
    episodes: jax.Array  # int32 [chunks, agents] episodes finished so far


def make_train(config: Config, denv=None, optimizer=None) -> Callable[[jax.Array, HParams], TrainOutput]:
    """A whole run as one pure function ``train(seeds uint32 [agents], hparams) -> TrainOutput``
    for ``jax.jit`` (and ``jax.vmap`` over extra leading axes): ``config.total_steps`` env steps
    on the device env of ``config.env`` (a ``gymnax:`` id), in chunks of ``config.log_every``.
    ``hparams``: ``HParams`` with leaves ``[agents]`` (``stack_hparams``). ``denv``: the env (None:
    made from ``config.env``). Bitwise the same agents as ``train`` on the exact agent axis."""
    denv = make_device_env(config.env, [0], config.agent_axis) if denv is None else denv
    denv.check()
    agent = make_agent(config, denv, optimizer)
    threshold = denv.threshold if config.solve_threshold is None else float(config.solve_threshold)
    bounds = chunk_bounds(config, 0)
    plans = jnp.asarray(np.stack([chunk_plan(agent, a, b - a) for a, b in bounds]))
    run_chunk = chunk_fn(agent, denv, threshold, config.log_every)

    def train(seeds: jax.Array, hparams: HParams) -> TrainOutput:
        state = init_state(agent, denv, seeds, hparams)

        def body(s, plan):
            s, _ = run_chunk(s, plan)
            agents, loss, _, _ = agent.reset_metrics(s.agents)
            window = config.solve_window
            mean = jnp.where(s.episode >= window, s.recent.sum(axis=1) / window, jnp.nan)
            return s._replace(agents=agents), (s.t[0], loss, mean, s.episode)

        state, rows = jax.lax.scan(body, state, plans)
        return TrainOutput(state, *rows)

    return train


def chunk_bounds(config: Config, start: int) -> list[tuple[int, int]]:
    """``(t0, t1)`` of every chunk from env step ``start`` to ``total_steps``: chunks end at every
    multiple of ``log_every`` and of ``checkpoint_every``, and at the budget."""
    ends = sorted(
        {t for every in (config.log_every, config.checkpoint_every)
         for t in range(every, config.total_steps + 1, every) if t > start} | {config.total_steps}
    )
    starts = [start, *ends[:-1]]
    return [(a, b) for a, b in zip(starts, ends) if b > a]


def make_agent(config: Config, denv, optimizer=None) -> Agent:
    """The agent of ``config`` for the observations of ``denv`` (shape, storage dtype)."""
    shape = tuple(denv.obs_shape)
    return Agent(config, shape[0] if len(shape) == 1 else shape, denv.num_actions, optimizer,
                 obs_dtype=denv.obs_dtype)
