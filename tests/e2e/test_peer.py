"""End-to-end test of ``benchmarks.peer``'s error path only: without rejax's venv it prints one
``error:`` line naming the command that makes the venv and exits 2. The measurement itself needs
that venv, which CI does not have."""

from __future__ import annotations

from benchmarks import peer


def test_missing_rejax_venv_is_one_error_line_and_exit_2(tmp_path, capsys) -> None:
    missing = tmp_path / "no-venv" / "bin" / "python"
    try:
        status = peer.main(["--quick", "--peer-python", str(missing), "--out", str(tmp_path / "out.json")])
    except SystemExit as exit_:
        status = exit_.code
    assert status == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert str(missing) in lines[0] and 'pip install "rejax==0.1.3" "gymnax<1"' in lines[0]
    assert captured.out == ""
    assert not (tmp_path / "out.json").exists()
