"""Proportional prioritised replay (Schaul et al. 2016, arXiv:1511.05952) as pure, jittable,
vmappable functions over a pytree of priorities.

The transitions live in ``replay.py``'s buffer; this state holds one priority per slot of that
buffer (same indices ``0 .. capacity-1``) and draws slot ``i`` with probability
``P(i) = q_i / sum_k q_k`` (paper eq. 1), ``q_i`` being the stored priority, already raised to alpha.

Data structure: a k-ary sum tree, ``BRANCHING = 8`` children per node, chosen by measurement
(``docs/per.md``, ``python -m benchmarks.per``). On a CPU the cost is mostly the number of
small kernels run one after another, about two per level for an update and six per level for a
sample, so a flat tree (6 levels at capacity 100k instead of 17 for a binary tree) wins; wider
rows cost more per level (a row's prefix sums are O(k^2) adds): 16 ties on updates, 8 samples
faster. Level 0 is the ``[capacity]`` priorities, exactly (no padding slot exists that could be
drawn); level ``l + 1`` holds the sums of consecutive rows of ``k`` entries of level ``l`` (the
last row of the leaves may be short: missing children count as zero), so any capacity is exact.

No drift (float32 sum trees that drift sample zero-priority items: flashbax #52): no node is ever
updated by ``+= delta``. Every write recomputes each ancestor of the written leaves from its ``k``
children, so the tree is a pure function of the current leaves, whatever their history: after
millions of updates it is bitwise the tree that the same leaves give when written afresh, and each
node is within a few float32 roundings (at most ``(k - 1)`` per level) of the exact sum.

Never a zero-priority slot: a node's stored sum is bitwise the last of the left-to-right prefix
sums of its children (both come from ``_prefix_sums``), and the prefixes rise only at a nonzero
child (``x + 0 == x`` exactly). The target ``u`` starts strictly below the total; at each node the
descent picks the first child whose prefix exceeds ``u`` (one exists, as ``u`` is below the last
prefix), so that child is nonzero; then ``u`` minus the prefix before it is clamped strictly below
that child's sum, the last prefix one level down, and so on to a leaf. Float32 rounding at the
boundaries (``u * total`` rounding up to the total, ``u - before`` overshooting) is absorbed by
the clamps, not by luck. So a slot with priority zero (never written, just written and not ready
yet, past the end of the leaves) is never reached. ``tests/test_per.py`` checks the left-to-right
property of the prefix sums themselves, so a backend that summed otherwise would fail loudly.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

BRANCHING = 8
"""Children per tree node (fastest measured at capacity 100k, batch 128; see ``docs/per.md``).
At most 16: XLA:CPU rewrites a longer reduce-window into blocked scans."""


class PriorityState(NamedTuple):
    """Priorities of a replay buffer's slots as a k-ary sum tree (all float32).

    ``priorities [capacity]``: ``q_i``, the priority already raised to alpha; 0 for a slot that must
    not be drawn. ``sums``: the levels above, bottom to top; ``sums[l][n]`` is the sum of row ``n``
    (entries ``n*k .. n*k+k-1``) of the level below, and every level but the root is zero-padded to
    a multiple of ``k`` entries; ``sums[-1]`` is the root ``[1]``, the total. ``max_priority []``:
    the largest ``q`` ever written by ``per_update`` (1.0 at first), what ``per_add`` gives a new
    transition.
    """

    priorities: jax.Array
    sums: tuple[jax.Array, ...]
    max_priority: jax.Array


def per_init(capacity: int) -> PriorityState:
    """All ``capacity`` priorities zero (nothing can be drawn); ``max_priority`` 1.0."""
    return _init(capacity, BRANCHING)


def _init(capacity: int, k: int) -> PriorityState:
    """``per_init`` with ``k`` children per node. The private functions below take ``k`` too (the
    benchmark compares several); one state must be used with one ``k`` throughout."""
    if int(capacity) <= 0:
        raise ValueError(f"capacity must be positive, got {capacity}")
    if int(k) < 2:
        raise ValueError(f"branching must be at least 2, got {k}")
    nodes = [-(-int(capacity) // k)]  # nodes per level above the leaves, down to the root's 1
    while nodes[-1] > 1:
        nodes.append(-(-nodes[-1] // k))
    stored = [k * n for n in nodes[1:]] + [1]  # each level padded to whole rows of the one above
    sums = tuple(jnp.zeros((n,), jnp.float32) for n in stored)
    return PriorityState(jnp.zeros((capacity,), jnp.float32), sums, jnp.ones((), jnp.float32))


def per_capacity(state: PriorityState) -> int:
    """Number of slots (static)."""
    return state.priorities.shape[-1]


def per_total(state: PriorityState) -> jax.Array:
    """Sum of all stored priorities, float32 ``[]``; 0 means nothing can be drawn."""
    return state.sums[-1][0]


def _rows(below: jax.Array, nodes: jax.Array, k: int, leaves: bool) -> jax.Array:
    """``[batch, k]`` children of ``nodes [batch]``: row ``n`` of the level ``below``. The leaves
    are not padded, so their last row is filled with zeros past ``capacity``."""
    if leaves:
        return jnp.take(below, nodes[:, None] * k + jnp.arange(k), mode="fill", fill_value=0.0)
    return below.reshape(-1, k)[nodes]


def _prefix_sums(rows: jax.Array) -> jax.Array:
    """Prefix sums along the last axis, ``[..., k]``, each a left-to-right chain of float32 adds
    ``((r_0 + r_1) + r_2) + ...`` (an XLA reduce-window, which sums its window in order; XLA keeps
    it whole up to 16 entries). A node's stored sum is the last one, so updates and the descent
    share one rounding; and the prefixes are nondecreasing, rising only at a nonzero child."""
    k = rows.shape[-1]
    pad = [(0, 0)] * (rows.ndim - 1) + [(k - 1, 0)]
    return jax.lax.reduce_window(rows, 0.0, jax.lax.add, (1,) * (rows.ndim - 1) + (k,), (1,) * rows.ndim, pad)


def _set_leaves(
    state: PriorityState, slots: jax.Array, values: jax.Array, k: int
) -> tuple[PriorityState, jax.Array]:
    """Write ``values [batch]`` to ``slots [batch]``, then recompute every ancestor from its children.

    Of a slot repeated in the batch the LAST occurrence wins; slots outside ``0 .. capacity-1``
    are ignored. Returns the new state (``max_priority`` unchanged) and which entries were written.
    """
    capacity = per_capacity(state)
    slots = slots.astype(jnp.int32)
    batch = slots.shape[0]
    later = jnp.arange(batch)[None, :] > jnp.arange(batch)[:, None]  # [b, b']: b' comes after b
    overwritten = jnp.any(later & (slots[None, :] == slots[:, None]), axis=1)
    written = ~overwritten & (slots >= 0) & (slots < capacity)
    # the entries not written get an out-of-bounds index, which the scatter drops; the rest are
    # unique, so the result does not depend on the scatter's order
    priorities = state.priorities.at[jnp.where(written, slots, capacity)].set(values, mode="drop")
    nodes = jnp.clip(slots, 0, capacity - 1)  # recomputing a node from its children is harmless
    below, sums = priorities, []
    for level in state.sums:
        nodes = nodes // k
        # a parent repeated in the batch gets bitwise equal values, so which write lands is moot
        below = level.at[nodes].set(_prefix_sums(_rows(below, nodes, k, not sums))[:, -1])
        sums.append(below)
    return PriorityState(priorities, tuple(sums), state.max_priority), written


def per_add(
    state: PriorityState, write_slot: jax.Array, ready_slot: jax.Array, ready: jax.Array
) -> PriorityState:
    """Record one write to the data buffer.

    ``write_slot`` (int32 ``[]``) just got new data: its priority becomes 0 (not drawable). Then,
    if ``ready`` (bool ``[]``), ``ready_slot`` (int32 ``[]``) gets ``max_priority`` (a new
    transition enters with the largest priority so far, paper Algorithm 1 line 6). With n-step
    returns a transition is complete n - 1 writes later: ``ready_slot = (write_slot - (n - 1)) %
    capacity``, ready once n items were written; with n = 1, ``ready_slot == write_slot`` and that
    slot ends with ``max_priority``.
    """
    return _add(state, write_slot, ready_slot, ready, BRANCHING)


def _add(
    state: PriorityState, write_slot: jax.Array, ready_slot: jax.Array, ready: jax.Array, k: int
) -> PriorityState:
    ready = jnp.asarray(ready, jnp.bool_)
    write_slot = jnp.asarray(write_slot, jnp.int32)
    # the ready entry comes second so that it wins on the same slot; not ready: the write again
    slots = jnp.stack([write_slot, jnp.where(ready, jnp.asarray(ready_slot, jnp.int32), write_slot)])
    values = jnp.stack([jnp.zeros((), jnp.float32), jnp.where(ready, state.max_priority, 0.0)])
    return _set_leaves(state, slots, values, k)[0]


def per_update(
    state: PriorityState, indices: jax.Array, td_abs: jax.Array, alpha: jax.Array, eps: jax.Array
) -> PriorityState:
    """Set the priority of slots ``indices [batch]`` (int32) to ``(td_abs + eps) ** alpha``.

    ``td_abs [batch]`` float32 (finite, >= 0): absolute TD errors of the sampled batch; ``alpha``,
    ``eps``: float32 ``[]``, may be traced. A slot repeated in the batch gets the value of its LAST
    occurrence; indices outside ``0 .. capacity-1`` are ignored. ``max_priority`` becomes the max
    of itself and the values written (alpha-powered, as ``per_add`` uses it). A value of exactly 0
    (``td_abs + eps == 0``) makes the slot undrawable.
    """
    return _update(state, indices, td_abs, alpha, eps, BRANCHING)


def _update(
    state: PriorityState, indices: jax.Array, td_abs: jax.Array, alpha: jax.Array, eps: jax.Array, k: int
) -> PriorityState:
    f32 = jnp.float32
    q = jnp.power(jnp.asarray(td_abs, f32) + jnp.asarray(eps, f32), jnp.asarray(alpha, f32))
    new, written = _set_leaves(state, jnp.asarray(indices), q, k)
    top = jnp.max(jnp.where(written, q, -jnp.inf))
    return new._replace(max_priority=jnp.maximum(state.max_priority, top))


def per_sample(
    state: PriorityState, key: jax.Array, batch_size: int, beta: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Draw ``batch_size`` (static) slots with replacement, ``P(i) = q_i / sum_k q_k``, with their
    importance weights.

    Returns ``indices [batch_size]`` int32 and ``weights [batch_size]`` float32,
    ``w_i = (N * P(i)) ** -beta / max_j w_j`` (paper eq. 2; ``beta`` float32 ``[]``, may be
    traced). The max is over the SAMPLED BATCH, as in DQN Zoo and Dopamine, not over the buffer;
    then ``N`` and the total cancel, ``w_i = (q_i / min_batch q) ** -beta`` exactly, and no min-tree
    is needed; the batch's largest weight is 1. A slot with priority 0 is never returned. When no
    slot has a nonzero priority (total 0) the result is indices 0 and weights 1: sample only once
    enough transitions are ready (or check ``per_total(state) > 0``).
    """
    return _sample(state, key, batch_size, beta, BRANCHING)


