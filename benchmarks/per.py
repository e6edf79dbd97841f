"""Time prioritised-replay data structures: one ``sample``, one ``update`` and one ``add`` under jit.

    python -m benchmarks.per                      # capacity 100_000, batch 128
    python -m benchmarks.per --capacity 50000 --batch-size 64 --branching 8 16
    python -m benchmarks.per --quick              # tiny sizes, for tests

Candidates (same contract as ``noisyjax.replay.per``: recompute-from-children, never ``+= delta``):
  binary-heap   a binary sum tree in one flat array, leaves padded to the next power of two (the
                classic layout); ``update`` recomputes each ancestor from its two children;
  cumsum        a flat priority array; every ``sample`` runs a fresh ``cumsum`` + ``searchsorted``
                (O(capacity) per sample, O(batch) per update; no tree, nothing to drift);
  kary-k        ``noisyjax.replay.per``'s level-by-level k-ary sum tree (k = 2 is a binary tree with the
                same layout; the default ``--branching`` list is timed).

Prints the median microseconds of one call (each call timed alone and blocked until ready; the
candidates take turns, ``--repeats`` rounds of ``--calls`` calls, so they share a busy machine's
load alike) and the 10th percentile, closer to an idle machine. Updates and adds donate their
state, as inside the jitted agent step. Compare figures from one run.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from experiments.common import parse
from noisyjax.replay import per


@dataclasses.dataclass(frozen=True)
class Args:
    """Microbenchmark of prioritised-replay sample / update / add."""

    capacity: int = 100_000
    """Slots in the buffer."""
    batch_size: int = 128
    """Indices drawn per sample and updated per update."""
    branching: tuple[int, ...] = (2, 8, 16)
    """Children per node of the k-ary trees to time."""
    calls: int = 100
    """Timed calls per repeat."""
    repeats: int = 7
    """Repeats (the median is reported)."""
    quick: bool = False
    """Toy run to check the script works (capacity <= 200, batch <= 16, 5 calls x 2 rounds,
    only the default branching)."""


class Impl(NamedTuple):
    """One candidate: ``init(capacity)``, ``add(s, w, r, ready)``, ``update(s, idx, td, a, e)``,
    ``sample(s, key, batch, beta)`` with ``noisyjax.replay.per``'s contract."""

    init: Callable
    add: Callable
    update: Callable
    sample: Callable


# ---- (a) classic binary heap: tree[1] root, children of i at 2i, 2i+1, leaf of slot s at P + s ----


class HeapState(NamedTuple):
    tree: jax.Array  # [2P] float32; tree[0] unused
    max_priority: jax.Array


def _heap_leaves(state: HeapState) -> int:
    return state.tree.shape[0] // 2


def heap_init(capacity: int) -> HeapState:
    p = 1 << max(0, (capacity - 1).bit_length())
    return HeapState(jnp.zeros((2 * p,), jnp.float32), jnp.ones((), jnp.float32))


def _heap_set(state: HeapState, slots: jax.Array, values: jax.Array, capacity: int):
    p = _heap_leaves(state)
    b = slots.shape[0]
    later = jnp.arange(b)[None, :] > jnp.arange(b)[:, None]
    written = ~jnp.any(later & (slots[None, :] == slots[:, None]), axis=1) & (slots < capacity)
    tree = state.tree.at[jnp.where(written, p + slots, 2 * p)].set(values, mode="drop")
    node = p + jnp.clip(slots, 0, capacity - 1)
    for _ in range(p.bit_length() - 1):
        node = node // 2
        tree = tree.at[node].set(tree[2 * node] + tree[2 * node + 1])
    return state._replace(tree=tree), written


