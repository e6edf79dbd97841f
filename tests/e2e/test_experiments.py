"""End-to-end tests of the experiment entry points (lunar, evaluate, sweep, bench_step).

Every run is tiny (CartPole-v1, a 16x16 network, a few hundred env steps) and called in-process
through ``main(argv)``; only the Ctrl-C test needs a real process. Expensive runs live in
module-scoped fixtures so each happens once (the tests that use them run on one xdist worker,
tests/conftest.py), and the test session's persistent JAX compilation cache lets runs of the same
shapes skip recompiling.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import call, sigint_after_checkpoint

from benchmarks import step as bench_step
from benchmarks import sweep as bench_sweep
from benchmarks import switches as bench_switches
from experiments import common, evaluate, lunar, sweep
from noisyjax.config import Config
from noisyjax.io.checkpoint import load_best
from noisyjax.io.restore import load_run
from noisyjax.run import cpu
from noisyjax.run.envs import SELECT_STREAM
from noisyjax.run.evaluation import evaluate as evaluate_params

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 600
# No warm-up and an update every step: then bench_step's "act + update" program (with the same
# shapes, see test_bench_step_prints_table) is the training step's, and comes from the cache.
FLAGS = [
    "--env", "CartPole-v1", "--total-steps", str(TOTAL), "--warmup-steps", "0", "--batch-size", "16",
    "--buffer-size", "500", "--hidden-sizes", "16", "16", "--train-freq", "1", "--eval-episodes", "2",
    "--log-every", "100", "--checkpoint-every", "200", "--quiet",
]
BENCH_FLAGS = [
    "--agents", "1", "--calls", "5", "--repeats", "1", "--hidden-sizes", "16", "16", "--batch-size", "16",
    "--buffer-size", "500", "--obs-dim", "4", "--num-actions", "2",  # CartPole's shapes
]
EPISODE_HEADER = "seed,episode,env_step,return,length"
DEFAULT_LR = Config().learning_rate
POLICIES = ["mean", "noisy", "frozen"]


# ---------------------------------------------------------------------------------------------
# helpers




def refused(main, argv: list[str], capsys) -> str:
    """Run ``main(argv)``, require exit status 2 and one ``error:`` line on stderr; return it."""
    capsys.readouterr()
    code = call(main, argv)
    out, err = capsys.readouterr()
    assert code == 2, f"exit status {code} for {argv}; stderr: {err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert out == ""
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes); folders map to b"<dir>"."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
        for p in sorted(Path(folder).rglob("*"))
    }


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def summary(folder: Path) -> dict:
    return json.loads((Path(folder) / "summary.json").read_text())


def train(out: Path, *extra: str) -> Path:
    """A finished tiny lunar run in ``out``."""
    assert lunar.main([*FLAGS, *extra, "--out", str(out)]) == 0
    return out


def without_wall_clock(path: Path) -> list[dict]:
    """metrics.csv rows without the steps_per_sec column (the only wall-clock one)."""
    return [{k: v for k, v in r.items() if k != "steps_per_sec"} for r in rows(path)]


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")  # kept when a worker runs other modules in between
def runs(tmp_path_factory):
    """Three finished runs: seed 0 twice (different folders) and seed 1."""
    base = tmp_path_factory.mktemp("runs")
    return {
        "seed0": train(base / "seed0", "--seed", "0"),
        "seed0_again": train(base / "seed0-again", "--seed", "0"),
        "seed1": train(base / "seed1", "--seed", "1"),
    }


@pytest.fixture(scope="session")  # kept when a worker runs other modules in between
def interrupted(tmp_path_factory):
    """A run in a real process, stopped with SIGINT after its first checkpoint past step 0; a
    copy of its folder as the interrupt left it (for the refusal tests), and the process's result."""
    base = tmp_path_factory.mktemp("interrupted")
    out = base / "run"
    env = dict(os.environ)  # with the test session's compilation cache (tests/conftest.py)
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments.lunar", *FLAGS, "--seed", "0", "--out", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        latest = out / "checkpoints" / "LATEST"
        while not latest.exists() or latest.read_text() == "step_0000000000":
            assert proc.poll() is None, f"the run ended before its first checkpoint: {proc.communicate()}"
            assert time.monotonic() < deadline, "no checkpoint within 90 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    copy = base / "copy"
    shutil.copytree(out, copy)
    return {
        "dir": out, "copy": copy, "code": proc.returncode, "stdout": stdout, "stderr": stderr,
        "summary": summary(out) if (out / "summary.json").is_file() else None,
        "episodes": (out / "episodes.csv").read_text(),
    }


@pytest.fixture(scope="session")  # kept when a worker runs other modules in between
def resumed(interrupted):
    """The interrupted run resumed in-process to its full budget."""
    code = call(lunar.main, ["--resume", str(interrupted["dir"]), "--quiet"])
    return {"dir": interrupted["dir"], "code": code}


@pytest.fixture(scope="session")  # kept when a worker runs other modules in between
def swept(tmp_path_factory):
    """A 2-seed x 2-learning-rate sweep."""
    out = tmp_path_factory.mktemp("sweep") / "sweep"
    # the grid holds the default learning rate, so one agent per seed matches the single runs
    code = sweep.main([*FLAGS, "--seeds", "0-1", "--grid", f"lr={DEFAULT_LR:g},5e-4", "--out", str(out)])
    assert code == 0
    return out