def _at(x: jax.Array, j: jax.Array) -> jax.Array:
    """``x[b, j[b]]`` for each row ``b``."""
    return jnp.take_along_axis(x, j[:, None], axis=1)[:, 0]


def _descend(state: PriorityState, u: jax.Array, k: int) -> jax.Array:
    """Slots ``[batch]`` int32 of the targets ``u [batch]`` in ``[0, total)``: the slot ``i`` with
    ``sum_{j<i} q_j <= u < sum_{j<=i} q_j`` (float32 sums, left to right within each row). Targets
    outside are clamped into that range; with a total of 0 the result is meaningless."""
    u = jnp.maximum(u, 0.0)
    nodes = jnp.zeros(u.shape, jnp.int32)
    levels = (state.priorities,) + state.sums[:-1]
    for depth in reversed(range(len(levels))):
        rows = _rows(levels[depth], nodes, k, depth == 0)  # [batch, k]
        prefix = _prefix_sums(rows)  # [batch, k]; the last column is bitwise the node's sum
        u = jnp.minimum(u, jnp.nextafter(prefix[:, -1], 0.0))  # already so, unless rounding
        j = jnp.sum(prefix <= u[:, None], axis=1, dtype=jnp.int32)  # first child with prefix > u
        j = jnp.minimum(j, k - 1)  # only an empty tree has no prefix above u
        before = jnp.where(j > 0, _at(prefix, jnp.maximum(j - 1, 0)), 0.0)  # prefix before child j
        # strictly below the picked child's sum, which is its row's last prefix one level down
        u = jnp.clip(u - before, 0.0, jnp.nextafter(_at(rows, j), 0.0))
        nodes = nodes * k + j
    return nodes


def _sample(
    state: PriorityState, key: jax.Array, batch_size: int, beta: jax.Array, k: int
) -> tuple[jax.Array, jax.Array]:
    total = per_total(state)
    nodes = _descend(state, jax.random.uniform(key, (batch_size,), jnp.float32) * total, k)
    q = state.priorities[nodes]
    weights = jnp.power(q / jnp.min(q), -jnp.asarray(beta, jnp.float32))
    empty = total <= 0
    return jnp.where(empty, 0, nodes), jnp.where(empty, 1.0, weights)
