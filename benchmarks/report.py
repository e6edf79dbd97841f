"""What every benchmark report says about where and how it ran, and the markdown it is written in:
package versions, the machine, the date, the command, the report's preamble and its tables.

Used by ``benchmarks.throughput``, ``benchmarks.solve``, ``benchmarks.learning`` and
``benchmarks.profile``; nothing here imports JAX or noisyjax.
"""

from __future__ import annotations

import datetime
import os
import sys
from typing import Any

from noisyjax.io.rundir import versions
from noisyjax.run.machine import machine_info as run_machine_info

# The packages a noisyjax-only report lists (benchmarks.throughput adds the peers it times).
CORE_PACKAGES = ("noisyjax", "jax", "jaxlib", "flax", "optax", "numpy", "gymnasium", "box2d")


def package_versions(names: tuple[str, ...] = CORE_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None if absent) plus Python's (``noisyjax.io.rundir.versions``)."""
    return versions(names)


def load_average() -> list[float]:
    """The load averages over 1, 5 and 15 minutes right now, rounded to 2 decimals."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_info() -> dict[str, Any]:
    """``noisyjax.run.machine.machine_info`` (CPU model, ISA flags, XLA flags, cores, platform,
    OS) plus the load averages (1, 5, 15 min) right now."""
    return {**run_machine_info(), "load_average": load_average()}


def utc_now() -> str:
    """The current UTC time as ``YYYY-MM-DD HH:MM UTC``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def command_line(module: str, argv: list[str]) -> str:
    """The command a report names: ``python -m <module>`` and its arguments."""
    return " ".join([f"python -m {module}", *argv])


def header(title: str, command: str, versions: dict[str, str | None], machine: dict[str, Any]) -> str:
    """Markdown preamble of a benchmark table: command, date, versions, machine."""
    shown = ", ".join(f"{k} {v}" for k, v in versions.items() if v is not None)
    absent = [k for k, v in versions.items() if v is None]
    lines = [
        f"## {title}", "",
        f"- command: `{command}`",
        f"- date: {utc_now()}",
        f"- versions: {shown}" + (f" (not installed: {', '.join(absent)})" if absent else ""),
        f"- machine: {machine['cpu_model']}, {machine['cpu_count']} cores, {machine['os']}; "
        f"load average at start {machine['load_average']}",
        "",
    ]
    return "\n".join(lines)


def run_record(command: str, versions: dict[str, str | None], machine: dict[str, Any]) -> dict[str, Any]:
    """The first keys of a report's JSON: ``command``, ``date`` (now), ``versions``, ``machine``."""
    return {"command": command, "date": utc_now(), "versions": versions, "machine": machine}


def markdown_table(columns: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


# Runs a module with the process already pinned to one core (before JAX starts any thread), without
# forking a multithreaded parent through a preexec hook.
_PINNED = (
    "import os, runpy, sys; core = int(sys.argv.pop(1)); module = sys.argv.pop(1); "
    "hasattr(os, 'sched_setaffinity') and os.sched_setaffinity(0, {core}); "
    "runpy.run_module(module, run_name='__main__', alter_sys=True)"
)


def pinned_command(module: str, core: int, args: list[str]) -> list[str]:
    """The argv that runs ``python -m <module> <args>`` pinned to CPU ``core`` from its start."""
    return [sys.executable, "-c", _PINNED, str(core), module, *args]


def job_cores(jobs: int | None) -> list[int]:
    """The cores of ``--jobs`` pinned processes: the first ``jobs`` this process may use (None:
    all of them); any other count is one ``error:`` line and exit status 2."""
    from experiments.common import fail
    from noisyjax.run import cpu

    allowed = sorted(cpu.allowed_cores())
    jobs = len(allowed) if jobs is None else jobs
    if not 1 <= jobs <= len(allowed):
        fail(f"--jobs {jobs} is invalid: must be between 1 and the {len(allowed)} cores this process may use")
    return allowed[:jobs]
