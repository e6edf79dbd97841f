"""The agent axis: one function over a leading ``[agents]`` axis, exact or vmapped.

Exact mode (``"map"``) gives each agent bitwise the results of its single run at any width: the
agents are unrolled (each agent's ops at the top level of the program, where XLA:CPU uses the same
kernels as for a single agent and its fast matmuls; a rolled ``lax.map`` body ran 2-3x slower per
agent on a 2-core CPU) up to ``UNROLL_MAX`` agents, and ``lax.map`` beyond, where unrolling
would make compile times grow too long. ``"vmap"`` batches the agents (what an accelerator wants),
and XLA may then pick other matmul kernels per width, so results can differ by ulps between
widths (docs/reproducibility.md).
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from noisyjax.config import AgentAxis

# Widest agent axis that exact mode unrolls. Compile time grows with it (about 40 s for 10 agents
# of the default network on a 2-core CPU, 90 s for 16), but a rolled lax.map body ran 2-3x
# slower per agent there, while 10 unrolled agents cost within about 20% of vmap.
UNROLL_MAX = 16


def over_agents(fn: Callable, axis: AgentAxis, unroll: bool = True) -> Callable:
    """``fn`` mapped over the leading agent axis of all its arguments (and results): exactly
    (``axis="map"``; ``unroll=False`` always uses ``lax.map``) or with ``jax.vmap``."""
    if axis == "vmap":
        return jax.vmap(fn)

    def mapped(*args):
        n = jax.tree.leaves(args)[0].shape[0]
        if unroll and n <= UNROLL_MAX:
            _, out = jax.lax.scan(lambda c, a: (c, fn(*a)), None, args, unroll=n)
            return out
        return jax.lax.map(lambda a: fn(*a), args)

    return mapped
