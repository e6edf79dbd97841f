"""n-step returns read out of a replay buffer of one-step transitions (Sutton 1988; Rainbow).

The buffer stores raw one-step transitions in the order they happened; a sampled slot ``i``
becomes the n-step transition built from slots ``i .. i+n-1``:

    R = sum_{k<m} gamma^k r_{i+k},   discount = gamma^m * (1 - terminated_{i+m-1}),
    next_obs = next_obs_{i+m-1},

where ``m <= n`` stops at the first step that ended its episode (terminated: no bootstrap;
truncated: bootstrap from the truncated state). A window never reads a later episode, and the
newest ``n - 1`` slots (whose windows are not complete yet) are never sampled. With ``n = 1`` this
is the plain one-step transition, bit for bit.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from noisyjax.replay.uniform import ReplayState, replay_capacity


class Batch(NamedTuple):
    """What a TD update consumes: leaves ``[batch, ...]`` (or unbatched for one transition)."""

    obs: jax.Array  # [B, *obs_shape] s_tm1, in the dtype the replay stores
    action: jax.Array  # [B] int32 a_tm1
    reward: jax.Array  # [B] float32: the n-step discounted return
    discount: jax.Array  # [B] float32: gamma^m * (1 - terminated); 0 means no bootstrap
    next_obs: jax.Array  # [B, *obs_shape] the state to bootstrap from (stored dtype)
    weight: jax.Array  # [B] float32: importance weight of the loss term (1 for uniform replay)
    index: jax.Array  # [B] int32: buffer slot of s_tm1 (priority updates)


def nstep_return(
    rewards: jax.Array, terminated: jax.Array, truncated: jax.Array, gamma: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One window of ``n`` consecutive transitions ``[n]`` -> ``(return, discount, last)``.

    ``last`` (int32 []) is the offset of the transition whose ``next_obs`` is bootstrapped from.
    Steps after the first one that ended its episode (``terminated | truncated``) are dropped;
    ``discount = gamma^m * (1 - terminated[last])`` with ``m = last + 1``.
    """
    chex.assert_rank([rewards, terminated, truncated], 1)
    n = rewards.shape[0]
    ended = terminated | truncated
    # included[k]: no episode end strictly before k (the window stops after the first end).
    included = jnp.concatenate([jnp.ones((1,), bool), jnp.cumprod(~ended[:-1]).astype(bool)])
    # Powers and the return are summed term by term in a fixed order, not with cumprod / sum:
    # XLA vectorises those reductions differently at different agent widths (n = 5: other bits
    # at width 10 than at width 1), and a sweep's agents must compute exactly as single runs.
    terms = [jnp.ones((), jnp.float32)]
    for _ in range(n - 1):
        terms.append(terms[-1] * gamma)
    powers = jnp.stack(terms)
    ret = jnp.zeros((), jnp.float32)
    for k in range(n):
        ret = ret + jnp.where(included[k], powers[k] * rewards[k], 0.0)
    last = jnp.sum(included).astype(jnp.int32) - 1
    discount = powers[last] * gamma * (1.0 - terminated[last].astype(jnp.float32))
    return ret, discount, last


def sampleable(replay: ReplayState, n: int) -> jax.Array:
    """How many slots can be sampled: the stored ones but the newest ``n - 1`` (int32 [])."""
    return jnp.maximum(replay.size - (n - 1), 0)


def oldest_slot(replay: ReplayState) -> jax.Array:
    """Slot of the oldest stored transition (0 until the buffer wraps; then the write index)."""
    return (replay.index - replay.size) % replay_capacity(replay)


def gather(replay: ReplayState, slots: jax.Array, n: int, gamma: jax.Array) -> Batch:
    """n-step transitions starting at ``slots [B]`` (weight 1). The caller guarantees each window
    ``slot .. slot+n-1`` is stored (``sample_uniform`` and prioritised sampling do)."""
    cap = replay_capacity(replay)
    data = replay.data
    window = (slots[:, None] + jnp.arange(n)[None, :]) % cap  # [B, n]
    ret, discount, last = jax.vmap(nstep_return, in_axes=(0, 0, 0, None))(
        data.reward[window], data.terminated[window], data.truncated[window], gamma
    )
    boot = jnp.take_along_axis(window, last[:, None], axis=1)[:, 0]
    return Batch(
        obs=data.obs[slots],
        action=data.action[slots],
        reward=ret,
        discount=discount,
        next_obs=data.next_obs[boot],
        weight=jnp.ones(slots.shape, jnp.float32),
        index=slots.astype(jnp.int32),
    )


def uniform_slots(replay: ReplayState, key: jax.Array, batch_size: int, n: int) -> jax.Array:
    """``batch_size`` slots (int32) drawn uniformly with replacement among the sampleable ones
    (every stored slot but the newest ``n - 1``)."""
    offset = jax.random.randint(key, (batch_size,), 0, jnp.maximum(sampleable(replay, n), 1))
    return (oldest_slot(replay) + offset) % replay_capacity(replay)


def sample_uniform(
    replay: ReplayState, key: jax.Array, batch_size: int, n: int, gamma: jax.Array
) -> Batch:
    """``batch_size`` n-step transitions at ``uniform_slots`` (weight 1)."""
    return gather(replay, uniform_slots(replay, key, batch_size, n), n, gamma)


def batch_from_transitions(transitions, gamma: jax.Array) -> Batch:
    """One-step ``Batch`` of ``transitions`` (a ``Transition`` with leaves ``[B, ...]``):
    ``discount = gamma * (1 - terminated)``, weight 1, index ``0..B-1``. For notebooks and tests
    that feed ``Agent.learn`` directly."""
    b = transitions.reward.shape[0]
    return Batch(
        obs=transitions.obs,
        action=transitions.action,
        reward=transitions.reward,
        discount=gamma * (1.0 - jnp.asarray(transitions.terminated).astype(jnp.float32)),
        next_obs=transitions.next_obs,
        weight=jnp.ones((b,), jnp.float32),
        index=jnp.arange(b, dtype=jnp.int32),
    )
