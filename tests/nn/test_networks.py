"""QNetwork: shapes, forward pass vs a numpy reimplementation, per-layer noise, dueling head."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from noisyjax.nn.networks import QNetwork, mean_abs_sigma, noisy_layer_names, set_factorised_sigma
from noisyjax.nn.noisy import unit_normals

OBS, ACTIONS, HIDDEN = 3, 4, (8, 6)


def f_np(x):
    return np.sign(x) * np.sqrt(np.abs(x))


def hand_layer_shapes(dueling: bool) -> list[tuple[int, int]]:
    """(in, out) of each dense layer for OBS=3, HIDDEN=(8, 6), ACTIONS=4, written out by hand."""
    if dueling:
        return [(3, 8), (8, 6), (6, 1), (6, 4)]
    return [(3, 8), (8, 6), (6, 4)]


def layer_names(dueling: bool) -> list[str]:
    return ["hidden_0", "hidden_1", "value", "advantage"] if dueling else ["hidden_0", "hidden_1", "q"]


def hand_noise(key, dueling: bool, factorised: bool) -> list[np.ndarray]:
    """The unit normals of each layer: one normal draw of p + q (factorised) or p * q + q
    (independent) numbers per layer, all from ONE draw, cut into consecutive slices."""
    sizes = [p + q if factorised else p * q + q for p, q in hand_layer_shapes(dueling)]
    e = np.asarray(unit_normals(key, sum(sizes)), np.float64)
    cuts = np.cumsum([0, *sizes])
    return [e[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def np_dense(p, x, e, factorised: bool):
    """One layer in float64 numpy; noisy params (mu/sigma) or plain (kernel/bias); e=None: no noise."""
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    if "kernel" in p:
        return x @ p["kernel"] + p["bias"]
    w, b = p["mu_w"], p["mu_b"]
    if e is not None:
        n_in, n_out = w.shape
        if factorised:
            eps_w, eps_b = np.outer(f_np(e[:n_in]), f_np(e[n_in:])), f_np(e[n_in:])
        else:
            eps_w, eps_b = e[: n_in * n_out].reshape(n_in, n_out), e[n_in * n_out :]
        w, b = w + p["sigma_w"] * eps_w, b + p["sigma_b"] * eps_b
    return x @ w + b


def np_forward(params, obs, noise, dueling: bool, factorised: bool = True):
    """Independent float64 forward pass; returns (q, value, advantage) (the last two None unless
    dueling). ``noise``: list of per-layer unit normals or None."""
    inner = params["params"]
    noise = noise if noise is not None else [None] * 4
    x = np.asarray(obs, np.float64)
    for i in range(len(HIDDEN)):
        x = np.maximum(np_dense(inner[f"hidden_{i}"], x, noise[i], factorised), 0.0)
    if not dueling:
        return np_dense(inner["q"], x, noise[2], factorised), None, None
    value = np_dense(inner["value"], x, noise[2], factorised)
    adv = np_dense(inner["advantage"], x, noise[3], factorised)
    return value + adv - adv.mean(axis=-1, keepdims=True), value, adv


@functools.cache
def init_params(sigma0=0.5):
    """Real Flax init of the factorised noisy network (one eager init per sigma0)."""
    net = QNetwork(ACTIONS, HIDDEN, sigma0=sigma0)
    return net.init(jax.random.PRNGKey(0), jnp.zeros((OBS,)))


def make(noisy=True, dueling=False, factorised=True, seed=0):
    """The network and random params of the right structure: mu ~ N(0, 0.5^2) and distinct
    sigma in [0.1, 0.8] (the constant init sigma would hide layout errors); plain layers get
    kernel/bias. Built in numpy: no Flax init to compile."""
    net = QNetwork(ACTIONS, HIDDEN, noisy=noisy, factorised=factorised, dueling=dueling)
    rng = np.random.default_rng(seed)
    inner = {}
    for name, (p, q) in zip(layer_names(dueling), hand_layer_shapes(dueling)):
        if noisy:
            inner[name] = {
                "mu_w": rng.normal(0, 0.5, (p, q)),
                "sigma_w": rng.uniform(0.1, 0.8, (p, q)),
                "mu_b": rng.normal(0, 0.5, q),
                "sigma_b": rng.uniform(0.1, 0.8, q),
            }
        else:
            inner[name] = {"kernel": rng.normal(0, 0.5, (p, q)), "bias": rng.normal(0, 0.5, q)}
    params = {
        "params": {
            name: {k: jnp.asarray(v, jnp.float32) for k, v in layer.items()} for name, layer in inner.items()
        }
    }
    # the structure is exactly what Flax creates
    shapes = jax.eval_shape(net.init, jax.random.PRNGKey(0), jnp.zeros((OBS,)))
    assert jax.tree.structure(shapes) == jax.tree.structure(params)
    assert all(a.shape == b.shape for a, b in zip(jax.tree.leaves(shapes), jax.tree.leaves(params)))
    return net, params


@functools.cache
def q_key_and_mean(noisy=True, dueling=False, factorised=True):
    """``(params, obs, key) -> (Q with key, Q without)``: one function object per architecture, so
    the jitted variants of different tests share one compilation."""
    net = QNetwork(ACTIONS, HIDDEN, noisy=noisy, factorised=factorised, dueling=dueling)
    return lambda p, o, k: (net.apply(p, o, k), net.apply(p, o, None))


def obs_batch(n=5, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(n, OBS)), jnp.float32)


# ----- structure ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dueling", [False, True])
def test_layer_shapes_and_noise_sizes(dueling):
    """layer_shapes / num_layers / noise slice sizes / param names agree with the hand-written
    architecture (shapes by jax.eval_shape: nothing is compiled)."""
    key = jax.random.PRNGKey(0)
    for factorised in (True, False):
        net = QNetwork(ACTIONS, HIDDEN, factorised=factorised, dueling=dueling)
        assert net.layer_shapes(OBS) == hand_layer_shapes(dueling)
        assert net.num_layers() == len(hand_layer_shapes(dueling))
        sizes = [e.shape for e in jax.eval_shape(lambda k, net=net: net.noise(k, OBS), key)]
        assert sizes == [(p + q,) if factorised else (p * q + q,) for p, q in hand_layer_shapes(dueling)]
    params = jax.eval_shape(QNetwork(ACTIONS, HIDDEN, dueling=dueling).init, key, jnp.zeros((OBS,)))
    assert set(params["params"]) == set(layer_names(dueling))
    for name, (p, q) in zip(layer_names(dueling), hand_layer_shapes(dueling)):
        layer = params["params"][name]
        assert layer["mu_w"].shape == layer["sigma_w"].shape == (p, q)
        assert layer["mu_b"].shape == layer["sigma_b"].shape == (q,)


@pytest.mark.parametrize("noisy", [True, False], ids=["noisy", "plain"])
@pytest.mark.parametrize("dueling", [False, True], ids=["single", "dueling"])
def test_output_shapes(noisy, dueling):
    """[batch, obs] -> [batch, actions] and [obs] -> [actions] (also two batch axes), with and
    without a key (shapes by jax.eval_shape; the values are checked below)."""
    net = QNetwork(ACTIONS, HIDDEN, noisy=noisy, dueling=dueling)
    params = jax.eval_shape(net.init, jax.random.PRNGKey(0), jnp.zeros((OBS,)))
    key = jax.random.PRNGKey(1)
    for k in (None, key):
        for obs_shape, q_shape in [
            ((5, OBS), (5, ACTIONS)),
            ((OBS,), (ACTIONS,)),
            ((2, 3, OBS), (2, 3, ACTIONS)),
        ]:
            out = jax.eval_shape(net.apply, params, jax.ShapeDtypeStruct(obs_shape, jnp.float32), k)
            assert out.shape == q_shape and out.dtype == jnp.float32


# ----- forward pass ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "noisy,factorised,dueling",
    [(True, True, False), (True, True, True), (True, False, False), (False, True, True)],
    ids=["factorised", "factorised-dueling", "independent", "plain-dueling"],
)
def test_forward_matches_numpy_reimplementation(variant, noisy, factorised, dueling):
    """Q equals a float64 numpy forward pass in which layer l uses slice l of ONE normal draw
    (hand-computed offsets), for a key and for key=None (mean weights)."""
    _, params = make(noisy=noisy, factorised=factorised, dueling=dueling)
    obs = obs_batch(5)
    apply = variant(q_key_and_mean(noisy, dueling, factorised))
    key = jax.random.PRNGKey(7)
    noise = hand_noise(key, dueling, factorised) if noisy else None
    q_np, _, _ = np_forward(params, obs, noise, dueling, factorised)
    q_mean, _, _ = np_forward(params, obs, None, dueling, factorised)
    q_key, q_none = apply(params, obs, key)
    np.testing.assert_allclose(q_key, q_np, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(q_none, q_mean, rtol=1e-5, atol=1e-5)
    if noisy:  # and the noise matters
        assert np.abs(q_np - q_mean).min() > 1e-4


def test_key_none_is_deterministic_and_keys_matter(variant):
    """key=None twice gives identical Q (no hidden randomness); the same key twice too; a key gives
    different Q from None, and two keys differ."""
    _, params = make()
    obs = obs_batch(5)
    apply = variant(q_key_and_mean(True, False, True))
    k1, k2 = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
    q1, none1 = (np.asarray(a) for a in apply(params, obs, k1))
    q1_again, none2 = (np.asarray(a) for a in apply(params, obs, k1))
    q2, _ = apply(params, obs, k2)
    np.testing.assert_array_equal(none1, none2)
    np.testing.assert_array_equal(q1, q1_again)
    assert np.all(q1 != none1)
    assert np.all(q1 != np.asarray(q2))


@pytest.mark.parametrize("dueling", [False, True])
def test_plain_network_ignores_key(variant, dueling):
    """A plain (noisy=False) network gives the same Q with any key or none."""
    _, params = make(noisy=False, dueling=dueling)
    assert noisy_layer_names(params) == []
    obs = obs_batch(5)
    apply = variant(q_key_and_mean(False, dueling, True))
    for seed in (1, 2):
        with_key, without = apply(params, obs, jax.random.PRNGKey(seed))
        np.testing.assert_array_equal(with_key, without)


# ----- trap 2: one key for several layers -------------------------------------------------------------


def _shares_prefix(a, b) -> bool:
    n = min(len(a), len(b))
    return bool(np.allclose(np.asarray(a)[:n], np.asarray(b)[:n]))


def test_layers_get_independent_noise():
    """Trap 2: the slices QNetwork.noise hands the layers are not prefixes of each other (as they
    would be if every layer drew from the same key), and are uncorrelated over 1,000 keys
    (factorised, and independent noise with a dueling head)."""
    nets = [
        QNetwork(ACTIONS, HIDDEN, factorised=True, dueling=False),
        QNetwork(ACTIONS, HIDDEN, factorised=False, dueling=True),
    ]
    keys = jax.random.split(jax.random.PRNGKey(1), 1000)
    all_many = jax.jit(jax.vmap(lambda k: [net.noise(k, OBS) for net in nets]))(keys)
    # the detector does flag the trap: draws of different lengths from one key share a prefix
    assert _shares_prefix(jax.random.normal(keys[0], (11,)), jax.random.normal(keys[0], (14,)))
    for net, many in zip(nets, all_many):
        many = [np.asarray(m) for m in many]
        assert [m.shape[1] for m in many] == [
            e.shape[0] for e in jax.eval_shape(lambda k, net=net: net.noise(k, OBS), keys[0])
        ]
        for i in range(len(many)):
            for j in range(i + 1, len(many)):
                for k in range(3):  # the slices of the first three keys
                    assert not _shares_prefix(many[i][k], many[j][k]), (i, j, k)
        for i in range(len(many)):
            # unit normals: mean 0, std 1 (SE < 0.012)
            assert abs(many[i].mean()) < 0.05 and abs(many[i].std() - 1.0) < 0.05
            for j in range(i + 1, len(many)):
                n = min(many[i].shape[1], many[j].shape[1])
                a, b = many[i][:, :n].ravel(), many[j][:, :n].ravel()
                assert abs(np.corrcoef(a, b)[0, 1]) < 0.05, (i, j)  # n >= 7 per key: SE <= 1/sqrt(7000)


# ----- dueling head ---------------------------------------------------------------------------------


@pytest.mark.parametrize("noisy", [True, False])
def test_dueling_identifiability(noisy):
    """Wang et al. eq. 9: Q - mean_a Q == A - mean_a A and mean_a Q == V, with the value and
    advantage streams computed from the params by hand (with noise and without)."""
    net, params = make(noisy=noisy, dueling=True)
    obs = obs_batch(5)
    key = jax.random.PRNGKey(3)
    for k in (None, key):
        noise = hand_noise(k, True, True) if (noisy and k is not None) else None
        _, value, adv = np_forward(params, obs, noise, True)
        q = np.asarray(net.apply(params, obs, k), np.float64)
        np.testing.assert_allclose(
            q - q.mean(-1, keepdims=True), adv - adv.mean(-1, keepdims=True), atol=1e-5
        )
        np.testing.assert_allclose(q.mean(-1), value[:, 0], atol=1e-5)
        assert np.abs(adv - adv.mean(-1, keepdims=True)).max() > 1e-3  # advantages are not all equal


# ----- sigma helpers --------------------------------------------------------------------------------


def test_noisy_layer_names():
    """Names of the noisy layers in call order; the inner dict is accepted too; plain has none."""
    params = init_params()
    assert noisy_layer_names(params) == ["hidden_0", "hidden_1", "q"]
    assert noisy_layer_names(params["params"]) == ["hidden_0", "hidden_1", "q"]
    _, params = make(dueling=True)
    assert noisy_layer_names(params) == ["hidden_0", "hidden_1", "value", "advantage"]
    _, params = make(noisy=False)
    assert noisy_layer_names(params) == []


@pytest.mark.parametrize("sigma0", [0.5, 0.3])
def test_mean_abs_sigma_at_init(sigma0):
    """At init every factorised layer has |sigma| = sigma0/sqrt(fan_in): fan-ins 3, 8, 6."""
    expected = [sigma0 / math.sqrt(3), sigma0 / math.sqrt(8), sigma0 / math.sqrt(6)]
    np.testing.assert_allclose(mean_abs_sigma(init_params(sigma0)), expected, rtol=1e-6)


def test_mean_abs_sigma_hand_computed():
    """Mean of |sigma| over weights AND biases of each layer, with negative entries."""
    inner = dict(init_params()["params"])
    inner["hidden_0"] = {**inner["hidden_0"], "sigma_w": -jnp.ones((3, 8)), "sigma_b": jnp.full((8,), 4.0)}
    # hidden_0: (24 * 1 + 8 * 4) / 32 = 1.75
    inner["q"] = {**inner["q"], "sigma_w": jnp.zeros((6, 4)).at[0, 0].set(-2.8), "sigma_b": jnp.zeros((4,))}
    # q: 2.8 / 28 = 0.1
    got = np.asarray(mean_abs_sigma({"params": inner}))
    np.testing.assert_allclose(got, [1.75, 0.5 / math.sqrt(8), 0.1], rtol=1e-6)
    _, plain = make(noisy=False)
    assert mean_abs_sigma(plain).shape == (0,)


# ----- conv torso (image observations [..., H, W, C]) -------------------------------------------------

IMAGE = (10, 10, 4)  # MinAtar's [10, 10, C]
CONV_OUT = 8 * 8 * 16  # 3x3 VALID conv, 16 filters: [8, 8, 16] flattened


def conv_net(noisy=True, dueling=False, factorised=True) -> QNetwork:
    return QNetwork(ACTIONS, (8,), noisy=noisy, factorised=factorised, dueling=dueling, obs_rank=3)


@functools.cache
def conv_params(noisy=True, seed=0):
    """Real Flax init of the conv network (eager, small), with sigma made distinct per entry so a
    layout error in the noise cannot hide behind a constant sigma."""
    params = conv_net(noisy).init(jax.random.PRNGKey(seed), jnp.zeros(IMAGE))
    if not noisy:
        return params
    rng = np.random.default_rng(seed)
    inner = dict(params["params"])
    for name in ("hidden_0", "q"):
        inner[name] = {
            k: jnp.asarray(rng.uniform(0.1, 0.8, v.shape), jnp.float32) if k.startswith("sigma") else v
            for k, v in inner[name].items()
        }
    return {"params": inner}


def images(*batch, seed=0, dtype=np.float32):
    """0/1 images ``[*batch, 10, 10, 4]`` (MinAtar's observations) in ``dtype``."""
    return (np.random.default_rng(seed).random((*batch, *IMAGE)) < 0.3).astype(dtype)


def np_conv_forward(params, obs, noise):
    """Float64 numpy forward pass of the conv network: 3x3 VALID conv + ReLU, flatten (row-major
    H', W', C'), then the dense layers with the given per-layer unit normals (or None)."""
    inner = params["params"]
    k = np.asarray(inner["conv"]["kernel"], np.float64)  # [3, 3, C, 16]
    b = np.asarray(inner["conv"]["bias"], np.float64)
    x = np.asarray(obs, np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(-3, -2))  # [..., 8, 8, C, 3, 3]
    x = np.maximum(np.einsum("...ijcab,abcf->...ijf", windows, k) + b, 0.0)
    x = x.reshape(x.shape[:-3] + (-1,))
    noise = noise if noise is not None else [None, None]
    x = np.maximum(np_dense(inner["hidden_0"], x, noise[0], True), 0.0)
    return np_dense(inner["q"], x, noise[1], True)


@pytest.mark.parametrize("noisy", [True, False], ids=["noisy", "plain"])
@pytest.mark.parametrize("dueling", [False, True], ids=["single", "dueling"])
def test_conv_output_shapes(noisy, dueling):
    """[10, 10, 4] -> [actions] and [32, 10, 10, 4] -> [32, actions] (also two batch axes), with
    and without a key (shapes by jax.eval_shape)."""
    net = conv_net(noisy, dueling)
    params = jax.eval_shape(net.init, jax.random.PRNGKey(0), jnp.zeros(IMAGE))
    for k in (None, jax.random.PRNGKey(1)):
        for batch in [(), (32,), (2, 3)]:
            obs = jax.ShapeDtypeStruct((*batch, *IMAGE), jnp.float32)
            out = jax.eval_shape(net.apply, params, obs, k)
            assert out.shape == (*batch, ACTIONS) and out.dtype == jnp.float32


@pytest.mark.parametrize("noisy", [True, False], ids=["noisy", "plain"])
def test_conv_param_tree(noisy):
    """The conv layer is a plain Conv, kernel [3, 3, C, 16] and bias [16]; the first dense layer
    reads the 8 * 8 * 16 flattened features."""
    for channels in (4, 7):
        shapes = jax.eval_shape(conv_net(noisy).init, jax.random.PRNGKey(0), jnp.zeros((10, 10, channels)))
        inner = shapes["params"]
        assert set(inner) == {"conv", "hidden_0", "q"}
        conv = {k: v.shape for k, v in inner["conv"].items()}
        assert conv == {"kernel": (3, 3, channels, 16), "bias": (16,)}
        w = "mu_w" if noisy else "kernel"
        assert inner["hidden_0"][w].shape == (CONV_OUT, 8) and inner["q"][w].shape == (8, ACTIONS)


def test_conv_layer_shapes_and_noise_sizes():
    """layer_shapes / noise of the conv network take the image shape; the first dense fan-in is
    the flattened conv output; the conv layer draws no noise."""
    for factorised in (True, False):
        net = conv_net(factorised=factorised)
        assert net.layer_shapes(IMAGE) == [(CONV_OUT, 8), (8, ACTIONS)]
        assert net.layer_shapes((12, 9, 2)) == [(10 * 7 * 16, 8), (8, ACTIONS)]
        noise = jax.eval_shape(lambda k, net=net: net.noise(k, IMAGE), jax.random.PRNGKey(0))
        sizes = [e.shape for e in noise]
        assert sizes == [(p + q,) if factorised else (p * q + q,) for p, q in net.layer_shapes(IMAGE)]
    with pytest.raises(ValueError, match="rank"):
        conv_net().layer_shapes(OBS)  # an int is a vector observation
    with pytest.raises(ValueError, match="smaller"):
        conv_net().layer_shapes((2, 10, 4))


def test_conv_layer_is_not_noisy():
    """Only the dense layers are noisy: noisy_layer_names, mean_abs_sigma (sigma0/sqrt(fan_in) at
    init) and set_factorised_sigma skip the conv layer, and leave its kernel alone."""
    params = conv_net().init(jax.random.PRNGKey(0), jnp.zeros(IMAGE))
    assert set(params["params"]["conv"]) == {"kernel", "bias"}
    assert noisy_layer_names(params) == ["hidden_0", "q"]
    fan_ins = np.sqrt([CONV_OUT, 8])
    np.testing.assert_allclose(mean_abs_sigma(params), 0.5 / fan_ins, rtol=1e-6)
    reset = set_factorised_sigma(params, 0.25)
    np.testing.assert_allclose(mean_abs_sigma(reset), 0.25 / fan_ins, rtol=1e-6)
    np.testing.assert_array_equal(reset["params"]["conv"]["kernel"], params["params"]["conv"]["kernel"])
    assert noisy_layer_names(conv_net(noisy=False).init(jax.random.PRNGKey(0), jnp.zeros(IMAGE))) == []


def test_conv_forward_matches_numpy(variant):
    """Q of the conv network equals a float64 numpy forward pass (conv, flatten, dense layers)
    whose dense layers use consecutive slices of ONE normal draw sized with the conv output as
    the first fan-in; for one image and a batch, with a key and with key=None."""
    params = conv_params()
    net = conv_net()
    apply = variant(lambda p, o, k: (net.apply(p, o, k), net.apply(p, o, None)))
    key = jax.random.PRNGKey(7)
    sizes = [CONV_OUT + 8, 8 + ACTIONS]  # factorised: p + q per dense layer
    e = np.asarray(unit_normals(key, sum(sizes)), np.float64)
    noise = [e[: sizes[0]], e[sizes[0] :]]
    for obs in (images(5), images(seed=1)):
        q_key, q_none = apply(params, jnp.asarray(obs), key)
        np.testing.assert_allclose(q_key, np_conv_forward(params, obs, noise), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(q_none, np_conv_forward(params, obs, None), rtol=1e-4, atol=1e-4)
        assert np.abs(np.asarray(q_key) - np.asarray(q_none)).min() > 1e-4  # the noise matters


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8])
def test_conv_bool_and_uint8_obs_give_float32_q(variant, dtype):
    """bool / uint8 images give exactly the Q of the same images as float32 (the network casts
    its input first), with a key and without."""
    params = conv_params()
    net = conv_net()
    apply = variant(lambda p, o, k: (net.apply(p, o, k), net.apply(p, o, None)))
    key = jax.random.PRNGKey(3)
    obs = images(6, dtype=dtype)
    assert obs.dtype == dtype and obs.any()
    got = apply(params, jnp.asarray(obs), key)
    want = apply(params, jnp.asarray(obs.astype(np.float32)), key)
    for g, w in zip(got, want):
        assert g.dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def test_mlp_unchanged_by_the_conv_torso():
    """The MLP is the default (obs_rank 1): no conv layer in its params, and layer_shapes / noise
    take an int or a one-element shape alike (the same noise, bit for bit)."""
    net = QNetwork(ACTIONS, HIDDEN)
    assert net.obs_rank == 1
    assert set(init_params()["params"]) == {"hidden_0", "hidden_1", "q"}
    assert net.layer_shapes(OBS) == net.layer_shapes((OBS,)) == hand_layer_shapes(False)
    key = jax.random.PRNGKey(5)
    for a, b in zip(net.noise(key, OBS), net.noise(key, (OBS,))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="rank"):
        net.layer_shapes(IMAGE)


def test_slice_conv_is_xlas_valid_convolution_with_nn_convs_parameters():
    """SliceConv gives nn.Conv's output (VALID, stride 1) to float32 rounding, from the same
    parameters, initialised bitwise as nn.Conv initialises them."""
    import flax.linen as nn

    from noisyjax.nn.conv import SliceConv

    x = jax.random.normal(jax.random.PRNGKey(0), (5, 10, 9, 4))
    ours, theirs = SliceConv(16, 3), nn.Conv(16, (3, 3), strides=1, padding="VALID")
    p = ours.init(jax.random.PRNGKey(1), x)
    q = theirs.init(jax.random.PRNGKey(1), x)
    for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(q)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    y = ours.apply(p, x)
    assert y.shape == (5, 8, 7, 16)
    np.testing.assert_allclose(np.asarray(y), np.asarray(theirs.apply(p, x)), rtol=1e-5, atol=1e-5)
