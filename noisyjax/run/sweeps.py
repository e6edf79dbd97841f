"""Sweep specifications: seed lists, hyperparameter grids, and the memory a sweep needs."""

from __future__ import annotations

import collections
import itertools
import math
import re

from noisyjax.agent.types import ALIASES, SWEEPABLE
from noisyjax.config import SEED_END, Config

MAX_AGENTS = 1_000_000
"""Most agents of one sweep: the seed and settings lists are built on the host before the memory
check (``check_memory``) can refuse a sweep, so their length must be bounded first."""
_MAX_AGENTS_WHY = f"a sweep has at most {MAX_AGENTS:,} agents (its lists are built before the memory check)"


class SweepError(ValueError):
    """A sweep specification that cannot run (message says what and how to fix it)."""


def parse_seeds(text: str) -> list[int]:
    """``"0-4,7,9"`` -> ``[0, 1, 2, 3, 4, 7, 9]``; refuses empty, negative, duplicated and too
    large seeds (each must be below ``SEED_END``), and more than ``MAX_AGENTS`` of them."""
    ranges: list[tuple[int, int]] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise SweepError(f"--seeds {text!r}: {part!r} is not a seed or a range like 0-9")
        # Leading zeros dropped and the length compared first: int() refuses a string of
        # thousands of digits with a ValueError of its own.
        ends = [(match.group(i) or match.group(1)).lstrip("0") or "0" for i in (1, 2)]
        for end in ends:
            if len(end) > len(str(SEED_END)) or int(end) >= SEED_END:
                raise SweepError(
                    f"--seeds {text!r}: seed {end} is invalid: must be below {SEED_END} (uint32 JAX keys)"
                )
        lo, hi = int(ends[0]), int(ends[1])
        if hi < lo:
            raise SweepError(f"--seeds {text!r}: range {part!r} is empty (write low-high)")
        ranges.append((lo, hi))
    count = sum(hi - lo + 1 for lo, hi in ranges)
    if count == 0:
        raise SweepError(f"--seeds {text!r} names no seed; write e.g. 0-9 or 0,3,5")
    if count > MAX_AGENTS:
        raise SweepError(f"--seeds {text!r} names {count:,} seeds; {_MAX_AGENTS_WHY}")
    seeds = [s for lo, hi in ranges for s in range(lo, hi + 1)]
    # One pass over a Counter, not seeds.count per seed: a long range stays linear.
    duplicated = sorted(s for s, n in collections.Counter(seeds).items() if n > 1)
    if duplicated:
        shown = ", ".join(map(str, duplicated[:5]))
        if len(duplicated) > 5:
            shown += f", ... ({len(duplicated):,} in all)"
        raise SweepError(f"--seeds {text!r} repeats seed(s) {shown}; each seed may appear once")
    return seeds


def parse_grid(items: list[str] | tuple[str, ...]) -> dict[str, list[float]]:
    """``["lr=1e-4,3e-4", "sigma0=0.1,0.5"]`` -> ``{"learning_rate": [...], "sigma0": [...]}``.

    Only ``SWEEPABLE`` fields (floats that change no array shape) can be swept.
    """
    grid: dict[str, list[float]] = {}
    for item in items:
        if "=" not in item:
            raise SweepError(f"--grid {item!r}: write FIELD=v1,v2,... (e.g. lr=1e-4,3e-4)")
        name, _, values = item.partition("=")
        field = ALIASES.get(name.strip(), name.strip()).replace("-", "_")
        if field not in SWEEPABLE:
            if field in {f for f in Config.__dataclass_fields__}:
                raise SweepError(
                    f"--grid {name}: cannot be swept in one process (it changes array shapes or the "
                    f"schedule shared by all agents); sweepable: {', '.join(SWEEPABLE)}"
                )
            raise SweepError(f"--grid {name}: unknown field; sweepable: {', '.join(SWEEPABLE)}")
        if field in grid:
            raise SweepError(f"--grid {name} is given twice; list all its values in one --grid")
        parsed = []
        for v in values.split(","):
            v = v.strip()
            if not v:
                continue
            try:
                x = float(v)
            except ValueError:
                raise SweepError(f"--grid {name}: {v!r} is not a number") from None
            if not math.isfinite(x):  # float() reads "nan" and "inf"; no setting means them
                raise SweepError(f"--grid {name}: {v!r} is not a finite number")
            parsed.append(x)
        if not parsed:
            raise SweepError(f"--grid {name}= has no values; write e.g. {name}=0.1,0.5")
        if len(set(parsed)) != len(parsed):
            raise SweepError(f"--grid {name} repeats a value: {values}")
        grid[field] = parsed
    return grid


