"""The agent's typed state: pytrees only (NamedTuples of arrays), no behaviour.

Every leaf gains a leading ``[agents]`` axis in a sweep. ``Sweepable`` is the one list of the
settings that may differ between the agents of one sweep; ``HParams``, ``SWEEPABLE`` and the
sweep's short names (``ALIASES``) are all derived from it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple, get_args

import jax
import jax.numpy as jnp

from noisyjax.config import Config
from noisyjax.replay.per import PriorityState
from noisyjax.replay.uniform import ReplayState

# Settings that may differ between agents of one sweep: floats that change no array shape and no
# schedule shared by all agents.
Sweepable = Literal[
    "learning_rate",
    "sigma0",
    "gamma",
    "target_tau",
    "max_grad_norm",
    "adam_eps",
    "epsilon_start",
    "epsilon_end",
    "huber_delta",
    "learning_rate_end_fraction",
]
SWEEPABLE: tuple[str, ...] = get_args(Sweepable)

ALIASES: dict[str, Sweepable] = {
    "lr": "learning_rate",
    "lr_end_fraction": "learning_rate_end_fraction",
    "tau": "target_tau",
    "eps_end": "epsilon_end",
}
"""Short names ``--grid`` accepts for sweepable fields."""

# Per-agent values computed from the sweepable ones on the host (in float64; see hparams_from_config).
DERIVED = ("learning_rate_end",)

HParams = NamedTuple("HParams", [(name, jax.Array) for name in (*SWEEPABLE, *DERIVED)])
HParams.__doc__ = """Per-agent float settings: one scalar per ``SWEEPABLE`` field (``[agents]`` on the
agent axis), plus ``learning_rate_end`` (learning_rate * learning_rate_end_fraction).
``max_grad_norm`` is inf for no clipping."""


def hparams_from_config(config: Config, **overrides: float) -> HParams:
    """One agent's ``HParams`` from the config, with swept values from ``overrides``."""
    values = {name: getattr(config, name) for name in SWEEPABLE}
    values.update(overrides)
    # On the host in float64, so that an end of 2e-3 * 0.1 is float32(2e-4) exactly (a float32
    # product is one ulp off) and a fraction of 1 gives exactly learning_rate.
    values["learning_rate_end"] = values["learning_rate"] * values["learning_rate_end_fraction"]
    if values["max_grad_norm"] is None:
        values["max_grad_norm"] = math.inf
    return HParams(**{k: jnp.asarray(v, jnp.float32) for k, v in values.items()})


def stack_hparams(config: Config, overrides: Sequence[dict]) -> HParams:
    """``HParams`` with leaves ``[agents]`` from the config and one override dict per agent."""
    per_agent = [hparams_from_config(config, **o) for o in overrides]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *per_agent)


class Transition(NamedTuple):
    """One env step ``(s_tm1, a_tm1, r_t, s_t, terminated_t)``; ``s_t`` is the real next
    observation, also when the episode was truncated or terminated there."""

    obs: jax.Array  # [*obs_shape] in the agent's obs_dtype (float32 unless it says otherwise)
    action: jax.Array  # [] int32
    reward: jax.Array  # [] float32
    next_obs: jax.Array  # [*obs_shape] obs_dtype
    terminated: jax.Array  # [] bool: True only for a real termination, never for truncation
    truncated: jax.Array  # [] bool: the episode was cut here by a time limit (bootstrap from s_t)


class Metrics(NamedTuple):
    """Running sums since the host last read them (reset by ``Agent.reset_metrics``)."""

    loss_sum: jax.Array
    q_sum: jax.Array
    count: jax.Array


class Learner(NamedTuple):
    """What an update changes. Parameters are kept as flat float32 vectors ``[num_params]``
    (``Agent.param_tree`` gives the Flax dict back): a jitted call costs about a microsecond per
    array it returns, and one vector instead of dozens of leaves per copy (online, target, two
    Adam moments) saves most of the per-step dispatch time."""

    params: jax.Array  # [num_params]
    target_params: jax.Array  # [num_params]
    opt_state: Any  # the optax state of the agent's optimiser, over the flat vector
    updates: jax.Array  # int32 []: updates done
    metrics: Metrics


class AgentState(NamedTuple):
    """The whole state of one agent (every leaf gains a leading ``[agents]`` axis in a sweep)."""

    learner: Learner
    replay: ReplayState
    key: jax.Array  # uint32 [2]
    step: jax.Array  # int32 []: env steps taken (transitions added)
    hparams: HParams
    priority: PriorityState | None = None  # prioritised replay's sum tree; None: uniform replay


def split_keys(key: jax.Array, n: int) -> jax.Array:
    """``n`` independent keys from one key (``[n, 2]``)."""
    return jax.random.split(key, n)
