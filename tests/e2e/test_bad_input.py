"""Bad input to the entry points: one ``error:`` line naming the problem and its limit, exit
status 2, no folder left behind, and nothing trained or loaded.

Every refusal here comes before training starts: ``run`` (and evaluate's ``load_run``) are
replaced by a stub that fails the test, so a check that lets bad input through fails fast
instead of starting a training that would not fit or would overflow.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from experiments import evaluate, lunar, sweep

ROOT = Path(__file__).resolve().parents[2]
BUDGET = [
    "--total-steps", "3000", "--warmup-steps", "1000", "--checkpoint-every", "500", "--log-every", "250",
    "--eval-episodes", "2", "--quiet",
]
LUNAR = ["--seed", "7", *BUDGET]
GIB = 2**30


def _must_not_run(*args, **kwargs):
    pytest.fail("bad input reached training (or loading) instead of being refused")


@pytest.fixture(autouse=True)
def no_training(monkeypatch, tmp_path):
    """No entry point trains or loads a run here; the memory check sees 16 GiB available (so its
    refusals do not depend on the machine); a default run folder would appear in tmp_path."""
    monkeypatch.setattr(lunar, "run", _must_not_run)
    monkeypatch.setattr(sweep, "run", _must_not_run)
    monkeypatch.setattr(evaluate, "load_run", _must_not_run)
    monkeypatch.setattr(lunar, "available_memory", lambda: 16 * GIB)
    monkeypatch.setattr(sweep, "available_memory", lambda: 16 * GIB)
    monkeypatch.chdir(tmp_path)


def refused(main, argv: list[str], capsys) -> str:
    """Run ``main(argv)``; require exit status 2, nothing on stdout and exactly one ``error:``
    line on stderr; return that line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    assert exit_.value.code == 2, f"exit status {exit_.value.code} for {argv}; stderr: {err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert out == ""
    return lines[0]


