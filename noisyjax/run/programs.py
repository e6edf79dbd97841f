"""The jitted programs of a run, each over the agent axis (split over the XLA devices if there
are several), compiled once per agent description and device mesh."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax

from noisyjax.agent.agent import Agent
from noisyjax.run.devices import over_devices


@dataclasses.dataclass
class Programs:
    """The jitted functions of a run, each over the agent axis (split over devices if any)."""

    step: dict[bool, Callable]  # keyed by whether the step updates
    act: Callable
    sigma: Callable
    metrics: Callable
    init: Callable
    finite: Callable


@functools.lru_cache(maxsize=8)
def compile_programs(agent: Agent, mesh) -> Programs:
    """The run's jitted functions, kept for the next ``train`` of the same agent (a frozen, hashable
    description) on the same devices: a notebook or test that trains the same setting again reuses
    the compiled programs instead of tracing and compiling them anew."""
    # One jitted step per env step, compiled with and without the update: the host knows the
    # schedule, and the step without it leaves the learner's buffers in place.
    step = {
        due: jax.jit(over_devices(functools.partial(agent.step_batch, update=due), mesh), donate_argnums=0)
        for due in (False, True)
    }
    return Programs(
        step=step,
        act=jax.jit(over_devices(agent.act_batch, mesh), donate_argnums=0),
        sigma=jax.jit(over_devices(agent.sigma_stats, mesh)),
        metrics=jax.jit(over_devices(agent.reset_metrics, mesh), donate_argnums=0),
        init=jax.jit(over_devices(agent.init_batch, mesh)),
        finite=jax.jit(over_devices(agent.all_finite, mesh)),
    )
