"""Throughput of the jitted engine against the host loop at the same settings, with the compute
floor beside them.

    python -m benchmarks.engine                     # CartPole at 1/16/64 agents, LunarLander at 1/16
    python -m benchmarks.engine --quick             # seconds: for tests
    python -m benchmarks.engine --rows cartpole     # only the CartPole rows

Rows, each at N agents, all in this one process pinned to one core (so ratios compare like with
like on a shared machine), the default network, batch and update schedule:

- ``jit``: ``train`` on a device env (``gymnax:CartPole-v1``, ``envpool:LunarLander-v3``): the
  jitted engine, whole chunks of env steps in one call;
- ``host``: ``train`` on the gymnasium env of the same task: one jitted step per env step;
- ``floor``: the bare jitted update (``Agent.learn`` over N agents on a fixed batch, repeated in
  one ``fori_loop``) and nothing else, as env steps/s: N * train_freq / seconds per update. It
  leaves out acting, replay and the env, so no run reaches it.

Throughput counts the env steps between the first and the last log point (compilation and the
first chunk excluded).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.report import command_line, header, machine_info, markdown_table, package_versions, run_record
from experiments.common import parse
from noisyjax.agent.agent import Agent
from noisyjax.agent.types import stack_hparams
from noisyjax.config import Config
from noisyjax.replay.nstep import Batch
from noisyjax.run import cpu
from noisyjax.run.loop import train

TASKS = {
    "cartpole": ("gymnax:CartPole-v1", "CartPole-v1", (1, 16, 64)),
    "lunar": ("envpool:LunarLander-v3", "LunarLander-v3", (1, 16)),
}


@dataclasses.dataclass(frozen=True)
class Args:
    """Jitted engine against the host loop, and the compute floor."""

    rows: tuple[str, ...] = ("cartpole", "lunar")
    """Tasks to measure (cartpole: gymnax against gymnasium; lunar: envpool against gymnasium)."""
    agent_axis: str = "vmap"
    """Agent axis of every row (vmap: what an accelerator runs; map: exact, slower when wide)."""
    warmup_steps: int = 1_000
    """Random-action env steps before learning (they cost no update, so they are kept short)."""
    measure_steps: int = 3_000
    """Env steps per agent after warm-up; the first log interval after warm-up is not timed."""
    log_every: int = 500
    """Log interval (the engine's chunk length)."""
    out: Path = Path("runs/bench-engine")
    """Folder to write ``engine.md`` (the report) and ``engine.json`` into (created if missing)."""
    quick: bool = False
    """Tiny run for tests: 1 and 2 agents, a small network, a few hundred steps."""


def _rate(result, skip_to: int) -> float:
    """Aggregate env steps/s between the first log point at or after ``skip_to`` and the last."""
    times = [(t, s) for t, s in result.log_times if t >= skip_to]
    (t0, s0), (t1, s1) = times[0], times[-1]
    return (t1 - t0) * len(result.agents) / max(s1 - s0, 1e-9)


def _floor(config: Config, obs_dim: int, num_actions: int, n: int, reps: int) -> float:
    """Env steps/s of the bare jitted update of ``n`` agents (the update every train_freq steps)."""
    agent = Agent(config, obs_dim, num_actions)
    states = jax.jit(agent.init_batch)(jnp.arange(n), stack_hparams(config, [{}] * n))
    b = config.batch_size
    rng = np.random.default_rng(0)
    batch = Batch(
        obs=jnp.asarray(rng.normal(size=(n, b, obs_dim)), jnp.float32),
        action=jnp.asarray(rng.integers(0, num_actions, (n, b)), jnp.int32),
        reward=jnp.asarray(rng.normal(size=(n, b)), jnp.float32),
        discount=jnp.full((n, b), 0.97, jnp.float32),
        next_obs=jnp.asarray(rng.normal(size=(n, b, obs_dim)), jnp.float32),
        weight=jnp.ones((n, b), jnp.float32),
        index=jnp.zeros((n, b), jnp.int32),
    )
    keys = jax.vmap(lambda k: jax.random.split(k, 3))(jax.random.split(jax.random.PRNGKey(0), n))
    learn = agent.over_agents(agent.learn)

    @jax.jit
    def updates(learner):  # ``reps`` updates in one call: no dispatch between them
        return jax.lax.fori_loop(0, reps, lambda _, lr: learn(lr, batch, keys, states.hparams), learner)

    jax.block_until_ready(updates(states.learner))  # compile
    best = float("inf")
    for _ in range(3):  # the best of three: a floor, not a typical figure, on a shared machine
        start = time.perf_counter()
        jax.block_until_ready(updates(states.learner))
        best = min(best, time.perf_counter() - start)
    return n * config.train_freq * reps / best


def measure(args: Args) -> list[dict]:
    if args.quick:  # a few hundred steps: 200 of warm-up, then 4 log points of 100
        args = dataclasses.replace(args, warmup_steps=200, measure_steps=400, log_every=100)
    base = Config(
        warmup_steps=args.warmup_steps, total_steps=args.warmup_steps + args.measure_steps,
        log_every=args.log_every, checkpoint_every=10**9, eval_episodes=1, agent_axis=args.agent_axis,
    )
    if args.quick:
        base = dataclasses.replace(base, hidden_sizes=(16,), batch_size=16, buffer_size=1_000)
    skip_to = args.warmup_steps + args.log_every
    out = []
    for task in args.rows:
        device_id, host_id, widths = TASKS[task]
        for n in (1, 2) if args.quick else widths:
            row = {"task": task, "agents": n}
            for kind, env in (("jit", device_id), ("host", host_id)):
                result = train(dataclasses.replace(base, env=env), list(range(n)), evaluate_at_end=False)
                row[kind] = _rate(result, skip_to)
                obs_dim, num_actions = result.agent.obs_dim, result.agent.num_actions
            row["floor"] = _floor(base, obs_dim, num_actions, n, 20 if args.quick else 200)
            out.append(row)
            print(json.dumps(row), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    args = parse(Args, argv, description=__doc__)
    core = cpu.apply("one")
    rows = measure(args)
    command = command_line("benchmarks.engine", argv)
    table = markdown_table(
        ["task", "agents", "jitted env steps/s", "host loop env steps/s", "jit / host", "floor env steps/s",
         "jit / floor"],
        [[r["task"], r["agents"], f"{r['jit']:,.0f}", f"{r['host']:,.0f}", f"{r['jit'] / r['host']:.2f}x",
          f"{r['floor']:,.0f}", f"{r['jit'] / r['floor']:.0%}"] for r in rows],
    )
    versions = package_versions(("noisyjax", "jax", "jaxlib", "flax", "gymnasium", "gymnax", "envpool"))
    machine = machine_info()
    report = "\n".join([header("Jitted engine against the host loop", command, versions, machine),
                        f"pinned to core {core}; agent axis {args.agent_axis}", "", table, ""])
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "engine.md").write_text(report)
    record = {**run_record(command, versions, machine), "agent_axis": args.agent_axis, "rows": rows}
    (args.out / "engine.json").write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