def make_heap(capacity: int) -> Impl:
    def add(state, write_slot, ready_slot, ready):
        slots = jnp.stack([write_slot, jnp.where(ready, ready_slot, write_slot)]).astype(jnp.int32)
        values = jnp.stack([jnp.zeros((), jnp.float32), jnp.where(ready, state.max_priority, 0.0)])
        return _heap_set(state, slots, values, capacity)[0]

    def update(state, indices, td_abs, alpha, eps):
        q = jnp.power(td_abs + eps, alpha)
        new, written = _heap_set(state, indices.astype(jnp.int32), q, capacity)
        return new._replace(max_priority=jnp.maximum(state.max_priority, jnp.max(jnp.where(written, q, -1))))

    def sample(state, key, batch_size, beta):
        p = _heap_leaves(state)
        total = state.tree[1]
        u = jnp.minimum(jax.random.uniform(key, (batch_size,)) * total, jnp.nextafter(total, 0.0))
        node = jnp.ones((batch_size,), jnp.int32)
        for _ in range(p.bit_length() - 1):
            left, right = state.tree[2 * node], state.tree[2 * node + 1]
            go_right = ((u >= left) & (right > 0)) | (left <= 0)  # zero child -> its sibling
            u = jnp.where(go_right, u - left, u)
            u = jnp.clip(u, 0.0, jnp.nextafter(jnp.where(go_right, right, left), 0.0))
            node = 2 * node + go_right.astype(jnp.int32)
        q = state.tree[node]
        w = jnp.power(q / jnp.min(q), -beta)
        return jnp.where(total > 0, node - p, 0), jnp.where(total > 0, w, 1.0)

    return Impl(lambda c: heap_init(c), add, update, sample)


# ---- (b) flat array, fresh cumsum + searchsorted per sample ----


class FlatState(NamedTuple):
    priorities: jax.Array  # [capacity] float32
    max_priority: jax.Array


def make_cumsum(capacity: int) -> Impl:
    def init(c):
        return FlatState(jnp.zeros((c,), jnp.float32), jnp.ones((), jnp.float32))

    def _set(state, slots, values):
        b = slots.shape[0]
        later = jnp.arange(b)[None, :] > jnp.arange(b)[:, None]
        written = ~jnp.any(later & (slots[None, :] == slots[:, None]), axis=1) & (slots < capacity)
        pr = state.priorities.at[jnp.where(written, slots, capacity)].set(values, mode="drop")
        return state._replace(priorities=pr), written

    def add(state, write_slot, ready_slot, ready):
        slots = jnp.stack([write_slot, jnp.where(ready, ready_slot, write_slot)]).astype(jnp.int32)
        values = jnp.stack([jnp.zeros((), jnp.float32), jnp.where(ready, state.max_priority, 0.0)])
        return _set(state, slots, values)[0]

    def update(state, indices, td_abs, alpha, eps):
        q = jnp.power(td_abs + eps, alpha)
        new, written = _set(state, indices.astype(jnp.int32), q)
        return new._replace(max_priority=jnp.maximum(state.max_priority, jnp.max(jnp.where(written, q, -1))))

    def sample(state, key, batch_size, beta):
        pr = state.priorities
        c = jnp.cumsum(pr)
        total = c[-1]
        u = jnp.minimum(jax.random.uniform(key, (batch_size,)) * total, jnp.nextafter(total, 0.0))
        idx = jnp.clip(jnp.searchsorted(c, u, side="right"), 0, capacity - 1)
        # guard: a zero slot (possible when the scan's rounding differs) -> the next nonzero slot
        # at or after it, else the last nonzero one (two more O(capacity) scans, only in this guard)
        ar = jnp.arange(capacity)
        next_nz = jax.lax.cummin(jnp.where(pr > 0, ar, capacity), reverse=True)
        last_nz = jnp.max(jnp.where(pr > 0, ar, 0))
        idx = jnp.where(pr[idx] > 0, idx, jnp.where(next_nz[idx] < capacity, next_nz[idx], last_nz))
        q = pr[idx]
        w = jnp.power(q / jnp.min(q), -beta)
        return jnp.where(total > 0, idx, 0), jnp.where(total > 0, w, 1.0)

    return Impl(init, add, update, sample)


def make_kary(k: int) -> Impl:
    return Impl(
        lambda c: per._init(c, k),
        lambda s, w, r, ready: per._add(s, w, r, ready, k),
        lambda s, i, td, a, e: per._update(s, i, td, a, e, k),
        lambda s, key, b, beta: per._sample(s, key, b, beta, k),
    )


