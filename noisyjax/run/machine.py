"""What a run's float results depend on besides its settings and package versions: the CPU (its
model and the vector instructions XLA and its kernel libraries may pick), the XLA flags, the
cores the process may use, the architecture and the operating system (docs/reproducibility.md,
"Across machines").

Nothing here imports JAX: ``machine_info`` may run before JAX starts and in tools that never
start it (the benchmark reports).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")

# The CPU flags that decide which instructions XLA's code generator and its kernel libraries
# (YNNPACK, oneDNN, Eigen) use: x86 vector widths and fused multiply-add, ARM's vector units.
ISA_FLAGS = frozenset({
    "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c",
    "asimd", "asimdhp", "asimddp", "fphp", "sve", "sve2", "bf16", "i8mm", "sme", "sme2",
})
ISA_PREFIXES = ("avx512", "avx_", "amx")


def _is_isa_flag(flag: str) -> bool:
    return flag in ISA_FLAGS or flag.startswith(ISA_PREFIXES)


def read_cpuinfo(path: Path = CPUINFO) -> tuple[str | None, list[str]]:
    """The CPU model and its ISA flags (sorted) from the first processor of a
    ``/proc/cpuinfo``-style file; ``(None, [])`` when the file cannot be read."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None, []
    model, flags = None, None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if model is not None or flags is not None:  # a blank line ends the first processor
                break
            continue
        key = key.strip().lower()
        if model is None and key in ("model name", "cpu model", "hardware"):
            model = value.strip()
        elif flags is None and key in ("flags", "features"):  # x86 says flags, ARM features
            flags = value.split()
    return model, sorted({f for f in flags or [] if _is_isa_flag(f)})


def allowed_core_count() -> int:
    """How many cores this process may run on (its affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_info(cpuinfo: Path = CPUINFO) -> dict[str, Any]:
    """The machine a run computes on, for ``config.json`` and the benchmark reports.

    Keys: ``cpu_model``, ``isa`` (the CPU's vector-instruction flags that XLA and its kernels go
    by; empty where ``cpuinfo`` cannot be read, e.g. macOS), ``xla_flags`` (the ``XLA_FLAGS``
    environment variable, None if unset), ``cores`` (cores this process may use), ``cpu_count``
    (cores of the machine), ``platform`` (``platform.machine()``, e.g. x86_64) and ``os``
    (``platform.platform()``: kernel and C library, whose libm the environments' physics uses).
    """
    model, isa = read_cpuinfo(cpuinfo)
    return {
        "cpu_model": model or platform.processor() or platform.machine() or "unknown",
        "isa": isa,
        "xla_flags": os.environ.get("XLA_FLAGS"),
        "cores": allowed_core_count(),
        "cpu_count": os.cpu_count(),
        "platform": platform.machine(),
        "os": platform.platform(),
    }
