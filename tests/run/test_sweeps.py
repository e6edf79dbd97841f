"""noisyjax.run.sweeps: grid parsing (aliases, refusals) and per-agent settings of a swept decay."""

from __future__ import annotations

import numpy as np
import pytest

from noisyjax.agent.types import stack_hparams
from noisyjax.config import Config
from noisyjax.run.sweeps import SweepError, parse_grid


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
    ],
)
def test_parse_grid_refuses(items, words):
    with pytest.raises(SweepError, match=words):
        parse_grid(items)


def test_swept_learning_rate_decays_to_its_own_fraction():
    """A swept lr decays to the fraction of its own value; a swept fraction applies to its agent
    only (1 = constant)."""
    overrides = [{"learning_rate": 1e-3}, {"learning_rate": 3e-4}, {"learning_rate_end_fraction": 1.0}]
    hp = stack_hparams(Config(), overrides)
    np.testing.assert_allclose(hp.learning_rate, [1e-3, 3e-4, 2e-3])
    np.testing.assert_allclose(hp.learning_rate_end, [1e-4, 3e-5, 2e-3])
