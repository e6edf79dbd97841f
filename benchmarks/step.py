"""Time the jitted agent step: act only, and act + one TD update (batch 128 by default).

    python -m benchmarks.step                # default network, 1 agent
    python -m benchmarks.step --agents 1 4 16 --no-noisy
    python -m benchmarks.step --quick        # 30 calls x 2 repeats, a few seconds

Prints microseconds per call (median of repeats; the machine is shared, so compare figures from
one run). No environment is stepped: transitions are fixed arrays, so this measures the device
side alone.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from experiments.common import fail, parse
from noisyjax.agent.agent import Agent
from noisyjax.agent.types import Transition, stack_hparams
from noisyjax.config import Config
from noisyjax.run.devices import agent_mesh, over_devices, use_cpu_devices


@dataclasses.dataclass(frozen=True)
class Args:
    """Microbenchmark of the jitted agent step."""

    config: tyro.conf.OmitArgPrefixes[Config] = Config()
    agents: tuple[int, ...] = (1,)
    """Agent-axis widths to time."""
    calls: int = 300
    """Timed calls per repeat."""
    repeats: int = 5
    """Repeats (the median is reported)."""
    obs_dim: int = 8
    """Observation size (8 = LunarLander)."""
    num_actions: int = 4
    """Number of actions (4 = LunarLander)."""
    cpu_devices: int = 1
    """XLA CPU devices; with more than one, agents are split across them as in a sweep with
    --cpu-cores all."""
    quick: bool = False
    """Plumbing check: 30 calls x 2 repeats (unless --calls/--repeats are given)."""


def time_step(config: Config, n: int, obs_dim: int, num_actions: int, calls: int, repeats: int) -> float:
    """Median microseconds per call of the jitted, donated ``step_batch`` at agent width ``n``:
    with an update at every call when ``config.train_freq`` is 1, else without."""
    agent = Agent(config, obs_dim, num_actions)
    mesh = agent_mesh(n)
    states = jax.jit(over_devices(agent.init_batch, mesh))(jnp.arange(n), stack_hparams(config, [{}] * n))
    rng = np.random.default_rng(0)
    tr = Transition(
        obs=rng.normal(size=(n, obs_dim)).astype(np.float32),
        action=rng.integers(0, num_actions, n).astype(np.int32),
        reward=rng.normal(size=n).astype(np.float32),
        next_obs=rng.normal(size=(n, obs_dim)).astype(np.float32),
        terminated=np.zeros(n, bool),
        truncated=np.zeros(n, bool),
    )
    obs = tr.next_obs
    # As in noisyjax.run.loop: the step compiled with or without the update, the host deciding.
    fill, step = (
        jax.jit(over_devices(functools.partial(agent.step_batch, update=due), mesh), donate_argnums=0)
        for due in (False, config.train_freq == 1)
    )
    for _ in range(config.batch_size + 8):  # fill past one batch so updates can run
        states, a = fill(states, tr, obs)
    states, a = step(states, tr, obs)  # compile the timed program before the clock starts
    np.asarray(a)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            states, a = step(states, tr, obs)
            np.asarray(a)
        times.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    args = parse(Args, sys.argv[1:] if argv is None else argv, description=__doc__)
    if not use_cpu_devices(args.cpu_devices):
        fail(f"--cpu-devices {args.cpu_devices} is invalid here: JAX already started with "
             f"{len(jax.devices())} devices")
    calls, repeats = args.calls, args.repeats
    if args.quick:
        given = " ".join(sys.argv[1:] if argv is None else argv)
        calls = calls if "--calls" in given else 30
        repeats = repeats if "--repeats" in given else 2
    for flag, value in (("--calls", calls), ("--repeats", repeats)):
        if value < 1:
            fail(f"{flag} {value} is invalid: must be a positive integer")
    base = dataclasses.replace(args.config, warmup_steps=0)
    act_only = dataclasses.replace(base, train_freq=10**9)
    every_step = dataclasses.replace(base, train_freq=1)
    print(f"jax {jax.__version__} on {len(jax.devices())} {jax.devices()[0].platform} device(s); "
          f"hidden {base.hidden_sizes}, noisy={base.noisy}, batch {base.batch_size}, "
          f"agent axis {base.agent_axis}")
    print(f"{'agents':>6} {'act only (us)':>14} {'act + update (us)':>18} {'update (us)':>12} "
          f"{'per agent (us)':>15}")
    for n in args.agents:
        a = time_step(act_only, n, args.obs_dim, args.num_actions, calls, repeats)
        b = time_step(every_step, n, args.obs_dim, args.num_actions, calls, repeats)
        print(f"{n:>6} {a:>14.0f} {b:>18.0f} {b - a:>12.0f} {b / n:>15.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
