"""Shared fixtures: every pure function is tested both eagerly and under ``jax.jit``."""

from __future__ import annotations

import jax
import pytest


def _no_jit(fn):
    return fn


@pytest.fixture(params=[pytest.param(_no_jit, id="nojit"), pytest.param(jax.jit, id="jit")])
def variant(request):
    """A function transform: identity or ``jax.jit``; tests call ``variant(fn)(...)``."""
    return request.param
