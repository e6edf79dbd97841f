"""Noisy linear layer (Fortunato et al. 2018): init, noise structure, forward pass, moments, grads."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from noisyjax.nn.noisy import (
    NoisyDense,
    factorised_noise,
    noise_sample,
    noise_size,
    noisy_dense_apply,
    noisy_dense_apply_noise,
    noisy_dense_init,
    scale_noise,
    unit_normals,
)

IN, OUT = 5, 3
FACTORISED = pytest.mark.parametrize("factorised", [True, False], ids=["factorised", "independent"])


def f_np(x):
    """The paper's f(x) = sign(x) sqrt(|x|), in float64 numpy (independent of the library)."""
    x = np.asarray(x, np.float64)
    return np.sign(x) * np.sqrt(np.abs(x))


def random_params(seed: int, in_features: int = IN, out_features: int = OUT) -> dict:
    """Params with non-constant, non-symmetric sigma (a transposed sigma would show)."""
    rng = np.random.default_rng(seed)
    return {
        "mu_w": jnp.asarray(rng.normal(size=(in_features, out_features)), jnp.float32),
        "sigma_w": jnp.asarray(rng.uniform(0.1, 1.0, size=(in_features, out_features)), jnp.float32),
        "mu_b": jnp.asarray(rng.normal(size=(out_features,)), jnp.float32),
        "sigma_b": jnp.asarray(rng.uniform(0.1, 1.0, size=(out_features,)), jnp.float32),
    }


def random_x(seed: int, *shape: int) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


# Module-level functions (one object each), so that the jitted variants of different tests share
# one compilation; inputs use the same shapes throughout for the same reason.
def apply_factorised(p, x, k):
    return noisy_dense_apply(p, x, k, factorised=True)


def apply_independent(p, x, k):
    return noisy_dense_apply(p, x, k, factorised=False)


def apply_noise_factorised(p, x, e):
    return noisy_dense_apply_noise(p, x, e, factorised=True)


def apply_noise_independent(p, x, e):
    return noisy_dense_apply_noise(p, x, e, factorised=False)


def sample_factorised(k):
    return noise_sample(k, IN, OUT, factorised=True)


def sample_independent(k):
    return noise_sample(k, IN, OUT, factorised=False)


def factors(k):
    return factorised_noise(k, IN, OUT)


def mean_forward(p, x):
    return x @ p["mu_w"] + p["mu_b"]


def _weighted_sum(factorised):
    return lambda p, x, c, k: jnp.sum(c * noisy_dense_apply(p, x, k, factorised=factorised))


GRAD = {f: jax.grad(_weighted_sum(f)) for f in (True, False)}
APPLY = {True: apply_factorised, False: apply_independent}
APPLY_NOISE = {True: apply_noise_factorised, False: apply_noise_independent}
SAMPLE = {True: sample_factorised, False: sample_independent}
MODULE = {f: NoisyDense(OUT, factorised=f) for f in (True, False)}
MODULE_APPLY = {f: (lambda v, x, k, e, f=f: MODULE[f].apply(v, x, k, e)) for f in (True, False)}


def rank(m) -> int:
    """Numerical rank with a float32-appropriate tolerance (1e-4 of the largest singular value)."""
    s = np.linalg.svd(np.asarray(m, np.float64), compute_uv=False)
    return int(np.sum(s > 1e-4 * s[0]))