# ---------------------------------------------------------------------------------------------
# lunar: run folder, reproducibility


def test_run_folder_contents(runs):
    """A finished run leaves config, CSV logs, summary, three plots and a checkpoint."""
    out = runs["seed0"]
    config = json.loads((out / "config.json").read_text())
    assert config["seeds"] == [0]
    assert config["config"]["env"] == "CartPole-v1" and config["config"]["total_steps"] == TOTAL
    assert config["config"]["hidden_sizes"] == [16, 16]
    assert config["config"]["cpu_cores"] == "one"
    assert config["versions"]["jax"] == jax.__version__
    assert config["machine"]["cpu_model"] and isinstance(config["machine"]["isa"], list)
    # provenance: the command as typed (the fixture called lunar.main with FLAGS), the code's commit
    assert config["command"] == shlex.join(["python", "-m", "experiments.lunar", *FLAGS, "--seed", "0",
                                            "--out", str(out)])
    assert config["git"]["commit"] is None or len(config["git"]["commit"]) == 40
    assert config["git"]["dirty"] in (None, True, False)

    episodes = (out / "episodes.csv").read_text().splitlines()
    assert episodes[0] == EPISODE_HEADER and len(episodes) > 2
    eps = rows(out / "episodes.csv")
    assert [int(r["episode"]) for r in eps] == list(range(len(eps)))
    assert all(r["seed"] == "0" for r in eps)
    steps = [int(r["env_step"]) for r in eps]
    assert steps == sorted(steps) and steps[-1] <= TOTAL
    assert sum(int(r["length"]) for r in eps) == steps[-1]

    metrics = rows(out / "metrics.csv")
    assert [int(r["env_step"]) for r in metrics] == list(range(100, TOTAL + 1, 100))
    header = list(metrics[0])
    assert {"loss", "mean_q"} <= set(header)
    assert any(h.startswith("sigma_") for h in header)
    assert all(float(r["loss"]) >= 0 and r["mean_q"] != "" for r in metrics)  # updates ran

    s = summary(out)
    assert s["status"] == "finished" and s["env_steps"] == TOTAL
    assert "steps_to_solve" in s and s["episodes"] == len(eps)
    assert s["final_eval"]["episodes"] == 2 and s["final_eval"]["policy"] == "mean"
    assert {"mean", "std"} <= set(s["final_eval"])
    assert s["wall_time_s"] > 0 and s["steps_per_sec"] > 0

    for png in ["learning_curve.png", "sigma.png", "training_metrics.png"]:
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    latest = (out / "checkpoints" / "LATEST").read_text().strip()
    assert (out / "checkpoints" / latest).is_dir() and latest.endswith(str(TOTAL))


def test_same_seed_same_bytes(runs):
    """Two runs with one seed write byte-identical episodes.csv; another seed differs."""
    a = (runs["seed0"] / "episodes.csv").read_bytes()
    assert a == (runs["seed0_again"] / "episodes.csv").read_bytes()
    assert a != (runs["seed1"] / "episodes.csv").read_bytes()
    assert without_wall_clock(runs["seed0"] / "metrics.csv") == without_wall_clock(
        runs["seed0_again"] / "metrics.csv"
    )


# ---------------------------------------------------------------------------------------------
# lunar: Ctrl-C and --resume


def test_ctrl_c_writes_checkpoint_and_interrupted_summary(interrupted, runs):
    """SIGINT mid-run exits 130 with an 'interrupted' summary and a prefix of the full log."""
    assert interrupted["code"] == 130, interrupted["stderr"]
    assert "--resume" in interrupted["stderr"]
    s = interrupted["summary"]
    assert s["status"] == "interrupted" and s["final_eval"] is None
    assert 200 <= s["env_steps"] < TOTAL
    latest = (interrupted["copy"] / "checkpoints" / "LATEST").read_text().strip()
    assert latest == f"step_{s['env_steps']:010d}"
    full = (runs["seed0"] / "episodes.csv").read_text()
    assert full.startswith(interrupted["episodes"])


def test_resume_is_exact(resumed, runs):
    """The resumed run finishes and logs exactly what an uninterrupted run logs."""
    out = resumed["dir"]
    assert resumed["code"] == 0
    s = summary(out)
    assert s["status"] == "finished" and s["env_steps"] == TOTAL
    assert s["final_eval"] == summary(runs["seed0"])["final_eval"]
    assert (out / "episodes.csv").read_bytes() == (runs["seed0"] / "episodes.csv").read_bytes()
    assert without_wall_clock(out / "metrics.csv") == without_wall_clock(runs["seed0"] / "metrics.csv")


def test_resume_continues_counters(resumed, interrupted):
    """After resume, episode indices run on without repeats and env steps keep increasing."""
    eps = rows(resumed["dir"] / "episodes.csv")
    assert [int(r["episode"]) for r in eps] == list(range(len(eps)))
    steps = [int(r["env_step"]) for r in eps]
    assert all(a < b for a, b in zip(steps, steps[1:]))
    assert len(eps) > len(interrupted["episodes"].splitlines()) - 1
    metric_steps = [int(r["env_step"]) for r in rows(resumed["dir"] / "metrics.csv")]
    assert metric_steps == list(range(100, TOTAL + 1, 100))
    assert summary(resumed["dir"])["wall_time_s"] > interrupted["summary"]["wall_time_s"]


