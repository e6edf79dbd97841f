"""Sweep specifications: seed lists, hyperparameter grids, and the memory a sweep needs."""

from __future__ import annotations

import itertools
import re

from noisyjax.agent.types import ALIASES, SWEEPABLE
from noisyjax.config import Config


class SweepError(ValueError):
    """A sweep specification that cannot run (message says what and how to fix it)."""


def parse_seeds(text: str) -> list[int]:
    """``"0-4,7,9"`` -> ``[0, 1, 2, 3, 4, 7, 9]``; refuses empty, negative and duplicated seeds."""
    seeds: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise SweepError(f"--seeds {text!r}: {part!r} is not a seed or a range like 0-9")
        lo, hi = int(match.group(1)), int(match.group(2) or match.group(1))
        if hi < lo:
            raise SweepError(f"--seeds {text!r}: range {part!r} is empty (write low-high)")
        seeds.extend(range(lo, hi + 1))
    if not seeds:
        raise SweepError(f"--seeds {text!r} names no seed; write e.g. 0-9 or 0,3,5")
    duplicated = sorted({s for s in seeds if seeds.count(s) > 1})
    if duplicated:
        raise SweepError(f"--seeds {text!r} repeats seed(s) {duplicated}; each seed may appear once")
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
                parsed.append(float(v))
            except ValueError:
                raise SweepError(f"--grid {name}: {v!r} is not a number") from None
        if not parsed:
            raise SweepError(f"--grid {name}= has no values; write e.g. {name}=0.1,0.5")
        if len(set(parsed)) != len(parsed):
            raise SweepError(f"--grid {name} repeats a value: {values}")
        grid[field] = parsed
    return grid


def expand(seeds: list[int], grid: dict[str, list[float]], base: Config) -> tuple[list[int], list[dict]]:
    """Every (grid point, seed) pair: ``(seeds [agents], overrides [agents])``, grid-major.

    Each point is checked by building a ``Config`` with it (so e.g. gamma=1.5 is refused).
    """
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


def bytes_per_agent(config: Config, obs_dim: int, num_actions: int) -> int:
    """Device memory of one agent's state (replay buffer, priorities, params, target, Adam
    moments, counters), read off the shapes ``Agent.init`` would build, without building it."""
    import jax

    from noisyjax.agent.agent import Agent
    from noisyjax.agent.types import hparams_from_config

    agent = Agent(config, obs_dim, num_actions)
    shapes = jax.eval_shape(agent.init, jax.random.PRNGKey(0), hparams_from_config(config))
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
    """Refuse a sweep whose states would take more than ``fraction`` of available memory.

    The state lives on the device once, and each jitted step updates it in place (donated); the
    margin covers the host copy a checkpoint makes.
    """
    need = n_agents * per_agent
    if available is not None and need > fraction * available:
        raise SweepError(
            f"{n_agents} agents need about {need / 2**30:.1f} GiB for replay and params "
            f"({per_agent / 2**20:.0f} MiB each), more than {fraction:.0%} of the "
            f"{available / 2**30:.1f} GiB available; use fewer agents or a smaller --buffer-size"
        )
