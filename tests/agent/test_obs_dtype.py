"""Observations stored in their own dtype: MinAtar's [10, 10, C] 0/1 images as bool (or uint8)
in the replay, through the conv torso, and the memory a MinAtar sweep needs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from noisyjax.agent.agent import Agent
from noisyjax.agent.types import Transition, hparams_from_config, stack_hparams
from noisyjax.config import Config
from noisyjax.replay.nstep import sample_uniform
from noisyjax.run.sweeps import SweepError, bytes_per_agent, check_memory

IMAGE, ACTIONS, AGENTS = (10, 10, 4), 3, 2  # Breakout-MinAtar: [10, 10, 4] images, 3 actions
CONFIG = Config(
    env="CartPole-v1",
    hidden_sizes=(16,),
    buffer_size=64,
    batch_size=8,
    warmup_steps=0,
    n_step=1,
    train_freq=1,
)


def image_transitions(rng, dtype: str, *shape) -> Transition:
    """Random 0/1 image transitions with leaves ``[*shape, ...]``, observations in ``dtype``."""

    def obs():
        return (rng.random((*shape, *IMAGE)) < 0.3).astype(dtype)

    return Transition(
        obs=obs(),
        action=rng.integers(0, ACTIONS, size=shape).astype(np.int32),
        reward=rng.normal(size=shape).astype(np.float32),
        next_obs=obs(),
        terminated=rng.random(size=shape) < 0.2,
        truncated=np.zeros(shape, bool),
    )


def test_obs_shape_and_fields():
    """obs_shape is (obs_dim,) for an int and the shape for a tuple (a list becomes a hashable
    tuple); obs_dtype comes after optimizer and defaults to float32; an unknown dtype is refused."""
    assert Agent(CONFIG, 4, 2).obs_shape == (4,)
    assert Agent(CONFIG, 4, 2).obs_dtype == "float32"
    assert Agent(CONFIG, np.int64(4), 2).obs_dim == 4
    agent = Agent(CONFIG, [10, 10, 4], ACTIONS, None, "bool")
    assert agent.obs_shape == IMAGE and agent.obs_dtype == "bool" and agent.optimizer is None
    assert hash(agent) == hash(Agent(CONFIG, IMAGE, ACTIONS, obs_dtype="bool"))
    assert agent.network.obs_rank == 3 and Agent(CONFIG, 4, 2).network.obs_rank == 1
    with pytest.raises(TypeError):
        Agent(CONFIG, IMAGE, ACTIONS, obs_dtype="no-such-dtype")


@pytest.mark.parametrize("dtype", ["bool", "uint8", "float32"])
def test_init_stores_obs_in_their_dtype(dtype):
    """init's replay holds obs and next_obs ``[buffer, 10, 10, 4]`` in obs_dtype (shapes by
    jax.eval_shape); the other fields and the parameters keep their own dtypes."""
    agent = Agent(CONFIG, IMAGE, ACTIONS, obs_dtype=dtype)
    state = jax.eval_shape(agent.init, jax.random.PRNGKey(0), hparams_from_config(CONFIG))
    data = state.replay.data
    for leaf in (data.obs, data.next_obs):
        assert leaf.shape == (CONFIG.buffer_size, *IMAGE) and leaf.dtype == jnp.dtype(dtype)
    assert data.action.dtype == jnp.int32 and data.reward.dtype == jnp.float32
    assert data.terminated.dtype == data.truncated.dtype == jnp.bool_
    assert state.learner.params.dtype == jnp.float32
    # conv [3, 3, 4, 16] + bias, then noisy dense layers (1024 -> 16 -> 3) with mu and sigma
    assert state.learner.params.shape == (3 * 3 * 4 * 16 + 16 + 2 * (1024 * 16 + 16) + 2 * (16 * 3 + 3),)


@pytest.mark.parametrize("dtype", ["bool", "uint8"])
def test_step_batch_keeps_obs_in_their_dtype_and_updates(dtype):
    """step_batch with bool (uint8) transitions stores them as given, still in that dtype, the
    n-step gather hands them to the update unconverted, and the update (forced: update=True)
    changes the parameters; float32 transitions are refused, not converted."""
    agent = Agent(CONFIG, IMAGE, ACTIONS, obs_dtype=dtype)
    states = jax.jit(agent.init_batch)(jnp.arange(AGENTS), stack_hparams(CONFIG, [{}] * AGENTS))
    step = jax.jit(agent.step_batch, static_argnames="update")
    rng = np.random.default_rng(0)
    added = [image_transitions(rng, dtype, AGENTS) for _ in range(3)]
    params0 = np.asarray(states.learner.params)
    for transitions in added:
        states, actions = step(states, transitions, transitions.next_obs, update=True)
    data = states.replay.data
    for leaf in (data.obs, data.next_obs):
        assert leaf.dtype == jnp.dtype(dtype) and leaf.shape == (AGENTS, CONFIG.buffer_size, *IMAGE)
    for i, transitions in enumerate(added):
        np.testing.assert_array_equal(np.asarray(data.obs[:, i]), transitions.obs)
        np.testing.assert_array_equal(np.asarray(data.next_obs[:, i]), transitions.next_obs)
    np.testing.assert_array_equal(np.asarray(states.learner.updates), [3] * AGENTS)
    params = np.asarray(states.learner.params)
    assert np.isfinite(params).all() and (np.abs(params - params0).max(axis=1) > 0).all()
    assert ((np.asarray(actions) >= 0) & (np.asarray(actions) < ACTIONS)).all()
    one = jax.tree.map(lambda x: x[0], states.replay)
    batch = jax.eval_shape(
        lambda r, k: sample_uniform(r, k, CONFIG.batch_size, 1, jnp.float32(0.99)), one, jax.random.PRNGKey(1)
    )
    assert batch.obs.dtype == batch.next_obs.dtype == jnp.dtype(dtype)
    assert batch.obs.shape == (CONFIG.batch_size, *IMAGE)
    wrong = added[0]._replace(obs=added[0].obs.astype(np.float32))
    with pytest.raises(AssertionError):
        step(states, wrong, wrong.next_obs, update=False)


def test_minatar_sweep_fits_in_24_gib_with_bool_obs():
    """64 MinAtar agents (obs [10, 10, 4] bool, buffer 100k, default hidden sizes) need less than
    60% of 24 GiB; their float32 observations would take exactly 4x the bytes (everything else is
    the same) and would not fit."""
    config = Config(buffer_size=100_000)
    assert config.hidden_sizes == (128, 128)
    per_agent = {
        dtype: bytes_per_agent(config, IMAGE, ACTIONS, obs_dtype=dtype) for dtype in ("bool", "float32")
    }
    obs_part = {}
    for dtype in per_agent:
        agent = Agent(config, IMAGE, ACTIONS, obs_dtype=dtype)
        state = jax.eval_shape(agent.init, jax.random.PRNGKey(0), hparams_from_config(config))
        obs_part[dtype] = sum(
            x.size * x.dtype.itemsize for x in (state.replay.data.obs, state.replay.data.next_obs)
        )
    assert obs_part["bool"] == 2 * 100_000 * 10 * 10 * 4
    assert obs_part["float32"] == 4 * obs_part["bool"]
    assert per_agent["float32"] - per_agent["bool"] == obs_part["float32"] - obs_part["bool"]
    memory = 24 * 2**30
    assert 64 * per_agent["bool"] < 0.6 * memory
    check_memory(64, per_agent["bool"], memory)
    with pytest.raises(SweepError):
        check_memory(64, per_agent["float32"], memory)
    assert bytes_per_agent(config, IMAGE, ACTIONS) == per_agent["float32"]  # the default dtype
