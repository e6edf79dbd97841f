"""Evaluation on a device env, in one jitted ``lax.while_loop``: the policies of
``noisyjax.run.evaluation`` (mean, noisy, frozen) on episodes distinct from training's."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from noisyjax.agent.agent import Agent
from noisyjax.run.device_envs import make_device_env
from noisyjax.run.envs import EVAL_STREAM, episode_seed
from noisyjax.run.evaluation import make_eval_policy


@functools.lru_cache(maxsize=16)
def _program(agent: Agent, denv, policy: str, episodes: int, num_envs: int, stream: int):
    act = make_eval_policy(agent, policy)

    def run(params, seed):
        seeds = jnp.full(num_envs, seed, jnp.uint32)
        current = jnp.arange(num_envs, dtype=jnp.int32)  # slot j plays episodes j, j + E, ...
        state, obs = denv.reset(seeds, current)
        base_key = jax.random.fold_in(jax.random.PRNGKey(seed), stream)
        zeros = jnp.zeros(num_envs, jnp.float32)
        init = (state, obs, current, zeros, jnp.zeros(num_envs, jnp.int32),
                jnp.full(episodes, jnp.nan, jnp.float32), jnp.int32(0))

        def body(c):
            state, obs, current, ep_return, ep_len, returns, step = c
            actions = act(params, obs, base_key, step, current)
            state, next_obs, reward, terminated, truncated = denv.step(state, actions, seeds, current, ep_len)
            ep_return, done = ep_return + reward, terminated | truncated
            # finished episodes past the last one land on index ``episodes``: dropped
            slot = jnp.where(done & (current < episodes), current, episodes)
            returns = returns.at[slot].set(ep_return, mode="drop")
            current = current + num_envs * done.astype(jnp.int32)
            state, obs = denv.reset_done(state, next_obs, done, seeds, current)
            return (state, obs, current, jnp.where(done, 0.0, ep_return),
                    jnp.where(done, 0, ep_len + 1), returns, step + 1)

        out = jax.lax.while_loop(lambda c: (c[2] < episodes).any(), body, init)
        return out[5]

    return jax.jit(run)


def evaluate_device(
    agent: Agent, params: jax.Array, *, seed: int, episodes: int = 100, policy: str = "mean",
    num_envs: int = 10, stream: int = EVAL_STREAM,
) -> np.ndarray:
    """Returns ``[episodes]`` of ``policy`` with flat ``params [P]`` on ``agent.config.env`` (a
    device env), ``num_envs`` at a time, on the evaluation stream ``stream`` of ``seed`` (never a
    training episode's start; envpool's envs are seeded from it instead)."""
    num_envs = max(1, min(num_envs, episodes))
    slot_seeds = [episode_seed(seed, j, stream) for j in range(num_envs)]
    denv = make_device_env(agent.config.env, slot_seeds, "vmap", stream)
    returns = _program(agent, denv, policy, int(episodes), num_envs, stream)(params, jnp.uint32(seed))
    close = getattr(denv, "close", None)
    if close is not None:
        close()
    return np.asarray(returns, np.float64)
