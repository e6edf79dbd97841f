"""Uniform replay buffer: counters, wrap-around, sampling only stored items, dtypes, vmap, jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noisyjax.replay.uniform import ReplayState, can_sample, replay_add, replay_init, replay_sample


def example_item():
    """One item with every dtype a transition uses (float32, int32, bool, uint8)."""
    return {
        "obs": jnp.zeros((3,), jnp.float32),
        "action": jnp.zeros((), jnp.int32),
        "done": jnp.zeros((), jnp.bool_),
        "frame": jnp.zeros((2, 2), jnp.uint8),
    }


def item(v: int):
    """An item whose every leaf encodes ``v`` (so a sampled row shows which item it came from)."""
    return {
        "obs": jnp.full((3,), float(v), jnp.float32),
        "action": jnp.asarray(v, jnp.int32),
        "done": jnp.asarray(v % 2 == 1),
        "frame": jnp.full((2, 2), v % 256, jnp.uint8),
    }


CAP, N = 10, 1000  # one capacity and one sample size throughout: shapes (and compilations) shared


def sample_n(state, key):
    """N draws (module-level so that jitted variants share one compilation)."""
    return replay_sample(state, key, N)


def fill(state, values, add=replay_add):
    for v in values:
        state = add(state, item(v))
    return state


def assert_rows_consistent(batch):
    """Each sampled row is one whole stored item (leaves not mixed between items)."""
    v = np.asarray(batch["action"])
    np.testing.assert_array_equal(
        np.asarray(batch["obs"]), np.repeat(v[:, None], 3, axis=1).astype(np.float32)
    )
    np.testing.assert_array_equal(np.asarray(batch["done"]), v % 2 == 1)
    np.testing.assert_array_equal(
        np.asarray(batch["frame"]), np.broadcast_to((v % 256)[:, None, None], (len(v), 2, 2))
    )


def test_init_shapes_and_dtypes():
    """Storage is [capacity, ...] per leaf with the example's dtype, zero-filled; counters int32 0."""
    state = replay_init(example_item(), 7)
    assert isinstance(state, ReplayState)
    expected = {
        "obs": ((7, 3), jnp.float32),
        "action": ((7,), jnp.int32),
        "done": ((7,), jnp.bool_),
        "frame": ((7, 2, 2), jnp.uint8),
    }
    for name, (shape, dtype) in expected.items():
        assert state.data[name].shape == shape and state.data[name].dtype == dtype, name
        assert not np.any(np.asarray(state.data[name]))
    assert int(state.index) == 0 and int(state.size) == 0
    assert state.index.dtype == jnp.int32 and state.size.dtype == jnp.int32


@pytest.mark.parametrize("capacity", [0, -1, -10])
def test_invalid_capacity_raises(capacity):
    """A non-positive capacity raises ValueError."""
    with pytest.raises(ValueError, match="capacity"):
        replay_init(example_item(), capacity)


def test_add_rejects_mismatched_item():
    """An item whose shape or dtype differs from the example is refused."""
    state = replay_init(example_item(), 4)
    bad_dtype = {**item(1), "action": jnp.asarray(1.0, jnp.float32)}
    with pytest.raises(AssertionError):
        replay_add(state, bad_dtype)
    bad_shape = {**item(1), "obs": jnp.zeros((4,), jnp.float32)}
    with pytest.raises(AssertionError):
        replay_add(state, bad_shape)


def test_add_accepts_python_and_numpy_scalars(variant):
    """gymnasium hands over an ``int`` action and a ``bool`` or ``np.bool_`` flag: they are stored
    in the example's dtypes, exactly as the same values given as arrays."""
    state = replay_init(example_item(), 4)
    host = {"obs": np.full(3, 7.0, np.float32), "action": 7, "done": np.bool_(True),
            "frame": jnp.full((2, 2), 7, jnp.uint8)}
    got = variant(replay_add)(state, host)
    want = replay_add(state, item(7))
    for leaf, ref in zip(jax.tree.leaves(got.data), jax.tree.leaves(want.data)):
        assert leaf.dtype == ref.dtype
        np.testing.assert_array_equal(leaf, ref)
    got = variant(replay_add)(state, {**host, "done": True})
    assert got.data["done"].dtype == jnp.bool_ and bool(got.data["done"][0])


def test_add_fills_slots_and_counts(variant):
    """Items go to slots 0, 1, 2 in order; size and index count the adds; dtypes are kept."""
    add = variant(replay_add)
    state = replay_init(example_item(), CAP)
    for n, v in enumerate([11, 12, 13], start=1):
        state = add(state, item(v))
        assert int(state.size) == n and int(state.index) == n
    np.testing.assert_array_equal(state.data["action"], [11, 12, 13] + [0] * 7)
    np.testing.assert_array_equal(state.data["obs"][:, 0], [11.0, 12.0, 13.0] + [0.0] * 7)
    np.testing.assert_array_equal(state.data["done"], [True, False, True] + [False] * 7)
    np.testing.assert_array_equal(state.data["frame"][:, 0, 0], [11, 12, 13] + [0] * 7)
    for name, leaf in example_item().items():
        assert state.data[name].dtype == leaf.dtype


