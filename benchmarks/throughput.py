"""Throughput of the whole training loop on LunarLander-v3: noisyjax against Stable-Baselines3 and
SBX DQN at identical settings, noisyjax at its own defaults, and the environment alone.

    python -m benchmarks.throughput                 # 3 repeats x 3,000 timed env steps
    python -m benchmarks.throughput --quick         # 1 repeat x 1,000 steps (< 2 minutes)
    python -m benchmarks.throughput --steps 5000 --repeats 5 --out runs/bench

Every measurement runs in its own subprocess (same interpreter), which first runs ``--warmup`` env
steps (compilation, SB3's setup, the first replay fills), then times exactly ``--steps`` env steps of
the whole loop (env step, action, replay, update, bookkeeping). Rows alternate within each repeat
(A B C ... A B C ...), and each row's speed is divided by the noisyjax zoo-settings measurement of the
same repeat, so the ratios stay valid on a shared machine. Peak memory is the peak resident set
size (``ru_maxrss``) of that subprocess: interpreter, libraries, agent and replay buffer.

stable-baselines3 and sbx-rl are optional (``pip install -e '.[bench]'`` after a CPU torch): rows of
a package that is not importable say so. Writes ``throughput.md`` and ``throughput.json`` to --out.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.report import (
    CORE_PACKAGES,
    command_line,
    header,
    load_average,
    machine_info,
    markdown_table,
    package_versions,
    run_record,
)
from experiments.common import fail, new_run_dir, parse

if TYPE_CHECKING:
    from noisyjax.config import Config

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "LunarLander-v3"
LOG_EVERY = 500  # noisyjax log points (its timing marks): --steps and --warmup are multiples of it
RESULT_TAG = "BENCH_RESULT "
NOT_INSTALLED = "not installed (pip install -e '.[bench]')"
NOTEBOOK_STEPS_PER_SEC = 110.0
PACKAGES = (*CORE_PACKAGES, "torch", "stable-baselines3", "sbx-rl")

# rl-baselines3-zoo's LunarLander DQN hyperparameters, with one gradient step per env step.
ZOO = {
    "hidden": (256, 256), "learning_rate": 6.3e-4, "batch_size": 128, "buffer_size": 50_000,
    "learning_starts": 0, "gamma": 0.99, "target_update": 250, "train_freq": 1,
    "exploration_fraction": 0.12, "exploration_final_eps": 0.1, "max_grad_norm": 10.0,
}


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the table: a name, what it runs, and the package it needs (None: always runs)."""

    name: str
    label: str
    settings: str
    module: str | None = None


ROWS = (
    Row("noisyjax-zoo", "noisyjax, epsilon-greedy DQN", "zoo settings (256x256, 1 update/step)"),
    Row("sb3", "Stable-Baselines3 DQN (torch)", "zoo settings", "stable_baselines3"),
    Row("sbx", "SBX DQN (jax)", "zoo settings, no grad clipping (SBX has none)", "sbx"),
    Row("noisyjax-default", "noisyjax, NoisyNet-DQN", "its defaults: Config()"),
    Row("floor", "bare JAX DQN update + env step", "zoo settings; no replay, no acting, one core"),
    Row("floor-all", "bare JAX DQN update + env step", "zoo settings; no replay, no acting, both cores"),
    Row("hostenvs", "noisyjax HostEnvs alone", "random actions"),
    Row("env", "LunarLander-v3 alone (gymnasium)", "random actions: the ceiling"),
)
BASELINE = "noisyjax-zoo"


@dataclasses.dataclass(frozen=True)
class Args:
    """Env steps/s of whole training loops on LunarLander-v3, side by side in one run."""

    quick: bool = False
    """Short run (1 repeat x 1,000 timed steps after 500 warm-up steps) that finishes in < 2 minutes."""
    steps: int | None = None
    """Timed env steps per measurement (a multiple of 500); default 3000, 1000 with --quick."""
    warmup: int | None = None
    """Env steps run before timing starts (a multiple of 500); default 1000, 500 with --quick. A
    config with its own random warm-up phase (noisyjax defaults) runs that phase first as well."""
    repeats: int | None = None
    """Measurements per row, alternating rows; default 3, 1 with --quick."""
    rows: tuple[str, ...] = tuple(r.name for r in ROWS)
    """Rows to measure (noisyjax-zoo is always measured: ratios are to it)."""
    seed: int = 0
    """Seed of every agent and env."""
    torch_threads: int | None = None
    """torch intra-op threads of the SB3 row; default: torch's own (one per core). On a shared
    machine torch's threads can slow SB3 down far more than the load alone would."""
    timeout: float = 600.0
    """Seconds after which one measurement is stopped and its row reports a time-out."""
    out: Path | None = None
    """Folder to create (must not exist or be empty); default: a new folder under runs/."""


