"""One process at a time per run folder: an exclusive ``fcntl.flock`` on ``<folder>/.lock``,
held for the whole run (or its resume) and released by the kernel when the process
ends, however it ends. A lock file left by a dead process is therefore free and simply taken
over; the file holds the PID of its last holder, for the error message."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

LOCK_FILE = ".lock"

# Folder -> open file descriptor: the lock lives as long as the descriptor, so keep it here
# (a local variable would be closed, and the lock dropped, when it is garbage-collected).
_HELD: dict[Path, int] = {}


class LockError(RuntimeError):
    """The run folder is in use by another process (the message names it)."""


def _holder(path: Path) -> str:
    try:
        pid = (path / LOCK_FILE).read_text().strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid else "another process"


def acquire(folder: Path) -> None:
    """Lock ``folder`` for this process (a no-op if it already holds it); the lock file is
    created if missing. Raises ``LockError`` naming the holder's PID when another live process
    holds the folder."""
    folder = Path(folder).absolute()
    if folder in _HELD:
        return
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise LockError(
                f"{folder} is in use by {_holder(folder)}; wait for it to finish or stop it first"
            ) from None
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _HELD[folder] = fd


def release(folder: Path) -> None:
    """Give up this process's lock on ``folder`` (if it holds one)."""
    fd = _HELD.pop(Path(folder).absolute(), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def held(folder: Path) -> bool:
    """Whether this process holds ``folder``'s lock."""
    return Path(folder).absolute() in _HELD
