"""Checkpoints: the agents' state pytree (msgpack via flax.serialization) plus the host loop's
counters (JSON). Each checkpoint is a folder ``step_<t>``; a ``LATEST`` file, replaced
atomically once the folder is complete, names the one to resume from, so a write interrupted
half-way (a crash, a full disk) never replaces a good checkpoint."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import numpy as np

from noisyjax.agent.optimizer import upgrade_opt_state
from noisyjax.io import atomic

STATE_FILE = "state.msgpack"
HOST_FILE = "host.json"
LATEST = "LATEST"
KEEP = 2


class CheckpointError(ValueError):
    """A checkpoint that cannot be read (the message names the file and what is wrong)."""


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def save_checkpoint(directory: Path, states: Any, host: dict, keep: int = KEEP) -> Path:
    """Write ``states`` (a pytree of arrays) and ``host`` (JSON-able, with an int ``"t"``) as
    ``directory/step_<t>``, point ``LATEST`` at it, and keep the newest ``keep``. Returns its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"step_{int(host['t']):010d}"
    target = directory / name
    if target.exists():
        shutil.rmtree(target)
    tmp = directory / (name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        _write(tmp / STATE_FILE, flax.serialization.to_bytes(jax.device_get(states)))
        _write(tmp / HOST_FILE, json.dumps(host, indent=1).encode())
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # e.g. a full disk: LATEST still names the last good one
        raise
    atomic.write_text(directory / LATEST, name)
    for old in sorted(p for p in directory.glob("step_*") if p.is_dir())[:-max(1, keep)]:
        shutil.rmtree(old)
    return target


def checkpoint_at(directory: Path, step: int) -> Path:
    """The kept checkpoint of env step ``step`` in ``directory``; ``CheckpointError`` naming the
    kept steps if there is none."""
    path = Path(directory) / f"step_{int(step):010d}"
    if path.is_dir():
        return path
    names = [p.name[5:] for p in Path(directory).glob("step_*") if p.is_dir()]
    kept = sorted(int(n) for n in names if n.isdigit())
    raise CheckpointError(f"no checkpoint of env step {step} in {directory}; kept: "
                          + (", ".join(map(str, kept)) or "none"))


def latest_checkpoint(directory: Path) -> Path | None:
    """The folder ``LATEST`` names, or None when there is no complete checkpoint."""
    pointer = Path(directory) / LATEST
    if not pointer.is_file():
        return None
    path = Path(directory) / pointer.read_text().strip()
    ok = (path / STATE_FILE).is_file() and (path / HOST_FILE).is_file()
    return path if ok else None


def load_checkpoint(path: Path, template: Any) -> tuple[Any, dict]:
    """Read the checkpoint folder ``path`` into the structure of ``template`` (same shapes).

    A field that ``template`` has and the checkpoint lacks (a setting added to ``HParams`` after
    the checkpoint was written, such as ``huber_delta``) takes the template's value, which the
    loop builds from the run's config: older runs stay resumable. An agent's optimiser state
    saved in an older layout is brought to today's (``upgrade_opt_state``)."""
    path = Path(path)
    try:
        host = json.loads((path / HOST_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path / HOST_FILE} is damaged ({err})") from None
    if not isinstance(host, dict) or not isinstance(host.get("t"), int):
        raise CheckpointError(f"{path / HOST_FILE} is damaged (no step counter \"t\")")
    template = jax.device_get(template)
    try:
        saved = flax.serialization.msgpack_restore((path / STATE_FILE).read_bytes())
        if isinstance(saved, dict) and isinstance(saved.get("learner"), dict):
            learner = saved["learner"]
            learner["opt_state"] = upgrade_opt_state(learner.get("opt_state"))
        merged = _fill_missing(saved, flax.serialization.to_state_dict(template))
        state = flax.serialization.from_state_dict(template, merged)
    except Exception as err:  # msgpack raises its own types; any of them means a damaged file
        raise CheckpointError(f"{path / STATE_FILE} is damaged ({type(err).__name__}: {err})") from None
    for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(template)):
        if getattr(got, "shape", None) != getattr(want, "shape", None):
            raise CheckpointError(
                f"{path / STATE_FILE} does not fit this run (an array of shape {got.shape}, "
                f"expected {want.shape})"
            )
    return state, host


def _fill_missing(saved: Any, template: Any) -> Any:
    """``saved`` (a state dict) with every key it lacks taken from ``template``, recursively."""
    if isinstance(saved, dict) and isinstance(template, dict):
        return {k: _fill_missing(saved[k], v) if k in saved else v for k, v in template.items()}
    return saved


BEST_FILE = "best.npz"


def save_best(directory: Path, params: Any, steps: list, means: list, episodes: int, policy: str) -> Path:
    """Write the best parameters ``params [agents, P]`` (agent k's from its best periodic
    evaluation), with each agent's env step ``steps`` and mean return ``means`` (None: not yet
    evaluated) as ``directory/best.npz``, replaced atomically. Returns its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"env_step": steps, "mean": means, "episodes": episodes, "policy": policy})

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, params=np.asarray(params), meta=np.asarray(meta))

    atomic.write_with(directory / BEST_FILE, write)
    return directory / BEST_FILE


def load_best(directory: Path) -> tuple[np.ndarray, dict] | None:
    """``(params [agents, P], meta)`` of ``directory/best.npz`` (meta: per-agent ``env_step`` and
    ``mean``, ``episodes``, ``policy``); None when the run wrote none (no ``--eval-every``)."""
    path = Path(directory) / BEST_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            return np.array(data["params"]), json.loads(str(data["meta"]))
    except Exception as err:  # zip, pickle-free npz and JSON errors alike mean a damaged file
        raise CheckpointError(f"{path} is damaged ({type(err).__name__}: {err})") from None
