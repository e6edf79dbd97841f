"""The loss of one TD update as a function of the online parameters, for the learner to
differentiate: the scalar head's TD loss, and the C51 head's cross-entropy to the projected
target. Each returns ``loss_fn(params) -> (loss, (mean Q taken, per-sample priority signal
[batch]))``; the target side (the target net on s_t) is computed once, outside ``loss_fn``.

``keys``: ``k_online`` noises the online net on s_tm1 and ``k_target`` the target net on s_t;
``q_t_select [batch, actions]`` is the online selector's Q on s_t (double Q), None for the
target net's own argmax.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from noisyjax.agent.distributional import categorical_loss, categorical_target, expected_q
from noisyjax.agent.losses import td_error, td_loss
from noisyjax.agent.types import HParams, Learner
from noisyjax.replay.nstep import Batch

if TYPE_CHECKING:
    from noisyjax.agent.agent import Agent


def scalar_objective(
    agent: Agent, learner: Learner, batch: Batch, k_online: jax.Array, k_target: jax.Array,
    q_t_select: jax.Array | None, hp: HParams,
) -> Callable:
    """The (importance-weighted) TD loss; the priority signal is each sample's TD error."""
    q_t_target = agent.q_values(learner.target_params, batch.next_obs, k_target)

    def loss_fn(params):
        q_tm1 = agent.q_values(params, batch.obs, k_online)  # [batch, actions]
        errors = jax.vmap(td_error)(q_tm1, batch.action, batch.reward, batch.discount, q_t_target, q_t_select)
        q_taken = jnp.take_along_axis(q_tm1, batch.action[:, None], axis=1)
        loss = td_loss(errors, agent.config.loss, batch.weight, hp.huber_delta)
        return loss, (jnp.mean(q_taken), errors)

    return loss_fn


def categorical_objective(
    agent: Agent, learner: Learner, batch: Batch, k_online: jax.Array, k_target: jax.Array,
    q_t_select: jax.Array | None, hp: HParams,
) -> Callable:
    """C51's loss: the mean (importance-weighted) cross-entropy to the projected target, built
    with the target net's distribution at the selector's action; the priority signal is each
    sample's cross-entropy. ``hp`` is unused (the head has no loss settings)."""
    z = agent.support
    logits_t = agent.logits(learner.target_params, batch.next_obs, k_target)  # [batch, A, N]
    select_axis = None if q_t_select is None else 0
    targets = jax.vmap(categorical_target, in_axes=(0, 0, 0, None, select_axis))(
        batch.reward, batch.discount, logits_t, z, q_t_select
    )

    def loss_fn(params):
        logits_tm1 = agent.logits(params, batch.obs, k_online)
        ce = jax.vmap(categorical_loss)(logits_tm1, batch.action, targets)  # [batch]
        q_taken = jnp.take_along_axis(expected_q(logits_tm1, z), batch.action[:, None], axis=1)
        loss = jnp.mean(ce if batch.weight is None else batch.weight * ce)
        return loss, (jnp.mean(q_taken), ce)

    return loss_fn