def explicit_forward(params, x, eps_w, eps_b):
    """``x @ (mu_w + sigma_w * eps_w) + mu_b + sigma_b * eps_b`` in float64 numpy (paper eq. 9)."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    w = p["mu_w"] + p["sigma_w"] * np.asarray(eps_w, np.float64)
    b = p["mu_b"] + p["sigma_b"] * np.asarray(eps_b, np.float64)
    return np.asarray(x, np.float64) @ w + b


# ----- helpers ------------------------------------------------------------------------------------


def test_scale_noise_values(variant):
    """f(x) = sign(x) sqrt(|x|) at hand-computed points."""
    x = jnp.array([-4.0, -0.25, 0.0, 0.25, 4.0, 9.0])
    np.testing.assert_allclose(variant(scale_noise)(x), [-2.0, -0.5, 0.0, 0.5, 2.0, 3.0], rtol=1e-6)


def test_noise_size():
    """p + q unit normals for factorised noise, p * q + q for independent noise."""
    assert noise_size(5, 3, True) == 8
    assert noise_size(5, 3, False) == 18
    assert noise_size(1, 1) == 2


def test_factorised_noise_factors(variant):
    """``factorised_noise`` gives f(e[:p]), f(e[p:]) of ONE normal draw of length p + q."""
    key = jax.random.PRNGKey(3)
    f_in, f_out = variant(factors)(key)
    e = np.asarray(unit_normals(key, IN + OUT))
    assert f_in.shape == (IN,) and f_out.shape == (OUT,)
    np.testing.assert_allclose(f_in, f_np(e[:IN]), rtol=1e-6)
    np.testing.assert_allclose(f_out, f_np(e[IN:]), rtol=1e-6)


# ----- init -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma0", [0.5, 0.1])
def test_init_factorised_matches_paper(sigma0):
    """Factorised: mu in [-1/sqrt(p), 1/sqrt(p)], sigma == sigma0/sqrt(p) for weights and biases."""
    p, q = 7, 4
    params = noisy_dense_init(jax.random.PRNGKey(0), p, q, sigma0=sigma0, factorised=True)
    assert params["mu_w"].shape == (p, q) and params["sigma_w"].shape == (p, q)
    assert params["mu_b"].shape == (q,) and params["sigma_b"].shape == (q,)
    assert all(v.dtype == jnp.float32 for v in params.values())
    bound = 1.0 / math.sqrt(p)
    for name in ("mu_w", "mu_b"):
        assert np.all(np.abs(np.asarray(params[name])) <= bound)
    np.testing.assert_allclose(params["sigma_w"], np.full((p, q), sigma0 / math.sqrt(p)), rtol=1e-6)
    np.testing.assert_allclose(params["sigma_b"], np.full((q,), sigma0 / math.sqrt(p)), rtol=1e-6)


def test_init_default_sigma0_is_half():
    """The default sigma0 is the paper's 0.5."""
    params = noisy_dense_init(jax.random.PRNGKey(0), 7, 4)
    np.testing.assert_allclose(params["sigma_w"], 0.5 / math.sqrt(7), rtol=1e-6)
    np.testing.assert_allclose(params["sigma_b"], 0.5 / math.sqrt(7), rtol=1e-6)


def test_init_independent_matches_paper():
    """Independent: mu in [-sqrt(3/p), sqrt(3/p)], sigma == 0.017 everywhere (sigma0 unused)."""
    p, q = 7, 4
    params = noisy_dense_init(jax.random.PRNGKey(0), p, q, sigma0=0.3, factorised=False)
    bound = math.sqrt(3.0 / p)
    for name in ("mu_w", "mu_b"):
        assert np.all(np.abs(np.asarray(params[name])) <= bound)
    np.testing.assert_allclose(params["sigma_w"], np.full((p, q), 0.017), rtol=1e-6)
    np.testing.assert_allclose(params["sigma_b"], np.full((q,), 0.017), rtol=1e-6)


