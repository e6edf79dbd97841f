"""Aggregate env steps/s and peak memory of a sweep of N agents, at the default settings.

    python -m benchmarks.sweep                          # 1, 4, 16, 64 agents, both axes
    python -m benchmarks.sweep --agents 1 16 --axes vmap --measure-steps 1000
    python -m benchmarks.sweep --quick                  # seconds: for tests
    python -m benchmarks.sweep --no-pinned              # without the pinned 1-agent row

Each (width, agent axis) runs the real training loop (``noisyjax.run.loop.train``: host envs, one
jitted step per env step, updates every ``train_freq`` steps) in a fresh subprocess, so that
its peak resident memory (``ru_maxrss``) is its own. Throughput counts only the env steps after
the warm-up and the first update (compilation) are over. Widths are measured in the order given,
alternating axes; on a shared machine compare ratios from one run.

Each row runs as ``experiments.sweep --cpu-cores all`` does: one XLA CPU device per core, and
the agents split evenly across them (``noisyjax.run.devices``). One agent alone runs faster pinned
to one core (``--cpu-cores one``, the default of ``experiments.lunar``: its tiny XLA ops lose more
to cross-core hand-offs than they gain), so by default one more row runs width 1 that way, and
every row is also compared with the best single-agent figure of the run ("vs best 1").
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from experiments.common import parse
from noisyjax.config import Config


@dataclasses.dataclass(frozen=True)
class Args:
    """Sweep throughput and memory benchmark (LunarLander-v3, default settings)."""

    agents: tuple[int, ...] = (1, 4, 16, 64)
    """Agent-axis widths to measure."""
    axes: tuple[str, ...] = ("map", "vmap")
    """Agent-axis strategies to measure (see docs/reproducibility.md)."""
    warmup_steps: int = 1_000
    """Random-action env steps before learning (shorter than the default 5,000: they cost no
    update, so they only delay the measurement)."""
    skip_steps: int = 500
    """Env steps after warm-up not timed (the first update compiles)."""
    measure_steps: int = 2_000
    """Timed env steps per agent."""
    env: str = "LunarLander-v3"
    """Environment id."""
    out: Path | None = None
    """Also write the table as JSON here."""
    pinned: bool = True
    """Also measure one agent pinned to a single core (exact axis)."""
    quick: bool = False
    """Tiny run for tests: widths 1 and 2, vmap only, a few hundred steps."""
    worker: str = ""
    """(internal) run one measurement: 'width,axis' or 'width,axis,pinned'."""


def loop_throughput(config: Config, width: int, start: int) -> float:
    """Aggregate env steps/s of ``noisyjax.run.loop.train`` for ``width`` agents (seeds 0..width-1),
    counted from the first log point at or after env step ``start`` (set it past the warm-up and
    the first update, which compiles) to the end of ``config.total_steps``."""
    from noisyjax.run.loop import train

    result = train(config, list(range(width)), evaluate_at_end=False)
    times = dict(result.log_times)
    t0 = min(t for t in times if t >= start)
    t1 = max(times)
    return (t1 - t0) * width / (times[t1] - times[t0])


def measure(args: Args, width: int, axis: str, pinned: bool = False) -> dict:
    """Run the loop for ``width`` agents in this process, as ``experiments.sweep`` runs it with
    ``--cpu-cores one`` (``pinned``) or ``all`` (one XLA device per core, agents split across
    them); returns steps/s and peak memory."""
    from experiments.common import apply_cpu_cores

    log_every = 100 if args.quick else 250
    total = args.warmup_steps + args.skip_steps + args.measure_steps
    config = Config(
        env=args.env, total_steps=total, warmup_steps=args.warmup_steps, agent_axis=axis,
        log_every=log_every, checkpoint_every=10**9, eval_episodes=1,
        cpu_cores="one" if pinned else "all",
    )
    apply_cpu_cores(config, quiet=True)
    import jax

    sps = loop_throughput(config, width, args.warmup_steps + args.skip_steps)
    return {
        "agents": width,
        "axis": axis,
        "aggregate_steps_per_sec": sps,
        "per_agent_steps_per_sec": sps / width,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "devices": len(jax.devices()),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(Args, argv, description=__doc__)
    if args.quick:
        args = dataclasses.replace(
            args, agents=(1, 2), axes=("vmap",), warmup_steps=200, skip_steps=100, measure_steps=200
        )
    if args.worker:
        width, axis, *pin = args.worker.split(",")
        print(json.dumps(measure(args, int(width), axis, pinned=pin == ["pinned"])))
        return 0
    rows = []
    print(f"{'agents':>6} {'axis':>10} {'aggregate steps/s':>18} {'per agent':>10} {'vs 1 agent':>10} "
          f"{'vs best 1':>10} {'peak RSS (MiB)':>15}", flush=True)
    jobs = [(width, axis, False) for width in args.agents for axis in args.axes]
    if args.pinned and 1 in args.agents:
        jobs.insert(len(args.axes), (1, "map", True))
    base: dict[str, float] = {}
    for width, axis, pinned in jobs:
        worker = f"{width},{axis}" + (",pinned" if pinned else "")
        cmd = [sys.executable, "-m", "benchmarks.sweep", *_passthrough(args), "--worker", worker]
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["pinned"] = pinned
        sps = row["aggregate_steps_per_sec"]
        if width == 1:
            base.setdefault(axis, sps)
            base["best"] = max(base.get("best", 0.0), sps)
        row["ratio_to_one_agent"] = sps / base.get(axis, float("nan"))
        row["ratio_to_best_one_agent"] = sps / base["best"] if "best" in base else float("nan")
        rows.append(row)
        label = f"{axis} pinned" if pinned else axis
        print(f"{width:>6} {label:>10} {sps:>18,.0f} {row['per_agent_steps_per_sec']:>10,.0f} "
              f"{row['ratio_to_one_agent']:>10.2f} {row['ratio_to_best_one_agent']:>10.2f} "
              f"{row['peak_rss_mib']:>15,.0f}", flush=True)
    if args.out is not None:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


def _passthrough(args: Args) -> list[str]:
    return [
        "--env", args.env, "--warmup-steps", str(args.warmup_steps),
        "--skip-steps", str(args.skip_steps), "--measure-steps", str(args.measure_steps),
    ] + (["--quick"] if args.quick else [])


if __name__ == "__main__":
    raise SystemExit(main())