def test_resume_refuses_finished_run(runs, capsys):
    """Resuming a finished run is refused and leaves its folder untouched."""
    before = snapshot(runs["seed0"])
    line = refused(lunar.main, ["--resume", str(runs["seed0"])], capsys)
    assert "finished" in line
    assert snapshot(runs["seed0"]) == before


def test_resume_refuses_non_run(tmp_path, capsys):
    """Resuming an empty folder is refused: it is not a run folder."""
    line = refused(lunar.main, ["--resume", str(tmp_path)], capsys)
    assert "not a noisyjax run folder" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--learning-rate", "0.5"], "--learning-rate"),
        (["--seed", "5"], "--seed"),
        (["--out", "elsewhere"], "--out"),
        (["--cpu-cores", "all"], "--cpu-cores"),
    ],
    ids=["conflicting-setting", "conflicting-seed", "out-with-resume", "conflicting-cpu-cores"],
)
def test_resume_refuses_changes(interrupted, extra, named, tmp_path, monkeypatch, capsys):
    """Resuming a resumable run with a changed setting or with --out is refused, untouched."""
    monkeypatch.chdir(tmp_path)
    folder = interrupted["copy"]
    before = snapshot(folder)
    line = refused(lunar.main, ["--resume", str(folder), *extra], capsys)
    assert named in line
    assert snapshot(folder) == before
    assert list(tmp_path.iterdir()) == []


def test_lunar_resume_refuses_sweep_folder(swept, capsys):
    """experiments.lunar --resume refuses a sweep folder and points at experiments.sweep."""
    before = snapshot(swept)
    line = refused(lunar.main, ["--resume", str(swept)], capsys)
    assert "experiments.sweep" in line
    assert snapshot(swept) == before


# ---------------------------------------------------------------------------------------------
# lunar: bad input


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--no-such-flag", "1"], "--no-such-flag"),
        (["--total-steps", "0"], "--total-steps"),
        (["--learning-rate", "-1"], "--learning-rate"),
        (["--batch-size", "1000"], "--batch-size"),
        (["--gamma", "1.5"], "--gamma"),
        (["--env", "NoSuchEnv-v0"], "NoSuchEnv-v0"),
        (["--env", "LunarLanderContinuous-v3"], "Discrete"),
        (["--env", "LunarLander-v2"], "deprecated"),
        (["--seed", "-1"], "--seed"),
        (["--n-step", "0"], "--n-step"),
        (["--per-alpha", "1.5"], "--per-alpha"),
        (["--per-eps", "0"], "--per-eps"),
        (["--preset", "rainbow-max"], "--preset"),
        (["--distributional", "--num-atoms", "1"], "--num-atoms"),
        (["--distributional", "--v-min", "5", "--v-max", "5"], "--v-min"),
    ],
    ids=lambda x: x if isinstance(x, str) else " ".join(x),
)
def test_bad_input_is_refused(extra, named, tmp_path, monkeypatch, capsys):
    """Bad flags exit 2 with one error line naming the problem, and create nothing."""
    monkeypatch.chdir(tmp_path)  # a default run folder would appear here
    line = refused(lunar.main, [*FLAGS, "--out", str(tmp_path / "run"), *extra], capsys)
    assert named in line
    assert list(tmp_path.iterdir()) == []


def test_out_existing_non_empty_folder(tmp_path, capsys):
    """--out naming a non-empty folder is refused and the folder's contents are unchanged."""
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me\n")
    before = snapshot(folder)
    line = refused(lunar.main, [*FLAGS, "--out", str(folder)], capsys)
    assert "not empty" in line
    assert snapshot(folder) == before


def test_out_unwritable(tmp_path, capsys):
    """--out under a read-only folder (or, as root, under a regular file) is refused."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root writes anyway: use a path whose parent is a file
            blocker = tmp_path / "file.txt"
            blocker.write_text("a file\n")
            out = blocker / "run"
        else:
            out = locked / "run"
        line = refused(lunar.main, [*FLAGS, "--out", str(out)], capsys)
        assert str(out.parent) in line
        assert not out.exists()
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


# ---------------------------------------------------------------------------------------------
# lunar: other environments and the epsilon-greedy baseline


def test_acrobot_without_noise(tmp_path):
    """Acrobot-v1 trains, here as the --no-noisy baseline: no sigma columns, sigma plot written."""
    # One run checks both the other env (6-d obs, 3 actions) and --no-noisy: each costs a compile.
    out = train(tmp_path / "acrobot", "--env", "Acrobot-v1", "--no-noisy", "--total-steps", "300")
    s = summary(out)
    assert s["status"] == "finished" and s["env"] == "Acrobot-v1" and s["env_steps"] == 300
    assert s["noisy"] is False and s["final_eval"]["episodes"] == 2
    assert (out / "episodes.csv").read_text().startswith(EPISODE_HEADER + "\n")
    assert json.loads((out / "config.json").read_text())["config"]["noisy"] is False
    metrics = rows(out / "metrics.csv")
    assert [int(r["env_step"]) for r in metrics] == [100, 200, 300]
    assert "loss" in metrics[0] and not any(h.startswith("sigma_") for h in metrics[0])
    assert (out / "sigma.png").read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------------------------------
# evaluate


def run_evaluate(argv: list[str]) -> dict:
    """The JSON that ``experiments.evaluate`` prints for ``argv`` (it must exit 0)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert evaluate.main(argv) == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="session")  # kept when a worker runs other modules in between
