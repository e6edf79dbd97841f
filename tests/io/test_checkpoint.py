"""Checkpoints: a state comes back bitwise, one written before a setting joined ``HParams`` still
loads (the missing field takes the template's value), and a run folder written before the optax
chain (``tests/data/run_before_optax``, Adam's state alone) resumes and finishes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import flax.serialization
import jax
import numpy as np
import pytest

from noisyjax.agent.agent import Agent
from noisyjax.agent.optimizer import upgrade_opt_state
from noisyjax.agent.types import hparams_from_config
from noisyjax.config import Config
from noisyjax.io.checkpoint import STATE_FILE, latest_checkpoint, load_checkpoint, save_checkpoint
from noisyjax.io.rundir import CONFIG_FILE, RunDirError, read_config, write_config


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
    """A checkpoint written before huber_delta existed has no ``huber_delta``: it loads, every
    saved leaf comes back, and the missing field is the template's (here 3.0, to tell it apart
    from the saved state's)."""
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


def test_config_without_c51_settings_reads_as_plain_dqn_but_an_edited_one_is_refused(tmp_path):
    """A folder written before the distributional head existed reads back with it off; a config
    that lacks a setting every version wrote (here gamma) was edited, and is refused."""
    config = Config(hidden_sizes=(8,), buffer_size=32, batch_size=4)
    write_config(tmp_path, config, [0])
    payload = json.loads((tmp_path / CONFIG_FILE).read_text())
    for name in ("distributional", "num_atoms", "v_min", "v_max"):
        del payload["config"][name]
    (tmp_path / CONFIG_FILE).write_text(json.dumps(payload))
    assert read_config(tmp_path)[0] == config
    del payload["config"]["gamma"]
    (tmp_path / CONFIG_FILE).write_text(json.dumps(payload))
    with pytest.raises(RunDirError, match="lacks setting"):
        read_config(tmp_path)


OLD_RUN = Path(__file__).resolve().parents[1] / "data" / "run_before_optax"


def test_upgrade_opt_state_wraps_adam_alone():
    """Adam's state alone ({count, mu, nu}) becomes the chain's (clip, adam, schedule) with the
    schedule's count equal to Adam's; a state already in the chain's layout is left alone."""
    adam = {"count": 5, "mu": [1.0], "nu": [2.0]}
    assert upgrade_opt_state(adam) == {"0": {}, "1": adam, "2": {"count": 5}}
    chain = {"0": {}, "1": adam, "2": {"count": 5}}
    assert upgrade_opt_state(chain) is chain


def test_checkpoint_of_adam_alone_loads_into_the_chain():
    """The committed old checkpoint (its opt_state is Adam's alone, its HParams lack
    learning_rate_end_fraction) loads into today's state: Adam's moments and count come back
    and the schedule resumes at the update count the learner had."""
    from noisyjax.io.restore import load_run

    agent, states, host, _ = load_run(OLD_RUN)
    path = latest_checkpoint(OLD_RUN / "checkpoints")
    raw = flax.serialization.msgpack_restore((path / STATE_FILE).read_bytes())
    old = raw["learner"]["opt_state"]
    assert set(old) == {"count", "mu", "nu"}
    _, adam, schedule = states.learner.opt_state
    np.testing.assert_array_equal(adam.mu, old["mu"])
    np.testing.assert_array_equal(adam.nu, old["nu"])
    np.testing.assert_array_equal(schedule.count, states.learner.updates)
    assert int(schedule.count[0]) == int(old["count"][0]) > 0
    fraction = states.hparams.learning_rate_end_fraction[0]
    assert fraction == np.float32(agent.config.learning_rate_end_fraction)
    assert host["t"] == 400


def test_run_folder_written_before_the_optax_chain_resumes(tmp_path):
    """``experiments.lunar --resume`` on the old folder (checkpoint at step 400 of 600; its
    CSVs hold rows past it, as after a crash): it finishes, keeps the first 400 steps' episode
    rows byte for byte, and writes no row twice."""
    from experiments import lunar

    run = tmp_path / "old"
    shutil.copytree(OLD_RUN, run)
    assert lunar.main(["--resume", str(run), "--quiet"]) == 0
    expected = (OLD_RUN / "expected_episodes.csv").read_text().splitlines()
    got = (run / "episodes.csv").read_text().splitlines()
    upto = [row for row in expected[1:] if int(row.split(",")[2]) <= 400]
    assert got[: 1 + len(upto)] == expected[: 1 + len(upto)]
    steps = [int(row.split(",")[2]) for row in got[1:]]
    assert steps == sorted(set(steps)) and steps[-1] <= 600 and len(steps) > len(upto)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["env_steps"] == 600
