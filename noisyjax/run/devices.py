"""Spreading a sweep's agents over XLA's CPU devices (one per core), so wide sweeps use every core.

XLA:CPU runs one executable on one thread plus a small intra-op pool; its small matrix products
gain little from a second core. Two CPU devices, each running half of the agents on its own
thread, do: a sweep's agent axis is split across devices with ``jax.shard_map`` (each device
runs the same per-agent program on its own agents; nothing crosses the agent axis).

XLA creates its CPU devices when the backend starts, so ``use_cpu_devices`` must run before
the first JAX computation (``experiments.sweep`` calls it for ``--cpu-cores all``). With one
device, or an agent count no device count divides, everything runs on the default device.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "agents"


def use_cpu_devices(count: int) -> bool:
    """Ask XLA for ``count`` CPU devices. Once the backend has started nothing changes, and the
    result says whether it already has ``count``."""
    try:
        jax.config.update("jax_num_cpu_devices", int(count))
    except RuntimeError:  # JAX refuses the setting after its first computation
        return len(jax.devices()) == count
    return True


def agent_mesh(n_agents: int) -> Mesh | None:
    """A 1-D mesh over the most devices (at most ``n_agents``) that split the agents evenly;
    None when that is a single device (then nothing is sharded)."""
    devices = jax.devices()
    count = max(d for d in range(1, len(devices) + 1) if n_agents % d == 0)
    if count == 1:
        return None
    return Mesh(devices[:count], (AXIS,))


def over_devices(fn: Callable, mesh: Mesh | None) -> Callable:
    """``fn`` (every argument and result with a leading agent axis) run on each device's share
    of the agents; ``fn`` itself when ``mesh`` is None."""
    if mesh is None:
        return fn
    spec = PartitionSpec(AXIS)
    return jax.shard_map(fn, mesh=mesh, in_specs=spec, out_specs=spec)


def place(tree, mesh: Mesh | None):
    """``tree`` (leaves ``[agents, ...]``) split over the mesh's devices; on the default device
    when ``mesh`` is None."""
    if mesh is None:
        return jax.device_put(tree)
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec(AXIS)))
