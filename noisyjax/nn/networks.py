"""Q-networks: an MLP whose dense layers are all noisy (NoisyNet-DQN) or all plain (DQN baseline),
on vector observations directly or on images after a small plain conv torso (MinAtar's)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from noisyjax.nn.conv import SliceConv
from noisyjax.nn.noisy import NoisyDense, noise_size, unit_normals

CONV_FEATURES = 16
"""Filters of the conv torso (Young & Tian 2019, MinAtar: one 3x3 conv, stride 1, no padding)."""
CONV_KERNEL = 3


class QNetwork(nn.Module):
    """Q-network ``obs [..., *obs_shape] -> Q [..., num_actions]``, optionally dueling.

    ``obs_rank`` is the rank of one observation (leading axes are batch axes): 1 gives the MLP on
    ``obs [..., obs_dim]``; 3 gives image observations ``[..., H, W, C]`` the MinAtar torso
    first: one plain (never noisy) convolution (``SliceConv``) of ``CONV_FEATURES`` 3x3 filters,
    stride 1, 'VALID' padding, ReLU, flattened to ``[..., (H - 2) * (W - 2) * 16]``, then the same dense
    layers. The input is cast to float32 first, so bool or uint8 observations work.

    ``noise_key=None`` gives the mean weights (deterministic evaluation). Otherwise ONE normal draw
    from the key supplies the noise of every dense layer, each layer reading its own disjoint slice:
    layers get independent noise (unlike one key reused for several draws, which correlates
    them), and one draw costs about half of one draw per layer on a CPU. Plain (``noisy=False``)
    networks ignore the key.

    ``num_atoms > 1`` makes it a distributional (C51) network: the output is the logits
    ``[..., num_actions, num_atoms]`` of a categorical distribution per action (the output layer
    is ``num_actions * num_atoms`` wide; dueling combines value ``[..., 1, atoms]`` and advantage
    logits as Rainbow does, before the softmax). 1 (the default) gives Q-values.

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
    obs_rank: int = 1
    num_atoms: int = 1

    def num_layers(self) -> int:
        """Number of dense layers (each gets its own noise key)."""
        return len(self.hidden_sizes) + (2 if self.dueling else 1)

    def _dense(self, features: int, name: str):
        if self.noisy:
            return NoisyDense(features, sigma0=self.sigma0, factorised=self.factorised, name=name)
        return nn.Dense(features, name=name)

    def _obs_shape(self, obs_shape: int | Sequence[int]) -> tuple[int, ...]:
        shape = (int(obs_shape),) if isinstance(obs_shape, (int, np.integer)) else tuple(map(int, obs_shape))
        if self.obs_rank not in (1, 3):
            raise ValueError(f"obs_rank must be 1 (vectors) or 3 (images [H, W, C]), got {self.obs_rank}")
        if len(shape) != self.obs_rank:
            raise ValueError(f"observation shape {shape} does not have rank obs_rank={self.obs_rank}")
        if self.obs_rank == 3 and min(shape[:2]) < CONV_KERNEL:
            k = CONV_KERNEL
            raise ValueError(f"image observations {shape} are smaller than the {k}x{k} conv kernel")
        return shape

    def torso_size(self, obs_shape: int | Sequence[int]) -> int:
        """Width of the features the first dense layer reads: ``obs_dim`` for the MLP, or
        ``(H - 2) * (W - 2) * CONV_FEATURES`` after the conv torso on ``[H, W, C]``."""
        shape = self._obs_shape(obs_shape)
        if self.obs_rank == 1:
            return shape[0]
        h, w, _ = shape
        return (h - CONV_KERNEL + 1) * (w - CONV_KERNEL + 1) * CONV_FEATURES

    def layer_shapes(self, obs_shape: int | Sequence[int]) -> list[tuple[int, int]]:
        """``(in, out)`` of each dense layer, in call order, for one observation of shape
        ``obs_shape`` (an int means ``(obs_dim,)``); the conv layer is not among them."""
        widths = [self.torso_size(obs_shape), *self.hidden_sizes]
        shapes = list(zip(widths[:-1], widths[1:]))
        last, atoms = widths[-1], self.num_atoms
        if self.dueling:
            return shapes + [(last, atoms), (last, self.num_actions * atoms)]
        return shapes + [(last, self.num_actions * atoms)]

    def noise(self, key: jax.Array, obs_shape: int | Sequence[int]) -> list[jax.Array]:
        """Unit normals for every dense layer from one draw: a list of ``[noise_size(in, out)]``
        (``obs_shape`` as in ``layer_shapes``)."""
        sizes = [noise_size(p, q, self.factorised) for p, q in self.layer_shapes(obs_shape)]
        e = unit_normals(key, sum(sizes))
        offsets = np.cumsum([0, *sizes])
        return [e[a:b] for a, b in zip(offsets[:-1], offsets[1:])]

    @nn.compact
    def __call__(self, obs: jax.Array, noise_key: jax.Array | None = None) -> jax.Array:
        """``obs [..., *obs_shape]`` (any dtype; cast to float32) -> ``Q [..., num_actions]``, or
        the logits ``[..., num_actions, num_atoms]`` when ``num_atoms > 1``."""
        obs = jnp.asarray(obs).astype(jnp.float32)
        if obs.ndim < self.obs_rank:
            raise ValueError(f"obs of shape {obs.shape} has fewer than obs_rank={self.obs_rank} axes")
        obs_shape = obs.shape[obs.ndim - self.obs_rank :]
        noise = [None] * self.num_layers()
        if self.noisy and noise_key is not None:
            noise = self.noise(noise_key, obs_shape)

        def layer(x, features, i, name):
            dense = self._dense(features, name)
            return dense(x, noise=noise[i]) if self.noisy else dense(x)

        x = obs
        if self.obs_rank == 3:
            self.torso_size(obs_shape)  # checks the image is at least as large as the kernel
            x = nn.relu(SliceConv(CONV_FEATURES, CONV_KERNEL, name="conv")(x))
            x = x.reshape(x.shape[:-3] + (-1,))  # [..., H', W', 16] -> [..., H' * W' * 16]
        for i, width in enumerate(self.hidden_sizes):
            x = nn.relu(layer(x, width, i, f"hidden_{i}"))
        h, atoms = len(self.hidden_sizes), self.num_atoms

        def per_action(y, actions):  # [..., actions * atoms] -> [..., actions, atoms] (C51)
            return y if atoms == 1 else y.reshape(y.shape[:-1] + (actions, atoms))

        if not self.dueling:
            return per_action(layer(x, self.num_actions * atoms, h, "q"), self.num_actions)
        value = layer(x, atoms, h, "value")
        advantage = layer(x, self.num_actions * atoms, h + 1, "advantage")
        if atoms > 1:
            value, advantage = per_action(value, 1), per_action(advantage, self.num_actions)
        # Wang et al. 2016, eq. 9: subtract the mean advantage so V and A are identifiable (over
        # the actions axis: the last one for Q, the one before the atoms for C51's logits).
        axis = -1 if atoms == 1 else -2
        return value + advantage - jnp.mean(advantage, axis=axis, keepdims=True)


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
