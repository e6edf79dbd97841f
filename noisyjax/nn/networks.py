"""Q-networks: an MLP whose layers are all noisy (NoisyNet-DQN) or all plain (DQN baseline)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from noisyjax.nn.noisy import NoisyDense, noise_size, unit_normals


class QNetwork(nn.Module):
    """MLP Q-network ``obs [..., obs_dim] -> Q [..., num_actions]``, optionally dueling.

    ``noise_key=None`` gives the mean weights (deterministic evaluation). Otherwise ONE normal draw
    from the key supplies the noise of every layer, each layer reading its own disjoint slice:
    layers get independent noise (unlike one key reused for several draws, which correlates
    them), and one draw costs about half of one draw per layer on a CPU. Plain (``noisy=False``)
    networks ignore the key.

    Defaults: the hidden sizes are ``Config``'s (2 x 128). ``sigma0`` defaults to the paper's 0.5,
    as ``noisy_dense_init`` and ``NoisyDense`` do; ``Config.sigma0`` (0.25, tuned on LunarLander)
    is what ``Agent`` passes, and ``Agent.init`` sets sigma from each agent's ``HParams``.
    """

    num_actions: int
    hidden_sizes: Sequence[int] = (128, 128)
    noisy: bool = True
    factorised: bool = True
    sigma0: float = 0.5
    dueling: bool = False

    def num_layers(self) -> int:
        """Number of dense layers (each gets its own noise key)."""
        return len(self.hidden_sizes) + (2 if self.dueling else 1)

    def _dense(self, features: int, name: str):
        if self.noisy:
            return NoisyDense(features, sigma0=self.sigma0, factorised=self.factorised, name=name)
        return nn.Dense(features, name=name)

    def layer_shapes(self, obs_dim: int) -> list[tuple[int, int]]:
        """``(in, out)`` of each dense layer, in call order."""
        widths = [obs_dim, *self.hidden_sizes]
        shapes = list(zip(widths[:-1], widths[1:]))
        last = widths[-1]
        if self.dueling:
            return shapes + [(last, 1), (last, self.num_actions)]
        return shapes + [(last, self.num_actions)]

    def noise(self, key: jax.Array, obs_dim: int) -> list[jax.Array]:
        """Unit normals for every layer from one draw: a list of ``[noise_size(in, out)]``."""
        sizes = [noise_size(p, q, self.factorised) for p, q in self.layer_shapes(obs_dim)]
        e = unit_normals(key, sum(sizes))
        offsets = np.cumsum([0, *sizes])
        return [e[a:b] for a, b in zip(offsets[:-1], offsets[1:])]

    @nn.compact
    def __call__(self, obs: jax.Array, noise_key: jax.Array | None = None) -> jax.Array:
        noise = [None] * self.num_layers()
        if self.noisy and noise_key is not None:
            noise = self.noise(noise_key, obs.shape[-1])

        def layer(x, features, i, name):
            dense = self._dense(features, name)
            return dense(x, noise=noise[i]) if self.noisy else dense(x)

        x = obs
        for i, width in enumerate(self.hidden_sizes):
            x = nn.relu(layer(x, width, i, f"hidden_{i}"))
        h = len(self.hidden_sizes)
        if not self.dueling:
            return layer(x, self.num_actions, h, "q")
        value = layer(x, 1, h, "value")
        advantage = layer(x, self.num_actions, h + 1, "advantage")
        # Wang et al. 2016, eq. 9: subtract the mean advantage so V and A are identifiable.
        return value + advantage - jnp.mean(advantage, axis=-1, keepdims=True)


def _layer_key(name: str):
    # Call order of QNetwork: hidden_0, hidden_1, ..., then q (or value, advantage).
    if name.startswith("hidden_"):
        return (0, int(name.split("_")[1]), name)
    return (1, 0, {"value": "0", "advantage": "1"}.get(name, name))


def noisy_layer_names(params) -> list[str]:
    """Names of the noisy layers in a QNetwork's params (``{"params": {...}}`` or the inner dict),
    in call order (hidden_0, hidden_1, ..., then q or value, advantage)."""
    inner = params.get("params", params)
    names = [name for name, p in inner.items() if isinstance(p, dict) and "sigma_w" in p]
    return sorted(names, key=_layer_key)


def mean_abs_sigma(params) -> jax.Array:
    """Mean |sigma| (weights and biases together) of each noisy layer, in layer order: ``[layers]``."""
    inner = params.get("params", params)
    values = []
    for name in noisy_layer_names(params):
        p = inner[name]
        total = jnp.sum(jnp.abs(p["sigma_w"])) + jnp.sum(jnp.abs(p["sigma_b"]))
        values.append(total / (p["sigma_w"].size + p["sigma_b"].size))
    return jnp.stack(values) if values else jnp.zeros((0,))


def set_factorised_sigma(params, sigma0: jax.Array):
    """``params`` with every noisy layer's sigma set to ``sigma0 / sqrt(fan_in)`` (the paper's
    factorised initialisation; ``sigma0`` may be traced, so a sweep's agents get their own)."""

    def visit(tree):
        if isinstance(tree, dict) and "sigma_w" in tree:
            fan_in = tree["sigma_w"].shape[0]
            value = sigma0 / jnp.sqrt(jnp.float32(fan_in))
            return {
                **tree,
                "sigma_w": jnp.full_like(tree["sigma_w"], value),
                "sigma_b": jnp.full_like(tree["sigma_b"], value),
            }
        if isinstance(tree, dict):
            return {k: visit(v) for k, v in tree.items()}
        return tree

    return visit(params)
