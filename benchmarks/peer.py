"""noisyjax's jitted engine against rejax's DQN on gymnax CartPole-v1, at the same settings.

    python -m benchmarks.peer                                  # 1 and 8 seeds, 50,000 env steps each
    python -m benchmarks.peer --seeds 1 8 --total-steps 200000
    python -m benchmarks.peer --quick                          # a few thousand steps, 1 seed: for tests

rejax 0.1.3 needs ``gymnax<1`` while noisyjax uses gymnax 1, so rejax runs in its own venv
(``--peer-python``; docs/speed.md gives the install command) as a subprocess,
``benchmarks/peer_rejax.py``. For each seed count both sides run one whole training run as one
jitted call, seeds vmapped: rejax's ``jax.jit(jax.vmap(algo.train))`` over keys, and noisyjax's
``jax.jit(make_train(config))`` with ``agent_axis="vmap"``. Each is called once to compile and
then timed on a second call; env steps/s = seeds * env steps per seed / seconds.

Both processes are pinned to the same one core (this process with ``noisyjax.run.cpu.apply("one")``,
the worker with ``--core`` set to that core) and run one after the other, never at once. The
settings (``SETTINGS``) are mapped onto each side's own knobs; ``MATCH`` lists what is matched
exactly and what is not.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.report import command_line, header, machine_info, markdown_table, package_versions, run_record
from experiments.common import fail, parse

# ../venv-rejax: a venv beside the checkout
DEFAULT_PEER_PYTHON = Path(__file__).resolve().parents[2] / "venv-rejax" / "bin" / "python"
VENV_COMMAND = (
    'python3 -m venv ../venv-rejax && ../venv-rejax/bin/pip install "rejax==0.1.3" "gymnax<1"'
)
WORKER = Path(__file__).with_name("peer_rejax.py")

SETTINGS: dict[str, Any] = dict(
    hidden_sizes=(64, 64), activation="relu", batch_size=128, buffer_size=30_000, learning_rate=1e-3,
    gamma=0.99, warmup_steps=1_000, updates_per_step=1, target_tau=0.01, target_every=1,
    epsilon_start=1.0, epsilon_end=0.05, epsilon_fraction=0.1, double_q=True,
)
"""The shared settings, in neutral names; ``rejax_flags`` and ``noisyjax_config`` map them."""

MATCH: list[tuple[str, str, str, str]] = [
    ("network", "QNetwork, hidden (64, 64), relu", "hidden_sizes=(64, 64), ReLU, noisy=False", "yes"),
    ("env / envs per seed", "gymnax 0.0.9 CartPole-v1, num_envs=1", "gymnax 1.0.1 CartPole-v1, one env",
     "yes"),
    ("batch / buffer", "batch_size=128, buffer_size=30000", "batch_size=128, buffer_size=30000", "yes"),
    ("optimiser", "Adam 1e-3 (eps 1e-8), constant", "Adam 1e-3 (eps 1e-8), learning_rate_end_fraction=1.0",
     "yes"),
    ("gradient clipping", "optax.clip(inf): none", "max_grad_norm=None", "yes"),
    ("updates", "num_epochs=1 per env step after fill_buffer=1000", "train_freq=1 after warmup_steps=1000",
     "yes (rejax makes one update fewer: its first is at step 1002)"),
    ("target", "polyak=0.99 every target_update_freq=1 env step", "target_tau=0.01, target_update_period=1",
     "yes"),
    ("exploration", "eps 1.0 -> 0.05 over 10% of the steps, uniform during fill", "epsilon_* the same",
     "yes"),
    ("targets", "double DQN (ddqn=True), 1-step, gamma 0.99", "double_q=True, n_step=1, gamma 0.99", "yes"),
    ("loss", "optax.l2_loss: 0.5 * TD error^2, mean", "loss='mse': TD error^2, mean",
     "no: a factor 0.5 (same cost; Adam is near scale-free)"),
    ("truncation", "done = terminated or truncated: no bootstrap", "bootstraps at truncation",
     "no (same cost)"),
    ("replay sampling", "jax.random.choice without replacement, p over the whole buffer",
     "jax.random.randint with replacement", "no: each side's own sampler"),
    ("evaluation", "none during the timed run (callback replaced)", "none (make_train does not evaluate)",
     "yes"),
]
"""(setting, rejax, noisyjax, matched?) rows of the settings table."""


@dataclasses.dataclass(frozen=True)
class Args:
    """noisyjax's jitted engine against rejax's DQN on gymnax CartPole-v1."""

    peer_python: Path = DEFAULT_PEER_PYTHON
    """Python of rejax's venv (rejax 0.1.3, gymnax<1)."""
    seeds: tuple[int, ...] = (1, 8)
    """Seed counts to measure (vmapped on both sides)."""
    total_steps: int = 50_000
    """Env steps per seed, the same on both sides."""
    pin: bool = True
    """Pin both processes to the same one core (False: both unpinned)."""
    out: Path | None = Path("runs/bench-peer-rejax.json")
    """Write the rows as JSON here (None: do not)."""
    quick: bool = False
    """Tiny run for tests: 1 seed, 3,000 env steps."""


