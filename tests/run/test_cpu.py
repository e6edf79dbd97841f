"""Process CPU affinity (noisyjax.run.cpu): one core for every thread, and the Config switch."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from noisyjax.config import Config
from noisyjax.run import cpu

pytestmark = pytest.mark.skipif(not cpu.supported(), reason="needs Linux CPU affinity")


def _thread_masks() -> list[set[int]]:
    return [os.sched_getaffinity(int(t.name)) for t in Path("/proc/self/task").iterdir()]


def test_pin_moves_every_thread_and_new_threads_inherit():
    """Threads started before the pin (as XLA's are) are moved too, and later ones inherit."""
    stop = threading.Event()
    early = threading.Thread(target=stop.wait)
    early.start()
    try:
        core = cpu.pin_to_one_core()
        assert core in os.sched_getaffinity(0) and os.sched_getaffinity(0) == {core}
        assert all(mask == {core} for mask in _thread_masks())
        seen = []
        late = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
        late.start()
        late.join()
        assert seen == [{core}]
    finally:
        stop.set()
        early.join()


def test_apply_all_leaves_the_affinity_alone():
    before = os.sched_getaffinity(0)
    assert cpu.apply("all") is None
    assert os.sched_getaffinity(0) == before


def test_current_core_is_an_allowed_core():
    assert cpu.current_core() in os.sched_getaffinity(0)


def test_config_refuses_an_unknown_cpu_cores_value():
    with pytest.raises(ValueError, match="cpu_cores"):
        Config(cpu_cores="two")


def test_allowed_cores_follow_the_affinity():
    """allowed_cores is what the process may run on; pinning narrows it to the pinned core."""
    assert cpu.allowed_cores() == set(os.sched_getaffinity(0))
    core = cpu.pin_to_one_core()
    assert cpu.allowed_cores() == {core}
