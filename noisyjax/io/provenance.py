"""Where a run came from: the command as typed and the git state of the code that ran it."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def command_line(module: str | None = None, args: list[str] | None = None) -> str:
    """The command as a user would type it again, e.g. ``python -m experiments.lunar --seed 0``.

    ``module``: the entry point's module (None: this process's ``-m`` module, whose file path
    ``sys.argv[0]`` then holds, or else the script ``sys.argv[0]``). ``args``: its arguments
    (None: ``sys.argv[1:]``)."""
    args = list(sys.argv[1:] if args is None else args)
    if module is None:
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        module = spec.name if spec is not None and spec.name != "__main__" else None
    head = ["python", "-m", module] if module else ["python", sys.argv[0]]
    return shlex.join([*head, *args])


def git_state(root: Path = PACKAGE_ROOT) -> dict:
    """``{"commit": sha, "dirty": bool}`` of the checkout holding the code (``root``), or
    ``{"commit": None, "dirty": None}`` when it is not a git checkout or git is missing."""
    try:
        run = dict(cwd=root, capture_output=True, text=True, timeout=10, check=True)
        commit = subprocess.run(["git", "rev-parse", "HEAD"], **run).stdout.strip()
        # untracked files (run folders, caches) do not change the code that ran
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(status.strip())}