def evaluations(runs):
    """evaluate --episodes 3 on the seed-0 run: each policy once, and the mean policy again."""
    run = str(runs["seed0"])
    results = {p: run_evaluate([run, "--episodes", "3", "--policy", p, "--quiet"]) for p in POLICIES}
    results["mean_again"] = run_evaluate([run, "--episodes", "3", "--policy", "mean", "--quiet"])
    return results


@pytest.mark.parametrize("policy", POLICIES)
def test_evaluate_policies(evaluations, policy):
    """evaluate prints JSON with the number of episodes and the policy asked for."""
    result = evaluations[policy]
    assert result["episodes"] == 3 and result["policy"] == policy
    assert result["env_steps_trained"] == TOTAL and result["seed"] == 0
    assert result["min"] <= result["mean"] <= result["max"]


def test_evaluate_mean_is_deterministic(evaluations):
    """Two evaluations of the mean policy give the same JSON."""
    assert evaluations["mean"] == evaluations["mean_again"]


def test_evaluate_gif(runs, tmp_path):
    """--gif renders an evaluation episode to a new GIF file."""
    gif = tmp_path / "episode.gif"
    result = run_evaluate([str(runs["seed0"]), "--episodes", "3", "--gif", str(gif), "--quiet"])
    assert gif.read_bytes()[:4] == b"GIF8"
    from PIL import Image

    with Image.open(gif) as img:  # a frame shows 2 env frames at 30 fps (GIF keeps centiseconds)
        assert img.info["duration"] == pytest.approx(1000 * 2 / 30, abs=10)
    assert result["gif"]["frames"] > 1 and result["episodes"] == 3


def test_evaluate_refuses_non_run(tmp_path, capsys):
    """evaluate on a folder that is not a run exits 2."""
    line = refused(evaluate.main, [str(tmp_path), "--episodes", "1"], capsys)
    assert str(tmp_path) in line and "not a noisyjax run folder" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "extra, named",
    [(["--episodes", "0"], "--episodes"), (["--agent", "1"], "--agent")],
    ids=["zero-episodes", "no-such-agent"],
)
def test_evaluate_bad_flags(runs, extra, named, capsys):
    """evaluate refuses zero episodes and an agent index the run does not have."""
    before = snapshot(runs["seed0"])
    line = refused(evaluate.main, [str(runs["seed0"]), *extra], capsys)
    assert named in line
    assert snapshot(runs["seed0"]) == before


def test_evaluate_refuses_existing_gif(runs, tmp_path, capsys):
    """--gif naming an existing file exits 2 and leaves the file as it was."""
    gif = tmp_path / "old.gif"
    gif.write_bytes(b"not really a gif")
    line = refused(evaluate.main, [str(runs["seed0"]), "--episodes", "1", "--gif", str(gif)], capsys)
    assert "--gif" in line and "exists" in line
    assert gif.read_bytes() == b"not really a gif"


# ---------------------------------------------------------------------------------------------
# sweep


def test_sweep_folder(swept):
    """A 2x2 sweep writes sweep.csv (4 rows), one folder per agent and the sweep plot."""
    table = rows(swept / "sweep.csv")
    header = "agent,seed,learning_rate,status,diverged_at,steps_to_solve,"
    assert (swept / "sweep.csv").read_text().startswith(header)
    command = json.loads((swept / "config.json").read_text())["command"]
    assert command == shlex.join(["python", "-m", "experiments.sweep", *FLAGS, "--seeds", "0-1", "--grid",
                                  f"lr={DEFAULT_LR:g},5e-4", "--out", str(swept)])
    assert [(int(r["agent"]), int(r["seed"]), float(r["learning_rate"])) for r in table] == [
        (0, 0, DEFAULT_LR), (1, 1, DEFAULT_LR), (2, 0, 5e-4), (3, 1, 5e-4),
    ]
    for r in table:
        folder = swept / r["folder"]
        assert (folder / "episodes.csv").read_text().startswith(EPISODE_HEADER + "\n")
        assert summary(folder)["env_steps"] == TOTAL
    assert (swept / "sweep_returns.png").read_bytes()[:4] == b"\x89PNG"
    s = summary(swept)
    assert s["status"] == "finished" and s["agents"] == 4 and s["env_steps_per_agent"] == TOTAL


def test_sweep_agents_differ(swept):
    """Agents with different seeds or learning rates log different episodes."""
    logs = [(swept / r["folder"] / "episodes.csv").read_bytes() for r in rows(swept / "sweep.csv")]
    assert logs[0] != logs[1]  # seed 0 vs seed 1
    assert len(set(logs)) == 4


def test_sweep_agent_equals_single_run(swept, runs):
    """The sweep's seed-1 agent at the default learning rate logs exactly the episodes of the
    single seed-1 run."""
    (row,) = [
        r for r in rows(swept / "sweep.csv") if r["seed"] == "1" and float(r["learning_rate"]) == DEFAULT_LR
    ]
    assert json.loads((runs["seed1"] / "config.json").read_text())["config"]["learning_rate"] == DEFAULT_LR
    sweep_log = (swept / row["folder"] / "episodes.csv").read_bytes()
    assert sweep_log == (runs["seed1"] / "episodes.csv").read_bytes()


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--grid", "hidden_sizes=64"], "hidden_sizes"),
        (["--grid", "batch_size=32"], "batch_size"),
        (["--seeds", "0,0"], "--seeds"),
        (["--grid", "lr="], "lr"),
        (["--grid", "foo=1"], "foo"),
    ],
    ids=["shape-changing", "batch-size", "duplicated-seeds", "empty-grid", "unknown-field"],
)
def test_sweep_bad_input(extra, named, tmp_path, monkeypatch, capsys):
    """Bad sweep specifications exit 2 with one error line and create nothing."""
    monkeypatch.chdir(tmp_path)
    argv = [*FLAGS, "--seeds", "0-1", "--out", str(tmp_path / "sweep"), *extra]
    line = refused(sweep.main, argv, capsys)
    assert named in line
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# bench_step


