"""End-to-end tests of the benchmark commands: benchmarks.throughput, benchmarks.profile and
bench_learning each run with ``--quick`` into a temporary folder, exit 0 and write their table.
Speeds are not checked. stable-baselines3 and sbx-rl are optional: without them their rows must
say "not installed"."""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import call

from benchmarks import engine as bench_engine
from benchmarks import learning as bench_learning
from benchmarks import profile as profile_step
from benchmarks import replay as bench_replay
from benchmarks import solve as bench_solve
from benchmarks import throughput as bench_throughput


def test_bench_throughput_quick_writes_its_table(tmp_path, capsys):
    out = tmp_path / "throughput"
    # noisyjax-zoo (the baseline) always runs; the noisyjax-default and hostenvs rows are left out
    # to keep the test short (they run the same code paths as noisyjax-zoo and env).
    argv = ["--quick", "--rows", "sb3", "sbx", "floor", "env", "--out", str(out)]
    assert call(bench_throughput.main, argv) == 0
    text = (out / "throughput.md").read_text()
    assert text.strip() in capsys.readouterr().out
    for row in bench_throughput.ROWS:
        assert (f"| {row.label} |" in text) == (row.name not in ("noisyjax-default", "hostenvs"))
    assert "measured separately, not re-run" in text
    assert "- command: `python -m benchmarks.throughput --quick" in text
    data = json.loads((out / "throughput.json").read_text())
    summary = data["summary"]
    for name in ("noisyjax-zoo", "floor", "env"):
        assert summary[name]["status"] == "ok", summary[name]
        assert summary[name]["steps_per_sec"][0] > 0
        assert summary[name]["peak_rss_mib"][0] > 0
    assert summary["noisyjax-zoo"]["ratio_to_noisyjax"] == [1.0]
    for name, module in (("sb3", "stable_baselines3"), ("sbx", "sbx")):
        if importlib.util.find_spec(module) is None:
            assert summary[name]["status"] == bench_throughput.NOT_INSTALLED
            assert bench_throughput.NOT_INSTALLED in text
        else:
            assert f"compute floor on one core vs {name.upper()}" in text