# ------------------------------------------------------------------------------ argument checks


def positive_multiple(flag: str, value: int, of: int, allow_zero: bool = False) -> None:
    """Refuse (one ``error:`` line, exit 2) a value that is not a (positive) multiple of ``of``."""
    if value < 0 or (value == 0 and not allow_zero) or value % of:
        need = "a non-negative" if allow_zero else "a positive"
        fail(f"{flag} {value} is invalid: must be {need} multiple of {of}")


# --------------------------------------------------------------------------------- measurements


def zoo_config(total_steps: int) -> Config:
    """noisyjax's Config at rl-baselines3-zoo's LunarLander DQN settings (epsilon-greedy)."""
    from noisyjax.config import Config

    return Config(
        noisy=False, hidden_sizes=ZOO["hidden"], learning_rate=ZOO["learning_rate"],
        batch_size=ZOO["batch_size"], buffer_size=ZOO["buffer_size"], warmup_steps=ZOO["learning_starts"],
        gamma=ZOO["gamma"], target_tau=1.0, target_update_period=ZOO["target_update"],
        train_freq=ZOO["train_freq"], epsilon_start=1.0, epsilon_end=ZOO["exploration_final_eps"],
        epsilon_fraction=ZOO["exploration_fraction"], double_q=False, n_step=1, loss="huber",
        max_grad_norm=ZOO["max_grad_norm"], total_steps=total_steps, log_every=LOG_EVERY,
    )


def _time_noisyjax(config: Config, warmup: int, steps: int, seed: int) -> float:
    from noisyjax.run import cpu
    from noisyjax.run.loop import train

    cpu.apply(config.cpu_cores)  # as experiments.lunar runs it (one core by default)
    result = train(config, [seed], evaluate_at_end=False)
    marks = dict(result.log_times)
    start, end = config.warmup_steps + warmup, config.warmup_steps + warmup + steps
    if start == 0:
        raise RuntimeError("noisyjax needs --warmup >= 500 (its first timing mark)")
    return steps / (marks[end] - marks[start])