class ShiftedActions(gym.Env):
    """A flat Box observation and actions -1, 0, 1 (``Discrete(3, start=-1)``)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(3, start=-1)


@pytest.fixture
def shifted_env():
    gym.register("NoisyjaxShiftedActions-v0", entry_point=ShiftedActions)
    yield "NoisyjaxShiftedActions-v0"
    del gym.registry["NoisyjaxShiftedActions-v0"]


FLOATS = [
    ("--sigma0", "nan"), ("--sigma0", "inf"), ("--learning-rate", "inf"), ("--adam-eps", "inf"),
    ("--huber-delta", "inf"), ("--per-eps", "inf"), ("--max-grad-norm", "inf"), ("--gamma", "nan"),
    ("--target-tau", "inf"), ("--solve-threshold", "inf"), ("--solve-threshold", "nan"),
    ("--solve-threshold", "-inf"), ("--per-alpha", "nan"), ("--epsilon-end", "nan"),
    ("--learning-rate-end-fraction", "inf"), ("--learning-rate", "1e+39"),  # inf in float32
]
DEVICE_CASES = [
    (["--env", "gymnax:NoSuchEnv-v0"], "unknown gymnax env 'NoSuchEnv-v0'; gymnax has: CartPole-v1"),
    (["--env", "gymnax:Pendulum-v1"], "'Pendulum-v1' has a Box action space; DQN needs a Discrete"),
    (["--env", "gymnax:DeepSea-bsuite?size"], "environment options look like ?size=20"),
    (["--env", "gymnax:DeepSea-bsuite?sise=20"], "could not be made"),
    (["--env", "envpool:NoSuchEnv-v0"], "unknown envpool env"),
    (["--env", "envpool:LunarLanderContinuous-v3"], "Discrete"),
    (["--env", "envpool:LunarLander-v3", "--cpu-cores", "all"], "--cpu-cores all is not supported"),
]
"""Device env ids that are refused, with a word of why (lunar and sweep alike)."""

LUNAR_CASES = [
    (["--sed", "0"], "Unrecognized options: --sed, 0; did you mean --seed for --sed? (see --help)"),
    (["--totl-steps", "5", "--zzzz"], "did you mean --total-steps for --totl-steps? (see --help)"),
    (["--seed", "4294967296"], "--seed 4294967296 is invalid: must be in [0, 4294967296) (uint32"),
    (["--seed", "1099511627776"], "--seed 1099511627776 is invalid: must be in [0, 4294967296)"),
    (
        ["--hidden-sizes", "1000000", "1000000"],
        "error: 1 agent needs about 29.1 TiB for replay, params, target and Adam moments, more than "
        "60% of the 16.0 GiB available; use a smaller --buffer-size or smaller --hidden-sizes",
    ),
    (["--buffer-size", "2000000000"], "1 agent needs about 137.8 GiB"),
    (["--buffer-size", "10000000000"], "--buffer-size 10000000000 is invalid: must be at most 2147483647"),
    (["--total-steps", "10000000000"], "--total-steps 10000000000 is invalid: must be at most 2147483647"),
    (
        ["--target-update-period", "10000000000"],
        "--target-update-period 10000000000 is invalid: must be at most 2147483647 (int32 step counters)",
    ),
    (["--eval-episodes", "10000000000"], "--eval-episodes 10000000000 is invalid: must be at most 1000000"),
    (["--log-every", "2147483648"], "--log-every 2147483648 is invalid: must be at most 2147483647"),
    (["--hidden-sizes", "64", "2147483648"], "--hidden-sizes (64, 2147483648) is invalid"),
    *[([flag, value], f"{flag} {value} is invalid: must be a finite number") for flag, value in FLOATS],
    # Refused whether or not ale_py is installed: missing, or its Pong has image observations.
    (["--env", "ale_py:ALE/Pong-v5"], "--env 'ale_py:ALE/Pong-v5'"),
    (
        ["--env", "noisyjax_no_such_module:Foo-v0"],
        "needs module 'noisyjax_no_such_module', which is not installed; get it with "
        "pip install noisyjax_no_such_module",
    ),
    (["--env", "a:b:c"], "'a:b:c' is not an env id of the form Id or module:Id"),
    *DEVICE_CASES,
]


def _ids(x) -> str:
    return " ".join(x) if isinstance(x, list) else "-"


@pytest.mark.parametrize("extra, words", LUNAR_CASES, ids=_ids)
def test_lunar_refuses(extra, words, tmp_path, capsys):
    line = refused(lunar.main, [*LUNAR, "--out", str(tmp_path / "run"), *extra], capsys)
    assert words in line
    assert list(tmp_path.iterdir()) == []


def test_lunar_refuses_discrete_actions_not_starting_at_zero(shifted_env, tmp_path, capsys):
    line = refused(lunar.main, [*LUNAR, "--env", shifted_env], capsys)
    assert "Discrete(3, start=-1); noisyjax needs Discrete(n) starting at 0" in line
    assert list(tmp_path.iterdir()) == []


def test_lunar_accepts_the_limits_and_module_ids(tmp_path, monkeypatch):
    """The largest seed and a module:Id env pass every check and reach training; the default
    folder is named after the env id without its module."""
    started = []

    def run(config, seed, out, **_):
        started.append((config.env, seed, out))
        return 0

    monkeypatch.setattr(lunar, "run", run)
    env_id = "gymnasium.envs.classic_control:CartPole-v1"
    argv = [*BUDGET, "--seed", str(2**32 - 1), "--env", env_id, "--total-steps", str(2**31 - 1)]
    assert lunar.main(argv) == 0
    [(env, seed, out)] = started
    assert (env, seed) == (env_id, 2**32 - 1)
    assert out.parent == Path("runs") and out.name.startswith("CartPole-v1-seed4294967295-")
    assert (tmp_path / out / "config.json").is_file()


SWEEP_CASES = [
    (["--seeds", "1099511627776"], "seed 1099511627776 is invalid: must be below 4294967296 (uint32"),
    (
        ["--seeds", "0-20000"],  # parsed at once (linear), then refused by the memory check
        "20,001 agents need about 52.2 GiB for replay, params, target and Adam moments (2.7 MiB each)",
    ),
    (["--grid", "sigma0=nan"], "--grid sigma0: 'nan' is not a finite number"),
    (["--grid", "lr=inf"], "--grid lr: 'inf' is not a finite number"),
    (["--grid", "lr=1e39"], "--grid: learning_rate=1e+39 is invalid: must be a finite number"),
    (["--sigma0", "inf"], "--sigma0 inf is invalid: must be a finite number"),
    (["--hidden-sizes", "1000000", "1000000"], "2 agents need about 58.2 TiB"),
    (["--env", "noisyjax_no_such_module:Foo-v0"], "pip install noisyjax_no_such_module"),
    *DEVICE_CASES,
]


@pytest.mark.parametrize("extra, words", SWEEP_CASES, ids=_ids)
def test_sweep_refuses(extra, words, tmp_path, capsys):
    line = refused(sweep.main, [*BUDGET, "--seeds", "0-1", "--out", str(tmp_path / "sweep"), *extra], capsys)
    assert words in line
    assert list(tmp_path.iterdir()) == []


def test_sweep_refuses_discrete_actions_not_starting_at_zero(shifted_env, tmp_path, capsys):
    line = refused(sweep.main, [*BUDGET, "--seeds", "0-1", "--env", shifted_env], capsys)
    assert "noisyjax needs Discrete(n) starting at 0" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("episodes", ["10000000000", "1000001", "0"])
def test_evaluate_refuses_episodes_beyond_the_limit(episodes, capsys):
    """--episodes beyond 1,000,000 (or not positive) is refused before the run is loaded."""
    run_dir = ROOT / "tests" / "data" / "run_before_optax"
    line = refused(evaluate.main, [str(run_dir), "--episodes", episodes, "--quiet"], capsys)
    assert f"--episodes {episodes} is invalid: must be a positive integer at most 1000000" in line


@pytest.mark.parametrize("package", ["gymnax", "envpool"])
def test_a_missing_extra_names_its_pip_command(package, monkeypatch, tmp_path, capsys):
    """Without the backend's package, a device id is refused with the command that installs it."""
    from noisyjax.run import env_ids

    monkeypatch.setattr(env_ids, "installed", lambda name: name != package)
    name = "CartPole-v1" if package == "gymnax" else "LunarLander-v3"
    line = refused(lunar.main, [*LUNAR, "--env", f"{package}:{name}", "--out", str(tmp_path / "r")], capsys)
    command = 'pip install "gymnax' if package == "gymnax" else 'pip install -e ".[envpool]"'
    assert f"{package} is not installed; install it with: {command}" in line
    assert list(tmp_path.iterdir()) == []
