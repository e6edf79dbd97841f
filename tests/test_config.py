"""Config: defaults valid, every invalid value raises ValueError naming its field, frozen."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest

from noisyjax.config import INT32_MAX, MAX_EVAL_EPISODES, Config


def test_defaults_are_valid():
    """The defaults construct: noisy factorised layers everywhere, epsilon-free, 3-step double Q
    (sigma0 0.25, tuned on LunarLander; the paper's 0.5 is a flag away, README "Defaults")."""
    c = Config()
    assert c.noisy and c.factorised and c.sigma0 == 0.25 and c.n_step == 3 and c.double_q
    assert 0 < c.gamma <= 1 and c.batch_size <= c.buffer_size


INVALID = [
    ("total_steps", {"total_steps": 0}),
    ("batch_size", {"batch_size": 0}),
    ("buffer_size", {"buffer_size": -1}),
    ("learning_rate", {"learning_rate": 0}),
    ("learning_rate", {"learning_rate": -1e-3}),
    ("learning_rate_end_fraction", {"learning_rate_end_fraction": -0.1}),
    ("learning_rate_end_fraction", {"learning_rate_end_fraction": 1.5}),
    ("gamma", {"gamma": 1.5}),
    ("gamma", {"gamma": -0.1}),
    ("batch_size", {"batch_size": 64, "buffer_size": 32}),
    ("target_tau", {"target_tau": 0}),
    ("target_tau", {"target_tau": 1.5}),
    ("hidden_sizes", {"hidden_sizes": ()}),
    ("hidden_sizes", {"hidden_sizes": (64, 0)}),
    ("warmup_steps", {"warmup_steps": -1}),
    ("train_freq", {"train_freq": 0}),
    ("target_update_period", {"target_update_period": 0}),
    ("sigma0", {"sigma0": -0.1}),
    ("max_grad_norm", {"max_grad_norm": 0.0}),
    ("adam_eps", {"adam_eps": 0.0}),
    ("huber_delta", {"huber_delta": 0.0}),
    ("epsilon_end", {"epsilon_end": 1.5}),
    ("loss", {"loss": "l1"}),
    ("eval_policy", {"eval_policy": "greedy"}),
    ("agent_axis", {"agent_axis": "pmap"}),
    ("total_steps", {"total_steps": 1.5}),
    ("batch_size", {"batch_size": True}),
    ("hidden_sizes", {"hidden_sizes": (64, 1.5)}),
    ("hidden_sizes", {"hidden_sizes": (64, True)}),
    ("hidden_sizes", {"hidden_sizes": (INT32_MAX + 1,)}),
    ("gamma", {"gamma": "0.9"}),
    ("solve_threshold", {"solve_threshold": "200"}),
    ("solve_window", {"solve_window": 0}),
    ("eval_every", {"eval_every": -1000}),
    ("eval_every", {"eval_every": 1500}),  # not a multiple of log_every (1000)
    ("eval_every_episodes", {"eval_every_episodes": 0}),
]

# Read off the raw annotations, not the lists config.py derives, so that a field the derivation
# missed fails here.
FLOAT_FIELDS = [f.name for f in dataclasses.fields(Config) if "float" in str(f.type)]
INT_FIELDS = [f.name for f in dataclasses.fields(Config) if str(f.type) == "int"]


@pytest.mark.parametrize("field,kwargs", INVALID, ids=[f"{f}-{v}" for f, v in INVALID])
def test_invalid_value_names_field(field, kwargs):
    """Each invalid value raises ValueError whose message names the field."""
    with pytest.raises(ValueError, match=rf"\b{re.escape(field)}\b"):
        Config(**kwargs)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e39])
@pytest.mark.parametrize("name", FLOAT_FIELDS)
def test_float_fields_must_be_finite(name, value):
    """nan, +-inf and values that overflow float32 (the device's dtype) are refused for every
    float field, with a message saying it must be finite."""
    with pytest.raises(ValueError, match=rf"^{name}=.* is invalid: must be a finite number"):
        Config(**{name: value})