def _time_peer(name: str, warmup: int, steps: int, seed: int, torch_threads: int | None = None) -> float:
    import gymnasium as gym
    from stable_baselines3.common.callbacks import BaseCallback

    if name == "sb3":
        import torch
        from stable_baselines3 import DQN

        if torch_threads:
            torch.set_num_threads(torch_threads)

        extra = {"device": "cpu", "max_grad_norm": ZOO["max_grad_norm"]}
    else:
        from sbx import DQN

        extra = {}  # SBX's DQN has no gradient clipping

    marks: dict[int, float] = {}

    class Marks(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps in (warmup, warmup + steps):
                marks[self.num_timesteps] = time.perf_counter()
            return True

    model = DQN(
        "MlpPolicy", gym.make(ENV_ID), learning_rate=ZOO["learning_rate"], buffer_size=ZOO["buffer_size"],
        learning_starts=ZOO["learning_starts"], batch_size=ZOO["batch_size"], tau=1.0, gamma=ZOO["gamma"],
        train_freq=ZOO["train_freq"], gradient_steps=1, target_update_interval=ZOO["target_update"],
        exploration_fraction=ZOO["exploration_fraction"], exploration_initial_eps=1.0,
        exploration_final_eps=ZOO["exploration_final_eps"],
        policy_kwargs={"net_arch": list(ZOO["hidden"])}, seed=seed, verbose=0, **extra,
    )
    model.learn(total_timesteps=warmup + steps, callback=Marks())
    return steps / (marks[warmup + steps] - marks[warmup])


def _time_floor(warmup: int, steps: int, seed: int, cores: str = "one") -> float:
    """Env steps/s of the least any JAX DQN must do per env step at the zoo settings, on one core
    (``cores="one"``) or on every core (``"all"``): a random-action env step, then one jitted TD
    update (Huber loss of a 256x256 MLP against a target net, value_and_grad, Adam) on a fixed
    batch, waiting for its result as a loop must. No replay, no acting, no logging: the compute
    floor that bounds every row's ratio."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from noisyjax.run import cpu

    cpu.apply(cores)
    sizes = (8, *ZOO["hidden"], 4)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(sizes))
    params = [
        (jax.random.normal(k, (i, o)) / np.sqrt(i), jnp.zeros(o)) for k, i, o in zip(keys, sizes, sizes[1:])
    ]
    target = jax.tree.map(jnp.copy, params)
    opt = optax.chain(optax.clip_by_global_norm(ZOO["max_grad_norm"]), optax.adam(ZOO["learning_rate"]))

    def q(p, x):
        for w, b in p[:-1]:
            x = jax.nn.relu(x @ w + b)
        return x @ p[-1][0] + p[-1][1]

    @jax.jit
    def update(p, opt_state, batch):
        obs, action, reward, next_obs, done = batch

        def loss(p):
            y = reward + ZOO["gamma"] * (1.0 - done) * q(target, next_obs).max(-1)
            qa = jnp.take_along_axis(q(p, obs), action[:, None], 1)[:, 0]
            return optax.huber_loss(qa, jax.lax.stop_gradient(y)).mean()

        value, grads = jax.value_and_grad(loss)(p)
        updates, opt_state = opt.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, value

    rng = np.random.default_rng(seed)
    n = ZOO["batch_size"]
    batch = (
        jnp.asarray(rng.normal(size=(n, 8)), jnp.float32), jnp.asarray(rng.integers(0, 4, n), jnp.int32),
        jnp.asarray(rng.normal(size=n), jnp.float32), jnp.asarray(rng.normal(size=(n, 8)), jnp.float32),
        jnp.zeros(n, jnp.float32),
    )
    state = [params, opt.init(params)]

    def one_update():
        state[0], state[1], value = update(state[0], state[1], batch)
        value.block_until_ready()

    return _time_gym_env(warmup, steps, seed, one_update)


def _time_gym_env(warmup: int, steps: int, seed: int, after_step=None) -> float:
    """Env steps/s of one gymnasium LunarLander stepped with seeded random actions, calling
    ``after_step()`` (if given) after every step; the first ``warmup`` steps are not timed."""
    import gymnasium as gym
    import numpy as np

    actions = np.random.default_rng(seed).integers(0, 4, warmup + steps).astype(np.int32)
    env = gym.make(ENV_ID)
    env.reset(seed=seed)
    start = 0.0
    for t, a in enumerate(actions):
        if t == warmup:
            start = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(int(a))
        if terminated or truncated:
            env.reset()
        if after_step is not None:
            after_step()
    return steps / (time.perf_counter() - start)


def _time_env(name: str, warmup: int, steps: int, seed: int) -> float:
    if name == "env":
        return _time_gym_env(warmup, steps, seed)
    import numpy as np

    from noisyjax.run.envs import HostEnvs

    actions = np.random.default_rng(seed).integers(0, 4, warmup + steps).astype(np.int32)
    envs = HostEnvs(ENV_ID, [seed])
    envs.reset()
    start = 0.0
    for t, a in enumerate(actions):
        if t == warmup:
            start = time.perf_counter()
        _, _, terminated, truncated = envs.step(a[None])
        done = terminated | truncated
        if done.any():
            envs.reset_done(done)
    return steps / (time.perf_counter() - start)


def measure(name: str, warmup: int, steps: int, seed: int, torch_threads: int | None = None) -> dict:
    """Env steps/s of row ``name`` over ``steps`` env steps after ``warmup``, and the peak resident
    set size (MiB) of this process. Meant to run alone in a fresh process (see ``worker_main``)."""
    from noisyjax.config import Config

    if name == "noisyjax-zoo":
        sps = _time_noisyjax(zoo_config(warmup + steps), warmup, steps, seed)
    elif name == "noisyjax-default":
        base = Config()
        total = base.warmup_steps + warmup + steps
        config = dataclasses.replace(base, total_steps=total, log_every=LOG_EVERY)
        sps = _time_noisyjax(config, warmup, steps, seed)
    elif name in ("sb3", "sbx"):
        sps = _time_peer(name, warmup, steps, seed, torch_threads)
    elif name in ("floor", "floor-all"):
        sps = _time_floor(warmup, steps, seed, "one" if name == "floor" else "all")
    else:
        sps = _time_env(name, warmup, steps, seed)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {"steps_per_sec": sps, "peak_rss_mib": peak}


def worker_main() -> None:
    """Entry point of a measuring subprocess: JSON spec in argv[1], result JSON on stdout."""
    spec = json.loads(sys.argv[1])
    result = measure(spec["row"], spec["warmup"], spec["steps"], spec["seed"], spec.get("torch_threads"))
    if spec["row"] in ("sb3", "sbx"):
        import torch

        result["torch_threads"] = torch.get_num_threads()
    print(RESULT_TAG + json.dumps(result), flush=True)


def run_worker(
    name: str, warmup: int, steps: int, seed: int, timeout: float | None = None,
    torch_threads: int | None = None,
) -> dict:
    """Run ``measure`` for one row in a fresh subprocess (stopped after ``timeout`` seconds);
    returns its result or an ``error``."""
    spec = json.dumps(
        {"row": name, "warmup": warmup, "steps": steps, "seed": seed, "torch_threads": torch_threads}
    )
    code = "from benchmarks.throughput import worker_main; worker_main()"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, spec], capture_output=True, text=True, env=env, check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
    return {"error": last}


# ------------------------------------------------------------------------------------------ table


def _spread(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return format(med, fmt)
    return f"{format(med, fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def summarise(results: dict[str, list[dict]], skipped: dict[str, str]) -> dict:
    """Per row: steps/s per repeat, ratio to the baseline of the same repeat, peak memory."""
    base = [r.get("steps_per_sec") for r in results.get(BASELINE, [])]
    out = {}
    for row in ROWS:
        if row.name in skipped:
            out[row.name] = {"status": skipped[row.name]}
            continue
        if row.name not in results:
            continue
        runs = results[row.name]
        errors = [r["error"] for r in runs if "error" in r]
        sps = [r["steps_per_sec"] for r in runs if "error" not in r]
        ratios = [
            r["steps_per_sec"] / b for r, b in zip(runs, base) if "error" not in r and b is not None
        ]
        out[row.name] = {
            "status": "ok" if sps else f"failed: {errors[0]}",
            "steps_per_sec": sps, "ratio_to_noisyjax": ratios,
            "peak_rss_mib": [r["peak_rss_mib"] for r in runs if "error" not in r],
            "errors": errors, "repeats": len(runs),
            "torch_threads": sorted({r["torch_threads"] for r in runs if "torch_threads" in r}),
        }
    return out


def render(summary: dict, meta: dict) -> str:
    """The markdown table, the targets (4x SBX, 6x SB3), and what was measured."""
    base = summary.get(BASELINE, {}).get("steps_per_sec") or []
    lines = []
    for row in ROWS:
        s = summary.get(row.name)
        if s is None:
            continue
        settings = row.settings
        if row.name == "sb3" and s.get("torch_threads"):
            settings += f"; torch threads {', '.join(map(str, s['torch_threads']))}"
        if s["status"] != "ok":
            lines.append([row.label, settings, s["status"], "-", "-"])
            continue
        missing = ""
        if s["errors"]:
            missing = (f" [{len(s['steps_per_sec'])} of {s['repeats']} repeats; the others: "
                       f"{s['errors'][0]}]")
        lines.append([
            row.label, settings, _spread(s["steps_per_sec"], ",.0f") + missing,
            _spread(s["ratio_to_noisyjax"], ".2f"), f"{max(s['peak_rss_mib']):,.0f}",
        ])
    if base:
        ratio = NOTEBOOK_STEPS_PER_SEC / statistics.median(base)
        lines.append([
            "original Keras notebook (TensorFlow 2.21 CPU)", "its own: noisy 3x128, batch 32, 1 update/step",
            f"~{NOTEBOOK_STEPS_PER_SEC:.0f} (measured separately, not re-run)", f"~{ratio:.2f}", "-",
        ])
    table = markdown_table(
        ["row", "settings", "env steps/s: median (min-max)", "ratio to noisyjax zoo: median (min-max)",
         "peak RSS (MiB)"],
        lines,
    )
    targets = []
    for name, label, need in (("sbx", "SBX", 4.0), ("sb3", "SB3", 6.0)):
        s = summary.get(name, {})
        if s.get("status") != "ok" or not s.get("ratio_to_noisyjax"):
            targets.append(f"- noisyjax vs {label}: {s.get('status', 'not measured')}")
            continue
        speedup = [1.0 / r for r in s["ratio_to_noisyjax"]]
        met = "met" if min(speedup) >= need else ("met at the median" if statistics.median(speedup) >= need
                                                  else "NOT met")
        partial = f"; from {len(speedup)} of {s['repeats']} repeats" if s["errors"] else ""
        targets.append(
            f"- noisyjax is {_spread(speedup, '.2f')}x {label}'s env steps/s at identical settings "
            f"(target >= {need:g}x: {met}{partial})"
        )
    for name, label in (("sbx", "SBX"), ("sb3", "SB3")):
        s = summary.get(name, {})
        for floor_name, where in (("floor", "one core"), ("floor-all", "both cores")):
            floor = summary.get(floor_name, {})
            if floor.get("status") != "ok" or s.get("status") != "ok":
                continue
            bound = statistics.median(floor["steps_per_sec"]) / statistics.median(s["steps_per_sec"])
            targets.append(
                f"- compute floor on {where} vs {label}: a bare JAX update plus an env step runs "
                f"{bound:.2f}x {label}'s env steps/s; no DQN at these settings on {where} can "
                "exceed that ratio"
            )
    notes = (
        f"Each measurement: {meta['warmup']:,} warm-up env steps (plus a config's own random warm-up "
        f"phase), then {meta['steps']:,} timed env steps of the whole loop, in a fresh subprocess; "
        f"{meta['repeats']} repeat(s), rows alternating within each repeat; ratios are taken within a "
        "repeat. Peak RSS: ru_maxrss of the measuring subprocess (interpreter + libraries + agent + "
        f"replay), max over repeats. Load average at the end: {meta['load_end']}."
    )
    return "\n".join([meta["header"], table, "", *targets, "", notes, ""])


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table, write throughput.md and throughput.json; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse(Args, argv, description=__doc__)
    steps = args.steps if args.steps is not None else (1000 if args.quick else 3000)
    warmup = args.warmup if args.warmup is not None else (500 if args.quick else 1000)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    positive_multiple("--steps", steps, LOG_EVERY)
    positive_multiple("--warmup", warmup, LOG_EVERY)
    if repeats < 1:
        fail(f"--repeats {repeats} is invalid: must be a positive integer")
    if args.torch_threads is not None and args.torch_threads < 1:
        fail(f"--torch-threads {args.torch_threads} is invalid: must be a positive integer")
    if not args.timeout > 0:
        fail(f"--timeout {args.timeout} is invalid: must be > 0 seconds")
    known = [r.name for r in ROWS]
    unknown = [r for r in args.rows if r not in known]
    if unknown:
        fail(f"--rows {' '.join(unknown)}: unknown row; choose from {' '.join(known)}")
    wanted = [r for r in ROWS if r.name in args.rows or r.name == BASELINE]

    out = new_run_dir(args.out, "bench-throughput")

    versions = package_versions(PACKAGES)
    machine = machine_info()
    command = command_line("benchmarks.throughput", argv)
    skipped = {
        r.name: NOT_INSTALLED for r in wanted if r.module and importlib.util.find_spec(r.module) is None
    }
    results: dict[str, list[dict]] = {}
    t0 = time.perf_counter()
    for k in range(repeats):
        for row in wanted:
            if row.name in skipped:
                continue
            r = run_worker(row.name, warmup, steps, args.seed, args.timeout, args.torch_threads)
            results.setdefault(row.name, []).append(r)
            shown = f"{r['steps_per_sec']:,.0f} env steps/s" if "error" not in r else r["error"]
            print(f"[repeat {k + 1}/{repeats}] {row.name}: {shown}", file=sys.stderr, flush=True)
    summary = summarise(results, skipped)
    meta = {
        "header": header("Throughput of the whole training loop, LunarLander-v3", command, versions, machine),
        "warmup": warmup, "steps": steps, "repeats": repeats, "load_end": load_average(),
    }
    text = render(summary, meta)
    print(text)
    (Path(out) / "throughput.md").write_text(text)
    payload = {
        **run_record(command, versions, machine),
        "warmup": warmup, "steps": steps, "repeats": repeats, "seed": args.seed,
        "wall_time_s": time.perf_counter() - t0, "raw": results, "summary": summary,
        "zoo_settings": {k: list(v) if isinstance(v, tuple) else v for k, v in ZOO.items()},
        "notebook_reference_steps_per_sec": NOTEBOOK_STEPS_PER_SEC,
    }
    (Path(out) / "throughput.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {out}/throughput.md and throughput.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