def test_bench_step_prints_table(capsys):
    """bench_step times a tiny network and prints one row per agent width."""
    assert bench_step.main(BENCH_FLAGS) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("jax ")
    assert lines[1].split()[:2] == ["agents", "act"]
    row = lines[2].split()
    assert len(lines) == 3 and row[0] == "1" and len(row) == 5
    act, act_update = float(row[1]), float(row[2])
    assert act > 0 and act_update > 0
    assert float(row[3]) == pytest.approx(act_update - act, abs=1.0)


# ---------------------------------------------------------------------------------------------
# presets and the Rainbow switches


def test_preset_rainbow_lite_recorded_and_overridable(tmp_path):
    """--preset rainbow-lite turns on noisy + double + dueling + PER + 3-step; a flag after it
    overrides one of its values; config.json records the preset and every resolved setting; the run
    trains (updates happen: the loss column is filled) and finishes."""
    out = tmp_path / "rainbow"
    argv = [*FLAGS, "--out", str(out), "--preset", "rainbow-lite", "--n-step", "2", "--no-double"]
    assert call(lunar.main, argv) == 0
    payload = json.loads((out / "config.json").read_text())
    assert payload["preset"] == "rainbow-lite"
    c = payload["config"]
    assert (c["noisy"], c["dueling"], c["per"], c["n_step"], c["double_q"]) == (True, True, True, 2, False)
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert rows and all(float(r["loss"]) >= 0 for r in rows[1:])
    assert json.loads((out / "summary.json").read_text())["status"] == "finished"


def test_preset_rainbow_adds_c51_and_trains_a_complete_run(tmp_path):
    """--preset rainbow is rainbow-lite plus the C51 head; its atoms and support are recorded; the
    run trains (cross-entropy loss in metrics.csv), evaluates, and writes the whole run folder."""
    out = tmp_path / "rainbow"
    argv = [*FLAGS, "--out", str(out), "--preset", "rainbow", "--num-atoms", "21"]
    assert call(lunar.main, argv) == 0
    c = json.loads((out / "config.json").read_text())["config"]
    assert (c["noisy"], c["dueling"], c["per"], c["n_step"], c["double_q"], c["distributional"]) == (
        True, True, True, 3, True, True)
    assert (c["num_atoms"], c["v_min"], c["v_max"]) == (21, -300.0, 300.0)
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert rows and all(float(r["loss"]) >= 0 for r in rows[1:])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["final_eval"]["episodes"] == 2
    for name in ("episodes.csv", "learning_curve.png", "training_metrics.png", "sigma.png"):
        assert (out / name).stat().st_size > 0
    assert any((out / "checkpoints").iterdir())


def test_sweep_with_per_and_nstep(tmp_path):
    """The Rainbow switches go through the sweep unchanged: two seeds with PER and 3-step returns
    give two different agents and a sweep.csv row each."""
    out = tmp_path / "sweep"
    argv = [*FLAGS, "--seeds", "0,1", "--per", "--n-step", "3", "--out", str(out)]
    assert call(sweep.main, argv) == 0
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [r["seed"] for r in rows] == ["0", "1"]
    episodes = [(out / r["folder"] / "episodes.csv").read_text() for r in rows]
    assert episodes[0] != episodes[1]
    assert json.loads((out / "config.json").read_text())["config"]["per"] is True


# ---------------------------------------------------------------------------------------------
# bench_sweep


