"""C51's pieces against hand-computed tables, with and without jit: the L2 projection (on atoms,
between atoms, outside the support, a terminal transition), the target distribution, the loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noisyjax.agent.distributional import (
    categorical_l2_project,
    categorical_loss,
    categorical_target,
    expected_q,
    support,
)

Z = jnp.array([-1.0, 0.0, 1.0, 2.0])  # four atoms, spacing 1
project = {"eager": categorical_l2_project, "jit": jax.jit(categorical_l2_project)}


@pytest.fixture(params=["eager", "jit"])
def proj(request):
    return project[request.param]


def test_support_is_evenly_spaced_and_inclusive():
    np.testing.assert_allclose(support(5, -2.0, 2.0), [-2, -1, 0, 1, 2])


def test_mass_exactly_on_atoms_stays_there(proj):
    probs = jnp.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(proj(Z, probs, Z), probs, atol=1e-7)
    # a permuted support carries each mass to its own atom
    np.testing.assert_allclose(proj(Z[::-1], probs, Z), probs[::-1], atol=1e-7)


def test_mass_between_atoms_splits_by_distance(proj):
    # 0.25 above atom 0.0 -> 0.75 to 0.0, 0.25 to 1.0; 1.5 -> half to 1.0 and 2.0
    z_p = jnp.array([0.25, 1.5])
    probs = jnp.array([0.4, 0.6])
    np.testing.assert_allclose(proj(z_p, probs, Z), [0.0, 0.3, 0.1 + 0.3, 0.3], atol=1e-7)


def test_mass_outside_the_support_is_clipped_to_its_ends(proj):
    z_p = jnp.array([-7.0, 2.5, 100.0])
    probs = jnp.array([0.5, 0.2, 0.3])
    np.testing.assert_allclose(proj(z_p, probs, Z), [0.5, 0.0, 0.0, 0.5], atol=1e-7)


def test_projection_onto_a_coarser_support(proj):
    z_q = jnp.array([0.0, 2.0])
    z_p = jnp.array([0.0, 0.5, 1.0, 2.0])
    probs = jnp.array([0.1, 0.2, 0.3, 0.4])
    # 0.5 -> 3/4 to 0, 1/4 to 2; 1.0 -> half each
    expected = [0.1 + 0.2 * 0.75 + 0.3 * 0.5, 0.2 * 0.25 + 0.3 * 0.5 + 0.4]
    np.testing.assert_allclose(proj(z_p, probs, z_q), expected, atol=1e-7)


_project = jax.jit(categorical_l2_project)  # one program per support length (8 at most)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=8), st.integers(0, 2**31 - 1))
def test_projection_keeps_mass_and_the_mean_inside_the_support(z_list, seed):
    z_p = jnp.array(z_list, jnp.float32)
    # numpy's Dirichlet draw: jax's compiles a gamma sampler for every length
    probs = jnp.asarray(np.random.default_rng(seed).dirichlet(np.ones(len(z_list))), jnp.float32)
    out = _project(z_p, probs, Z)
    assert float(jnp.sum(out)) == pytest.approx(1.0, abs=1e-5)
    assert bool(jnp.all(out >= 0))
    # the L2 projection keeps the mean of the clipped distribution
    mean_in = float(jnp.sum(jnp.clip(z_p, Z[0], Z[-1]) * probs))
    assert float(jnp.sum(out * Z)) == pytest.approx(mean_in, abs=1e-4)


def test_terminal_target_puts_all_mass_on_the_reward():
    logits = jnp.zeros((2, 4))  # uniform next-state distributions
    target = categorical_target(jnp.float32(0.5), jnp.float32(0.0), logits, Z)
    np.testing.assert_allclose(target, [0.0, 0.5, 0.5, 0.0], atol=1e-7)  # r = 0.5 between 0 and 1


def test_truncated_and_nstep_targets_shift_and_shrink_the_support():
    # next-state distribution of action 1: all mass on atom 2.0; action 0 on -1.0
    logits = jnp.array([[10.0, -1e9, -1e9, -1e9], [-1e9, -1e9, -1e9, 10.0]])
    # truncation bootstraps: discount gamma = 0.5, r = 0 -> atom 2.0 moves to 1.0
    t = categorical_target(jnp.float32(0.0), jnp.float32(0.5), logits, Z)
    np.testing.assert_allclose(t, [0.0, 0.0, 1.0, 0.0], atol=1e-6)
    # 3-step: r = 1 + 0.5 + 0.25 = 1.75 and discount 0.5^3 -> 1.75 + 0.125 * 2 = 2.0 -> last atom
    t = categorical_target(jnp.float32(1.75), jnp.float32(0.125), logits, Z)
    np.testing.assert_allclose(t, [0.0, 0.0, 0.0, 1.0], atol=1e-6)
    # a selector that prefers action 0 takes its distribution (-1 -> 1.75 - 0.125 = 1.625)
    t = categorical_target(jnp.float32(1.75), jnp.float32(0.125), logits, Z, jnp.array([1.0, 0.0]))
    np.testing.assert_allclose(t, [0.0, 0.0, 0.375, 0.625], atol=1e-6)


def test_expected_q_and_loss():
    logits = jnp.log(jnp.array([[0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 0.5, 0.5]]) + 1e-30)
    np.testing.assert_allclose(expected_q(logits, Z), [0.5, 1.5], atol=1e-5)
    target = jnp.array([0.0, 0.0, 1.0, 0.0])
    assert float(categorical_loss(logits, jnp.int32(0), target)) == pytest.approx(np.log(4.0), rel=1e-5)
    assert float(categorical_loss(logits, jnp.int32(1), target)) == pytest.approx(np.log(2.0), rel=1e-5)


def test_the_projection_is_top_level():
    import noisyjax as nj

    assert nj.categorical_l2_project is categorical_l2_project and nj.support is support
