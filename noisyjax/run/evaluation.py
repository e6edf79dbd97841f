"""Evaluation: run a trained agent's policy for N episodes on seeds distinct from training."""

from __future__ import annotations

import functools

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from noisyjax.agent.agent import Agent
from noisyjax.config import EVAL_POLICIES
from noisyjax.run.envs import EVAL_STREAM, episode_seed

POLICIES = EVAL_POLICIES


@functools.lru_cache(maxsize=16)
def make_eval_policy(agent: Agent, policy: str):
    """Jitted ``(params [P], obs [E, obs_dim], base_key [2], step [], episode [E]) -> actions [E]``.

    ``mean``: the mean weights (noise off; Dopamine's choice). ``noisy``: a fresh noise sample per
    env per step, from (base_key, step, env slot) (DQN Zoo). ``frozen``: one noise draw per
    episode, from (base_key, episode index), held for the whole episode (Stoix).
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")

    def act(params, obs, base_key, step, episode):
        slots = jnp.arange(obs.shape[0])
        if policy == "frozen":
            keys = jax.vmap(lambda e: jax.random.fold_in(base_key, e))(episode)
        else:
            step_key = jax.random.fold_in(base_key, 1_000_000 + step)
            keys = jax.vmap(lambda j: jax.random.fold_in(step_key, j))(slots)

        def one(o, k):
            q = agent.q_values(params, o, None if policy == "mean" else k)
            return jnp.argmax(q).astype(jnp.int32)

        return jax.vmap(one)(obs, keys)

    return jax.jit(act)


def evaluate(
    agent: Agent,
    params: jax.Array,
    *,
    seed: int,
    episodes: int = 100,
    policy: str = "mean",
    num_envs: int = 10,
    stream: int = EVAL_STREAM,
) -> np.ndarray:
    """Returns of ``episodes`` evaluation episodes ``[episodes]``, in episode order.

    Episode i starts from ``episode_seed(seed, i, stream)``, never a training start (``stream``:
    ``EVAL_STREAM``, or ``SELECT_STREAM`` for the periodic evaluations that choose the best
    checkpoint); the noise keys come from ``seed`` and ``stream`` too, so an evaluation reproduces
    exactly.
    """
    env_id = agent.config.env
    num_envs = max(1, min(num_envs, episodes))
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.make(env_id) for _ in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.DISABLED,
    )
    act = make_eval_policy(agent, policy)
    base_key = jax.random.fold_in(jax.random.PRNGKey(seed), stream)
    returns = np.full(episodes, np.nan)
    # Sub-env j plays episodes j, j + num_envs, ...; each keeps its own episode index.
    current = np.arange(num_envs)
    active = current < episodes
    obs, _ = envs.reset(seed=[episode_seed(seed, int(e), stream) for e in current])
    ep_return = np.zeros(num_envs)
    step = 0
    while active.any():
        actions = np.asarray(act(params, np.asarray(obs, np.float32), base_key, step, current))
        obs, reward, terminated, truncated, _ = envs.step(actions)
        ep_return += reward
        step += 1
        done = terminated | truncated
        if done.any():
            for j in np.flatnonzero(done):
                if active[j]:
                    returns[current[j]] = ep_return[j]
                ep_return[j] = 0.0
                current[j] += num_envs
                active[j] = current[j] < episodes
            seeds = [
                episode_seed(seed, int(current[j]), stream) if done[j] else None
                for j in range(num_envs)
            ]
            obs, _ = envs.reset(seed=seeds, options={"reset_mask": done.copy()})
    envs.close()
    return returns


def record_episode(
    agent: Agent, params: jax.Array, path, *, seed: int, policy: str = "mean", fps: int = 30
) -> tuple[float, int]:
    """Render evaluation episode 0 of ``seed`` to a GIF at ``path`` (headless ``rgb_array``).

    Returns ``(episode return, frames)``. ``frozen`` and ``noisy`` use the same keys as
    ``evaluate`` does for episode 0, so the GIF shows an episode ``evaluate`` also scored.
    """
    import os

    import imageio.v2 as imageio

    # Headless rendering: pygame needs no display or audio device for rgb_array frames.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    env = gym.make(agent.config.env, render_mode="rgb_array")
    act = make_eval_policy(agent, policy)
    base_key = jax.random.fold_in(jax.random.PRNGKey(seed), EVAL_STREAM)
    obs, _ = env.reset(seed=episode_seed(seed, 0, EVAL_STREAM))
    frames, total, step, done = [env.render()], 0.0, 0, False
    while not done:
        action = int(act(params, np.asarray(obs, np.float32)[None], base_key, step, np.zeros(1, int))[0])
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        frames.append(env.render())
        done = terminated or truncated
        step += 1
    env.close()
    # imageio 2.38 (pillow) takes the frame duration in milliseconds
    imageio.mimsave(path, frames[::2], duration=1000 * 2 / fps, loop=0)
    return total, len(frames)