def test_profile_step_quick_writes_its_table(tmp_path, capsys):
    out = tmp_path / "profile"
    assert call(profile_step.main, ["--quick", "--calls", "50", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    text = (out / "profile.md").read_text()
    assert text.strip() in printed
    for part in ("env step", "jitted agent step", "TD update", "noise generation", "host->device",
                 "device->host", "logging", "Python bookkeeping", "whole loop, noisyjax.run.loop.train"):
        assert part in text, part
    data = json.loads((out / "profile.json").read_text())
    assert 0 < data["env_plus_compute_share"] <= 1.5
    assert data["train_us_per_step"][0] > 0


def test_bench_learning_quick_writes_its_table_and_plots(tmp_path):
    out = tmp_path / "learning"
    argv = ["--quick", "--seeds", "0-1", "--total-steps", "5500", "--quiet", "--out", str(out)]
    assert call(bench_learning.main, argv) == 0  # 500 steps of updates after the 5,000 warm-up
    text = (out / "learning.md").read_text()
    assert "| NoisyNet-DQN | 2 |" in text and "| epsilon-greedy DQN | 2 |" in text
    assert "**Verdict**" in text
    assert "| hidden_0 |" in text  # mean |sigma| per noisy layer
    for png in ("sweep_returns.png", "sweep_solved.png", "sweep_sigma.png"):
        assert (out / png).stat().st_size > 0
    data = json.loads((out / "learning.json").read_text())
    assert len(data["NoisyNet-DQN"]["final_return"]) == 2
    # In this process JAX has already started with its devices: the agents run on one.
    assert data["cpu_cores"] == "all" and data["cpu_devices"]["NoisyNet-DQN"] >= 1
    assert (out / "noisy" / "agent000-seed0" / "episodes.csv").is_file()
    assert (out / "epsilon" / "agent001-seed1" / "metrics.csv").is_file()
    assert not any(out.rglob("checkpoints"))


@pytest.mark.parametrize(
    "main, argv, needle",
    [
        (bench_throughput.main, ["--steps", "700"], "--steps 700"),
        (bench_throughput.main, ["--rows", "tensorflow"], "--rows tensorflow"),
        (profile_step.main, ["--repeats", "0"], "--repeats 0"),
        (bench_learning.main, ["--seeds", "3-1"], "--seeds"),
        (bench_learning.main, ["--total-steps", "0"], "--total-steps 0"),
    ],
)
def test_bad_input_is_one_error_line(main, argv, needle, capsys):
    assert call(main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err


def test_bench_solve_flags_rebuild_the_config():
    """bench_solve hands each run the flags that turn Config() into the benchmarked config: parsed
    by experiments.lunar they give that config back (bools, tuples, None and floats included)."""
    from experiments import lunar
    from experiments.common import parse
    from noisyjax.config import Config

    config = Config(env="CartPole-v1", noisy=False, double_q=False, hidden_sizes=(32, 16),
                    max_grad_norm=None, loss="mse", learning_rate=3e-4, solve_threshold=30.0)
    flags = bench_solve.config_flags(config)
    assert "--no-noisy" in flags and "--no-double-q" in flags
    assert parse(lunar.Args, flags).config == config
    assert bench_solve.config_flags(Config()) == []


def test_bench_solve_quick_runs_the_default_command_per_seed(tmp_path, capsys):
    """--quick trains two CartPole seeds as two experiments.lunar processes, one per core, and
    reports each seed's steps and seconds to solve (threshold 15, reached near env step 2,200)."""
    out = tmp_path / "solve"
    assert call(bench_solve.main, ["--quick", "--quiet", "--out", str(out)]) == 0
    text = (out / "solve.md").read_text()
    assert text.strip() in capsys.readouterr().out
    data = json.loads((out / "solve.json").read_text())
    assert data["seeds"] == [0, 1]
    assert "--env CartPole-v1" in " ".join(data["flags"])
    for seed in ("0", "1"):
        summary = json.loads((out / f"seed{seed}" / "summary.json").read_text())
        assert summary["seed"] == int(seed) and summary["status"] == "finished"
        assert data["steps_to_solve"][seed] == summary["steps_to_solve"] is not None
        assert 0 < data["seconds_to_solve"][seed] <= summary["wall_time_s"]
        assert (out / f"seed{seed}" / "episodes.csv").is_file()
    assert data["median_steps_to_solve"] == float(sorted(data["steps_to_solve"].values())[0] +
                                                  sorted(data["steps_to_solve"].values())[1]) / 2
    assert "Verdict" in text and "seconds to solve" in text


def test_bench_solve_refuses_bad_jobs(tmp_path, capsys):
    out = tmp_path / "solve"
    assert call(bench_solve.main, ["--jobs", "99", "--out", str(out)]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: --jobs 99 is invalid") and "\n" not in line
    assert not out.exists()


def test_bench_engine_quick_writes_its_table(tmp_path, capsys):
    out = tmp_path / "engine"
    assert call(bench_engine.main, ["--quick", "--rows", "cartpole", "--out", str(out)]) == 0
    text = (out / "engine.md").read_text()
    assert text.strip() in capsys.readouterr().out
    assert "| cartpole | 1 |" in text and "| cartpole | 2 |" in text
    rows = json.loads((out / "engine.json").read_text())["rows"]
    assert [r["agents"] for r in rows] == [1, 2]
    assert all(r[k] > 0 for r in rows for k in ("jit", "host", "floor"))


def test_bench_replay_quick_times_the_three_ways(capsys):
    assert call(bench_replay.main, ["--quick"]) == 0
    out = capsys.readouterr().out
    assert "1,000-slot buffer" in out
    for way in ("eager", "jit", "jit, donated"):
        line = next(line for line in out.splitlines() if line.startswith(f"{way} "))
        assert float(line.split()[-1].replace(",", "")) > 0
    assert call(bench_replay.main, ["--calls", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --calls 0 is invalid: must be at least 1"
