"""Prioritised replay (noisyjax.replay.per): sampling frequencies, zero-priority slots never drawn (also
at float32 boundaries), importance weights, wrap-around, max priority, duplicates, jit, vmap, and
a sum tree that cannot drift."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noisyjax.replay import per
from noisyjax.replay.per import (
    PriorityState,
    per_add,
    per_capacity,
    per_init,
    per_sample,
    per_total,
    per_update,
)

K = per.BRANCHING
F32_EPS = 2.0**-24  # unit roundoff of float32
ONE, ZERO = jnp.float32(1.0), jnp.float32(0.0)


def _sample64(state, key, beta):
    return per_sample(state, key, 64, beta)


_update_jit = jax.jit(per_update)


def set_priorities(state: PriorityState, q, update=_update_jit) -> PriorityState:
    """Write priorities ``q`` (a list over all slots) exactly: alpha 1, eps 0, td = q."""
    idx = jnp.arange(len(q), dtype=jnp.int32)
    return update(state, idx, jnp.asarray(q, jnp.float32), ONE, ZERO)


def fold_rows(level: np.ndarray, k: int, n_out: int) -> np.ndarray:
    """Left-to-right float32 sums of consecutive rows of ``k`` (zero-padded), ``n_out`` of them."""
    padded = np.zeros(n_out * k, np.float32)
    padded[: len(level)] = level
    rows = padded.reshape(n_out, k)
    acc = rows[:, 0].copy()
    for c in range(1, k):
        acc = (acc + rows[:, c]).astype(np.float32)
    return acc


def assert_tree_consistent(state: PriorityState, k: int = K) -> None:
    """Every node is bitwise the left-to-right float32 sum of its children (padding zero)."""
    below = np.asarray(state.priorities)
    for level in state.sums:
        level = np.asarray(level)
        n_parents = -(-len(below) // k)
        np.testing.assert_array_equal(level[:n_parents], fold_rows(below, k, n_parents))
        assert not np.any(level[n_parents:]), "padding must stay zero"
        below = level[:n_parents]
    assert len(below) == 1


def chi_square(counts: np.ndarray, expected: np.ndarray) -> float:
    return float(np.sum((counts - expected) ** 2 / expected))


# ---- structure ---------------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [1, 7, 8, 9, 37, 64, 65, 1000])
def test_init(capacity):
    """All zero, max priority 1.0, float32; levels shrink by K up to a [1] root; capacity exact."""
    state = per_init(capacity)
    assert per_capacity(state) == capacity and state.priorities.shape == (capacity,)
    assert state.max_priority.dtype == jnp.float32 and float(state.max_priority) == 1.0
    assert state.sums[-1].shape == (1,) and float(per_total(state)) == 0.0
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(state))
    assert not np.any(np.asarray(state.priorities)) and not any(np.any(np.asarray(x)) for x in state.sums)
    assert_tree_consistent(state)


@pytest.mark.parametrize("capacity", [0, -3])
def test_invalid_capacity_raises(capacity):
    with pytest.raises(ValueError, match="capacity"):
        per_init(capacity)


def test_prefix_sums_are_left_to_right():
    """The property the zero-priority guarantee rests on: each row's prefix sums are the float32
    chain ((r0 + r1) + r2) + ..., bitwise, eagerly, under jit and under vmap. Values of mixed
    magnitudes so that any other order of additions would round differently somewhere."""
    rng = np.random.default_rng(0)
    rows = (rng.random((512, K)) * 10.0 ** rng.integers(-3, 6, (512, K))).astype(np.float32)
    rows[rng.random((512, K)) < 0.2] = 0.0
    expected = np.stack([fold_rows(rows[:, : c + 1].reshape(-1), c + 1, 512) for c in range(K)], 1)
    for fn in (per._prefix_sums, jax.jit(per._prefix_sums), jax.vmap(per._prefix_sums)):
        got = fn(jnp.asarray(rows).reshape(4, 128, K)).reshape(512, K)
        np.testing.assert_array_equal(got, expected)


# ---- sampling ----------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=2)
def draw(state, key, n):
    return per_sample(state, key, n, jnp.float32(0.5))


@pytest.mark.parametrize(
    "capacity, zeros, n_draws, critical",
    [
        # 31 nonzero slots -> df 30; scipy.stats.chi2.ppf(0.999, 30) = 59.703
        (37, [0, 5, 8, 21, 33, 36], 50_000, 59.703),
        # 900 nonzero slots -> df 899; scipy.stats.chi2.ppf(0.999, 899) = 1035.75
        (1000, list(range(0, 1000, 10)), 200_000, 1035.75),
    ],
)
def test_sampling_frequencies_chi_square(capacity, zeros, n_draws, critical):
    """Capacities that are not powers of two: the counts of n draws match n * q_i / sum q
    (Pearson chi-square below its 0.999 quantile, fixed key), zero slots are never drawn, and the
    same statistic against the distribution shifted by one slot (an off-by-one tree) fails."""
    rng = np.random.default_rng(capacity)
    q = rng.uniform(0.2, 5.0, capacity).astype(np.float32)
    q[zeros] = 0.0
    state = set_priorities(per_init(capacity), q)
    idx, _ = draw(state, jax.random.PRNGKey(7), n_draws)
    counts = np.bincount(np.asarray(idx), minlength=capacity)
    assert counts.shape == (capacity,)
    assert counts[zeros].sum() == 0
    nz = q > 0
    expected = n_draws * q.astype(np.float64) / q.astype(np.float64).sum()
    stat = chi_square(counts[nz], expected[nz])
    assert stat < critical, stat
    shifted = n_draws * np.roll(q, 1).astype(np.float64) / q.sum()
    both = nz & (shifted > 0)
    assert chi_square(counts[both], shifted[both] * counts[both].sum() / shifted[both].sum()) > critical


def test_descend_finds_each_slot_and_never_a_zero_one_at_the_edges():
    """Capacity 37, with zero slots inside and at the end, and a huge priority that absorbs small
    ones in float32 (trap 8: flashbax #52). Targets at the middle of every slot's interval find that
    slot (non-power-of-two capacity right, CleanRL #546); targets at and around every boundary,
    at the total, above it and below 0 only ever find nonzero slots."""
    q = np.linspace(1.0, 3.0, 37).astype(np.float32)
    q[[0, 3, 8, 9, 15, 16, 17, 30, 31, 32, 33, 34, 35, 36]] = 0.0
    state = set_priorities(per_init(37), q)
    descend = jax.jit(lambda s, u: per._descend(s, u, K))
    cum = np.concatenate([[0.0], np.cumsum(q.astype(np.float64))])
    nz = np.flatnonzero(q)
    mids = ((cum[:-1] + cum[1:]) / 2)[nz].astype(np.float32)
    np.testing.assert_array_equal(descend(state, jnp.asarray(mids)), nz)

    total = np.float32(per_total(state))
    edges = [np.float32(c) for c in cum] + [total, np.float32(0.0), np.float32(-1.0), total * 2]
    near = [np.nextafter(e, np.float32(np.inf)) for e in edges] + [
        np.nextafter(e, np.float32(-1)) for e in edges
    ]
    below_total = total - np.arange(2000, dtype=np.float32) * np.spacing(total)
    u = np.concatenate([edges, near, below_total]).astype(np.float32)
    got = np.asarray(descend(state, jnp.asarray(u)))
    assert np.all(q[got] > 0), got[q[got] == 0]

    huge = np.zeros(37, np.float32)
    huge[1], huge[2:20] = 3e7, 0.25  # 3e7 + 0.25 == 3e7 in float32: the small ones add nothing
    state = set_priorities(per_init(37), huge)
    total = np.float32(per_total(state))
    u = np.concatenate([total - np.arange(4000, dtype=np.float32) * np.spacing(total), [total]])
    got = np.asarray(descend(state, jnp.asarray(u, jnp.float32)))
    assert np.all(huge[got] > 0), got


@settings(max_examples=20, deadline=None)
@given(
    capacity=st.sampled_from([1, 7, 65]),
    data=st.data(),
)
def test_never_samples_zero_priority_property(capacity, data):
    """Any priorities (zeros allowed, magnitudes 1e-6 .. 1e6): every draw has nonzero priority,
    and the tree stays consistent."""
    exps = data.draw(st.lists(st.integers(-6, 6), min_size=capacity, max_size=capacity))
    zero = data.draw(st.lists(st.booleans(), min_size=capacity, max_size=capacity))
    if all(zero):
        zero[data.draw(st.integers(0, capacity - 1))] = False
    q = np.where(zero, 0.0, 10.0 ** np.asarray(exps, np.float64)).astype(np.float32)
    state = set_priorities(per_init(capacity), q)
    assert_tree_consistent(state)
    idx, w = draw(state, jax.random.PRNGKey(data.draw(st.integers(0, 2**31 - 1))), 512)
    assert np.all(q[np.asarray(idx)] > 0)
    assert np.all(np.isfinite(np.asarray(w))) and float(np.max(w)) == 1.0


def test_empty_unready_and_just_written_slots_are_never_sampled():
    """3-step returns in a capacity-37 buffer after 30 writes: slots 30..36 were never written, the
    two newest writes (28, 29) are not ready (ready_slot = write - 2), slots 4 and 11 were updated
    to zero priority (td 0, eps 0). 20,000 draws hit only the other 26 slots, and all of them."""
    add, update = jax.jit(per_add), jax.jit(per_update)
    state = per_init(37)
    for t in range(30):
        state = add(state, jnp.int32(t % 37), jnp.int32((t - 2) % 37), jnp.asarray(t >= 2))
    state = update(state, jnp.asarray([4, 11], jnp.int32), jnp.zeros(2, jnp.float32), ONE, ZERO)
    q = np.asarray(state.priorities)
    allowed = sorted(set(range(28)) - {4, 11})
    np.testing.assert_array_equal(np.flatnonzero(q), allowed)
    idx, _ = draw(state, jax.random.PRNGKey(3), 20_000)
    assert sorted(set(np.asarray(idx).tolist())) == allowed


def test_sample_on_empty_state_returns_zeros_and_ones(variant):
    """Documented: nothing drawable -> indices 0 and weights 1."""
    idx, w = variant(_sample64)(per_init(7), jax.random.PRNGKey(0), jnp.float32(0.4))
    np.testing.assert_array_equal(idx, np.zeros(64, np.int32))
    np.testing.assert_array_equal(w, np.ones(64, np.float32))
    assert idx.dtype == jnp.int32 and w.dtype == jnp.float32


def test_sample_keys():
    """Same key, same draws; another key, other draws."""
    state = set_priorities(per_init(37), np.arange(1, 38))
    a, _ = draw(state, jax.random.PRNGKey(0), 64)
    np.testing.assert_array_equal(a, draw(state, jax.random.PRNGKey(0), 64)[0])
    assert not np.array_equal(a, draw(state, jax.random.PRNGKey(1), 64)[0])


# ---- importance weights ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "beta, table",
    [
        # w = (N P(i))^-beta / max over the batch = (q_i / q_min)^-beta with q = 1, 2, 4, 8
        (0.5, {0: 1.0, 1: 2**-0.5, 2: 0.5, 4: 8**-0.5}),
        (1.0, {0: 1.0, 1: 0.5, 2: 0.25, 4: 0.125}),
        (0.0, {0: 1.0, 1: 1.0, 2: 1.0, 4: 1.0}),
    ],
)
def test_importance_weights_hand_computed(variant, beta, table):
    """Capacity 7, priorities [1, 2, 4, 0, 8, 0, 0] (N = 4 nonzero, sum 15); a batch of 64 has all
    four nonzero slots (fixed key) and each draw carries its slot's weight from the table, which is
    also the paper's formula evaluated in float64."""
    q = np.array([1.0, 2.0, 4.0, 0.0, 8.0, 0.0, 0.0], np.float32)
    state = set_priorities(per_init(7), q)
    idx, w = variant(_sample64)(state, jax.random.PRNGKey(0), jnp.float32(beta))
    idx, w = np.asarray(idx), np.asarray(w)
    assert set(idx.tolist()) == {0, 1, 2, 4}
    np.testing.assert_allclose(w, [table[i] for i in idx], rtol=1e-6)
    p = q.astype(np.float64)[idx] / 15.0
    paper = (4 * p) ** -beta
    np.testing.assert_allclose(w, paper / paper.max(), rtol=1e-6)


def test_weights_are_normalised_over_the_batch_not_the_buffer():
    """Priorities [1e-6, 1, 1, 1, 1, 0, 0]: a batch of 64 misses slot 0 (fixed key), so every
    weight is exactly 1; normalising by the buffer's smallest priority would give about 1e-3."""
    state = set_priorities(per_init(7), [1e-6, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    idx, w = draw(state, jax.random.PRNGKey(0), 64)
    assert 0 not in np.asarray(idx).tolist()
    np.testing.assert_array_equal(w, np.ones(64, np.float32))


# ---- writes: wrap-around, max priority, duplicates -------------------------------------------


def test_update_after_wraparound_touches_exactly_those_slots(variant):
    """Capacity 7 written 20 times with 1-step returns (ready_slot == write_slot), then with
    3-step returns; then an update of slots [6, 1, 2] changes those three slots and nothing else."""
    add, update = variant(per_add), variant(per_update)
    state = per_init(7)
    for t in range(20):
        state = add(state, jnp.int32(t % 7), jnp.int32(t % 7), jnp.asarray(True))
    np.testing.assert_array_equal(state.priorities, np.ones(7, np.float32))

    state = per_init(7)
    for t in range(20):  # the newest two writes, t = 18, 19 in slots 4, 5, are not ready yet
        state = add(state, jnp.int32(t % 7), jnp.int32((t - 2) % 7), jnp.asarray(t >= 2))
    np.testing.assert_array_equal(state.priorities, [1, 1, 1, 1, 0, 0, 1])
    state = update(
        state, jnp.asarray([6, 1, 2], jnp.int32), jnp.asarray([3.0, 0.5, 2.0], jnp.float32), ONE, ZERO
    )
    np.testing.assert_array_equal(state.priorities, [1, 0.5, 2, 1, 0, 0, 3])
    assert float(per_total(state)) == 7.5
    assert_tree_consistent(state)


def test_update_applies_alpha_and_eps():
    """q = (|td| + eps) ** alpha with traced alpha and eps: (15 + 1) ** 0.5 = 4, (0 + 0.25) ** 0.5."""
    state = _update_jit(
        per_init(7),
        jnp.asarray([2, 5], jnp.int32),
        jnp.asarray([15.0, 0.0]),
        jnp.float32(0.5),
        jnp.float32(1.0),
    )
    np.testing.assert_array_equal(state.priorities, [0, 0, 4, 0, 0, 1, 0])
    state = _update_jit(
        state, jnp.asarray([5], jnp.int32), jnp.asarray([0.0]), jnp.float32(0.5), jnp.float32(0.25)
    )
    np.testing.assert_array_equal(state.priorities, [0, 0, 4, 0, 0, 0.5, 0])


def test_new_items_enter_with_the_max_priority_so_far(variant):
    """1.0 at first; after an update writing q = 4 (alpha 0.5: (15 + 1) ** 0.5) new items get 4,
    the alpha-powered value; a later smaller update does not lower it; an update to 9 raises it."""
    add, update = variant(per_add), variant(per_update)
    half = jnp.float32(0.5)
    state = add(per_init(7), jnp.int32(0), jnp.int32(0), jnp.asarray(True))
    assert float(state.priorities[0]) == 1.0
    state = update(state, jnp.asarray([0], jnp.int32), jnp.asarray([15.0]), half, ONE)
    assert float(state.max_priority) == 4.0
    state = add(state, jnp.int32(1), jnp.int32(1), jnp.asarray(True))
    state = update(state, jnp.asarray([0, 1], jnp.int32), jnp.asarray([0.0, 3.0]), half, ONE)  # q 1, 2
    state = add(state, jnp.int32(2), jnp.int32(2), jnp.asarray(True))
    np.testing.assert_array_equal(state.priorities[:3], [1.0, 2.0, 4.0])
    state = update(state, jnp.asarray([1], jnp.int32), jnp.asarray([80.0]), half, ONE)  # q = 9
    state = add(state, jnp.int32(3), jnp.int32(3), jnp.asarray(True))
    np.testing.assert_array_equal(state.priorities[:4], [1.0, 9.0, 4.0, 9.0])
    assert float(state.max_priority) == 9.0
    # n-step: the ready slot gets the max; the written one is zeroed even when it was drawable
    state = add(state, jnp.int32(1), jnp.int32(5), jnp.asarray(True))
    np.testing.assert_array_equal(state.priorities, [1.0, 0.0, 4.0, 9.0, 0.0, 9.0, 0.0])
    assert_tree_consistent(state)


def test_duplicate_indices_last_occurrence_wins(variant):
    """Slot 3 three times and slot 1 twice in one batch: the last value of each is stored, the
    same under jit and not, call after call; max_priority counts only the values stored; indices
    out of range are ignored."""
    update = variant(per_update)
    state = set_priorities(per_init(7), np.ones(7))
    idx = jnp.asarray([3, 1, 3, 40, 3, 1, -1, 6], jnp.int32)
    td = jnp.asarray([100.0, 7.0, 50.0, 30.0, 2.0, 5.0, 60.0, 6.0], jnp.float32)
    first = update(state, idx, td, ONE, ZERO)
    for _ in range(3):
        again = update(state, idx, td, ONE, ZERO)
        for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(again)):
            np.testing.assert_array_equal(a, b)
    expected = np.ones(7, np.float32)
    expected[[3, 1, 6]] = [2.0, 5.0, 6.0]
    np.testing.assert_array_equal(first.priorities, expected)
    assert float(first.max_priority) == 6.0
    assert_tree_consistent(first)


def test_add_when_ready_slot_equals_write_slot():
    """1-step returns: the slot just written ends with the max priority, not 0; ready False on
    the same slot: it ends with 0."""
    add = jax.jit(per_add)
    state = add(per_init(7), jnp.int32(4), jnp.int32(4), jnp.asarray(True))
    np.testing.assert_array_equal(np.flatnonzero(state.priorities), [4])
    state = add(state, jnp.int32(4), jnp.int32(4), jnp.asarray(False))
    assert float(per_total(state)) == 0.0


# ---- jit and vmap ------------------------------------------------------------------------------


def run_agent(ops, state, keys, tds, alpha, beta, eps):
    """A little training loop on capacity 7: twelve 2-step adds (wrapping around), then rounds of
    sample (batch 64, key ``keys[r]``) -> update with TD errors ``tds[r]``. ``ops`` = (add, sample,
    update), the functions as given, jitted or vmapped. The TD errors are inputs: computing them
    here would let XLA fuse their arithmetic with the update's, which is not what is tested.
    Returns the final state and every round's (indices, weights)."""
    add, sample, update = ops
    for t in range(12):
        state = add(state, jnp.int32(t % 7), jnp.int32((t - 1) % 7), jnp.asarray(t >= 1))
    out = []
    for r in range(tds.shape[-2]):
        idx, w = sample(state, keys[..., r, :], beta)
        state = update(state, idx, tds[..., r, :], alpha, eps)
        out.append((idx, w))
    return state, out


def test_jit_equals_eager():
    """add, sample and update each under jit give bitwise the eager results, round after round."""
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    tds = jnp.asarray(np.random.default_rng(0).uniform(0, 3, (3, 64)), jnp.float32)
    hp = (jnp.float32(0.6), jnp.float32(0.4), jnp.float32(1e-3))
    eager = run_agent((per_add, _sample64, per_update), per_init(7), keys, tds, *hp)
    jitted_ops = (jax.jit(per_add), jax.jit(_sample64), jax.jit(per_update))
    jitted = run_agent(jitted_ops, per_init(7), keys, tds, *hp)
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
        np.testing.assert_array_equal(a, b)


def test_vmap_over_agents_equals_each_agent():
    """add, sample and update vmapped over 3 agents (own keys, TD errors, alpha, beta, eps; the
    same write slots) equal each agent run alone, bitwise: state, indices and weights. The agents
    really differ."""
    keys = jax.random.split(jax.random.PRNGKey(5), 9).reshape(3, 3, 2)  # [agents, rounds, key]
    tds = jnp.asarray(np.random.default_rng(1).uniform(0, 3, (3, 3, 64)), jnp.float32)
    alpha = jnp.asarray([0.4, 0.6, 1.0], jnp.float32)
    beta = jnp.asarray([0.4, 0.7, 1.0], jnp.float32)
    eps = jnp.asarray([1e-6, 1e-3, 0.1], jnp.float32)
    vmapped_ops = (
        jax.jit(jax.vmap(per_add, in_axes=(0, None, None, None))),
        jax.jit(jax.vmap(_sample64)),
        jax.jit(jax.vmap(per_update)),
    )
    init = jax.tree.map(lambda x: jnp.stack([x] * 3), per_init(7))
    batched = run_agent(vmapped_ops, init, keys, tds, alpha, beta, eps)
    jitted_ops = (jax.jit(per_add), jax.jit(_sample64), jax.jit(per_update))
    for a in range(3):
        single = run_agent(jitted_ops, per_init(7), keys[a], tds[a], alpha[a], beta[a], eps[a])
        for got, want in zip(jax.tree.leaves(batched), jax.tree.leaves(single)):
            np.testing.assert_array_equal(got[a], want)
    idx = batched[1][0][0]
    assert not np.array_equal(idx[0], idx[1]) and not np.array_equal(idx[1], idx[2])


# ---- float32: no drift -------------------------------------------------------------------------


@jax.jit
def _update_exact(state, idx, q):
    return per_update(state, idx, q, ONE, ZERO)


def test_no_drift_after_many_updates():
    """20,096 random leaf updates (157 batches of 128, repeats inside batches, priorities over six
    orders of magnitude) at capacity 1000. Then: (1) every node is bitwise the left-to-right sum of
    its children; (2) the tree is bitwise the one the final leaves give when written afresh; (3) the
    total is within the rounding bound depth * (k - 1) * u of the float64 sum of the leaves. A
    running total kept by += delta over the same updates drifts past that bound."""
    capacity, batch, rounds = 1000, 128, 157
    rng = np.random.default_rng(11)
    state = per_init(capacity)
    leaves = np.zeros(capacity, np.float32)
    running = np.float32(0.0)
    for _ in range(rounds):
        idx = rng.integers(0, capacity, batch).astype(np.int32)
        q = (10.0 ** rng.uniform(-3, 3, batch)).astype(np.float32)
        state = _update_exact(state, jnp.asarray(idx), jnp.asarray(q))
        for i, v in zip(idx, q):  # the incremental way, slot by slot as a scatter-add tree would
            running = np.float32(running + np.float32(v - leaves[i]))
            leaves[i] = v
    np.testing.assert_array_equal(state.priorities, leaves)
    assert_tree_consistent(state)

    fresh = per_init(capacity)
    for start in range(0, capacity, batch):
        idx = (np.arange(batch) + start) % capacity
        fresh = _update_exact(fresh, jnp.asarray(idx, jnp.int32), jnp.asarray(leaves[idx]))
    for a, b in zip(state.sums, fresh.sums):
        np.testing.assert_array_equal(a, b)

    exact = leaves.astype(np.float64).sum()
    bound = len(state.sums) * (K - 1) * F32_EPS
    assert abs(float(per_total(state)) - exact) <= bound * exact
    assert abs(float(running) - exact) > bound * exact  # what the tree avoids


def test_benchmark_quick_runs(capsys):
    """``python -m benchmarks.per --quick`` runs and prints one row per candidate."""
    from benchmarks import per as bench_per

    assert bench_per.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for name in ("binary-heap", "cumsum", f"kary-{K} (per.py)"):
        assert name in out