def test_bench_sweep_quick(tmp_path, capsys):
    """bench_sweep --quick measures widths 1 and 2 in subprocesses and writes its table as JSON."""
    out = tmp_path / "bench.json"
    assert bench_sweep.main(["--quick", "--env", "CartPole-v1", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(r["agents"], r["pinned"]) for r in rows] == [(1, False), (1, True), (2, False)]
    assert all(r["aggregate_steps_per_sec"] > 0 and r["peak_rss_mib"] > 0 for r in rows)
    assert rows[0]["ratio_to_one_agent"] == 1.0
    best = max(r["aggregate_steps_per_sec"] for r in rows[:2])
    assert rows[2]["ratio_to_best_one_agent"] == rows[2]["aggregate_steps_per_sec"] / best
    # the free rows run as `sweep --cpu-cores all`: one XLA device per allowed core
    assert rows[2]["devices"] == min(2, len(os.sched_getaffinity(0)))
    assert rows[1]["devices"] == 1  # pinned: one core, one device
    assert "aggregate steps/s" in capsys.readouterr().out


def test_bench_switches_quick(capsys):
    """bench_switches --quick prints the update-cost and loop tables for its two variants."""
    assert bench_switches.main(["--quick", "--env", "CartPole-v1"]) == 0
    out = capsys.readouterr().out
    assert "Update cost" in out and "Whole training loop" in out
    assert out.count("+ PER") == 2 and out.count("default (noisy") == 2


def test_lunar_pins_to_one_core_unless_told(tmp_path, capsys):
    """The default run pins its process to one core and says so; --cpu-cores all does not."""
    before = os.sched_getaffinity(0)
    if len(before) < 2:
        pytest.skip("needs two cores to tell pinned from free")
    flags = [f for f in FLAGS if f != "--quiet"]  # FLAGS' programs: from the compilation cache
    assert lunar.main([*flags, "--out", str(tmp_path / "a")]) == 0
    assert len(os.sched_getaffinity(0)) == 1
    assert "pinned to CPU core" in capsys.readouterr().err
    cpu.set_affinity(before)
    assert lunar.main([*flags, "--cpu-cores", "all", "--out", str(tmp_path / "b")]) == 0
    assert os.sched_getaffinity(0) == before
    assert "pinned" not in capsys.readouterr().err


def test_sweep_over_two_devices_equals_single_runs(tmp_path):
    """With --cpu-cores all on a 2-core machine a sweep splits its agents over two XLA devices
    (one per core); each agent still logs exactly the episodes of its single run."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores for two CPU devices")
    flags = [*FLAGS, "--cpu-cores", "all"]  # the single run's programs are FLAGS' (cached)
    cmd = [sys.executable, "-m"]
    subprocess.run([*cmd, "experiments.sweep", *flags, "--seeds", "0-1", "--out", str(tmp_path / "s")],
                   check=True, cwd=ROOT)
    assert summary(tmp_path / "s")["cpu_devices"] == 2
    # the single run in this process (one XLA device), from the programs it or the cache holds
    assert lunar.main([*flags, "--seed", "1", "--out", str(tmp_path / "one")]) == 0
    (row,) = [r for r in rows(tmp_path / "s" / "sweep.csv") if r["seed"] == "1"]
    sweep_log = (tmp_path / "s" / row["folder"] / "episodes.csv").read_bytes()
    assert sweep_log == (tmp_path / "one" / "episodes.csv").read_bytes()
    assert sweep_log.count(b"\n") > 5


# ---------------------------------------------------------------------------------------------
# compare


def test_compare_two_runs_and_a_sweep(runs, swept, tmp_path, capsys):
    """compare groups the agents of two runs and a 2-seed x 2-rate sweep by their differing
    setting (the learning rate); its table's values are those of the agents' own CSVs."""
    from scipy import stats as sps

    from experiments import compare

    out = tmp_path / "cmp"
    folders = [str(runs["seed0"]), str(runs["seed1"]), str(swept)]
    assert call(compare.main, [*folders, "--out", str(out), "--reps", "200"]) == 0
    table = {r["group"]: r for r in rows(out / "compare.csv")}
    by_rate: dict[float, list[Path]] = {}
    for run in ("seed0", "seed1"):
        by_rate.setdefault(DEFAULT_LR, []).append(runs[run])
    for r in rows(swept / "sweep.csv"):
        by_rate.setdefault(float(r["learning_rate"]), []).append(swept / r["folder"])
    assert set(table) == {f"learning_rate={lr}" for lr in by_rate}
    for lr, dirs in by_rate.items():
        row = table[f"learning_rate={lr}"]
        finals = [np.mean([float(e["return"]) for e in rows(d / "episodes.csv")][-100:]) for d in dirs]
        assert int(row["agents"]) == len(dirs)
        assert float(row["final_iqm"]) == pytest.approx(sps.trim_mean(finals, 0.25), abs=0.06)  # 1 decimal
        assert float(row["final_low"]) <= float(row["final_iqm"]) <= float(row["final_high"])
        evals = [summary(d)["final_eval"]["mean"] for d in dirs]
        assert float(row["eval_mean"]) == pytest.approx(np.mean(evals))
        solved = [summary(d)["steps_to_solve"] for d in dirs]
        assert int(row["solved"]) == sum(s is not None for s in solved)
    assert "| learning_rate=0.0005 | 2 |" in (out / "compare.md").read_text()
    for png in ("sweep_returns.png", "sweep_solved.png", "sweep_sigma.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    # --label names one group per folder
    assert call(compare.main, [folders[0], folders[1], "--label", "a", "--label", "a", "--out",
                               str(tmp_path / "lab"), "--reps", "200", "--formats", "pdf",
                               "--formats", "svg"]) == 0
    assert [r["group"] for r in rows(tmp_path / "lab" / "compare.csv")] == ["a"]
    # vector copies beside every PNG
    assert (tmp_path / "lab" / "sweep_returns.pdf").read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in (tmp_path / "lab" / "sweep_sigma.svg").read_bytes()[:2000]


def test_compare_refuses_mixed_envs_and_non_runs(runs, tmp_path, capsys):
    from experiments import compare

    other = tmp_path / "other"
    shutil.copytree(runs["seed1"], other, ignore=shutil.ignore_patterns("checkpoints"))
    cfg = json.loads((other / "config.json").read_text())
    cfg["config"]["env"] = "Acrobot-v1"
    (other / "config.json").write_text(json.dumps(cfg))
    cases = [
        ([str(runs["seed0"]), str(other)], "different envs (Acrobot-v1, CartPole-v1)"),
        ([str(tmp_path)], "is not a run or sweep folder"),
        ([str(runs["seed0"]), "--label", "x", "--label", "y"], "--label was given 2 time(s) for 1 folder(s)"),
    ]
    for argv, words in cases:
        assert call(compare.main, [*argv, "--out", str(tmp_path / "no")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and words in err and "\n" not in err, err
        assert not (tmp_path / "no").exists()
    assert call(compare.main, [str(runs["seed0"]), str(other), "--allow-mixed-envs", "--reps", "200",
                               "--out", str(tmp_path / "mixed")]) == 0


# ---------------------------------------------------------------------------------------------
# live logging


def read_events(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] of the TensorBoard event files in ``folder`` (TFRecord framing:
    length, its CRC, the Event proto, its CRC)."""
    import struct

    from tensorboardX.proto import event_pb2

    tags: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, i = path.read_bytes(), 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event.FromString(data[i + 12 : i + 12 + n])
            i += 12 + n + 4
            for v in event.summary.value:
                tags.setdefault(v.tag, []).append((event.step, v.simple_value))
    return tags


def test_log_tensorboard_mirrors_the_csvs(runs, tmp_path):
    """--log tensorboard writes event files into the run folder's tb/ that hold every episode and
    every metrics.csv value at its env step."""
    out = train(tmp_path / "tb-run", "--seed", "0", "--log", "tensorboard")
    tags = read_events(out / "tb")
    eps = rows(out / "episodes.csv")
    assert tags["episode/return"] == [(int(e["env_step"]), pytest.approx(float(e["return"]))) for e in eps]
    metrics = rows(out / "metrics.csv")
    for column in ("loss", "mean_q", "sigma_hidden_0", "last100"):
        want = [(int(r["env_step"]), float(r[column])) for r in metrics if r[column] != ""]
        got = tags[f"train/{column}"]
        assert [s for s, _ in got] == [s for s, _ in want] and len(want) == TOTAL // 100
        np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-5)
    # live logging changes no bit of the run: the episodes of the same run without it
    assert (out / "episodes.csv").read_bytes() == (runs["seed0"] / "episodes.csv").read_bytes()