@FACTORISED
def test_init_mu_spreads_over_range(factorised):
    """For a big layer the uniform mu samples fill the range: extremes near the bound, and
    mean 0 and std bound/sqrt(3) of U[-b, b] (120,000 samples: the 1% tolerances are > 5 SE)."""
    p, q = 400, 300
    params = noisy_dense_init(jax.random.PRNGKey(1), p, q, factorised=factorised)
    bound = 1.0 / math.sqrt(p) if factorised else math.sqrt(3.0 / p)
    w = np.asarray(params["mu_w"], np.float64)
    assert w.max() <= bound and w.min() >= -bound
    assert w.max() > 0.999 * bound and w.min() < -0.999 * bound
    assert abs(w.mean()) < 0.01 * bound
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3.0), rtol=0.01)
    b = np.asarray(params["mu_b"], np.float64)
    assert b.max() > 0.95 * bound and b.min() < -0.95 * bound
    # weights and biases come from different keys, not from a shared prefix
    assert not np.allclose(b, w[0]) and not np.allclose(b, w[:, 0][:q])


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (-1, 2)])
def test_init_rejects_empty_layers(shape):
    """Non-positive sizes raise ValueError."""
    with pytest.raises(ValueError):
        noisy_dense_init(jax.random.PRNGKey(0), *shape)


# ----- noise structure ------------------------------------------------------------------------------


