"""TD targets and losses, written for ONE transition (callers ``vmap`` over the batch), as rlax does.

Contract for ``discount_t``: it already contains gamma and the termination mask,
``discount_t = gamma * (1 - terminated_t)``: truncation bootstraps, termination does not.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def discount_from_termination(gamma: jax.Array, terminated: jax.Array) -> jax.Array:
    """``gamma * (1 - terminated)``: zero only when the episode really ended (not on truncation)."""
    return gamma * (1.0 - terminated.astype(jnp.float32))


def td_target(
    r_t: jax.Array,
    discount_t: jax.Array,
    q_t_target: jax.Array,
    q_t_selector: jax.Array | None = None,
) -> jax.Array:
    """Bootstrapped target ``r_t + discount_t * q_t_target[a*]`` for one transition (a scalar).

    ``q_t_target [actions]`` evaluates the next state. ``q_t_selector [actions]`` picks
    ``a* = argmax q_t_selector`` (double Q-learning, van Hasselt et al. 2016); ``None`` means
    ``a* = argmax q_t_target`` (Q-learning). The target carries no gradient.
    """
    chex.assert_rank([r_t, discount_t, q_t_target], [0, 0, 1])
    selector = q_t_target if q_t_selector is None else q_t_selector
    a_star = jnp.argmax(selector)
    return jax.lax.stop_gradient(r_t + discount_t * q_t_target[a_star])


def td_error(
    q_tm1: jax.Array,
    a_tm1: jax.Array,
    r_t: jax.Array,
    discount_t: jax.Array,
    q_t_target: jax.Array,
    q_t_selector: jax.Array | None = None,
) -> jax.Array:
    """``td_target(...) - q_tm1[a_tm1]`` for one transition; ``q_tm1 [actions]``, ``a_tm1 []``."""
    chex.assert_rank([q_tm1, a_tm1], [1, 0])
    return td_target(r_t, discount_t, q_t_target, q_t_selector) - q_tm1[a_tm1]


def huber(x: jax.Array, delta: float | jax.Array = 1.0) -> jax.Array:
    """Huber loss, elementwise: quadratic within ``|x| <= delta``, linear outside (slope delta)."""
    abs_x = jnp.abs(x)
    quad = jnp.minimum(abs_x, delta)
    return 0.5 * quad**2 + delta * (abs_x - quad)


def squared(x: jax.Array) -> jax.Array:
    """``0.5 * x**2``, elementwise (the MSE option)."""
    return 0.5 * x**2


def td_loss(
    errors: jax.Array,
    kind: str = "mse",
    weights: jax.Array | None = None,
    delta: float | jax.Array = 1.0,
) -> jax.Array:
    """Mean of ``squared`` (``kind="mse"``, the default, as ``Config.loss``) or ``huber`` (with
    ``delta``; DQN's error clipping) over a batch of TD errors ``[batch]``,
    each term scaled by its importance weight ``weights [batch]`` (prioritised replay); None
    means weight 1. ``delta`` is ignored by ``squared``."""
    if kind == "huber":
        terms = huber(errors, delta)
    elif kind == "mse":
        terms = squared(errors)
    else:
        raise ValueError(f"loss must be 'huber' or 'mse', got {kind!r}")
    return jnp.mean(terms if weights is None else weights * terms)