def rejax_flags(total_steps: int, seeds: int, core: int | None) -> list[str]:
    """``benchmarks/peer_rejax.py``'s flags for ``SETTINGS``."""
    s = SETTINGS
    flags = [
        "--seeds", str(seeds), "--total-steps", str(total_steps),
        "--hidden", *map(str, s["hidden_sizes"]), "--activation", s["activation"],
        "--batch-size", str(s["batch_size"]), "--buffer-size", str(s["buffer_size"]),
        "--learning-rate", str(s["learning_rate"]), "--gamma", str(s["gamma"]),
        "--fill-buffer", str(s["warmup_steps"]), "--num-epochs", str(s["updates_per_step"]),
        "--target-update-freq", str(s["target_every"]), "--polyak", str(1.0 - s["target_tau"]),
        "--eps-start", str(s["epsilon_start"]), "--eps-end", str(s["epsilon_end"]),
        "--exploration-fraction", str(s["epsilon_fraction"]), "--ddqn", str(int(s["double_q"])),
    ]
    return flags + (["--core", str(core)] if core is not None else [])


def noisyjax_config(total_steps: int):
    """The ``noisyjax.Config`` of ``SETTINGS`` (epsilon-greedy DQN, vmapped agents)."""
    from noisyjax.config import Config

    s = SETTINGS
    return Config(
        env="gymnax:CartPole-v1", total_steps=total_steps, noisy=False, n_step=1, dueling=False, per=False,
        hidden_sizes=s["hidden_sizes"], batch_size=s["batch_size"], buffer_size=s["buffer_size"],
        learning_rate=s["learning_rate"], learning_rate_end_fraction=1.0, max_grad_norm=None, loss="mse",
        gamma=s["gamma"], warmup_steps=s["warmup_steps"], train_freq=1,  # updates_per_step=1
        target_update_period=s["target_every"], target_tau=s["target_tau"],
        epsilon_start=s["epsilon_start"], epsilon_end=s["epsilon_end"],
        epsilon_fraction=s["epsilon_fraction"],
        double_q=s["double_q"], agent_axis="vmap", log_every=1_000, checkpoint_every=10**9, eval_episodes=1,
    )