def test_factorised_weight_noise_is_rank_one_outer_product(variant):
    """Trap 4: factorised eps_w has rank one and equals outer(f(e_in), f(e_out)); eps_b = f(e_out)."""
    key = jax.random.PRNGKey(11)
    eps_w, eps_b = variant(sample_factorised)(key)
    assert eps_w.shape == (IN, OUT) and eps_b.shape == (OUT,)
    assert rank(eps_w) == 1
    e = np.asarray(unit_normals(key, IN + OUT))
    np.testing.assert_allclose(eps_w, np.outer(f_np(e[:IN]), f_np(e[IN:])), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(eps_b, f_np(e[IN:]), rtol=1e-6)


def test_independent_weight_noise_is_full_rank(variant):
    """Independent noise: one unit normal per weight (full rank) and per bias, not f-transformed."""
    key = jax.random.PRNGKey(11)
    eps_w, eps_b = variant(sample_independent)(key)
    assert eps_w.shape == (IN, OUT) and eps_b.shape == (OUT,)
    assert rank(eps_w) == OUT
    e = np.asarray(unit_normals(key, IN * OUT + OUT))
    np.testing.assert_array_equal(eps_w, e[: IN * OUT].reshape(IN, OUT))
    np.testing.assert_array_equal(eps_b, e[IN * OUT :])


def test_independent_noise_is_gaussian_not_factorised():
    """Over many entries independent weight noise has unit variance and Gaussian kurtosis 3,
    whereas a product f(a) f(b) of factors would have kurtosis (pi/2)^2 ~ 2.47... and rank one."""
    eps_w, _ = noise_sample(jax.random.PRNGKey(5), 200, 100, factorised=False)
    e = np.asarray(eps_w, np.float64).ravel()
    assert abs(e.mean()) < 0.02  # SE 0.007
    assert abs(e.var() - 1.0) < 0.03  # SE 0.01
    kurt = np.mean(e**4) / e.var() ** 2
    assert abs(kurt - 3.0) < 0.15  # SE ~0.035


# ----- forward pass ---------------------------------------------------------------------------------


@FACTORISED
def test_keys_determine_the_noise(variant, factorised):
    """One key gives one output (no hidden state); different keys give different noise: every
    output entry changes."""
    params, x = random_params(0), random_x(1, 4, IN)
    fn = variant(APPLY[factorised])
    y1 = np.asarray(fn(params, x, jax.random.PRNGKey(2)))
    np.testing.assert_array_equal(y1, fn(params, x, jax.random.PRNGKey(2)))
    y2 = np.asarray(fn(params, x, jax.random.PRNGKey(3)))
    assert np.all(np.abs(y1 - y2) > 1e-6)


@FACTORISED
def test_key_none_gives_mean_weights(variant, factorised):
    """key=None: exactly x @ mu_w + mu_b (no noise at all)."""
    params, x = random_params(0), random_x(1, 4, IN)
    y = variant(APPLY[factorised])(params, x, None)
    expected = variant(mean_forward)(params, x)
    np.testing.assert_array_equal(y, expected)
    p64 = {k: np.asarray(v, np.float64) for k, v in params.items()}
    np.testing.assert_allclose(y, np.asarray(x, np.float64) @ p64["mu_w"] + p64["mu_b"], rtol=1e-5, atol=1e-6)


@FACTORISED
def test_apply_matches_explicit_formula(variant, factorised):
    """noisy_dense_apply == x @ (mu_w + sigma_w * eps_w) + mu_b + sigma_b * eps_b with the eps
    that noise_sample gives for the same key (the factorised path never builds eps_w)."""
    params, x = random_params(4), random_x(5, 4, IN)
    fn = variant(APPLY[factorised])
    for seed in range(3):
        key = jax.random.PRNGKey(seed)
        eps_w, eps_b = noise_sample(key, IN, OUT, factorised=factorised)
        np.testing.assert_allclose(
            fn(params, x, key), explicit_forward(params, x, eps_w, eps_b), rtol=1e-5, atol=1e-5
        )


@FACTORISED
def test_apply_noise_uses_given_unit_normals(variant, factorised):
    """noisy_dense_apply_noise with e = normal(key, [noise_size]) follows the documented layout
    (factorised: concat(e_in, e_out); independent: concat(eps_w.ravel(), eps_b)); e=None is the mean."""
    params, x = random_params(6), random_x(7, 4, IN)
    e = np.random.default_rng(8).normal(size=noise_size(IN, OUT, factorised)).astype(np.float32)
    fn = variant(APPLY_NOISE[factorised])
    if factorised:
        eps_w, eps_b = np.outer(f_np(e[:IN]), f_np(e[IN:])), f_np(e[IN:])
    else:
        eps_w, eps_b = e[: IN * OUT].reshape(IN, OUT), e[IN * OUT :]
    np.testing.assert_allclose(
        fn(params, x, jnp.asarray(e)), explicit_forward(params, x, eps_w, eps_b), rtol=1e-5, atol=1e-5
    )
    mean = fn(params, x, None)
    np.testing.assert_array_equal(mean, x @ params["mu_w"] + params["mu_b"])


@FACTORISED
def test_one_noise_sample_shared_across_batch(variant, factorised):
    """One noise sample per call: identical rows give identical outputs, and a batch equals the
    rows applied one by one with the same key (also for two leading batch axes)."""
    params = random_params(0)
    fn = variant(APPLY[factorised])
    key = jax.random.PRNGKey(9)
    x = np.array(random_x(2, 4, IN))
    x[3] = x[0]
    batch = np.asarray(fn(params, jnp.asarray(x), key))
    np.testing.assert_array_equal(batch[3], batch[0])
    # rows of different inputs still get different outputs
    assert not np.allclose(batch[0], batch[1])
    rows = np.concatenate([np.asarray(fn(params, jnp.asarray(x[i : i + 1]), key)) for i in range(4)])
    np.testing.assert_allclose(batch, rows, rtol=1e-6, atol=1e-6)
    if variant is not jax.jit:  # leading batch axes of any rank (eagerly: no extra compilations)
        y3 = noisy_dense_apply(params, jnp.asarray(x).reshape(2, 2, IN), key, factorised=factorised)
        np.testing.assert_allclose(np.asarray(y3).reshape(4, OUT), batch, rtol=1e-6, atol=1e-6)


@FACTORISED
def test_output_moments_match_analytic(factorised):
    """Mean and variance of y over 20,000 keys match the analytic values for fixed params and x.

    mean = x @ mu_w + mu_b. Factorised: y_j - mean_j = f(e_j) (sum_i sigma_w[i,j] x_i f(e_i) +
    sigma_b[j]) with E f(e)^2 = E|e| = sqrt(2/pi) and E f(e) = 0, so
    Var y_j = sqrt(2/pi) (sqrt(2/pi) sum_i sigma_w[i,j]^2 x_i^2 + sigma_b[j]^2).
    Independent: Var y_j = sum_i sigma_w[i,j]^2 x_i^2 + sigma_b[j]^2.
    Tolerances are 5 standard errors estimated from the samples (mean: sqrt(var/n); variance:
    sqrt((m4 - var^2)/n)); the test also checks that the other noise type's formula is rejected,
    and the covariance structure of the two outputs.
    """
    n, q = 20_000, 2
    params = {
        "mu_w": jnp.array([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]], jnp.float32),
        "sigma_w": jnp.array([[0.6, 0.2], [0.3, 0.9], [0.5, 0.4]], jnp.float32),
        "mu_b": jnp.array([0.1, -0.3], jnp.float32),
        "sigma_b": jnp.array([0.4, 0.7], jnp.float32),
    }
    x = jnp.array([0.7, -1.2, 0.4], jnp.float32)
    keys = jax.random.split(jax.random.PRNGKey(2024), n)
    ys = jax.jit(jax.vmap(lambda k: noisy_dense_apply(params, x, k, factorised=factorised)))(keys)
    ys = np.asarray(ys, np.float64)
    assert ys.shape == (n, q)

    pw = {k: np.asarray(v, np.float64) for k, v in params.items()}
    xs = np.asarray(x, np.float64)
    mean = xs @ pw["mu_w"] + pw["mu_b"]
    sw2x2 = (pw["sigma_w"] ** 2 * (xs**2)[:, None]).sum(axis=0)
    c = math.sqrt(2.0 / math.pi)
    var_fact = c * (c * sw2x2 + pw["sigma_b"] ** 2)
    var_indep = sw2x2 + pw["sigma_b"] ** 2
    var, other = (var_fact, var_indep) if factorised else (var_indep, var_fact)

    sample_mean = ys.mean(axis=0)
    sample_var = ys.var(axis=0)
    m4 = ((ys - sample_mean) ** 4).mean(axis=0)
    se_mean = np.sqrt(sample_var / n)
    se_var = np.sqrt((m4 - sample_var**2) / n)
    assert np.all(np.abs(sample_mean - mean) < 5 * se_mean), (sample_mean, mean, se_mean)
    assert np.all(np.abs(sample_var - var) < 5 * se_var), (sample_var, var, se_var)
    assert np.all(np.abs(sample_var - other) > 5 * se_var), "tolerance too loose to tell the formulas apart"

    # Covariance structure: the two outputs are uncorrelated for both noise types, but factorised
    # noise shares f(e_in) between them, so their squared deviations are positively correlated
    # (with independent noise they are not). SE of each correlation ~ 1/sqrt(n) = 0.007.
    d = ys - sample_mean
    assert abs(np.corrcoef(d[:, 0], d[:, 1])[0, 1]) < 0.04
    corr_sq = np.corrcoef(d[:, 0] ** 2, d[:, 1] ** 2)[0, 1]
    if factorised:
        assert corr_sq > 0.1, corr_sq
    else:
        assert abs(corr_sq) < 0.04, corr_sq