def test_wraparound_overwrites_oldest(variant):
    """Capacity 10, items 0..12: slots hold [10, 11, 12, 3, ..., 9] (0, 1, 2, the oldest,
    overwritten), size 10, next slot 3."""
    add = variant(replay_add)
    state = fill(replay_init(example_item(), CAP), range(13), add=add)
    np.testing.assert_array_equal(state.data["action"], [10, 11, 12, 3, 4, 5, 6, 7, 8, 9])
    assert int(state.size) == CAP and int(state.index) == 3
    state = add(state, item(13))  # overwrites 3, now the oldest
    np.testing.assert_array_equal(state.data["action"], [10, 11, 12, 13, 4, 5, 6, 7, 8, 9])
    assert int(state.size) == CAP and int(state.index) == 4


def test_can_sample(variant):
    """True exactly when at least batch_size items are stored."""
    state = replay_init(example_item(), CAP)
    check = variant(lambda s: (can_sample(s, 2), can_sample(s, 3), can_sample(s, CAP)))
    assert [bool(x) for x in check(state)] == [False, False, False]
    state = fill(state, [1, 2])
    assert [bool(x) for x in check(state)] == [True, False, False]
    state = fill(state, range(3, 15))
    assert [bool(x) for x in check(state)] == [True, True, True]


def test_sample_returns_only_stored_items(variant):
    """3 of 10 slots filled: 1,000 draws are all among the stored items, whole rows, each item
    drawn about a third of the time (count SE ~15; bounds are > 5 SE), dtypes preserved."""
    state = fill(replay_init(example_item(), CAP), [10, 20, 30])
    batch = variant(sample_n)(state, jax.random.PRNGKey(0))
    assert batch["action"].shape == (N,) and batch["obs"].shape == (N, 3)
    assert batch["frame"].shape == (N, 2, 2)
    for name, leaf in example_item().items():
        assert batch[name].dtype == leaf.dtype
    values, counts = np.unique(np.asarray(batch["action"]), return_counts=True)
    assert values.tolist() == [10, 20, 30]
    assert np.all((counts > 250) & (counts < 420)), counts
    assert_rows_consistent(batch)


def test_sample_after_wraparound(variant):
    """After wrapping, sampling draws from the whole buffer: the 10 most recent items, all of them."""
    state = fill(replay_init(example_item(), CAP), range(1, 14))
    batch = variant(sample_n)(state, jax.random.PRNGKey(1))
    assert set(np.unique(np.asarray(batch["action"])).tolist()) == set(range(4, 14))
    assert_rows_consistent(batch)


def test_sample_keys(variant):
    """Same key, same batch; different keys, different batches."""
    state = fill(replay_init(example_item(), CAP), range(CAP))
    sample = variant(sample_n)
    a = np.asarray(sample(state, jax.random.PRNGKey(0))["action"])
    np.testing.assert_array_equal(a, sample(state, jax.random.PRNGKey(0))["action"])
    b = np.asarray(sample(state, jax.random.PRNGKey(1))["action"])
    assert not np.array_equal(a, b)


def test_vmap_over_agent_axis(variant):
    """vmap of add and sample over 3 buffers (leading agent axis) equals each buffer on its own."""
    n_agents = 3
    single = [replay_init(example_item(), CAP) for _ in range(n_agents)]
    batched = jax.tree.map(lambda *xs: jnp.stack(xs), *single)
    add = variant(jax.vmap(replay_add))
    for t in range(11):  # wraps around
        items = [item(a * 100 + t) for a in range(n_agents)]
        batched = add(batched, jax.tree.map(lambda *xs: jnp.stack(xs), *items))
        single = [replay_add(s, it) for s, it in zip(single, items)]
    keys = jax.random.split(jax.random.PRNGKey(3), n_agents)
    samples = variant(jax.vmap(sample_n))(batched, keys)
    for a in range(n_agents):
        for got, want in zip(jax.tree.leaves(batched), jax.tree.leaves(single[a])):
            np.testing.assert_array_equal(got[a], want)
        expected = sample_n(single[a], keys[a])
        for name in expected:
            np.testing.assert_array_equal(samples[name][a], expected[name])
    # the agents' buffers really hold different data
    assert not np.array_equal(batched.data["action"][0], batched.data["action"][1])


@settings(max_examples=30, deadline=None)
@given(capacity=st.integers(1, 20), adds=st.integers(0, 50))
def test_counters_and_contents_property(capacity, adds):
    """For any capacity 1..20 and 0..50 adds: size == min(adds, capacity),
    index == adds % capacity, the stored set is the last min(adds, capacity) items, and item i
    sits in slot i % capacity."""
    state = replay_init({"v": jnp.zeros((), jnp.int32)}, capacity)
    for i in range(adds):
        state = replay_add(state, {"v": jnp.asarray(i, jnp.int32)})
    size = min(adds, capacity)
    assert int(state.size) == size
    assert int(state.index) == adds % capacity
    stored = np.asarray(state.data["v"])[:size]
    assert set(stored.tolist()) == set(range(adds - size, adds))
    for i in range(adds - size, adds):
        assert int(state.data["v"][i % capacity]) == i