def _prepare(impl: Impl, capacity: int, batch: int) -> dict[str, Callable[[], object]]:
    """Jitted, warmed-up closures running one ``sample``, ``update`` and ``add`` on a full buffer of
    random priorities; each blocks on its result."""
    rng = np.random.default_rng(0)
    alpha, beta, eps = jnp.float32(0.6), jnp.float32(0.4), jnp.float32(1e-6)
    add = jax.jit(impl.add, donate_argnums=0)
    update = jax.jit(impl.update, donate_argnums=0)
    sample = jax.jit(impl.sample, static_argnums=2)
    state = impl.init(capacity)
    for start in range(0, capacity, batch):  # every slot written, in chunks of one batch
        idx = jnp.asarray((np.arange(batch) + start) % capacity, jnp.int32)
        state = update(state, idx, jnp.asarray(rng.random(batch), jnp.float32), alpha, eps)
    key = jax.random.PRNGKey(0)
    idx = jnp.asarray(rng.integers(0, capacity, batch), jnp.int32)
    td = jnp.asarray(rng.random(batch), jnp.float32)
    slot, ready_slot = jnp.int32(capacity // 2), jnp.int32(max(capacity // 2 - 2, 0))
    ready = jnp.asarray(True)
    box = [state]  # updates and adds donate the state: carry the newest one

    def run_sample():
        jax.block_until_ready(sample(box[0], key, batch, beta))

    def run_update():
        box[0] = jax.block_until_ready(update(box[0], idx, td, alpha, eps))

    def run_add():
        box[0] = jax.block_until_ready(add(box[0], slot, ready_slot, ready))

    ops = {"sample": run_sample, "update": run_update, "add": run_add}
    for op in ops.values():
        op()
    return ops


def time_all(impls: dict[str, Impl], capacity: int, batch: int, calls: int, repeats: int):
    """``{name: {op: (median, 10th percentile) microseconds}}`` of single calls. Candidates take
    turns (one repeat of ``calls`` calls each, ``repeats`` rounds) so that they share the load of
    a busy machine alike."""
    prepared = {name: _prepare(impl, capacity, batch) for name, impl in impls.items()}
    times: dict[str, dict[str, list[float]]] = {n: {op: [] for op in ops} for n, ops in prepared.items()}
    for _ in range(repeats):
        for name, ops in prepared.items():
            for op, fn in ops.items():
                for _ in range(calls):
                    t0 = time.perf_counter()
                    fn()
                    times[name][op].append((time.perf_counter() - t0) * 1e6)
    return {
        name: {op: (statistics.median(t), float(np.percentile(t, 10))) for op, t in ops.items()}
        for name, ops in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(Args, sys.argv[1:] if argv is None else argv, description=__doc__)
    capacity, batch, calls, repeats = args.capacity, args.batch_size, args.calls, args.repeats
    branching = args.branching
    if args.quick:  # seconds: the three kinds of candidate at a toy size
        capacity, batch, calls, repeats, branching = (
            min(capacity, 200),
            min(batch, 16),
            5,
            2,
            (per.BRANCHING,),
        )
    if capacity <= 0 or batch <= 0:
        raise SystemExit("error: --capacity and --batch-size must be positive")
    impls = {"binary-heap": make_heap(capacity), "cumsum": make_cumsum(capacity)}
    impls.update({f"kary-{k}" + (" (per.py)" if k == per.BRANCHING else ""): make_kary(k) for k in branching})
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}; capacity {capacity}, batch {batch}; "
        f"{repeats} rounds x {calls} calls per candidate and operation"
    )
    print(f"{'structure':<18} {'sample':>14} {'update':>14} {'add':>14} {'update+add':>14}")
    results = time_all(impls, capacity, batch, calls, repeats)
    for name, r in results.items():
        cells = [r["sample"], r["update"], r["add"], tuple(a + b for a, b in zip(r["update"], r["add"]))]
        print(f"{name:<18} " + " ".join(f"{m:>7.1f} ({p:>4.0f})" for m, p in cells))
    print("median us per call (10th percentile in brackets)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
