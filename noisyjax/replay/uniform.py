"""Uniform replay buffer as a pytree: pure ``init / add / sample`` functions, jittable, vmappable.

The buffer holds any pytree of arrays (an "item"); its storage has a leading ``[capacity]`` axis
and shapes and dtypes follow the example item given to ``replay_init``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np


class ReplayState(NamedTuple):
    """Circular storage. ``data`` leaves are ``[capacity, ...]``; ``index`` is the next slot to
    write; ``size`` is how many slots hold a stored item (``<= capacity``)."""

    data: Any
    index: jax.Array  # int32 []
    size: jax.Array  # int32 []


def replay_init(example_item: Any, capacity: int) -> ReplayState:
    """Empty buffer for items shaped like ``example_item`` (a pytree of arrays, no batch axis)."""
    if int(capacity) <= 0:
        raise ValueError(f"capacity must be positive, got {capacity}")
    data = jax.tree.map(
        lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.asarray(x).dtype), example_item
    )
    return ReplayState(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def replay_capacity(state: ReplayState) -> int:
    """The buffer's fixed capacity (static)."""
    return jax.tree.leaves(state.data)[0].shape[0]


def _scalars_as_stored(item: Any, example: Any) -> Any:
    """``item`` with its Python and NumPy scalar leaves (e.g. gymnasium's ``int`` action and
    ``float`` reward) cast to the stored leaf's dtype; arrays are left as they are."""
    return jax.tree.map(
        lambda x, e: jnp.asarray(x, e.dtype) if isinstance(x, (bool, int, float, np.generic)) else x,
        item, example,
    )


def replay_add(state: ReplayState, item: Any) -> ReplayState:
    """Write one item at ``index``; wraps around. Array leaves must have the example's shapes and
    dtypes; Python and NumPy scalars are cast to the stored dtype.

    Each call returns a new buffer: eagerly, or under ``jax.jit`` without donating ``state``, that
    copies the whole storage. ``jax.jit(replay_add, donate_argnums=0)`` writes in place
    (docs/architecture.md, "Calling the replay functions")."""
    example = jax.tree.map(lambda x: x[0], state.data)
    item = _scalars_as_stored(item, example)
    chex.assert_trees_all_equal_shapes_and_dtypes(item, example)
    capacity = replay_capacity(state)
    data = jax.tree.map(
        lambda store, x: jax.lax.dynamic_update_index_in_dim(store, x, state.index, 0),
        state.data,
        item,
    )
    return ReplayState(
        data,
        (state.index + 1) % capacity,
        jnp.minimum(state.size + 1, capacity),
    )


def can_sample(state: ReplayState, batch_size: int) -> jax.Array:
    """True when at least ``batch_size`` items are stored."""
    return state.size >= batch_size


def replay_sample(state: ReplayState, key: jax.Array, batch_size: int) -> Any:
    """``batch_size`` items drawn uniformly with replacement among the stored ones.

    Leaves come back as ``[batch_size, ...]``. Only slots ``0 .. size-1`` are ever drawn, which are
    exactly the stored ones (the buffer fills from slot 0). On an empty buffer the result is
    slot 0's zeros: check ``can_sample`` first.
    """
    idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(state.size, 1))
    return jax.tree.map(lambda store: store[idx], state.data)
