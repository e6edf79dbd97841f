"""Atomic file writes: a reader (or a crash at any moment) sees the old file or the new one,
never a half-written one. Each write goes to a temporary file in the same folder, is flushed to
disk (``fsync``), then renamed over the target (``os.replace`` is atomic on POSIX)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def temporary_path(path: Path) -> Path:
    """The temporary sibling a write of ``path`` goes through (same folder, same suffix, so a
    writer that picks its format by suffix, such as matplotlib's ``savefig``, still works)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_with(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` to write the file, then move it into place as ``path`` atomically; on
    any error the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    write_with(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically."""
    write_bytes(path, text.encode())


def remove_stale(folder: Path) -> None:
    """Remove the temporary files that writes killed half-way left in ``folder`` (a process is
    killed between writing its temporary file and renaming it: the target is whole, the
    temporary is litter)."""
    for tmp in Path(folder).glob(".*.tmp-*"):
        tmp.unlink(missing_ok=True)
