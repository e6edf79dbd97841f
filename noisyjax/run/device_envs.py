"""Device-side environments for the jitted engine: every slot (one per agent, or one per
evaluation env) is stepped inside jit, with its state as arrays.

A ``DeviceEnv`` has the static facts (``obs_shape``, ``obs_dtype``: the dtype the replay stores,
``num_actions``, ``threshold``) and three traced functions over a leading ``[slots]`` axis:

- ``reset(seeds, episode)``: every slot starts episode ``episode [slots]`` of run ``seeds [slots]``;
- ``step(state, actions, seeds, episode, ep_len)``: one env step of every slot, without autoreset:
  ``(state, next_obs, reward, terminated, truncated)`` where ``next_obs`` is the real last
  observation of an episode that ended here;
- ``reset_done(state, obs, done, seeds, episode)``: the slots with ``done`` start their episode
  ``episode`` (already advanced); the others keep ``obs``.

The gymnax envs here are pure: each episode's reset key comes from (run seed, stream, episode
index) and each step's key from that episode key and the step's index in the episode, so any
episode is reproducible on its own and the state resumes from a checkpoint. envpool's state lives
in C++ (``noisyjax.run.envpool_env``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from noisyjax.agent.axis import over_agents
from noisyjax.run.env_ids import backend, require
from noisyjax.run.envs import EVAL_STREAM, TRAIN_STREAM, EnvError

# Observations of these gymnax envs are 0/1 grids: stored as bool (an eighth of the bytes of float32
# at 1 byte per cell in the replay), cast to float32 by the network. bool -> float32 is exact.
_BINARY_SUFFIXES = ("-MinAtar", "DeepSea-bsuite", "Catch-bsuite")

# gymnasium's reward_threshold of the classic-control envs gymnax reimplements: the same solve
# test as the host runs of the same task.
_THRESHOLDS = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "MountainCar-v0": -110.0}


def episode_key(seed: jax.Array, episode: jax.Array, stream: int) -> jax.Array:
    """Key of episode ``episode`` of run ``seed`` in ``stream`` (training or evaluation)."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), stream)
    return jax.random.fold_in(key, episode)


