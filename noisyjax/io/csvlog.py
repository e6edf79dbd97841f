"""Per-agent CSV logs of a run: ``episodes.csv`` (deterministic bytes), ``metrics.csv`` and, with
periodic evaluations, ``evals.csv``.

``episodes.csv`` has no wall-clock column, so two runs of the same command write identical
bytes. On resume each file is cut back to the rows the checkpoint had seen, so rows written
after the last checkpoint (before a crash) are not duplicated; the cut goes through a temporary
file (``noisyjax.io.atomic``), so a crash during it leaves the file as it was.
"""

from __future__ import annotations

import csv
from pathlib import Path

from noisyjax.io import atomic

EPISODE_FIELDS = ["seed", "episode", "env_step", "return", "length"]


class LogError(ValueError):
    """A log file that does not match the checkpoint (the message names the file)."""


def _truncate_lines(path: Path, keep: int, header: list[str]) -> None:
    """Keep the first ``keep`` lines of ``path`` (header included), atomically."""
    lines = path.read_text().splitlines(keepends=True)
    if len(lines) < keep or (lines and lines[0].rstrip("\n") != ",".join(header)):
        raise LogError(
            f"{path} has {len(lines)} lines, fewer than the {keep} the checkpoint recorded, or a "
            "wrong header: it was damaged or edited; restore it from a copy"
        )
    if len(lines) > keep:
        atomic.write_text(path, "".join(lines[:keep]))


class RunWriter:
    """Appends episode and metric rows to ``<agent_dir>/episodes.csv`` and ``metrics.csv``.

    ``lines`` (from a checkpoint) gives, per agent, how many lines of each file to keep on resume;
    None starts fresh files.
    """

    def __init__(self, agent_dirs: list[Path], metric_fields: list[str], lines: list[dict] | None = None,
                 eval_fields: list[str] | None = None):
        self.dirs = [Path(d) for d in agent_dirs]
        self.metric_fields = ["env_step", *metric_fields]
        self.eval_fields = None if eval_fields is None else ["env_step", *eval_fields]
        tables = [("episodes", EPISODE_FIELDS), ("metrics", self.metric_fields)]
        if self.eval_fields is not None:  # evals.csv: periodic evaluations (Config.eval_every)
            tables.append(("evals", self.eval_fields))
        self._files = []
        self._lines = []
        for i, d in enumerate(self.dirs):
            d.mkdir(parents=True, exist_ok=True)
            atomic.remove_stale(d)
            files, counts = {}, {}
            for name, fields in tables:
                path = d / f"{name}.csv"
                if lines is not None:
                    if not path.is_file():
                        raise LogError(f"{path} is missing; restore it from a copy")
                    _truncate_lines(path, lines[i][name], fields)
                    counts[name] = lines[i][name]
                    files[name] = open(path, "a", newline="")
                else:
                    files[name] = open(path, "w", newline="")
                    files[name].write(",".join(fields) + "\n")
                    counts[name] = 1
            self._files.append(files)
            self._lines.append(counts)

    def episode(self, i: int, seed: int, episode: int, env_step: int, ret: float, length: int) -> None:
        """One finished episode of agent ``i``."""
        self._files[i]["episodes"].write(f"{seed},{episode},{env_step},{ret:.6f},{length}\n")
        self._lines[i]["episodes"] += 1

    def metrics(self, i: int, env_step: int, values: dict) -> None:
        """One row of training metrics of agent ``i`` (keys are ``metric_fields``)."""
        row = [str(env_step)] + [_fmt(values.get(k)) for k in self.metric_fields[1:]]
        self._files[i]["metrics"].write(",".join(row) + "\n")
        self._lines[i]["metrics"] += 1

    def evaluation(self, i: int, env_step: int, values: dict) -> None:
        """One periodic evaluation of agent ``i`` (keys are ``eval_fields``)."""
        row = [str(env_step)] + [_fmt(values.get(k)) for k in self.eval_fields[1:]]
        self._files[i]["evals"].write(",".join(row) + "\n")
        self._lines[i]["evals"] += 1

    def lines(self) -> list[dict]:
        """Lines written so far per agent and file (to store in a checkpoint)."""
        return [dict(c) for c in self._lines]

    def flush(self) -> None:
        for files in self._files:
            for f in files.values():
                f.flush()

    def close(self) -> None:
        for files in self._files:
            for f in files.values():
                f.close()


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def read_csv(path: Path) -> list[dict]:
    """Rows of a CSV file as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
