"""Checkpoints: a state comes back bitwise, and one written before a setting joined ``HParams``
still loads (the missing field takes the template's value)."""

from __future__ import annotations

import json

import flax.serialization
import jax
import numpy as np

from noisyjax.agent.agent import Agent, hparams_from_config
from noisyjax.config import Config
from noisyjax.io.checkpoint import STATE_FILE, latest_checkpoint, load_checkpoint, save_checkpoint
from noisyjax.io.rundir import CONFIG_FILE, read_config, write_config


def small_state(**kw):
    config = Config(hidden_sizes=(8,), buffer_size=32, batch_size=4, **kw)
    agent = Agent(config, obs_dim=3, num_actions=2)
    return agent.init(jax.random.PRNGKey(0), hparams_from_config(config))


def assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip(tmp_path):
    state = small_state()
    save_checkpoint(tmp_path, state, {"t": 7})
    loaded, host = load_checkpoint(latest_checkpoint(tmp_path), small_state(sigma0=0.9))
    assert host["t"] == 7
    assert_same(loaded, state)


def test_checkpoint_without_a_later_hparam_still_loads(tmp_path):
    """A session-5 checkpoint has no ``huber_delta``: it loads, every saved leaf comes back, and
    the missing field is the template's (here 3.0, to tell it apart from the saved state's)."""
    state = small_state()
    path = save_checkpoint(tmp_path, state, {"t": 1})
    raw = flax.serialization.msgpack_restore((path / STATE_FILE).read_bytes())
    del raw["hparams"]["huber_delta"]
    (path / STATE_FILE).write_bytes(flax.serialization.msgpack_serialize(raw))
    loaded, _ = load_checkpoint(path, small_state(huber_delta=3.0))
    assert float(loaded.hparams.huber_delta) == 3.0
    restored = loaded.hparams._replace(huber_delta=state.hparams.huber_delta)
    assert_same(loaded._replace(hparams=restored), state)


def test_old_run_folder_keeps_its_constant_learning_rate(tmp_path):
    """A config.json written before learning_rate_end_fraction existed reads back with 1 (the
    constant rate it trained with), not today's default decay; a new folder keeps its value."""
    config = Config(hidden_sizes=(8,), buffer_size=32, batch_size=4)
    write_config(tmp_path, config, [0])
    payload = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert payload["config"]["learning_rate_end_fraction"] == config.learning_rate_end_fraction != 1.0
    assert read_config(tmp_path)[0] == config
    del payload["config"]["learning_rate_end_fraction"]
    (tmp_path / CONFIG_FILE).write_text(json.dumps(payload))
    old, _ = read_config(tmp_path)
    assert old.learning_rate_end_fraction == 1.0
    hp = hparams_from_config(old)
    assert hp.learning_rate_end == hp.learning_rate