def test_log_refuses_a_missing_extra(tmp_path, monkeypatch, capsys):
    from noisyjax.io import live

    monkeypatch.setitem(live._PACKAGES, "tensorboard", ("noisyjax_no_such_writer", "tensorboard"))
    out = tmp_path / "run"
    assert call(lunar.main, [*FLAGS, "--log", "tensorboard", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --log tensorboard needs noisyjax_no_such_writer: pip install -e '.[tensorboard]'"
    assert not out.exists()


def test_log_wandb_offline(runs, tmp_path, monkeypatch):
    """--log wandb with WANDB_MODE=offline: one offline W&B run in the run folder, logged with
    every episode and every metrics.csv value (recorded on their way into wandb's Run.log)."""
    wandb_run = pytest.importorskip("wandb.sdk.wandb_run", reason="the wandb extra is in the test command")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    logged: list[dict] = []
    original = wandb_run.Run.log

    def log(self, data, *args, **kwargs):
        logged.append(dict(data))
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(wandb_run.Run, "log", log)
    out = train(tmp_path / "wandb-run", "--seed", "0", "--log", "wandb")
    assert len(list((out / "wandb").glob("offline-run-*/run-*.wandb"))) == 1
    episodes = [(d["env_step"], d["episode/return"]) for d in logged if "episode/return" in d]
    eps = rows(out / "episodes.csv")
    assert episodes == [(int(e["env_step"]), pytest.approx(float(e["return"]))) for e in eps]
    losses = [(d["env_step"], d["train/loss"]) for d in logged if "train/loss" in d]
    want = [(int(r["env_step"]), float(r["loss"])) for r in rows(out / "metrics.csv")]
    assert [s for s, _ in losses] == [s for s, _ in want]
    np.testing.assert_allclose([v for _, v in losses], [v for _, v in want], rtol=1e-5)
    assert (out / "episodes.csv").read_bytes() == (runs["seed0"] / "episodes.csv").read_bytes()


# ---------------------------------------------------------------------------------------------
# --config-file


def test_config_file_round_trip(runs, tmp_path):
    """A run started from another run's config.json is that run again (the same episodes.csv);
    flags override the file, and a YAML file of a few fields starts from the defaults."""
    source = runs["seed0"] / "config.json"
    again = tmp_path / "again"
    argv = ["--config-file", str(source), "--seed", "0", "--quiet", "--out", str(again)]
    assert call(lunar.main, argv) == 0
    assert (again / "episodes.csv").read_bytes() == (runs["seed0"] / "episodes.csv").read_bytes()
    saved = json.loads(source.read_text())["config"]
    assert json.loads((again / "config.json").read_text())["config"] == saved
    # a flag overrides the file; a YAML file sets only what it names
    yaml_file = tmp_path / "small.yaml"
    yaml_file.write_text("env: CartPole-v1\nhidden_sizes: [16, 16]\nbatch_size: 16\n")
    from experiments.common import config_from_file

    config = config_from_file(yaml_file)
    assert (config.env, config.hidden_sizes, config.batch_size) == ("CartPole-v1", (16, 16), 16)
    assert config.learning_rate == Config().learning_rate
    from experiments.common import parse, preset_default

    argv = ["--config-file", str(source), "--total-steps", "300"]
    args = parse(lunar.Args, argv, default=preset_default(lunar.Args, argv))
    assert args.config.total_steps == 300 and args.config.hidden_sizes == (16, 16)


@pytest.mark.parametrize("argv, words", [
    (["--config-file", "nope.json"], "--config-file nope.json: no such file"),
    (["--config-file", "{bad}"], "has unknown setting(s) learning_rat; did you mean learning_rate?"),
    (["--config-file", "{bad}", "--preset", "rainbow"], "--preset and --config-file cannot be combined"),
    (["--config-file", "{yaml}"], "--gamma 1.5 is invalid"),
])
def test_config_file_refusals(argv, words, tmp_path, capsys):
    (tmp_path / "bad.json").write_text(json.dumps({"learning_rat": 1e-3}))
    (tmp_path / "bad.yaml").write_text("gamma: 1.5\n")
    argv = [a.replace("{bad}", str(tmp_path / "bad.json")).replace("{yaml}", str(tmp_path / "bad.yaml"))
            for a in argv]
    assert call(lunar.main, [*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and words in err and "\n" not in err, err
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------
# kept checkpoints, evaluate --checkpoint


def test_keep_checkpoints_and_evaluate_any_kept_one(runs, tmp_path, capsys):
    """--keep-checkpoints 4 keeps the step-0, 200, 400 and 600 checkpoints of a 600-step run (its
    episodes unchanged); evaluate --checkpoint STEP evaluates that one, and names the kept steps
    when asked for another."""
    out = train(tmp_path / "keep4", "--seed", "0", "--keep-checkpoints", "4")
    kept = sorted(p.name for p in (out / "checkpoints").glob("step_*"))
    assert kept == [f"step_{t:010d}" for t in (0, 200, 400, 600)]
    assert (out / "episodes.csv").read_bytes() == (runs["seed0"] / "episodes.csv").read_bytes()
    at200 = run_evaluate([str(out), "--checkpoint", "200", "--episodes", "2", "--quiet"])
    latest = run_evaluate([str(out), "--episodes", "2", "--quiet"])
    assert (at200["env_steps_trained"], latest["env_steps_trained"]) == (200, 600)
    capsys.readouterr()
    for argv, words in (
        (["--checkpoint", "100"], "no checkpoint of env step 100 in"),
        (["--checkpoint", "100"], "; kept: 0, 200, 400, 600"),
        (["--checkpoint", "best"], "has no best checkpoint (it trained without --eval-every)"),
        (["--checkpoint", "last"], "--checkpoint last is invalid: give latest, best or an env step"),
    ):
        assert call(evaluate.main, [str(out), *argv, "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and words in err and "\n" not in err, err
    assert call(lunar.main, [*FLAGS, "--keep-checkpoints", "0", "--out", str(tmp_path / "k0")]) == 2
    assert "--keep-checkpoints 0 is invalid" in capsys.readouterr().err
    assert not (tmp_path / "k0").exists()


def test_eval_every_writes_evals_and_the_best_checkpoint(runs, tmp_path):
    """--eval-every 200 --eval-every-episodes 2 leaves training alone (episodes.csv as without);
    evals.csv has one row per 200 env steps, each the mean of 2 selection-stream episodes of that
    step's parameters; best.npz holds the best row's parameters (the first of ties), which
    evaluate --checkpoint best evaluates; stopped at its 200-step checkpoint and resumed, the run
    writes the same evals.csv and best parameters."""
    extra = ["--seed", "0", "--eval-every", "200", "--eval-every-episodes", "2", "--keep-checkpoints", "4"]
    out = train(tmp_path / "evals", *extra)
    assert (out / "episodes.csv").read_bytes() == (runs["seed0"] / "episodes.csv").read_bytes()
    table = rows(out / "evals.csv")
    assert [int(r["env_step"]) for r in table] == [200, 400, 600]
    assert {r["episodes"] for r in table} == {"2"}
    for r in table:
        agent, states, _, _ = load_run(out, int(r["env_step"]))
        want = evaluate_params(agent, states.learner.params[0], seed=0, episodes=2, stream=SELECT_STREAM)
        assert float(r["mean"]) == pytest.approx(float(np.mean(want)), rel=1e-5)
    means = [float(r["mean"]) for r in table]
    best_step = int(table[means.index(max(means))]["env_step"])
    params, meta = load_best(out / "checkpoints")
    _, at_best, _, _ = load_run(out, best_step)
    np.testing.assert_array_equal(params[0], np.asarray(at_best.learner.params[0]))
    assert meta["env_step"] == [best_step] and summary(out)["best_eval"]["env_step"] == best_step
    best = run_evaluate([str(out), "--checkpoint", "best", "--episodes", "2", "--quiet"])
    same = run_evaluate([str(out), "--checkpoint", str(best_step), "--episodes", "2", "--quiet"])
    assert best["env_steps_trained"] == best_step and best["mean"] == same["mean"]
    cut = tmp_path / "cut"
    with sigint_after_checkpoint(200):
        assert common.entry(lunar.main, [*FLAGS, *extra, "--out", str(cut)]) == 130
    assert len(rows(cut / "evals.csv")) == 1
    assert call(lunar.main, ["--resume", str(cut), "--quiet"]) == 0
    for name in ("episodes.csv", "evals.csv"):
        assert (cut / name).read_bytes() == (out / name).read_bytes(), name
    assert summary(cut)["best_eval"] == summary(out)["best_eval"]  # over both parts of the run
    resumed_params, resumed_meta = load_best(cut / "checkpoints")
    np.testing.assert_array_equal(resumed_params, params)
    assert resumed_meta == meta
