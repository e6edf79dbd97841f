"""Shared fixtures: every pure function is tested both eagerly and under ``jax.jit``."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import pytest


def _no_jit(fn):
    return fn


@pytest.fixture(params=[pytest.param(_no_jit, id="nojit"), pytest.param(jax.jit, id="jit")])
def variant(request):
    """A function transform: identity or ``jax.jit``; tests call ``variant(fn)(...)``."""
    return request.param


# The affinity the test session started with (entry points pin the process; see below).
_START_AFFINITY = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None


@pytest.fixture(autouse=True)
def _restore_cpu_affinity():
    """Entry points pin the process to one core (Config.cpu_cores), also inside module-scoped
    fixtures; give every test the session's starting affinity back, so one test's pinning never
    changes the next test's process."""
    from noisyjax.run import cpu

    if _START_AFFINITY is not None and os.sched_getaffinity(0) != _START_AFFINITY:
        cpu.set_affinity(_START_AFFINITY)
    yield
    if _START_AFFINITY is not None and os.sched_getaffinity(0) != _START_AFFINITY:
        cpu.set_affinity(_START_AFFINITY)


def pytest_collection_modifyitems(config, items):
    """Every test under tests/e2e is marked ``e2e`` (``-m "not e2e"`` runs the fast unit tests)."""
    for item in items:
        if "e2e" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.e2e)
