"""Run folders: creating them safely, and their ``config.json`` and ``summary.json``.

A run folder is never overwritten: a new run needs a folder that does not exist or is empty.
It is owned by one process at a time (``noisyjax.io.lock``), and every file here is written
atomically (``noisyjax.io.atomic``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import platform
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import numpy as np

from noisyjax.config import Config
from noisyjax.io import atomic, lock
from noisyjax.io.provenance import command_line, git_state
from noisyjax.run.machine import machine_info

CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
CHECKPOINT_DIR = "checkpoints"
PACKAGES = ("noisyjax", "jax", "jaxlib", "flax", "optax", "chex", "numpy", "gymnasium", "box2d")


class RunDirError(ValueError):
    """A run folder that cannot be used (message names the folder and the fix)."""


def versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Versions of Python and of ``names`` (default: the packages a run depends on; None for a
    package that is not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def default_run_dir(prefix: str, root: Path = Path("runs")) -> Path:
    """A new folder name under ``root``: ``<prefix>-<UTC timestamp>`` (suffixed if taken)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = root / f"{prefix}-{stamp}"
    k = 1
    while path.exists():
        path = root / f"{prefix}-{stamp}-{k}"
        k += 1
    return path


def _contents(path: Path) -> list[Path]:
    """The folder's entries, without a lock file (one left by a run that died before writing
    anything does not make the folder used)."""
    return [p for p in path.iterdir() if p.name != lock.LOCK_FILE]


def check_new_run_dir(path: Path) -> None:
    """Refuse a folder that exists and is not empty, or one that cannot be created/written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out {path} is a file; name a new folder")
    if path.is_dir() and _contents(path):
        raise RunDirError(
            f"--out {path} exists and is not empty; name a new folder (runs are never overwritten)"
        )
    parent = path if path.is_dir() else _existing_parent(path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunDirError(f"--out {path}: cannot write in {parent}; choose a writable folder")


def _existing_parent(path: Path) -> Path:
    p = path.absolute().parent
    while not p.exists():
        p = p.parent
    return p


def create_run_dir(path: Path) -> Path:
    """Create the (checked) run folder and lock it for this process; turns an OS error, or
    another process claiming the same folder, into a ``RunDirError``."""
    check_new_run_dir(path)
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(
            f"--out {path}: cannot create it ({err.strerror}); choose a writable folder"
        ) from None
    hold(path)
    if _contents(Path(path)):  # another process claimed it between the check and the lock
        lock.release(path)
        raise RunDirError(f"--out {path} was just taken by another run; name a new folder")
    return Path(path)


@contextlib.contextmanager
def held(path: Path) -> Iterator[None]:
    """Hold the run folder's lock for the ``with`` block (``hold``), then release it (a folder
    created by ``create_run_dir`` is already held: the block keeps it and releases it at the end)."""
    hold(path)
    try:
        yield
    finally:
        lock.release(path)


def hold(path: Path) -> None:
    """Lock the run folder ``path`` for this process, for as long as it runs; another live
    process holding it is a ``RunDirError`` naming its PID."""
    try:
        lock.acquire(path)
    except lock.LockError as err:
        raise RunDirError(str(err)) from None
    except OSError as err:
        raise RunDirError(f"{path}: cannot lock it ({err.strerror}); check its permissions") from None


def write_config(run_dir: Path, config: Config, seeds: list[int], extra: dict | None = None) -> None:
    """``config.json``: the complete resolved config, the seeds, versions, the machine (CPU model and
    ISA flags, XLA flags, cores), the command as typed and the git commit (and whether the checkout
    had uncommitted changes; None outside a checkout)."""
    payload = {
        "config": dataclasses.asdict(config),
        "seeds": list(seeds),
        "versions": versions(),
        "machine": machine_info(),  # results are bitwise per machine (docs/reproducibility.md)
        "command": command_line(),
        "git": git_state(),
        **(extra or {}),
    }
    atomic.write_text(Path(run_dir) / CONFIG_FILE, json.dumps(payload, indent=1) + "\n")


# Config fields added after run folders were first written, each with the value that gives the
# behaviour of the code that wrote a folder without it (not today's default): an old run then
# resumes and evaluates as it trained. A field whose default is that old behaviour (huber_delta 1)
# needs no entry. The checkpoint side is checkpoint.load_checkpoint, which takes a state field the
# checkpoint lacks from the template the loop builds from this config.
ADDED_FIELDS = {"learning_rate_end_fraction": 1.0, "n_step": 1}
# Every field a config.json may lack: those above, and those whose default is the old behaviour
# (distributional off; its atoms and support are then unused). Any other missing field means the
# file was edited (refused: the run would silently change).
OPTIONAL_FIELDS = frozenset(ADDED_FIELDS) | {"huber_delta", "cpu_cores", "distributional", "num_atoms",
                                             "v_min", "v_max", "solve_window", "eval_every",
                                             "eval_every_episodes"}


def read_config(run_dir: Path) -> tuple[Config, dict]:
    """The ``Config`` and the raw payload of a run folder's ``config.json``; a field the file
    lacks (an older folder) takes its ``ADDED_FIELDS`` value, else the ``Config`` default."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise RunDirError(f"{run_dir} is not a noisyjax run folder (no {CONFIG_FILE}); check the path")
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunDirError(f"{path} is damaged ({_why(err)}); restore it from a copy") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("config"), dict):
        raise RunDirError(f"{path} is damaged (no \"config\" object); restore it from a copy")
    seeds = payload.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(x, int) for x in seeds):
        raise RunDirError(f"{path} is damaged (\"seeds\" is not a list of integers); restore it from a copy")
    names = {f.name for f in dataclasses.fields(Config)}
    missing = sorted(names - set(payload["config"]) - OPTIONAL_FIELDS)
    if missing:
        raise RunDirError(f"{path} lacks setting(s) {', '.join(missing)}; restore it from a copy")
    fields = {**ADDED_FIELDS, **payload["config"]}
    unknown = sorted(set(fields) - names)
    if unknown:
        raise RunDirError(f"{path} has unknown setting(s) {', '.join(unknown)}; remove them or use "
                          "the noisyjax version that wrote it")
    if isinstance(fields.get("hidden_sizes"), list):
        fields["hidden_sizes"] = tuple(fields["hidden_sizes"])
    try:
        return Config(**fields), payload
    except (TypeError, ValueError) as err:
        raise RunDirError(f"{path} holds an invalid config ({err}); restore it from a copy") from None


def _why(err: Exception) -> str:
    if isinstance(err, json.JSONDecodeError):
        return f"not valid JSON: {err.msg} at line {err.lineno}"
    return str(err)


def write_json(path: Path, payload: dict) -> None:
    """Write JSON atomically (NaN-free: NaN and inf become null)."""
    atomic.write_text(Path(path), json.dumps(_clean(payload), indent=1) + "\n")


def _clean(x):
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def eval_summary(eval_returns: list[float] | None, policy: str) -> dict | None:
    """Mean, std, episodes and policy of an evaluation (None if there was none)."""
    if not eval_returns:
        return None
    r = np.asarray(eval_returns)
    return {"mean": float(r.mean()), "std": float(r.std()), "episodes": len(r), "policy": policy}
