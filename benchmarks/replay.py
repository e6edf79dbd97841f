"""Cost of one ``replay_add`` call, called three ways: eagerly, under ``jax.jit``, and under
``jax.jit`` with the buffer donated (``donate_argnums=0``).

    python -m benchmarks.replay                 # a 30,000-slot buffer of LunarLander transitions
    python -m benchmarks.replay --quick         # 1,000 slots, 20 calls: a few seconds

Without donation every call returns a new buffer, so XLA copies the whole storage; donated, it
writes one slot in place. Prints microseconds per call (median of repeats; compare figures from
one run: the machine is shared).
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments.common import fail, parse
from noisyjax.replay.uniform import replay_add, replay_init


@dataclasses.dataclass(frozen=True)
class Args:
    """Time replay_add eagerly, jitted, and jitted with the buffer donated."""

    capacity: int = 30_000
    """Buffer slots (the default config's buffer_size)."""
    obs_dim: int = 8
    """Observation size (LunarLander-v3's 8)."""
    calls: int = 300
    """Calls per repeat."""
    repeats: int = 5
    """Repeats; the median is reported."""
    quick: bool = False
    """1,000 slots, 20 calls, 2 repeats."""


def _item(obs_dim: int, i: int) -> dict:
    # what a gymnasium loop hands over: a float32 observation and Python scalars
    return {"obs": np.full(obs_dim, i, np.float32), "action": i % 4, "reward": 0.5, "next_obs":
            np.full(obs_dim, i + 1, np.float32), "terminated": False, "truncated": False}


def time_way(add, state, obs_dim: int, calls: int, repeats: int) -> tuple[float, object]:
    """Median microseconds per ``add(state, item)`` call (after one warm-up call), and the state."""
    state = jax.block_until_ready(add(state, _item(obs_dim, 0)))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(calls):
            state = add(state, _item(obs_dim, i))
        jax.block_until_ready(state)
        times.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times), state


def main(argv: list[str] | None = None) -> int:
    args = parse(Args, sys.argv[1:] if argv is None else argv, description=__doc__)
    if args.quick:
        args = dataclasses.replace(args, capacity=1_000, calls=20, repeats=2)
    for name in ("capacity", "obs_dim", "calls", "repeats"):
        if getattr(args, name) < 1:
            fail(f"--{name.replace('_', '-')} {getattr(args, name)} is invalid: must be at least 1")
    example = {"obs": jnp.zeros(args.obs_dim), "action": jnp.zeros((), jnp.int32), "reward": jnp.zeros(()),
               "next_obs": jnp.zeros(args.obs_dim), "terminated": jnp.zeros((), bool),
               "truncated": jnp.zeros((), bool)}
    ways = {"eager": replay_add, "jit": jax.jit(replay_add),
            "jit, donated": jax.jit(replay_add, donate_argnums=0)}
    nbytes = sum(x.nbytes for x in jax.tree.leaves(replay_init(example, args.capacity).data))
    print(f"replay_add on a {args.capacity:,}-slot buffer ({nbytes / 2**20:.1f} MiB); us per call "
          f"(median of {args.repeats} x {args.calls} calls)")
    results = {}
    for name, add in ways.items():
        us, _ = time_way(add, replay_init(example, args.capacity), args.obs_dim, args.calls, args.repeats)
        results[name] = us
        print(f"{name:<14} {us:>10,.1f}", flush=True)
    print(f"jit without donation takes {results['jit'] / results['jit, donated']:.1f}x as long as donated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