def time_rejax(python: Path, total_steps: int, seeds: int, core: int | None) -> dict[str, Any]:
    """Run the worker once and return its JSON line."""
    cmd = [str(python), str(WORKER), *rejax_flags(total_steps, seeds, core)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"rejax worker failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_noisyjax(total_steps: int, seeds: int) -> dict[str, Any]:
    """Compile ``jax.jit(make_train(config))`` over ``seeds`` agents, then time a second run."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from noisyjax.agent.types import stack_hparams
    from noisyjax.run.engine import make_train

    config = noisyjax_config(total_steps)
    train = jax.jit(make_train(config))
    ids = jnp.arange(seeds, dtype=jnp.uint32)
    hparams = stack_hparams(config, [{}] * seeds)
    start = time.perf_counter()
    jax.block_until_ready(train(ids, hparams))
    first = time.perf_counter() - start
    start = time.perf_counter()
    out = jax.block_until_ready(train(ids, hparams))
    seconds = time.perf_counter() - start
    last, steps = np.asarray(out.last_mean[-1]), int(out.t[-1])
    return {
        "seeds": seeds, "env_steps_per_seed": steps, "env_steps_per_s": seeds * steps / seconds,
        "seconds": seconds, "compile_s": max(first - seconds, 0.0), "first_call_s": first,
        "last100_return_mean": float(np.nanmean(last)) if np.isfinite(last).any() else None,
        "last100_return_per_seed": [None if not np.isfinite(x) else float(x) for x in last],
        "episodes_per_seed": [int(x) for x in np.asarray(out.episodes[-1])],
        "settings": dataclasses.asdict(config),
    }


def _ret(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f}"


def main(argv: list[str] | None = None) -> int:
    """Measure every seed count, print the table, write the JSON."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse(Args, argv, description=__doc__)
    if not args.peer_python.is_file():
        fail(f"rejax's venv is missing ({args.peer_python} not found); make it with: {VENV_COMMAND}")
    total, counts = (3_000, (1,)) if args.quick else (args.total_steps, args.seeds)
    from noisyjax.run import cpu

    core = cpu.apply("one") if args.pin else None
    machine = machine_info()
    rows = []
    for n in counts:
        rejax = time_rejax(args.peer_python, total, n, core)
        ours = time_noisyjax(total, n)
        ratio = ours["env_steps_per_s"] / rejax["env_steps_per_s"]
        row = {"seeds": n, "rejax": rejax, "noisyjax": ours, "ratio": ratio}
        rows.append(row)
        print(json.dumps({"seeds": n, "rejax": rejax["env_steps_per_s"], "noisyjax": ours["env_steps_per_s"],
                          "ratio": row["ratio"]}), flush=True)
    command = command_line("benchmarks.peer", argv)
    versions = package_versions(("noisyjax", "jax", "jaxlib", "flax", "optax", "gymnax"))
    peer_versions = rows[0]["rejax"]["versions"]
    print(header("noisyjax against rejax (jitted DQN, gymnax CartPole-v1)", command, versions, machine))
    print(f"- rejax venv: {', '.join(f'{k} {v}' for k, v in peer_versions.items() if v)}")
    print(f"- {'both pinned to core ' + str(core) if core is not None else 'both unpinned'}; "
          f"{total:,} env steps per seed; compile excluded (second call timed)")
    print(f"- load average at end {machine_info()['load_average']}\n")
    print(markdown_table(
        ["seeds", "rejax env steps/s", "noisyjax env steps/s", "noisyjax / rejax", "rejax s", "noisyjax s",
         "rejax final return", "noisyjax last-100 return"],
        [[r["seeds"], f"{r['rejax']['env_steps_per_s']:,.0f}", f"{r['noisyjax']['env_steps_per_s']:,.0f}",
          f"{r['ratio']:.2f}x", f"{r['rejax']['seconds']:.1f}", f"{r['noisyjax']['seconds']:.1f}",
          _ret(r["rejax"]["final_return_mean"]), _ret(r["noisyjax"]["last100_return_mean"])] for r in rows],
    ))
    print()
    print(markdown_table(["setting", "rejax", "noisyjax", "matched"], [list(m) for m in MATCH]))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        record = {**run_record(command, versions, machine), "peer_versions": peer_versions, "core": core,
                  "total_steps": total, "settings": SETTINGS, "rows": rows}
        args.out.write_text(json.dumps(record, indent=1, default=list))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
