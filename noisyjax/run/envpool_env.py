"""envpool's C++ environments as a device env of the jitted engine (``envpool:<name>`` ids).

The same interface as ``noisyjax.run.device_envs.GymnaxEnv`` (see that module's docstring), with
one envpool per slot (``num_envs=1``) stepped through envpool's XLA interface: its ffi calls run
the C++ env inside the jitted program. The env state is the slots' envpool handles,
``uint8 [slots, handle_bytes]``; slot ``i``'s functions are python-unrolled calls of pool ``i``
(vmap cannot apply to a C++ env, so ``make_device_env``'s ``axis`` is ignored).

Seeding: slot ``i``'s pool is made with envpool's int32 ``seed`` = the uint32 ``seeds[i]``
reinterpreted as a two's-complement int32 (``s`` if ``s < 2**31`` else ``s - 2**32``: one-to-one,
so distinct run seeds give distinct pools). Every later episode start comes from that env's own
C++ RNG, so per-episode seeding from (run seed, episode index) is impossible: an episode cannot be
replayed on its own, and runs on envpool cannot be resumed (``resumable = False``). The same seeds
and the same actions give the same trajectory.

Autoreset: envpool resets an env on the step AFTER the one that ended its episode; that step
ignores its action and returns the new episode's first observation with reward 0 and
``elapsed_step`` 0. ``step`` therefore returns the real last observation of an episode, and
``reset_done`` spends that extra step on the slots that are done (``lax.cond`` per slot); the
agent never sees it as a transition.

Resets: every executed ``reset`` first calls ``async_reset()`` on each pool from the host (an
ordered ``io_callback`` the ``recv`` depends on through the handle), then receives the first
observations. So a second ``reset`` of the same object is handled: it starts new episodes (drawn
from the envs' RNGs, not a replay of the first ones). The ffi calls have side effects and alias
the handle in place, so the handle's data dependencies keep each pool's calls in order inside
``jit``, ``lax.fori_loop``, ``lax.while_loop`` and ``lax.scan``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from noisyjax.run.env_ids import require
from noisyjax.run.envs import TRAIN_STREAM, EnvError

# Offered in the error of an unknown name (those of them envpool has): discrete actions, vector
# observations.
_DISCRETE_EXAMPLES = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "LunarLander-v3")


def envpool_seed(seed: int) -> int:
    """The uint32 run seed as envpool's int32 ``seed`` (two's complement: one-to-one)."""
    seed = int(seed) % 2**32
    return seed - 2**32 if seed >= 2**31 else seed


def _gymnasium_threshold(name: str) -> float | None:
    """gymnasium's ``reward_threshold`` of ``name`` when gymnasium registers it, else None."""
    import gymnasium as gym

    spec = gym.registry.get(name)
    return None if spec is None or spec.reward_threshold is None else float(spec.reward_threshold)