# ----- gradients ------------------------------------------------------------------------------------


@FACTORISED
def test_gradients_reach_sigma(variant, factorised):
    """d/dsigma of sum(c * y): sigma_w gets (x^T c) * eps_w, sigma_b gets sum_b(c) * eps_b (non-zero);
    with key=None the sigma gradients are exactly zero and mu gets x^T c, sum_b c."""
    params, x = random_params(10), random_x(11, 4, IN)
    c = random_x(12, 4, OUT)
    key = jax.random.PRNGKey(13)

    grads = variant(GRAD[factorised])(params, x, c, key)
    eps_w, eps_b = (np.asarray(a, np.float64) for a in noise_sample(key, IN, OUT, factorised=factorised))
    xtc = np.asarray(x, np.float64).T @ np.asarray(c, np.float64)
    csum = np.asarray(c, np.float64).sum(axis=0)
    np.testing.assert_allclose(grads["sigma_w"], xtc * eps_w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grads["sigma_b"], csum * eps_b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grads["mu_w"], xtc, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grads["mu_b"], csum, rtol=1e-4, atol=1e-5)
    assert np.all(np.asarray(grads["sigma_w"]) != 0) and np.all(np.asarray(grads["sigma_b"]) != 0)

    grads0 = variant(GRAD[factorised])(params, x, c, None)
    np.testing.assert_array_equal(grads0["sigma_w"], np.zeros((IN, OUT)))
    np.testing.assert_array_equal(grads0["sigma_b"], np.zeros((OUT,)))
    np.testing.assert_allclose(grads0["mu_w"], xtc, rtol=1e-4, atol=1e-5)


