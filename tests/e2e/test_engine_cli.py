"""The entry points on the jitted engine: ``--env gymnax:...`` and ``--env envpool:...`` write the
same run folder as a host run, twice the same bytes; sweeps, evaluation (also across engines) and
the refusals that belong to envpool."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import call

from experiments import evaluate, lunar, sweep

FLAGS = [
    "--total-steps", "1200", "--warmup-steps", "200", "--batch-size", "16", "--buffer-size", "500",
    "--hidden-sizes", "16", "16", "--eval-episodes", "2", "--log-every", "200", "--checkpoint-every", "400",
    "--quiet",
]
RUN_FILES = {
    "config.json", "episodes.csv", "metrics.csv", "summary.json", "learning_curve.png", "sigma.png",
    "training_metrics.png", "checkpoints",
}
pytestmark = pytest.mark.e2e




def summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


@pytest.fixture(scope="module")
def cartpole(tmp_path_factory):
    base = tmp_path_factory.mktemp("gymnax")
    for name in ("a", "b"):
        argv = [*FLAGS, "--env", "gymnax:CartPole-v1", "--seed", "3", "--out", str(base / name)]
        assert lunar.main(argv) == 0
    return base


def test_gymnax_run_writes_a_complete_folder_twice_the_same(cartpole):
    a, b = cartpole / "a", cartpole / "b"
    assert {p.name for p in a.iterdir()} >= RUN_FILES
    assert (a / "episodes.csv").read_bytes() == (b / "episodes.csv").read_bytes()
    s = summary(a)
    assert s["status"] == "finished" and s["env_steps"] == 1200 and s["final_eval"]["episodes"] == 2
    with open(a / "metrics.csv") as f:
        assert [int(r["env_step"]) for r in csv.DictReader(f)] == list(range(200, 1201, 200))
    assert json.loads((a / "config.json").read_text())["config"]["env"] == "gymnax:CartPole-v1"


def test_gymnax_sweep_agent_equals_its_single_run(cartpole, tmp_path):
    out = tmp_path / "sweep"
    assert sweep.main([*FLAGS, "--env", "gymnax:CartPole-v1", "--seeds", "1,3", "--out", str(out)]) == 0
    names = json.loads((out / "config.json").read_text())["agent_dirs"]
    assert (out / names[1] / "episodes.csv").read_bytes() == (cartpole / "a" / "episodes.csv").read_bytes()
    assert (out / "sweep.csv").is_file()


def test_evaluate_a_gymnax_run(cartpole, capsys):
    capsys.readouterr()
    assert evaluate.main([str(cartpole / "a"), "--episodes", "3", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 3 and result["env"] == "gymnax:CartPole-v1"


def test_evaluate_on_another_engine_and_refusals(cartpole, capsys):
    """A gymnax CartPole agent evaluates on gymnasium's CartPole-v1 (same spaces), not on
    LunarLander (other spaces), and renders no GIF of a device env."""
    capsys.readouterr()
    assert evaluate.main([str(cartpole / "a"), "--episodes", "2", "--env", "CartPole-v1", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["env"] == "CartPole-v1"
    assert call(evaluate.main, [str(cartpole / "a"), "--env", "LunarLander-v3", "--quiet"]) == 2
    assert "the run's agent takes (4,)" in capsys.readouterr().err
    assert call(evaluate.main, [str(cartpole / "a"), "--gif", str(cartpole / "x.gif"), "--quiet"]) == 2
    assert "--gif renders gymnasium envs only" in capsys.readouterr().err


def test_envpool_run_evaluates_on_gymnasium_and_refuses_resume(tmp_path, capsys):
    out = tmp_path / "lunar"
    assert lunar.main([*FLAGS, "--env", "envpool:LunarLander-v3", "--seed", "0", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} >= RUN_FILES and summary(out)["status"] == "finished"
    capsys.readouterr()
    assert evaluate.main([str(out), "--episodes", "2", "--env", "LunarLander-v3", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 2
    assert call(lunar.main, ["--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --resume is not supported for envpool:LunarLander-v3")



def test_ctrl_c_stops_the_engine_at_a_chunk_end_with_a_checkpoint(tmp_path):
    """SIGINT to a real gymnax run (a budget it cannot finish first): it stops at the end of the
    chunk in progress, writes a checkpoint there and exits 130 within seconds. (That resuming it
    is exact is tested in-process: tests/run/test_engine.py.)"""
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "run"
    argv = [*FLAGS, "--env", "gymnax:CartPole-v1", "--total-steps", "100000000", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "experiments.lunar", *argv], cwd=root,
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        latest, deadline = out / "checkpoints" / "LATEST", time.monotonic() + 120
        while not latest.exists() or latest.read_text() == "step_0000000000":
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert took < 30, f"{took:.1f} s from SIGINT to exit"
    s = summary(out)
    assert s["status"] == "interrupted" and s["env_steps"] % 200 == 0
    assert latest.read_text() == f"step_{s['env_steps']:010d}"
    assert "Resume with: python -m experiments.lunar --resume" in err
