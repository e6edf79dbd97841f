"""Noisy linear layers (Fortunato et al., "Noisy Networks for Exploration", ICLR 2018).

A noisy layer computes ``y = (mu_w + sigma_w * eps_w) x + mu_b + sigma_b * eps_b`` (paper eq. 9).
Noise is drawn only from an explicit key: no key, no noise (``key=None`` gives the mean weights).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Params = dict[str, jax.Array]

# The paper's constant sigma initialisation for independent Gaussian noise (section 3.2).
INDEPENDENT_SIGMA_INIT = 0.017


def scale_noise(x: jax.Array) -> jax.Array:
    """``f(x) = sign(x) * sqrt(|x|)``, the factorised-noise transform of the paper (section 3.2)."""
    return jnp.sign(x) * jnp.sqrt(jnp.abs(x))


def mu_bound(in_features: int, factorised: bool) -> float:
    """Half-width of the uniform ``mu`` initialisation: ``1/sqrt(p)`` factorised, ``sqrt(3/p)`` not."""
    return 1.0 / math.sqrt(in_features) if factorised else math.sqrt(3.0 / in_features)


def sigma_init_value(
    in_features: int,
    factorised: bool,
    sigma0: float = 0.5,
    sigma_independent: float = INDEPENDENT_SIGMA_INIT,
) -> float:
    """Constant ``sigma`` initialisation: ``sigma0/sqrt(p)`` factorised, ``sigma_independent`` not."""
    return sigma0 / math.sqrt(in_features) if factorised else sigma_independent


def noisy_dense_init(
    key: jax.Array,
    in_features: int,
    out_features: int,
    *,
    sigma0: float = 0.5,
    factorised: bool = True,
    sigma_independent: float = INDEPENDENT_SIGMA_INIT,
    dtype: Any = jnp.float32,
) -> Params:
    """Initialise one noisy layer as the paper does for the chosen noise type.

    Returns a dict with ``mu_w [in, out]``, ``sigma_w [in, out]``, ``mu_b [out]``, ``sigma_b [out]``.
    Factorised: ``mu ~ U[-1/sqrt(p), 1/sqrt(p)]``, ``sigma = sigma0/sqrt(p)``. Independent:
    ``mu ~ U[-sqrt(3/p), sqrt(3/p)]``, ``sigma = sigma_independent`` (0.017; ``sigma0`` is unused).
    """
    if in_features <= 0 or out_features <= 0:
        raise ValueError(f"in_features and out_features must be positive, got {in_features}, {out_features}")
    k_w, k_b = jax.random.split(key)
    bound = mu_bound(in_features, factorised)
    sigma = sigma_init_value(in_features, factorised, sigma0, sigma_independent)
    return {
        "mu_w": jax.random.uniform(k_w, (in_features, out_features), dtype, -bound, bound),
        "sigma_w": jnp.full((in_features, out_features), sigma, dtype),
        "mu_b": jax.random.uniform(k_b, (out_features,), dtype, -bound, bound),
        "sigma_b": jnp.full((out_features,), sigma, dtype),
    }


def noise_size(in_features: int, out_features: int, factorised: bool = True) -> int:
    """How many unit normals one noise sample of a layer needs: ``p + q`` factorised, else
    ``p * q + q``."""
    if factorised:
        return in_features + out_features
    return in_features * out_features + out_features


def unit_normals(key: jax.Array, n: int, dtype: Any = jnp.float32) -> jax.Array:
    """``n`` independent N(0, 1) draws ``[n]`` from ``key``: Box-Muller on threefry uniforms.

    Why not ``jax.random.normal``: inside the jitted TD update of the default network on
    XLA:CPU, its three draws (inverse-erf transform) took about 300 us of a 730 us update; with
    Box-Muller and an optimisation barrier, which stops XLA from fusing (and so recomputing) the
    transform into each consumer of the noise, they take about 70 us.
    ``sqrt(-2 log u1) (cos, sin)(2 pi u2)`` gives two independent unit normals per pair of
    uniforms; ``u1`` is drawn from ``[tiny, 1)`` so the log is finite.
    """
    half = (n + 1) // 2
    u = jax.random.uniform(key, (2, half), jnp.float32, minval=jnp.finfo(jnp.float32).tiny)
    radius = jnp.sqrt(-2.0 * jnp.log(u[0]))
    angle = (2.0 * jnp.pi) * u[1]
    e = jnp.concatenate([radius * jnp.cos(angle), radius * jnp.sin(angle)])[:n]
    return jax.lax.optimization_barrier(e.astype(dtype))


def factorised_noise(key: jax.Array, in_features: int, out_features: int, dtype: Any = jnp.float32):
    """The p + q factors of factorised noise: ``(f(e_in) [in], f(e_out) [out])``.

    The weight noise is their outer product ``eps_w = f(e_in) f(e_out)^T`` and ``eps_b = f(e_out)``.
    One ``normal`` draw of length p + q: one key gives independent factors.
    """
    return _split_factorised(unit_normals(key, in_features + out_features, dtype), in_features)


def _split_factorised(e: jax.Array, in_features: int):
    f = scale_noise(e)
    return f[:in_features], f[in_features:]


def noise_sample(key: jax.Array, in_features: int, out_features: int, *, factorised: bool = True):
    """The explicit noise ``(eps_w [in, out], eps_b [out])`` that ``noisy_dense_apply`` uses for ``key``.

    For tests and analysis: the forward pass builds the noisy weights from the same draw.
    """
    e = unit_normals(key, noise_size(in_features, out_features, factorised))
    if factorised:
        f_in, f_out = _split_factorised(e, in_features)
        return jnp.outer(f_in, f_out), f_out
    n_w = in_features * out_features
    return e[:n_w].reshape(in_features, out_features), e[n_w:]


def noisy_dense_apply(
    params: Params, x: jax.Array, key: jax.Array | None, *, factorised: bool = True
) -> jax.Array:
    """Apply a noisy layer: ``x [..., in] -> [..., out]``.

    One noise sample is drawn for the whole call and shared by every row of the batch.
    ``key=None`` means no noise: the mean weights ``x @ mu_w + mu_b``.
    """
    if key is None:
        return noisy_dense_apply_noise(params, x, None, factorised=factorised)
    in_features, out_features = params["mu_w"].shape
    e = unit_normals(key, noise_size(in_features, out_features, factorised), params["mu_w"].dtype)
    return noisy_dense_apply_noise(params, x, e, factorised=factorised)


def noisy_dense_apply_noise(
    params: Params, x: jax.Array, e: jax.Array | None, *, factorised: bool = True
) -> jax.Array:
    """Apply a noisy layer with given unit normals ``e [noise_size(p, q, factorised)]``.

    Factorised: ``e = concat(e_in [p], e_out [q])``; independent: ``concat(eps_w.ravel(), eps_b)``.
    ``e=None`` means the mean weights. This lets a network draw the noise of all its layers in
    one call and hand each layer its own disjoint slice.
    """
    if e is None:
        return x @ params["mu_w"] + params["mu_b"]
    in_features, out_features = params["mu_w"].shape
    if factorised:
        f_in, f_out = _split_factorised(e, in_features)
        eps_w, eps_b = f_in[:, None] * f_out[None, :], f_out
    else:
        n_w = in_features * out_features
        eps_w, eps_b = e[:n_w].reshape(in_features, out_features), e[n_w:]
    # Build the noisy weights (p * q multiply-adds) and do ONE matmul. The factorised shortcut
    # x @ mu_w + ((x * f_in) @ sigma_w) * f_out never forms a p x q matrix, but it costs a second
    # matmul forward and backward: at batch 128 the update ran 1.4x slower with it.
    w = params["mu_w"] + params["sigma_w"] * eps_w
    return x @ w + (params["mu_b"] + params["sigma_b"] * eps_b)


class NoisyDense(nn.Module):
    """Flax module over ``noisy_dense_init`` / ``noisy_dense_apply``.

    Noise comes from the ``key`` argument, or else from the ``"noise"`` rng stream if one is given
    (``module.apply(v, x, rngs={"noise": key})``; Flax folds in the layer's path, so every layer
    gets its own key). With neither, the layer uses its mean weights.
    """

    features: int
    sigma0: float = 0.5
    factorised: bool = True
    sigma_independent: float = INDEPENDENT_SIGMA_INIT

    @nn.compact
    def __call__(
        self, x: jax.Array, key: jax.Array | None = None, noise: jax.Array | None = None
    ) -> jax.Array:
        """``x [..., in] -> [..., out]``; ``noise`` (unit normals, see ``noisy_dense_apply_noise``)
        takes precedence over ``key``; with neither (and no "noise" rng) the mean weights."""
        in_features = x.shape[-1]
        factorised = self.factorised
        bound = mu_bound(in_features, factorised)
        sigma = sigma_init_value(in_features, factorised, self.sigma0, self.sigma_independent)

        def uniform(k, shape, dtype=jnp.float32):
            return jax.random.uniform(k, shape, dtype, -bound, bound)

        def constant(_, shape, dtype=jnp.float32):
            return jnp.full(shape, sigma, dtype)

        params = {
            "mu_w": self.param("mu_w", uniform, (in_features, self.features)),
            "sigma_w": self.param("sigma_w", constant, (in_features, self.features)),
            "mu_b": self.param("mu_b", uniform, (self.features,)),
            "sigma_b": self.param("sigma_b", constant, (self.features,)),
        }
        if noise is not None:
            return noisy_dense_apply_noise(params, x, noise, factorised=factorised)
        if key is None and self.has_rng("noise"):
            key = self.make_rng("noise")
        return noisy_dense_apply(params, x, key, factorised=factorised)