# ----- flax module ----------------------------------------------------------------------------------


class _TwoLayers(nn.Module):
    """Two NoisyDense layers side by side on the same input."""

    @nn.compact
    def __call__(self, x):
        return NoisyDense(OUT, name="a")(x), NoisyDense(OUT, name="b")(x)


@pytest.mark.parametrize("sigma0", [0.5, 0.2])
def test_noisy_dense_module_init(sigma0):
    """NoisyDense initialises like noisy_dense_init: shapes, mu range, sigma0/sqrt(p); 0.017 for
    independent noise."""
    x = random_x(0, 4, IN)
    params = NoisyDense(OUT, sigma0=sigma0).init(jax.random.PRNGKey(0), x)["params"]
    assert set(params) == {"mu_w", "sigma_w", "mu_b", "sigma_b"}
    assert params["mu_w"].shape == (IN, OUT) and params["mu_b"].shape == (OUT,)
    bound = 1 / math.sqrt(IN)
    assert np.all(np.abs(np.asarray(params["mu_w"])) <= bound)
    assert np.all(np.abs(np.asarray(params["mu_b"])) <= bound)
    np.testing.assert_allclose(params["sigma_w"], sigma0 / math.sqrt(IN), rtol=1e-6)
    np.testing.assert_allclose(params["sigma_b"], sigma0 / math.sqrt(IN), rtol=1e-6)

    indep = NoisyDense(OUT, sigma0=sigma0, factorised=False).init(jax.random.PRNGKey(0), x)["params"]
    np.testing.assert_allclose(indep["sigma_w"], 0.017, rtol=1e-6)
    np.testing.assert_allclose(indep["sigma_b"], 0.017, rtol=1e-6)
    assert np.all(np.abs(np.asarray(indep["mu_w"])) <= math.sqrt(3 / IN))


