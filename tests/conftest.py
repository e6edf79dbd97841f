"""Shared fixtures: every pure function is tested both eagerly and under ``jax.jit``.

Also the test session's set-up: one persistent JAX compilation cache for the whole session (its
xdist workers and the subprocesses the end-to-end tests start all read and fill it, so a program
compiled once is not compiled again), and the grouping that keeps the tests sharing a
module-scoped fixture on one xdist worker, so that each expensive fixture is built once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path


def _session_cache_dir() -> Path:
    # xdist's workers share PYTEST_XDIST_TESTRUNUID; a run without xdist gets its own folder.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"
    return Path(tempfile.gettempdir()) / f"noisyjax-test-jax-cache-{run}"


# Before JAX is imported: it reads these when it starts, and subprocesses inherit them.
# Compilation is most of the suite's time; XLA's CPU backend at optimisation level 0 compiles
# about twice as fast. The programs (HLO) are the same, the machine code is not, so a float may
# differ in its last bits from a default-compiled run: every comparison in the suite is between
# runs made under the same flags. NOISYJAX_TEST_XLA_DEFAULT=1 runs the suite at the default level.
if os.environ.get("NOISYJAX_TEST_XLA_DEFAULT") != "1":
    _flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in _flags:
        os.environ["XLA_FLAGS"] = f"{_flags} --xla_backend_optimization_level=0".strip()
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_session_cache_dir()))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax  # noqa: E402
import pytest  # noqa: E402


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


def _shared(fixturedef) -> bool:
    """Whether a fixture is one of this suite's expensive shared ones: module or session scoped
    and defined under tests/ (not pytest's own, like ``tmp_path_factory``)."""
    module = getattr(fixturedef.func, "__module__", "") or ""
    return fixturedef.scope in ("module", "session") and not module.startswith(("_pytest", "pytest"))


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the xdist_group markers
def pytest_collection_modifyitems(config, items):
    """Every test under tests/e2e is marked ``e2e`` (``-m "not e2e"`` runs the fast unit tests).
    A test that uses a module- or session-scoped fixture of the suite joins its module's xdist
    group (``--dist loadgroup`` runs a group on one worker), so the fixture is built once, not
    once per worker."""
    for item in items:
        if "e2e" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.e2e)
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info is not None else []
        if any(_shared(d[-1]) for d in defs if d) and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


def pytest_sessionfinish(session, exitstatus):
    """The controller (not an xdist worker) removes the session's compilation cache."""
    if not hasattr(session.config, "workerinput"):
        shutil.rmtree(_session_cache_dir(), ignore_errors=True)


def call(main, argv: list[str]) -> int:
    """Exit status of an entry point's ``main(argv)``, whether it returns it or raises SystemExit."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code


@contextlib.contextmanager
def sigint_after_checkpoint(step: int):
    """A real SIGINT to this process right after the loop's checkpoint at env step ``step``
    (once): under ``common.entry``'s handlers, a Ctrl-C at that moment."""
    from noisyjax.run import loop

    real, sent = loop.save_checkpoint, []

    def save(directory, states, host, *keep):
        path = real(directory, states, host, *keep)
        if host["t"] == step and not sent:
            sent.append(step)
            os.kill(os.getpid(), signal.SIGINT)
        return path

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(loop, "save_checkpoint", save)
        yield
