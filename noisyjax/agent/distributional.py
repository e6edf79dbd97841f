"""The categorical (C51) pieces of a distributional TD update (Bellemare et al. 2017), written for
ONE transition as rlax does (callers ``vmap`` over the batch).

A return distribution is ``probs [atoms]`` on a fixed support ``z [atoms]`` (``support``). The
target ``r + discount * z`` (``discount`` holding gamma^n and the termination mask, as in
``noisyjax.agent.losses``) lies off the support; ``categorical_l2_project`` puts its mass back
on the support's atoms.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def support(num_atoms: int, v_min: float, v_max: float) -> jax.Array:
    """``num_atoms`` evenly spaced atoms from ``v_min`` to ``v_max`` (both included): ``[atoms]``."""
    return jnp.linspace(v_min, v_max, num_atoms, dtype=jnp.float32)


def categorical_l2_project(z_p: jax.Array, probs: jax.Array, z_q: jax.Array) -> jax.Array:
    """Project the distribution ``probs [n]`` on support ``z_p [n]`` onto support ``z_q [m]``
    (increasing): returns ``[m]``, summing to ``sum(probs)``.

    Each atom's mass goes to the two neighbouring atoms of ``z_q`` in proportion to closeness
    (all of it to one atom when it sits exactly on it); atoms outside ``[z_q[0], z_q[-1]]`` are
    clipped to its ends first. This is the projection onto the support that minimises the
    Cramer (L2 of the CDFs) distance, rlax's contract of the same name.
    """
    chex.assert_rank([z_p, probs, z_q], 1)
    chex.assert_equal_shape([z_p, probs])
    z = jnp.clip(z_p, z_q[0], z_q[-1])  # [n]
    # Gaps below and above each target atom; an end atom has no neighbour on its outer side, and
    # a gap of 0 (repeated atoms) contributes nothing instead of dividing by zero.
    gap_below = jnp.concatenate([jnp.zeros(1, z_q.dtype), z_q[1:] - z_q[:-1]])  # [m]
    gap_above = jnp.concatenate([z_q[1:] - z_q[:-1], jnp.zeros(1, z_q.dtype)])  # [m]
    dist = z[None, :] - z_q[:, None]  # [m, n]: source atom j relative to target atom i
    above = dist >= 0
    gap = jnp.where(above, gap_above[:, None], gap_below[:, None])
    # Triangular weight 1 - |dist| / gap, zero beyond the neighbouring atom (and where gap is 0,
    # unless the source sits exactly on the target atom).
    safe = jnp.where(gap > 0, gap, 1.0)
    weight = jnp.where(gap > 0, jnp.clip(1.0 - jnp.abs(dist) / safe, 0.0, 1.0), (dist == 0).astype(z.dtype))
    return jnp.sum(weight * probs[None, :], axis=1)


def expected_q(logits: jax.Array, z: jax.Array) -> jax.Array:
    """Q-values as the expectation over the support: ``logits [..., actions, atoms] -> [..., actions]``."""
    return jnp.sum(jax.nn.softmax(logits, axis=-1) * z, axis=-1)


def categorical_target(
    r_t: jax.Array,
    discount_t: jax.Array,
    logits_t_target: jax.Array,
    z: jax.Array,
    q_t_selector: jax.Array | None = None,
) -> jax.Array:
    """The projected target distribution ``[atoms]`` of one transition (no gradient).

    ``logits_t_target [actions, atoms]``: the target net on s_t. The next action is
    ``a* = argmax q_t_selector [actions]`` (double Q: the online net on s_t, its own noise), or
    the target net's own expected Q when None. The target's atoms ``r_t + discount_t * z`` carry
    the target net's probabilities at ``a*`` and are projected back onto ``z``; a terminal
    transition (``discount_t`` 0) puts all the mass on ``r_t``'s neighbours.
    """
    chex.assert_rank([r_t, discount_t, logits_t_target, z], [0, 0, 2, 1])
    selector = expected_q(logits_t_target, z) if q_t_selector is None else q_t_selector
    a_star = jnp.argmax(selector)
    p_t = jax.nn.softmax(logits_t_target[a_star])
    return jax.lax.stop_gradient(categorical_l2_project(r_t + discount_t * z, p_t, z))


def categorical_loss(logits_tm1: jax.Array, a_tm1: jax.Array, target: jax.Array) -> jax.Array:
    """Cross-entropy of the online distribution at ``a_tm1`` to ``target [atoms]``: a scalar
    (``logits_tm1 [actions, atoms]``). It is also the sample's priority under PER (Rainbow uses
    the KL, which differs from it by the target's entropy, a constant per sample)."""
    chex.assert_rank([logits_tm1, a_tm1, target], [2, 0, 1])
    return -jnp.sum(target * jax.nn.log_softmax(logits_tm1[a_tm1]))
