"""Splitting a sweep's agents over XLA's CPU devices (one per core), so wide sweeps use every core.

One XLA:CPU executable runs on one thread, and its small matrix products gain little from a
second core. With two CPU devices the loop splits the agents into one group per device and
pipelines them: while one group's jitted step runs on its device, the host steps the other
group's environments (``noisyjax.loop.train``). Each group runs the same per-agent program as a
single run; nothing crosses the agent axis.

XLA creates its CPU devices when the backend starts, so ``use_cpu_devices`` must run before the
first JAX computation (``experiments.sweep`` calls it for ``--cpu-cores all``). With one device,
or an agent count no larger device count divides, all agents form one group on the default
device.
"""

from __future__ import annotations

import jax


def use_cpu_devices(count: int) -> bool:
    """Ask XLA for ``count`` CPU devices. Once the backend has started nothing changes, and the
    result says whether it already has ``count``."""
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        return len(jax.devices()) == count
    jax.config.update("jax_num_cpu_devices", int(count))
    return True


def agent_groups(n_agents: int) -> list[tuple[slice, jax.Device]]:
    """Consecutive, equal groups of agent indices, one per device: as many devices as divide
    ``n_agents`` evenly (a single group, on the default device, when only one does)."""
    devices = jax.devices()
    count = max(d for d in range(1, min(len(devices), n_agents) + 1) if n_agents % d == 0)
    size = n_agents // count
    return [(slice(g * size, (g + 1) * size), devices[g]) for g in range(count)]