class EnvpoolEnv:
    """A discrete-action envpool task over ``len(seeds)`` slots (module docstring).

    Hashed and compared by identity: the engine caches compiled programs keyed by the env, and
    each object's programs call its own C++ envs. Construction is cheap: the envs are made on the
    first ``reset``/``step``/``reset_done`` trace or ``check()``."""

    resumable = False

    def __init__(self, env_id: str, seeds: tuple[int, ...], stream: int = TRAIN_STREAM):
        self.env_id = env_id
        self.seeds = tuple(int(s) for s in seeds)
        self.stream = stream  # recorded only: the seeds given already belong to their stream
        self.name = env_id.partition(":")[2] if ":" in env_id else env_id
        self._pools: list[Any] | None = None
        self._xla: list[tuple[Any, ...]] = []
        self._handles: np.ndarray | None = None  # uint8 [slots, handle_bytes] once made

    def __repr__(self) -> str:
        return f"EnvpoolEnv({self.env_id!r}, seeds={self.seeds}, stream={self.stream})"

    # -- static facts (from envpool's spec: no C++ env is made) --

    @functools.cached_property
    def _spec(self):
        require("envpool")
        import envpool

        if self.name not in envpool.list_all_envs():
            known = set(envpool.list_all_envs())
            examples = ", ".join(e for e in _DISCRETE_EXAMPLES if e in known)
            raise EnvError(f"unknown envpool env {self.name!r}; discrete-action envpool envs include "
                           f"{examples} (envpool.list_all_envs() lists all)")
        try:
            spec = envpool.make_spec(self.name)
        except Exception as err:  # a task whose spec cannot be built: one line
            raise EnvError(f"{self.env_id!r} could not be made ({type(err).__name__}: {err})") from None
        space = spec.action_space
        if not hasattr(space, "n"):
            raise EnvError(f"envpool env {self.name!r} has a {type(space).__name__} action space; "
                           "DQN needs a Discrete one")
        return spec

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self._spec.observation_space.shape)

    @property
    def obs_dtype(self) -> str:
        """The replay's storage dtype: the observation space's own (float32 for LunarLander)."""
        return str(np.dtype(self._spec.observation_space.dtype))

    @property
    def num_actions(self) -> int:
        return int(self._spec.action_space.n)

    @property
    def threshold(self) -> float | None:
        """gymnasium's reward_threshold of the same id (200.0 for LunarLander-v3); None if none."""
        return _gymnasium_threshold(self.name)

    @property
    def max_episode_steps(self) -> int | None:
        steps = getattr(self._spec.config, "max_episode_steps", None)
        return None if steps is None else int(steps)

    def check(self) -> None:
        """Raise ``EnvError`` (``MissingExtra`` without envpool) if the env cannot be used; makes
        the C++ envs."""
        self._spec  # noqa: B018 (building the spec checks the name and the action space)
        # envpool's image tasks (Atari, ...) are channels-first [C, H, W]; the networks take
        # [H, W, C], so only vector observations are offered.
        if len(self.obs_shape) != 1:
            raise EnvError(f"{self.env_id!r} has observations of shape {self.obs_shape}; noisyjax "
                           "takes envpool tasks with vector observations (e.g. LunarLander-v3)")
        self._made()

    # -- the C++ envs --

    def _made(self) -> list[tuple[Any, ...]]:
        """``[(pool, recv, send, step)]``, one per slot, made on first use."""
        if self._pools is None:
            import envpool

            self._spec  # noqa: B018 (the name's errors first)
            pools = []
            for seed in self.seeds:
                pools.append(envpool.make(self.name, env_type="gymnasium", num_envs=1, batch_size=1,
                                          num_threads=1, seed=envpool_seed(seed)))
            self._pools = pools
            xla = [pool.xla() for pool in pools]  # (handle, recv, send, step) each
            self._handles = np.stack([x[0] for x in xla])
            self._xla = [(pool, *x[1:]) for pool, x in zip(pools, xla)]
        return self._xla

    def close(self) -> None:
        """Close the pools (the object keeps them referenced, so the ffi targets their compiled
        programs name stay valid until it is gone)."""
        for pool in self._pools or ():
            if not pool.closed:
                pool.close()

    def _obs(self, obs: jax.Array) -> jax.Array:
        return obs[0].reshape(self.obs_shape).astype(self.obs_dtype)

    # -- the traced functions --

    def reset(self, seeds: jax.Array, episode: jax.Array):
        """``(state uint8 [slots, handle_bytes], obs [slots, *obs_shape])``: every pool starts a new
        episode (``seeds``, ``episode`` are accepted and ignored: the pools were seeded when made)."""
        from jax.experimental import io_callback

        made = self._made()
        state = jnp.asarray(self._handles)

        def host_reset(handles):
            for pool, *_ in made:
                pool.async_reset()
            return handles

        # The recv below reads the handles the callback returns: the reset comes first.
        state = io_callback(host_reset, jax.ShapeDtypeStruct(state.shape, state.dtype), state,
                            ordered=True)
        handles, obs = [], []
        for i, (_, recv, _, _) in enumerate(made):
            h, (o, *_) = recv(state[i])
            handles.append(h)
            obs.append(self._obs(o))
        return jnp.stack(handles), jnp.stack(obs)

    def step(self, state, actions, seeds, episode, ep_len):
        """One real env step of every slot (``actions int32 [slots]``; no autoreset): ``(state,
        next_obs [slots, *obs_shape], reward float32, terminated bool, truncated bool)``."""
        made = self._made()
        handles, out = [], []
        for i, (_, _, _, step) in enumerate(made):
            h, (o, r, te, tr, _) = step(state[i], actions[i].astype(jnp.int32)[None])
            handles.append(h)
            out.append((self._obs(o), r[0].astype(jnp.float32), te[0].astype(jnp.bool_),
                        tr[0].astype(jnp.bool_)))
        obs, reward, terminated, truncated = (jnp.stack(x) for x in zip(*out))
        return jnp.stack(handles), obs, reward, terminated, truncated

    def reset_done(self, state, obs, done, seeds, episode):
        """Slots with ``done [slots]`` take envpool's autoreset step (its action ignored) and start
        their next episode; the others keep ``obs``. Returns ``(state, obs)``."""
        made = self._made()
        handles, new_obs = [], []
        for i, (_, _, _, step) in enumerate(made):

            def fresh(operand, step=step):
                h, _ = operand
                h, (o, *_) = step(h, jnp.zeros(1, jnp.int32))
                return h, self._obs(o)

            h, o = jax.lax.cond(done[i], fresh, lambda operand: operand, (state[i], obs[i]))
            handles.append(h)
            new_obs.append(o)
        return jnp.stack(handles), jnp.stack(new_obs)


__all__ = ["EnvpoolEnv", "envpool_seed"]