def expand(seeds: list[int], grid: dict[str, list[float]], base: Config) -> tuple[list[int], list[dict]]:
    """Every (grid point, seed) pair: ``(seeds [agents], overrides [agents])``, grid-major.

    Each point is checked by building a ``Config`` with it (so e.g. gamma=1.5 is refused), and
    more than ``MAX_AGENTS`` agents in all are refused before any list is built.
    """
    count = len(seeds) * math.prod(len(values) for values in grid.values())
    if count > MAX_AGENTS:
        raise SweepError(f"--seeds and --grid give {count:,} agents; {_MAX_AGENTS_WHY}")
    names = list(grid)
    points = [dict(zip(names, values)) for values in itertools.product(*grid.values())] or [{}]
    for point in points:
        try:
            Config(**{**base.__dict__, **point})
        except ValueError as err:
            raise SweepError(f"--grid: {err}") from None
    agent_seeds, overrides = [], []
    for point in points:
        for seed in seeds:
            agent_seeds.append(seed)
            overrides.append(dict(point))
    return agent_seeds, overrides


def label(override: dict) -> str:
    """``{"learning_rate": 0.001}`` -> ``"learning_rate=0.001"`` ("default" when empty)."""
    return " ".join(f"{k}={v:g}" for k, v in override.items()) or "default"


def bytes_per_agent(
    config: Config, obs_dim: int | tuple[int, ...], num_actions: int, obs_dtype: str = "float32"
) -> int:
    """Device memory of one agent's state in bytes (replay buffer, priorities, params, target,
    both Adam moments, counters), read off the shapes ``Agent.init`` would build, without building
    it (so a network or buffer far too large to allocate is measured, not allocated).

    ``obs_dim`` and ``obs_dtype`` as ``Agent`` takes them: an obs size or shape, and the dtype the
    replay stores observations in (bool images take a quarter of float32's bytes)."""
    import jax

    from noisyjax.agent.agent import Agent
    from noisyjax.agent.types import hparams_from_config

    agent = Agent(config, obs_dim, num_actions, obs_dtype=obs_dtype)
    # Shapes of the inputs too: no array is made, so JAX's backend does not start here, and the
    # entry points can still choose devices and pin cores after this check.
    key = jax.eval_shape(jax.random.PRNGKey, 0)
    hparams = jax.eval_shape(lambda: hparams_from_config(config))
    shapes = jax.eval_shape(agent.init, key, hparams)
    return int(sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(shapes)))


def available_memory() -> int | None:
    """``MemAvailable`` from /proc/meminfo in bytes (None where it cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory(n_agents: int, per_agent: int, available: int | None, fraction: float = 0.6) -> None:
    """Refuse a run or sweep whose states would take more than ``fraction`` of available memory
    (``available`` None: cannot tell, so nothing is refused).

    The state lives on the device once, and each jitted step updates it in place (donated); the
    margin covers the host copy a checkpoint makes.
    """
    need = n_agents * per_agent
    if available is not None and need > fraction * available:
        who = "1 agent needs" if n_agents == 1 else f"{n_agents:,} agents need"
        each = "" if n_agents == 1 else f" ({_size(per_agent)} each)"
        fewer = "" if n_agents == 1 else "fewer agents, "
        raise SweepError(
            f"{who} about {_size(need)} for replay, params, target and Adam moments{each}, more "
            f"than {fraction:.0%} of the {_size(available)} available; use {fewer}a smaller "
            "--buffer-size or smaller --hidden-sizes"
        )


def _size(n_bytes: int) -> str:
    """``2.7 MiB``, ``3.2 GiB`` or ``29.1 TiB``: a size in the unit that reads best."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes / 2**20:.1f} MiB"
