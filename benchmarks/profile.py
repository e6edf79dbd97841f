"""Where the time of one noisyjax training step goes, at the default Config on LunarLander-v3.

    python -m benchmarks.profile              # 3 x (loop + timed loop), 5,000 timed steps each
    python -m benchmarks.profile --quick      # 1 x 1,000 timed steps, 1,000 warm-up (a minute)

Three measurements, with the library's own functions (one agent, after the warm-up):

1. the whole loop: ``noisyjax.run.loop.train``, timed between two of its log points
   (``TrainResult.log_times``);
2. the same loop with a ``noisyjax.run.hooks.Stopwatch`` (``timed_loop``): ``train`` reads the
   clock around each of its parts. Its one change: the step's result is waited for
   (``block_until_ready``) before ``np.asarray`` reads the actions, so that the step and the
   read-back are timed apart. Every part is timed inside the real loop, under the same load;
3. microbenchmarks of parts that happen inside the jitted call and cannot be timed there: the
   host->device transfer of its numpy inputs (the same step called with numpy inputs and with
   inputs already on the device, alternating in blocks of 20 calls), ``Agent.act_batch`` alone
   (action selection) and ``QNetwork.noise`` (one noise draw, amortised over 64 draws in one
   call). They are shown as "of which" estimates.

The timed and the plain loop are alternated; the table reports medians, and prints both totals,
so the cost of the timing itself shows.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.report import header, machine_info, markdown_table, package_versions, utc_now
from experiments.common import fail, new_run_dir, parse

if TYPE_CHECKING:
    from noisyjax.config import Config

TARGET_SHARE = 0.80  # the target: env step + jitted agent compute >= 80% of the loop
PARTS = ("env", "bookkeeping", "step_act", "step_update", "transfer_out", "logging")  # of Stopwatch


@dataclasses.dataclass(frozen=True)
class Args:
    """Profile of one noisyjax training step at the default Config."""

    quick: bool = False
    """Plumbing check: 1 x 1,000 timed steps after a 1,000-step warm-up (instead of the default
    5,000), 3 x 200 microbenchmark calls; about a minute."""
    steps: int | None = None
    """Timed env steps per measurement (rounded up to the loop's log_every); default 5000, 1000
    with --quick."""
    repeats: int | None = None
    """Measurements of the loop with and without its Stopwatch, alternated (medians reported); default 3,
    1 with --quick."""
    calls: int | None = None
    """Calls per repeat of each microbenchmark (5 repeats, 3 with --quick); default 1000, 200
    with --quick."""
    seed: int = 0
    """Seed of the agent and env."""
    out: Path | None = None
    """Also write profile.md and profile.json into this new folder (must not exist or be empty)."""


def window(config: Config, steps: int) -> tuple[int, int]:
    """``(start, end)`` env steps of the timed window: the first log point at least 1,000 steps
    after the warm-up, and ``steps`` (rounded up to log_every) later."""
    every = config.log_every
    start = math.ceil((config.warmup_steps + 1000) / every) * every
    return start, start + math.ceil(steps / every) * every


def time_train(config: Config, steps: int, seed: int) -> tuple[float, int]:
    """Microseconds per env step of ``noisyjax.run.loop.train`` (one agent) over the timed window.
    Returns ``(us per step, timed steps)``."""
    from noisyjax.run.loop import train

    start, end = window(config, steps)
    result = train(dataclasses.replace(config, total_steps=end), [seed], evaluate_at_end=False)
    marks = dict(result.log_times)
    return (marks[end] - marks[start]) / (end - start) * 1e6, end - start


def timed_loop(config: Config, steps: int, seed: int) -> dict:
    """``noisyjax.run.loop.train`` itself (one agent, no files) with a ``Stopwatch``: the loop
    reads the clock around each of its parts and waits for each jitted step before reading its
    actions back. Returns seconds per part summed over the timed window (``PARTS``, plus
    ``total``), the number of timed steps and of steps that ran a TD update."""
    from noisyjax.run.hooks import Stopwatch
    from noisyjax.run.loop import train

    start, end = window(config, steps)
    watch = Stopwatch(start, end)
    train(dataclasses.replace(config, total_steps=end), [seed], evaluate_at_end=False, stopwatch=watch)
    seconds = {part: watch.seconds[part] for part in PARTS}
    seconds["logging"] += watch.seconds["checkpoint"]  # no files: nothing is written
    seconds["total"] = sum(seconds.values())
    return {"seconds": seconds, "steps": watch.steps, "update_steps": watch.updates}


def microbenchmarks(config: Config, seed: int, calls: int, repeats: int) -> dict[str, list[float]]:
    """Seconds per call, each a list over repeats (the pieces interleaved within a repeat):
    ``step_numpy`` / ``step_device``: the jitted ``step_batch`` without an update, fed numpy
    inputs or inputs already on the device (alternating in blocks of 20 calls); ``act``:
    ``act_batch`` alone; ``noise``: one ``QNetwork.noise`` draw (noisy nets only)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from noisyjax.agent.agent import Agent
    from noisyjax.agent.types import Transition, stack_hparams
    from noisyjax.run.envs import HostEnvs

    envs = HostEnvs(config.env, [seed])
    obs_dim, num_actions = envs.obs_dim, envs.num_actions
    envs.close()
    rng = np.random.default_rng(seed)
    values = {
        "obs": rng.normal(size=(1, obs_dim)).astype(np.float32),
        "action": np.zeros(1, np.int32),
        "reward": np.ones(1, np.float32),
        "next_obs": rng.normal(size=(1, obs_dim)).astype(np.float32),
    }  # the other fields are per-step flags (terminated, truncated): False
    host = (Transition(**{f: values.get(f, np.zeros(1, bool)) for f in Transition._fields}), values["obs"])
    device = jax.device_put(host)
    cfg = dataclasses.replace(config, warmup_steps=0, train_freq=10**9)  # never an update
    agent = Agent(cfg, obs_dim, num_actions)
    box = {"states": jax.jit(agent.init_batch)(jnp.asarray([seed]), stack_hparams(cfg, [{}]))}
    step = jax.jit(functools.partial(agent.step_batch, update=False), donate_argnums=0)
    act = jax.jit(agent.act_batch, donate_argnums=0)
    for inputs in (host, device):
        box["states"], a = step(box["states"], *inputs)
        box["states"], a = act(box["states"], inputs[1])
    a.block_until_ready()

    def steps() -> tuple[float, float]:
        s, spent, block = box["states"], [0.0, 0.0], 20
        for _ in range(max(1, calls // block)):
            for k, inputs in enumerate((host, device)):
                t0 = time.perf_counter()
                for _ in range(block):
                    s, a = step(s, *inputs)
                    np.asarray(a)
                spent[k] += time.perf_counter() - t0
        box["states"] = s
        n = max(1, calls // block) * block
        return spent[0] / n, spent[1] / n

    def act_only() -> float:
        s = box["states"]
        t0 = time.perf_counter()
        for _ in range(calls):
            s, a = act(s, device[1])
            a.block_until_ready()
        box["states"] = s
        return (time.perf_counter() - t0) / calls

    noise = None
    if config.noisy:
        network = agent.network
        draws = 64

        @jax.jit
        def many_draws(key):
            def body(_, carry):
                k, acc = carry
                k, sub = jax.random.split(k)
                return k, acc + sum(jnp.sum(e) for e in network.noise(sub, obs_dim))

            return jax.lax.fori_loop(0, draws, body, (key, jnp.float32(0.0)))[1]

        key = jax.random.PRNGKey(seed)
        many_draws(key).block_until_ready()

        def noise() -> float:
            n = max(1, calls // 10)
            t0 = time.perf_counter()
            for _ in range(n):
                many_draws(key).block_until_ready()
            return (time.perf_counter() - t0) / n / draws

    out: dict[str, list[float]] = {"step_numpy": [], "step_device": [], "act": []}
    if noise is not None:
        out["noise"] = []
    for _ in range(repeats):
        from_host, on_device = steps()
        out["step_numpy"].append(from_host)
        out["step_device"].append(on_device)
        out["act"].append(act_only())
        if noise is not None:
            out["noise"].append(noise())
    return out


def breakdown(
    config: Config, runs: list[dict], micro: dict[str, list[float]]
) -> list[tuple[str, float, bool]]:
    """Rows ``(label, us per env step, is_sub_row)`` from the timed loops (medians over runs) and
    the microbenchmarks; top-level rows add up to the timed loop's total."""

    def per_step(part: str) -> float:
        return statistics.median(r["seconds"][part] / r["steps"] * 1e6 for r in runs)

    act_share = statistics.median((r["steps"] - r["update_steps"]) / r["steps"] for r in runs)
    upd_share = 1.0 - act_share
    step_act, step_update = per_step("step_act"), per_step("step_update")
    # An update step costs (its act part) + (the update): split the update steps' time that way.
    act_call = step_act / act_share if act_share else 0.0
    update_only = step_update - upd_share * act_call
    transfer = statistics.median(h - d for h, d in zip(micro["step_numpy"], micro["step_device"])) * 1e6
    draws_per_update = 3 if config.double_q else 2
    draws = 1 + draws_per_update * upd_share
    noise = statistics.median(micro["noise"]) * 1e6 * draws if "noise" in micro else 0.0
    act = statistics.median(micro["act"]) * 1e6
    return [
        ("env step (HostEnvs.step + reset_done of finished episodes; host)", per_step("env"), False),
        ("jitted agent step (dispatch, input transfer, compute)", step_act + step_update, False),
        ("replay add, key splits, action selection (every step)", act_call, True),
        (f"TD update (sample, forward passes, gradient, Adam, target; on {upd_share:.0%} of steps)",
         update_only, True),
        ("host->device transfer of the numpy inputs (microbenchmark: numpy minus on-device inputs)",
         transfer, True),
        ("action selection alone (act_batch microbenchmark: forward pass with fresh noise, argmax)",
         act, True),
        (f"noise generation ({draws:.2g} draws per env step, microbenchmark)", noise, True),
        ("device->host transfer (np.asarray of the actions)", per_step("transfer_out"), False),
        (f"logging (reset_metrics + sigma_stats every {config.log_every} steps)", per_step("logging"), False),
        ("Python bookkeeping (Transition, episode returns, done checks, loop)", per_step("bookkeeping"),
         False),
    ]


def _us(x: float) -> str:
    return f"{x:,.1f}" if abs(x) < 10 else f"{x:,.0f}"


def render(config: Config, train_us: list[float], runs: list[dict], micro: dict[str, list[float]],
           meta: dict) -> tuple[str, dict]:
    """The markdown profile table and its numbers."""
    rows = breakdown(config, runs, micro)
    total = statistics.median(r["seconds"]["total"] / r["steps"] * 1e6 for r in runs)
    loop_us = statistics.median(train_us)
    table_rows = [
        [("&nbsp;&nbsp;of which: " if sub else "") + label, _us(us), f"{100 * us / total:.1f}%"]
        for label, us, sub in rows
    ]
    table_rows.append(["**total of the timed loop**", f"**{_us(total)}**", "100%"])
    spread = f"; min {min(train_us):,.0f}, max {max(train_us):,.0f}" if len(train_us) > 1 else ""
    table_rows.append([
        f"whole loop, noisyjax.run.loop.train (not timed{spread})", _us(loop_us),
        f"{100 * loop_us / total:.1f}%",
    ])
    env_us, compute_us = rows[0][1], rows[1][1] - rows[4][1]  # the agent step less its input transfer
    share = (env_us + compute_us) / total
    verdict = "met" if share >= TARGET_SHARE else "NOT met"
    lines = [
        meta["header"],
        f"Default Config (hidden {tuple(config.hidden_sizes)}, noisy={config.noisy}, batch "
        f"{config.batch_size}, train_freq {config.train_freq}, one agent); microseconds per env step. "
        f"noisyjax.run.loop.train ran {1e6 / loop_us:,.0f} env steps/s here.",
        "",
        markdown_table(["part of one training step", "us / env step", "% of total"], table_rows),
        "",
        f"- env step + jitted agent compute (the agent step less its input transfer): "
        f"{_us(env_us + compute_us)} us = {100 * share:.1f}% of the timed loop "
        f"(target >= {100 * TARGET_SHARE:.0f}%: {verdict}); transfers, logging and bookkeeping: "
        f"{100 * (1 - share):.1f}%.",
        f"- {len(runs)} run(s) of each loop x {runs[0]['steps']:,} timed env steps, alternated; "
        f"microbenchmarks: {meta['repeats']} repeats x {meta['calls']:,} calls. Load average at the end: "
        f"{meta['load_end']} (on a busy machine every part slows down, shares less so).",
        "",
    ]
    numbers = {
        "train_us_per_step": train_us, "timed_steps": runs[0]["steps"],
        "timed_loop": [{"seconds": r["seconds"], "steps": r["steps"], "update_steps": r["update_steps"]}
                       for r in runs],
        "microbenchmarks_us": {k: [x * 1e6 for x in v] for k, v in micro.items()},
        "rows_us_per_env_step": {label: us for label, us, _ in rows},
        "timed_total_us_per_step": total, "env_plus_compute_share": share,
    }
    return "\n".join(lines), numbers


def main(argv: list[str] | None = None) -> int:
    """Profile, print the table (and write it with --out); returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse(Args, argv, description=__doc__)
    steps = args.steps if args.steps is not None else (1000 if args.quick else 5000)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    calls = args.calls if args.calls is not None else (200 if args.quick else 1000)
    for flag, value in (("--steps", steps), ("--repeats", repeats), ("--calls", calls)):
        if value < 1:
            fail(f"{flag} {value} is invalid: must be a positive integer")
    if args.out is not None:
        new_run_dir(args.out, "bench-profile")

    from noisyjax.config import Config

    config = Config(warmup_steps=1_000) if args.quick else Config()
    versions = package_versions()
    machine = machine_info()
    command = " ".join(["python -m benchmarks.profile", *argv])
    t0 = time.perf_counter()
    train_us, runs = [], []
    for k in range(repeats):
        us, _ = time_train(config, steps, args.seed)
        train_us.append(us)
        runs.append(timed_loop(config, steps, args.seed))
        copy_us = runs[-1]["seconds"]["total"] / runs[-1]["steps"] * 1e6
        print(f"[{k + 1}/{repeats}] loop {us:,.0f} us/step, timed loop {copy_us:,.0f} us/step",
              file=sys.stderr, flush=True)
    micro_repeats = 3 if args.quick else 5
    micro = microbenchmarks(config, args.seed, calls, micro_repeats)
    meta = {
        "header": header("Where the time of one training step goes (default Config)", command, versions,
                         machine),
        "calls": calls, "repeats": micro_repeats, "load_end": [round(x, 2) for x in os.getloadavg()],
    }
    text, numbers = render(config, train_us, runs, micro, meta)
    print(text)
    if args.out is not None:
        (Path(args.out) / "profile.md").write_text(text)
        payload = {
            "command": command, "date": utc_now(), "versions": versions, "machine": machine,
            "config": dataclasses.asdict(config), "wall_time_s": time.perf_counter() - t0, **numbers,
        }
        (Path(args.out) / "profile.json").write_text(json.dumps(payload, indent=1) + "\n")
        print(f"wrote {args.out}/profile.md and profile.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
