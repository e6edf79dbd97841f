"""CPU affinity of the whole process: a run pinned to one core.

On this project's 2-core machine one agent ran faster pinned to a core than free to use both
(whole loop: 1,640-1,914 env steps/s pinned against 1,281-1,622 free; XLA:CPU hands its many
tiny ops between threads, and across cores that costs more than it gains) and far more steadily
(zoo-settings repeats: 809-828 env steps/s pinned, 205-648 free). XLA's float results also
depend on how many cores it may use, so runs are bitwise reproducible only between runs with
the same setting (docs/reproducibility.md). Wide vmapped sweeps gain from both cores instead.
``experiments.lunar`` and ``experiments.sweep`` apply ``Config.cpu_cores``; a notebook calling
``noisyjax.train`` decides for itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def supported() -> bool:
    """Whether this platform lets a process set its CPU affinity (Linux: yes)."""
    return hasattr(os, "sched_setaffinity") and Path("/proc/self/task").is_dir()


def set_affinity(cores: Iterable[int]) -> None:
    """Restrict every thread of this process (and the threads they start later) to ``cores``.

    ``os.sched_setaffinity(0, ...)`` only moves the calling thread; XLA's worker threads may
    already exist, so every thread id under /proc/self/task is moved.
    """
    cores = set(cores)
    for task in Path("/proc/self/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cores)
        except (ProcessLookupError, PermissionError):  # a thread that just ended
            pass


def allowed_cores() -> set[int]:
    """The cores this process may run on (all of them where affinity is not supported)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def current_core() -> int | None:
    """The core this process last ran on (field 39 of /proc/self/stat), None if unknown."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[36])
    except (OSError, IndexError, ValueError):
        return None


def pin_to_one_core() -> int | None:
    """Pin the whole process to one of its allowed cores (the one it is running on, which the
    OS picked as the least busy) and return it; None where affinity is not supported."""
    if not supported():
        return None
    allowed = allowed_cores()
    core = current_core()
    if core not in allowed:
        core = min(allowed)
    set_affinity({core})
    return core


def apply(cpu_cores: str) -> int | None:
    """Apply ``Config.cpu_cores``: 'one' pins the process (returns the core), 'all' leaves it."""
    if cpu_cores == "one":
        return pin_to_one_core()
    return None
