"""noisyjax.run.sweeps: grid parsing (aliases, refusals) and per-agent settings of a swept decay."""

from __future__ import annotations

import time

import jax
import numpy as np
import pytest

from noisyjax.agent.agent import Agent
from noisyjax.agent.types import hparams_from_config, stack_hparams
from noisyjax.config import SEED_END, Config
from noisyjax.run.sweeps import (
    MAX_AGENTS,
    SweepError,
    bytes_per_agent,
    check_memory,
    expand,
    parse_grid,
    parse_seeds,
)


def test_parse_grid_aliases_and_kebab_case():
    """lr, lr_end_fraction, tau and kebab-case names map to Config fields, in order."""
    grid = parse_grid(["lr=1e-3,3e-4", "lr_end_fraction=0,1", "target-tau=0.02"])
    assert grid == {
        "learning_rate": [1e-3, 3e-4],
        "learning_rate_end_fraction": [0.0, 1.0],
        "target_tau": [0.02],
    }


@pytest.mark.parametrize(
    ("items", "words"),
    [
        (["buffer_size=1000,2000"], "cannot be swept"),
        (["nonsense=1"], "unknown field"),
        (["lr=1e-3", "lr=3e-4"], "twice"),
        (["lr=1e-3,x"], "not a number"),
        (["lr_end_fraction=0.1,0.1"], "repeats"),
        (["sigma0=0.1,nan"], "sigma0: 'nan' is not a finite number"),
        (["lr=inf"], "lr: 'inf' is not a finite number"),
        (["gamma=-inf"], "gamma: '-inf' is not a finite number"),
    ],
)
def test_parse_grid_refuses(items, words):
    with pytest.raises(SweepError, match=words):
        parse_grid(items)


def test_expand_checks_each_point_with_config():
    """A grid value Config refuses (out of range, or beyond float32) is refused by expand, naming
    the field and the value."""
    with pytest.raises(SweepError, match=r"--grid: gamma=1.5 is invalid"):
        expand([0], parse_grid(["gamma=0.9,1.5"]), Config())
    with pytest.raises(SweepError, match=r"--grid: learning_rate=1e\+39 is invalid: must be a finite"):
        expand([0], parse_grid(["lr=1e39"]), Config())


def test_expand_refuses_too_many_agents_before_listing_them():
    """seeds x grid points beyond MAX_AGENTS is refused by counting them, before any list of
    agents is built."""
    grid = {"learning_rate": [1e-4 * (1 + i) for i in range(1000)]}
    assert 1001 * 1000 > MAX_AGENTS
    with pytest.raises(SweepError, match=r"give 1,001,000 agents; a sweep has at most 1,000,000"):
        expand(list(range(1001)), grid, Config())


def test_parse_seeds_ranges_and_lists():
    assert parse_seeds("0-4,7,9") == [0, 1, 2, 3, 4, 7, 9]
    assert parse_seeds(f"007,{SEED_END - 1}") == [7, SEED_END - 1]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "names no seed"),
        ("0,0", r"repeats seed\(s\) 0;"),
        ("0-9,5-20", r"repeats seed\(s\) 5, 6, 7, 8, 9;"),
        ("0-100,50-200", r"repeats seed\(s\) 50, 51, 52, 53, 54, ... \(51 in all\)"),
        ("5-3", "is empty"),
        ("-1", "is not a seed"),
        ("1099511627776", r"seed 1099511627776 is invalid: must be below 4294967296 \(uint32"),
        (str(SEED_END), f"seed {SEED_END} is invalid"),
        ("0-" + "9" * 5000, "is invalid: must be below 4294967296"),  # int() refuses 5000 digits
        (f"0-{SEED_END - 1}", "names 4,294,967,296 seeds; a sweep has at most 1,000,000 agents"),
    ],
)
def test_parse_seeds_refuses(text, words):
    with pytest.raises(SweepError, match=words):
        parse_seeds(text)


def test_parse_seeds_long_range_is_fast():
    """A range of 20,001 seeds parses in well under a second (a duplicate check that counted
    each seed in the list, quadratic, took about 20 s); the sweep then refuses it by memory."""
    start = time.perf_counter()
    seeds = parse_seeds("0-20000")
    assert time.perf_counter() - start < 1.0
    assert seeds == list(range(20001))


@pytest.mark.parametrize("per", [False, True])
def test_bytes_per_agent_counts_params_target_adam_and_replay(per):
    """bytes_per_agent is the bytes of params, target and both Adam moments (4 float32 copies of
    the flat parameter vector), the replay buffer (and PER's sum tree), plus a few scalars."""
    config = Config(hidden_sizes=(32, 16), buffer_size=1000, batch_size=32, per=per)
    obs_dim, num_actions = 8, 4
    agent = Agent(config, obs_dim, num_actions)
    shapes = jax.eval_shape(agent.init, jax.random.PRNGKey(0), hparams_from_config(config))
    num_params = shapes.learner.params.size
    # Noisy layers: mu and sigma for each weight and bias.
    layers = [(8, 32), (32, 16), (16, 4)]
    assert num_params == sum(2 * (i * o + o) for i, o in layers)
    # One transition: obs and next_obs float32, action int32, reward float32, two bools.
    replay = config.buffer_size * (2 * obs_dim * 4 + 4 + 4 + 1 + 1)
    counted = bytes_per_agent(config, obs_dim, num_actions)
    at_least = 4 * num_params * 4 + replay
    assert at_least <= counted <= at_least + (4 * config.buffer_size * 2 if per else 0) + 1024


def test_bytes_per_agent_measures_a_network_too_large_to_build():
    """Two hidden layers of 10**6 units (about 2 * 10**12 params) are measured from shapes alone,
    and check_memory refuses them for one agent."""
    config = Config(hidden_sizes=(10**6, 10**6))
    counted = bytes_per_agent(config, 8, 4)
    assert counted > 4 * 4 * 2 * 10**12
    with pytest.raises(SweepError, match=r"^1 agent needs about 29.1 TiB for replay, params, target"):
        check_memory(1, counted, 64 * 2**30)


def test_check_memory():
    """More than 60% of the available memory is refused, naming the agents and the fixes; None
    (cannot tell) refuses nothing."""
    check_memory(10, 2**20, 100 * 2**20)
    check_memory(10**6, 2**40, None)
    words = (
        r"^3 agents need about 3.0 GiB .* \(1.0 GiB each\), more than 60% of the 4.0 GiB available; "
        r"use fewer agents, a smaller --buffer-size or smaller --hidden-sizes$"
    )
    with pytest.raises(SweepError, match=words):
        check_memory(3, 2**30, 4 * 2**30)


def test_swept_learning_rate_decays_to_its_own_fraction():
    """A swept lr decays to the fraction of its own value; a swept fraction applies to its agent
    only (1 = constant)."""
    overrides = [{"learning_rate": 1e-3}, {"learning_rate": 3e-4}, {"learning_rate_end_fraction": 1.0}]
    hp = stack_hparams(Config(), overrides)
    np.testing.assert_allclose(hp.learning_rate, [1e-3, 3e-4, 2e-3])
    np.testing.assert_allclose(hp.learning_rate_end, [1e-4, 3e-5, 2e-3])
