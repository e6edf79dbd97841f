"""What each Rainbow switch costs: one TD update with and without prioritised replay, and env
steps/s of the whole training loop (one agent, LunarLander-v3) with each switch.

    python -m benchmarks.switches                 # about 5 minutes
    python -m benchmarks.switches --quick         # seconds: for tests

Update cost: ``benchmarks.step``'s timing of the jitted agent step (act + update every
step minus act only) at batch 128. Loop throughput: ``noisyjax.run.loop.train`` after the warm-up and
the first (compiling) update; the variants take turns for ``--rounds`` rounds so that a shared
machine's load falls on all of them alike; the median is reported. Compare figures from one run.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys

from benchmarks.step import time_step
from benchmarks.sweep import loop_throughput
from experiments.common import parse
from noisyjax.config import Config, preset_config

VARIANTS: dict[str, dict] = {
    "default (noisy, double, 3-step, uniform)": {},
    "1-step returns": {"n_step": 1},
    "+ PER": {"per": True},
    "+ dueling": {"dueling": True},
    "no double Q": {"double_q": False},
    "epsilon-greedy (no noise)": {"noisy": False},
    "+ C51 (51 atoms)": {"distributional": True},
    "rainbow-lite (noisy + double + dueling + PER + 3-step)": {"preset": "rainbow-lite"},
    "rainbow (rainbow-lite + C51)": {"preset": "rainbow"},
}


@dataclasses.dataclass(frozen=True)
class Args:
    """Cost of each switch: update time and whole-loop env steps/s."""

    env: str = "LunarLander-v3"
    """Environment id of the loop measurement."""
    warmup_steps: int = 1_000
    """Random-action steps before learning."""
    skip_steps: int = 500
    """Steps after warm-up not timed (the first update compiles)."""
    measure_steps: int = 3_000
    """Timed env steps per variant and round."""
    rounds: int = 2
    """Rounds; the variants take turns in each."""
    calls: int = 300
    """Timed calls of the jitted step for the update cost."""
    quick: bool = False
    """Tiny run for tests."""


def config_of(variant: dict, **fields) -> Config:
    """The variant's Config (a preset's values, then the switches, then ``fields``)."""
    variant = dict(variant)
    base = preset_config(variant.pop("preset", None))
    return dataclasses.replace(base, **variant, **fields)


def main(argv: list[str] | None = None) -> int:
    args = parse(Args, sys.argv[1:] if argv is None else argv, description=__doc__)
    small: dict = {}
    names = list(VARIANTS)
    if args.quick:  # two variants, a tiny network: checks the plumbing, not the speed
        args = dataclasses.replace(
            args, warmup_steps=100, skip_steps=100, measure_steps=200, rounds=1, calls=5
        )
        small = {"hidden_sizes": (16, 16), "batch_size": 16, "buffer_size": 500}
        names = names[:3:2]

    print("Update cost (jitted step, batch 128, 1 agent; us per call)")
    print(f"{'variant':<58} {'act only':>9} {'act + update':>13} {'update':>8}")
    for name in names:
        base = config_of(VARIANTS[name], warmup_steps=0, **small)
        act = time_step(dataclasses.replace(base, train_freq=10**9), 1, 8, 4, args.calls, 3)
        both = time_step(dataclasses.replace(base, train_freq=1), 1, 8, 4, args.calls, 3)
        print(f"{name:<58} {act:>9.0f} {both:>13.0f} {both - act:>8.0f}", flush=True)

    print("\nWhole training loop, 1 agent (env steps/s after warm-up; median of rounds)")
    total = args.warmup_steps + args.skip_steps + args.measure_steps
    log_every = 100 if args.quick else 250
    results: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            config = config_of(
                VARIANTS[name], env=args.env, total_steps=total, warmup_steps=args.warmup_steps,
                log_every=log_every, checkpoint_every=10**9, eval_episodes=1, **small,
            )
            results[name].append(loop_throughput(config, 1, args.warmup_steps + args.skip_steps))
    ref = statistics.median(results[names[0]])
    print(f"{'variant':<58} {'steps/s':>9} {'vs default':>11}")
    for name in names:
        sps = statistics.median(results[name])
        print(f"{name:<58} {sps:>9.0f} {sps / ref:>11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
