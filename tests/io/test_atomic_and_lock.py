"""Atomic writes and the run-folder lock."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from noisyjax.io import atomic, lock
from noisyjax.io.rundir import RunDirError, create_run_dir, held


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")
    atomic.write_text(path, "new")
    assert path.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_failed_atomic_write_keeps_the_old_file(tmp_path):
    """A writer that fails half-way (a full disk) leaves the old file whole, and no temporary."""
    path = tmp_path / "plot.png"
    path.write_bytes(b"old")

    def half(tmp):
        tmp.write_bytes(b"ne")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic.write_with(path, half)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]


def test_stale_temporaries_are_removed(tmp_path):
    """A write killed between its temporary file and the rename leaves litter, removed later."""
    stale = atomic.temporary_path(tmp_path / "episodes.csv")
    stale.write_text("half")
    (tmp_path / "episodes.csv").write_text("whole")
    atomic.remove_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episodes.csv"]


def test_temporary_keeps_the_suffix(tmp_path):
    """savefig picks the format from the suffix: the temporary file must keep it."""
    assert atomic.temporary_path(tmp_path / "a.png").suffix == ".png"


HOLD = """
import sys, time
from noisyjax.io import lock
lock.acquire(sys.argv[1])
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_process_is_refused_with_the_holders_pid(tmp_path):
    """Another live process holding the folder: RunDirError naming its PID; once it is gone
    (killed: its lock file stays behind), the folder is free again."""
    folder = create_run_dir(tmp_path / "run")
    lock.release(folder)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match=f"in use by process {proc.pid}"):
            with held(folder):
                pass
    finally:
        proc.kill()
        proc.wait()
    assert (folder / lock.LOCK_FILE).is_file()  # the dead process's lock file is left ...
    with held(folder):  # ... and taken over
        assert lock.held(folder)
        assert (folder / lock.LOCK_FILE).read_text().strip() == str(os.getpid())
    assert not lock.held(folder)


def test_a_folder_with_only_a_stale_lock_counts_as_empty(tmp_path):
    """A run killed right after claiming its folder left only .lock: a new run may use it."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / lock.LOCK_FILE).write_text("99999\n")
    assert create_run_dir(folder) == folder
    lock.release(folder)
    (folder / "config.json").write_text("{}")
    with pytest.raises(RunDirError, match="not empty"):
        create_run_dir(folder)