def parse_gymnax_id(env_id: str) -> tuple[str, dict]:
    """``gymnax:DeepSea-bsuite?size=20`` -> ``("DeepSea-bsuite", {"size": 20})``."""
    _, _, rest = env_id.partition(":")
    name, _, query = rest.partition("?")
    kwargs: dict[str, Any] = {}
    for item in filter(None, query.split("&")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EnvError(f"{env_id!r}: environment options look like ?size=20&other=1")
        try:
            kwargs[key] = int(value)
        except ValueError:
            try:
                kwargs[key] = float(value)
            except ValueError:
                kwargs[key] = value
    return name, kwargs


@dataclasses.dataclass(frozen=True)
class GymnaxEnv:
    """A discrete-action gymnax env over ``[slots]``; ``axis`` as ``Config.agent_axis`` (``"map"``
    steps each slot with the ops of a single one, so results do not depend on the slot count)."""

    env_id: str
    axis: str = "map"
    stream: int = TRAIN_STREAM

    resumable = True

    @functools.cached_property
    def _made(self):
        require("gymnax")
        import gymnax

        name, kwargs = parse_gymnax_id(self.env_id)
        if name not in gymnax.registered_envs:
            known = ", ".join(e for e in gymnax.registered_envs)
            raise EnvError(f"unknown gymnax env {name!r}; gymnax has: {known}")
        try:
            env, params = gymnax.make(name, **kwargs)
        except Exception as err:  # a bad option of the env's constructor: one line
            raise EnvError(f"{self.env_id!r} could not be made ({type(err).__name__}: {err})") from None
        space = env.action_space(params)
        if not hasattr(space, "n"):
            raise EnvError(
                f"gymnax env {name!r} has a {type(space).__name__} action space; DQN needs a Discrete one"
            )
        return name, env, params

    @property
    def name(self) -> str:
        return self._made[0]

    @functools.cached_property
    def _raw_obs(self) -> jax.ShapeDtypeStruct:
        _, env, params = self._made
        return jax.eval_shape(lambda k: env.reset_env(k, params)[0], jax.random.PRNGKey(0))

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """Shape the agent sees: a 2-D grid is flattened, an image ``[H, W, C]`` kept."""
        shape = tuple(self._raw_obs.shape)
        return (int(np.prod(shape)),) if len(shape) == 2 else shape

    @property
    def obs_dtype(self) -> str:
        """The replay's storage dtype: bool for 0/1 grids, float32 otherwise."""
        return "bool" if self.name.endswith(_BINARY_SUFFIXES) else "float32"

    @property
    def num_actions(self) -> int:
        _, env, params = self._made
        return int(env.action_space(params).n)

    @property
    def threshold(self) -> float | None:
        """gymnasium's reward_threshold for the classic-control tasks; None for the others."""
        return _THRESHOLDS.get(self.name) if not parse_gymnax_id(self.env_id)[1] else None

    @property
    def max_episode_steps(self) -> int | None:
        return getattr(self._made[2], "max_steps_in_episode", None)

    def check(self) -> None:
        """Raise ``EnvError`` (or ``MissingExtra``) if the env cannot be used."""
        self._made  # noqa: B018 (making it is the check)
        if len(self._raw_obs.shape) not in (1, 2, 3):
            raise EnvError(f"{self.env_id!r} has observations of shape {self._raw_obs.shape}; "
                           "noisyjax takes vectors, grids and images [H, W, C]")

    def _obs(self, obs: jax.Array) -> jax.Array:
        return obs.reshape(self.obs_shape).astype(self.obs_dtype)

    def _map(self, fn: Callable) -> Callable:
        return over_agents(fn, self.axis)

    def reset(self, seeds: jax.Array, episode: jax.Array):
        """``(state, obs [slots, *obs_shape])`` of each slot's episode ``episode``."""
        _, env, params = self._made

        def one(seed, ep):
            k_reset, _ = jax.random.split(episode_key(seed, ep, self.stream))
            obs, state = env.reset_env(k_reset, params)
            return state, self._obs(obs)

        return self._map(one)(seeds, episode)

    def step(self, state, actions, seeds, episode, ep_len):
        """One step of every slot (no autoreset): ``(state, next_obs, reward float32,
        terminated bool, truncated bool)``, each ``[slots, ...]``."""
        _, env, params = self._made

        def one(st, a, seed, ep, n):
            _, k_steps = jax.random.split(episode_key(seed, ep, self.stream))
            obs, st, reward, terminated, _ = env.step_env(jax.random.fold_in(k_steps, n), st, a, params)
            truncated = env.is_truncated(st, params)
            return (st, self._obs(obs), jnp.asarray(reward, jnp.float32),
                    jnp.asarray(terminated, jnp.bool_), jnp.asarray(truncated, jnp.bool_))

        return self._map(one)(state, actions, seeds, episode, ep_len)

    def reset_done(self, state, obs, done, seeds, episode):
        """Slots with ``done [slots]`` start episode ``episode``; returns ``(state, obs)``."""
        _, env, params = self._made

        def one(st, o, d, seed, ep):
            def fresh(_):
                k_reset, _ = jax.random.split(episode_key(seed, ep, self.stream))
                new_obs, new_st = env.reset_env(k_reset, params)
                return new_st, self._obs(new_obs)

            return jax.lax.cond(d, fresh, lambda _: (st, o), None)

        return self._map(one)(state, obs, done, seeds, episode)


def make_device_env(env_id: str, seeds, axis: str = "map", stream: int = TRAIN_STREAM):
    """The ``DeviceEnv`` of a ``gymnax:`` or ``envpool:`` id for ``len(seeds)`` slots (envpool
    seeds its C++ envs from ``seeds`` when made; gymnax takes them traced)."""
    kind = backend(env_id)
    if kind == "gymnax":
        return GymnaxEnv(env_id, axis, stream)
    if kind == "envpool":
        from noisyjax.run.envpool_env import EnvpoolEnv

        return EnvpoolEnv(env_id, tuple(int(s) for s in seeds), stream)
    raise EnvError(f"{env_id!r} is not a device env id (gymnax:<name> or envpool:<name>)")


__all__ = ["EVAL_STREAM", "TRAIN_STREAM", "GymnaxEnv", "episode_key", "make_device_env", "parse_gymnax_id"]
