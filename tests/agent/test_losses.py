"""TD targets and losses against hand-computed tables (termination vs truncation, double Q)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from noisyjax.agent.losses import discount_from_termination, huber, td_error, td_loss, td_target

GAMMA = 0.9
Q_T_TARGET = jnp.array([1.0, 3.0, 2.0])  # argmax 1
Q_T_SELECTOR = jnp.array([5.0, 0.0, 1.0])  # argmax 0: double Q reads Q_T_TARGET[0] = 1.0
Q_TM1 = jnp.array([0.5, 2.0, -1.0])

# (case, r_t, terminated, expected Q-learning target, expected double-Q target)
TARGETS = [
    ("ordinary", 1.0, False, 1.0 + 0.9 * 3.0, 1.0 + 0.9 * 1.0),  # 3.7, 1.9
    ("truncated", 1.0, False, 3.7, 1.9),  # truncation is not termination: bootstraps
    ("terminated", 1.0, True, 1.0, 1.0),  # no bootstrap at all
    ("terminated-negative", -2.5, True, -2.5, -2.5),
    ("zero-reward", 0.0, False, 2.7, 0.9),
]


@pytest.mark.parametrize("case,r,terminated,q_target,double_target", TARGETS, ids=[t[0] for t in TARGETS])
def test_td_target_table(variant, case, r, terminated, q_target, double_target):
    """r + gamma (1 - terminated) Q_target[a*], a* from Q_target (Q-learning) or the selector."""
    discount = discount_from_termination(jnp.float32(GAMMA), jnp.asarray(terminated))
    fn = variant(td_target)
    np.testing.assert_allclose(fn(jnp.float32(r), discount, Q_T_TARGET), q_target, rtol=1e-6)
    np.testing.assert_allclose(
        fn(jnp.float32(r), discount, Q_T_TARGET, Q_T_SELECTOR), double_target, rtol=1e-6
    )


@pytest.mark.parametrize("case,r,terminated,q_target,double_target", TARGETS, ids=[t[0] for t in TARGETS])
def test_td_error_table(variant, case, r, terminated, q_target, double_target):
    """target - Q_tm1[a_tm1] with a_tm1 = 1 (Q_tm1[1] = 2.0) and a_tm1 = 2 (Q_tm1[2] = -1.0)."""
    discount = discount_from_termination(jnp.float32(GAMMA), jnp.asarray(terminated))
    fn = variant(td_error)
    for a, q_taken in [(1, 2.0), (2, -1.0)]:
        a_tm1 = jnp.int32(a)
        np.testing.assert_allclose(
            fn(Q_TM1, a_tm1, jnp.float32(r), discount, Q_T_TARGET), q_target - q_taken, rtol=1e-6, atol=1e-6
        )
        np.testing.assert_allclose(
            fn(Q_TM1, a_tm1, jnp.float32(r), discount, Q_T_TARGET, Q_T_SELECTOR),
            double_target - q_taken,
            rtol=1e-6,
            atol=1e-6,
        )


def test_td_error_vmapped_batch(variant):
    """The one-transition function vmapped over a batch gives the table row by row."""
    r = jnp.array([1.0, 1.0, 0.5])
    terminated = jnp.array([False, True, False])
    discount = discount_from_termination(jnp.float32(0.5), terminated)
    q_tm1 = jnp.array([[0.0, 1.0], [2.0, 0.0], [1.0, 1.0]])
    a_tm1 = jnp.array([1, 0, 0], jnp.int32)
    q_t = jnp.array([[4.0, 2.0], [10.0, 10.0], [-1.0, -3.0]])
    sel = jnp.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    errors = variant(jax.vmap(td_error))(q_tm1, a_tm1, r, discount, q_t, None)
    # 1 + 0.5*4 - 1 = 2;  1 - 2 = -1;  0.5 + 0.5*(-1) - 1 = -1
    np.testing.assert_allclose(errors, [2.0, -1.0, -1.0], rtol=1e-6)
    errors = variant(jax.vmap(td_error))(q_tm1, a_tm1, r, discount, q_t, sel)
    # 1 + 0.5*2 - 1 = 1;  1 - 2 = -1;  0.5 + 0.5*(-3) - 1 = -2
    np.testing.assert_allclose(errors, [1.0, -1.0, -2.0], rtol=1e-6)


def test_discount_from_termination(variant):
    """gamma * (1 - terminated): 0 on termination, gamma otherwise (float32; bool or float input)."""
    fn = variant(discount_from_termination)
    d = fn(jnp.float32(0.99), jnp.array([True, False, False, True]))
    assert d.dtype == jnp.float32
    np.testing.assert_allclose(d, [0.0, 0.99, 0.99, 0.0], rtol=1e-7)
    np.testing.assert_allclose(fn(jnp.float32(0.5), jnp.array([1.0, 0.0])), [0.0, 0.5], rtol=1e-7)
    np.testing.assert_allclose(fn(jnp.float32(1.0), jnp.asarray(False)), 1.0)


def test_huber_values(variant):
    """Huber (delta 1) at 0, 0.5, 1, 3, -3: 0, 0.125, 0.5, 2.5, 2.5; and with delta 2 at 1 and 3."""
    x = jnp.array([0.0, 0.5, 1.0, 3.0, -3.0])
    np.testing.assert_allclose(variant(huber)(x), [0.0, 0.125, 0.5, 2.5, 2.5], rtol=1e-6)
    np.testing.assert_allclose(
        variant(lambda x: huber(x, 2.0))(jnp.array([1.0, 3.0, -3.0])), [0.5, 4.0, 4.0], rtol=1e-6
    )


def test_huber_gradient(variant):
    """d huber / dx = x inside [-1, 1], sign(x) outside (clipped error gradient)."""
    x = jnp.array([0.0, 0.5, -0.5, 3.0, -3.0])
    g = variant(jax.vmap(jax.grad(huber)))(x)
    np.testing.assert_allclose(g, [0.0, 0.5, -0.5, 1.0, -1.0], rtol=1e-6)


def test_td_loss_kinds(variant):
    """Mean of huber or of 0.5 x^2 over the batch, hand-computed; another kind raises."""
    errors = jnp.array([0.0, 0.5, 1.0, 3.0, -3.0])
    huber_mean = (0.0 + 0.125 + 0.5 + 2.5 + 2.5) / 5  # 1.125
    mse_mean = 0.5 * (0.0 + 0.25 + 1.0 + 9.0 + 9.0) / 5  # 1.925
    np.testing.assert_allclose(variant(lambda e: td_loss(e, "huber"))(errors), huber_mean, rtol=1e-6)
    np.testing.assert_allclose(variant(lambda e: td_loss(e, "mse"))(errors), mse_mean, rtol=1e-6)
    np.testing.assert_allclose(td_loss(errors), mse_mean, rtol=1e-6)  # mse is the default, as Config.loss


def test_td_loss_huber_delta(variant):
    """delta moves the quadratic zone: with delta 2, |e| = 3 costs 2 * (3 - 2) + 0.5 * 2^2 = 4, and
    errors within delta cost 0.5 e^2 as under mse; a traced delta (a swept setting) works too."""
    errors = jnp.array([0.5, 1.0, 3.0, -3.0])
    expected = (0.125 + 0.5 + 4.0 + 4.0) / 4
    np.testing.assert_allclose(variant(lambda e: td_loss(e, "huber", None, 2.0))(errors), expected, rtol=1e-6)
    np.testing.assert_allclose(
        variant(lambda e, d: td_loss(e, "huber", None, d))(errors, jnp.float32(2.0)), expected, rtol=1e-6
    )
    big = variant(lambda e: td_loss(e, "huber", None, 100.0))(errors)
    np.testing.assert_allclose(big, td_loss(errors, "mse"), rtol=1e-6)  # all errors inside delta


@pytest.mark.parametrize("kind", ["l1", "Huber", "", "squared"])
def test_td_loss_bad_kind_raises(kind):
    """Unknown loss kinds raise ValueError."""
    with pytest.raises(ValueError, match="loss"):
        td_loss(jnp.zeros(3), kind)


def test_target_carries_no_gradient(variant):
    """Gradients flow only into Q_tm1[a_tm1] (-1 there); none into Q_target, the selector or r."""
    discount = jnp.float32(0.9)

    def err(q_tm1, r, q_t, sel):
        return td_error(q_tm1, jnp.int32(1), r, discount, q_t, sel)

    grads = variant(jax.grad(err, argnums=(0, 1, 2, 3)))(Q_TM1, jnp.float32(1.0), Q_T_TARGET, Q_T_SELECTOR)
    np.testing.assert_array_equal(grads[0], [0.0, -1.0, 0.0])
    assert float(grads[1]) == 0.0
    np.testing.assert_array_equal(grads[2], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(grads[3], [0.0, 0.0, 0.0])
    g_target = variant(jax.grad(lambda q: td_target(jnp.float32(1.0), discount, q)))(Q_T_TARGET)
    np.testing.assert_array_equal(g_target, [0.0, 0.0, 0.0])


def test_rank_checks():
    """td_target / td_error are written for ONE transition: batched inputs are refused."""
    with pytest.raises(AssertionError):
        td_target(jnp.zeros(2), jnp.zeros(2), jnp.zeros((2, 3)))
    with pytest.raises(AssertionError):
        td_error(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32), jnp.float32(0), jnp.float32(0), jnp.zeros(3))