@pytest.mark.parametrize("name", INT_FIELDS)
def test_int_fields_must_fit_int32(name):
    """Every int field above its limit (int32; episode counts: MAX_EVAL_EPISODES) is refused with a
    message naming the limit; the limit itself is accepted."""
    counts = ("eval_episodes", "eval_every_episodes", "solve_window")
    limit = MAX_EVAL_EPISODES if name in counts else INT32_MAX
    with pytest.raises(ValueError, match=rf"^{name}={limit + 1} is invalid: must be at most {limit} \("):
        Config(**{name: limit + 1})
    with pytest.raises(ValueError, match=rf"^{name}=10000000000 is invalid: must be at most {limit} \("):
        Config(**{name: 10**10})
    fits = {"buffer_size": INT32_MAX} if name in ("batch_size", "n_step") else {}  # they need a buffer
    fits = {"log_every": 1} if name == "eval_every" else fits  # a multiple of log_every
    largest = limit - 1 if name == "n_step" else limit  # n_step must be smaller than the buffer
    assert getattr(Config(**{name: largest, **fits}), name) == largest


def test_field_lists_cover_the_annotations():
    """The lists validate walks cover every int and float field (and no other)."""
    from noisyjax import config

    assert sorted(config.FLOAT_FIELDS) == sorted(FLOAT_FIELDS)
    assert sorted(config.INT_FIELDS) == sorted(INT_FIELDS)
    assert set(config.OPTIONAL_FLOAT_FIELDS) == {"solve_threshold", "max_grad_norm"}


def test_batch_larger_than_buffer_mentions_both():
    """batch_size > buffer_size names batch_size and the buffer_size it exceeds."""
    with pytest.raises(ValueError) as info:
        Config(batch_size=64, buffer_size=32)
    assert "batch_size" in str(info.value) and "buffer_size" in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gamma": 0.0},
        {"gamma": 1.0},
        {"target_tau": 1.0},
        {"batch_size": 32, "buffer_size": 32},
        {"warmup_steps": 0},
        {"max_grad_norm": None},
        {"sigma0": 0.0},
        {"loss": "mse"},
        {"learning_rate_end_fraction": 0.0},
        {"learning_rate_end_fraction": 1.0},
        {"solve_threshold": -1e30},
        {"solve_threshold": 200},
        {"gamma": 1},
        {"hidden_sizes": (INT32_MAX,)},
        {"eval_episodes": MAX_EVAL_EPISODES},
    ],
)
def test_boundary_values_are_valid(kwargs):
    """Values on the edge of each valid range are accepted."""
    c = Config(**kwargs)
    for name, value in kwargs.items():
        assert getattr(c, name) == value


def test_frozen():
    """Assignment raises FrozenInstanceError; replace() validates the new values too."""
    c = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.gamma = 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.total_steps = 10
    assert dataclasses.replace(c, gamma=0.5).gamma == 0.5
    with pytest.raises(ValueError, match="gamma"):
        dataclasses.replace(c, gamma=2.0)


def _readme_defaults() -> dict[str, str]:
    """The README's "Defaults" table as {setting: default cell}."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = text.split("## Defaults", 1)[1].split("\n\n", 2)[1]
    rows = [line.split("|")[1:3] for line in section.splitlines()[2:] if line.startswith("|")]
    return {setting.strip(): default.strip() for setting, default in rows}


def _short_float(x: float) -> str:
    """2e-3 rather than 0.002: how the README writes a learning rate."""
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def test_readme_defaults_table_states_the_config_defaults():
    """README "Defaults" names the values Config() really has, so a changed default cannot
    leave the table (and its evidence) describing another agent."""
    c = Config()
    table = _readme_defaults()
    expected = [
        ("network", f"{len(c.hidden_sizes)} x {c.hidden_sizes[0]}, all layers noisy, factorised"),
        ("sigma0", f"{c.sigma0:g}"),
        ("returns", f"{c.n_step}-step"),
        (
            "optimiser",
            f"lr {_short_float(c.learning_rate)} decaying linearly to "
            f"{_short_float(c.learning_rate * c.learning_rate_end_fraction)} at the budget",
        ),
        ("optimiser", f"eps {_short_float(c.adam_eps)}, clip global norm {c.max_grad_norm:g}"),
        ("loss", c.loss.upper()),
        ("batch / buffer", f"{c.batch_size} / {c.buffer_size // 1000}k"),
        ("train frequency", f"one update every {c.train_freq} env steps"),
        ("target", f"tau {c.target_tau:g} every update"),
        ("gamma", f"{c.gamma:g}"),
        ("warm-up", f"{c.warmup_steps:,} uniform random steps"),
        ("budget", f"{c.total_steps:,} env steps"),
        ("evaluation", f"{c.eval_episodes} episodes, {c.eval_policy} weights"),
    ]
    assert {setting for setting, _ in expected} <= set(table)
    for setting, words in expected:
        assert words in table[setting], (setting, words, table[setting])