@FACTORISED
def test_noisy_dense_module_key_and_noise_arguments(variant, factorised):
    """Module == functions: no key gives the mean; ``key`` gives noisy_dense_apply(key);
    ``noise`` gives the explicit formula with those unit normals and takes precedence over ``key``."""
    x = random_x(1, 4, IN)
    v = {"params": random_params(2)}
    params = v["params"]
    apply = variant(MODULE_APPLY[factorised])
    np.testing.assert_array_equal(apply(v, x, None, None), x @ params["mu_w"] + params["mu_b"])

    key = jax.random.PRNGKey(3)
    np.testing.assert_allclose(
        apply(v, x, key, None), noisy_dense_apply(params, x, key, factorised=factorised), rtol=1e-6, atol=1e-6
    )
    eps_w, eps_b = noise_sample(key, IN, OUT, factorised=factorised)
    np.testing.assert_allclose(
        apply(v, x, key, None), explicit_forward(params, x, eps_w, eps_b), rtol=1e-5, atol=1e-5
    )

    e = jnp.asarray(np.random.default_rng(4).normal(size=noise_size(IN, OUT, factorised)), jnp.float32)
    if factorised:
        e64 = np.asarray(e)
        expected = explicit_forward(params, x, np.outer(f_np(e64[:IN]), f_np(e64[IN:])), f_np(e64[IN:]))
    else:
        expected = explicit_forward(
            params, x, np.asarray(e)[: IN * OUT].reshape(IN, OUT), np.asarray(e)[IN * OUT :]
        )
    np.testing.assert_allclose(apply(v, x, None, e), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(apply(v, x, key, e), apply(v, x, None, e))


def test_noisy_dense_rng_stream():
    """rngs={"noise": key}: noisy, reproducible, key-dependent; an explicit key or noise argument
    takes precedence over the stream; no stream and no key means the mean weights."""
    module = NoisyDense(OUT)
    x = random_x(1, 4, IN)
    v = {"params": random_params(2)}
    params = v["params"]
    mean = np.asarray(x @ params["mu_w"] + params["mu_b"])
    k1, k2 = jax.random.PRNGKey(1), jax.random.PRNGKey(2)

    y1 = np.asarray(module.apply(v, x, rngs={"noise": k1}))
    np.testing.assert_array_equal(y1, module.apply(v, x, rngs={"noise": k1}))
    assert np.all(np.abs(y1 - mean) > 1e-6)
    assert np.all(np.abs(y1 - np.asarray(module.apply(v, x, rngs={"noise": k2}))) > 1e-6)

    explicit = noisy_dense_apply(params, x, k2)
    np.testing.assert_allclose(module.apply(v, x, k2, rngs={"noise": k1}), explicit, rtol=1e-6, atol=1e-6)
    e = jnp.ones(IN + OUT)
    np.testing.assert_array_equal(
        module.apply(v, x, noise=e, rngs={"noise": k1}), module.apply(v, x, noise=e)
    )
    np.testing.assert_array_equal(module.apply(v, x), mean)


def test_noisy_dense_rng_stream_differs_per_layer():
    """Two layers with identical params under one "noise" stream get different noise
    (Flax folds the layer path into the key); without the stream they agree exactly."""
    x = random_x(1, 4, IN)
    v = _TwoLayers().init(jax.random.PRNGKey(0), x)
    params = {"params": {"a": v["params"]["a"], "b": v["params"]["a"]}}
    a, b = _TwoLayers().apply(params, x)
    np.testing.assert_array_equal(a, b)
    a, b = _TwoLayers().apply(params, x, rngs={"noise": jax.random.PRNGKey(5)})
    assert np.all(np.abs(np.asarray(a) - np.asarray(b)) > 1e-7)


def test_unit_normals_are_box_muller_of_the_keys_uniforms():
    """Hand check: the draws are sqrt(-2 log u1) (cos, sin)(2 pi u2) of the key's uniforms."""
    key = jax.random.PRNGKey(11)
    n = 7  # odd: the last sine is dropped
    u = np.asarray(
        jax.random.uniform(key, (2, 4), jnp.float32, minval=jnp.finfo(jnp.float32).tiny), np.float64
    )
    r, a = np.sqrt(-2.0 * np.log(u[0])), 2.0 * np.pi * u[1]
    expected = np.concatenate([r * np.cos(a), r * np.sin(a)])[:n]
    np.testing.assert_allclose(np.asarray(unit_normals(key, n)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(unit_normals(key, n), jax.jit(unit_normals, static_argnums=1)(key, n))


def test_unit_normals_are_standard_normal_and_uncorrelated():
    """200k draws: mean 0, variance 1, normal tails, and the cos and sin halves uncorrelated
    (bounds are about 5 standard errors wide, so a wrong transform fails and a right one passes)."""
    n = 200_000
    e = np.asarray(unit_normals(jax.random.PRNGKey(0), n), np.float64)
    assert np.all(np.isfinite(e))
    assert abs(e.mean()) < 5 / math.sqrt(n)
    assert abs(e.var() - 1.0) < 5 * math.sqrt(2 / n)
    # P(|x| > 2) = 0.0455 for N(0, 1); P(|x| > 3) = 0.0027.
    assert abs(np.mean(np.abs(e) > 2) - 0.0455) < 5 * math.sqrt(0.0455 / n)
    assert abs(np.mean(np.abs(e) > 3) - 0.0027) < 5 * math.sqrt(0.0027 / n)
    half = n // 2
    assert abs(np.corrcoef(e[:half], e[half:])[0, 1]) < 5 / math.sqrt(half)
    assert abs(np.corrcoef(e[:half] ** 2, e[half:] ** 2)[0, 1]) < 5 / math.sqrt(half)
