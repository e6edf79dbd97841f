"""rejax's DQN on gymnax CartPole-v1, timed: the worker ``benchmarks.peer`` runs in rejax's own venv.

    ../venv-rejax/bin/python benchmarks/peer_rejax.py --seeds 8 --total-steps 50000 [--core 0]

It builds ``rejax.DQN`` with the given settings, jits ``jax.vmap(algo.train)`` over ``--seeds`` keys,
calls it once to compile, then times a second full call, and prints one JSON line: aggregate env
steps/s (seeds * env steps per seed / seconds), the compile time (first call less the second), the
settings rejax actually used, versions, and the mean return of rejax's own evaluation of each final
agent (128 episodes at its acting epsilon of 0.005, run after the timing, not timed).

rejax evaluates every ``eval_freq`` steps inside ``train``; the timed run replaces that callback by
a no-op, since the noisyjax side it is compared with does not evaluate during training either.

This file must not import noisyjax: rejax's venv does not have noisyjax's dependencies.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from importlib import metadata
from typing import Any


def pin(core: int | None) -> None:
    """Pin every thread of this process to ``core`` (before JAX starts its threads; threads made
    later inherit the mask). None: leave the process unpinned."""
    if core is None:
        return
    for task in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(task), {core})
        except (ProcessLookupError, PermissionError):
            pass


def parse(argv: list[str]) -> argparse.Namespace:
    """The worker's settings; defaults are those ``benchmarks.peer`` passes."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=1, help="agents, vmapped (one key each)")
    p.add_argument("--total-steps", type=int, default=50_000, help="env steps per seed")
    p.add_argument("--core", type=int, default=None, help="pin the process to this core (default: unpinned)")
    p.add_argument("--hidden", type=int, nargs="+", default=[64, 64],
                   help="hidden widths; rejax 0.1.3's DQN fixes (64, 64), others are refused")
    p.add_argument("--activation", default="relu", help="a flax.linen activation name")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--buffer-size", type=int, default=30_000)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--fill-buffer", type=int, default=1_000, help="uniform random env steps before updates")
    p.add_argument("--num-epochs", type=int, default=1, help="updates per iteration of num_envs steps")
    p.add_argument("--target-update-freq", type=int, default=1, help="env steps between target updates")
    p.add_argument("--polyak", type=float, default=0.99, help="target <- polyak*target + (1-polyak)*online")
    p.add_argument("--eps-start", type=float, default=1.0)
    p.add_argument("--eps-end", type=float, default=0.05)
    p.add_argument("--exploration-fraction", type=float, default=0.1)
    p.add_argument("--ddqn", type=int, default=1, help="1: double DQN targets, 0: max over the target net")
    return p.parse_args(argv)


def versions() -> dict[str, str | None]:
    """Installed versions of the packages that decide the timing."""
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in ("rejax", "jax", "jaxlib", "gymnax", "flax", "optax"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build, compile and time rejax's DQN; return the JSON record."""
    import jax
    import jax.numpy as jnp
    from rejax import DQN
    from rejax.evaluate import evaluate

    if tuple(args.hidden) != (64, 64):
        raise SystemExit("error: rejax 0.1.3's DQN fixes hidden_layer_sizes=(64, 64)")
    total = args.total_steps
    config = dict(
        env="CartPole-v1", agent="QNetwork", agent_kwargs={"activation": args.activation},
        total_timesteps=total, eval_freq=total, skip_initial_evaluation=True, num_envs=1,
        buffer_size=args.buffer_size, fill_buffer=args.fill_buffer, batch_size=args.batch_size,
        learning_rate=args.learning_rate, gamma=args.gamma, max_grad_norm=math.inf,
        num_epochs=args.num_epochs, target_update_freq=args.target_update_freq, polyak=args.polyak,
        eps_start=args.eps_start, eps_end=args.eps_end, exploration_fraction=args.exploration_fraction,
        ddqn=bool(args.ddqn), normalize_observations=False, normalize_rewards=False,
    )
    algo = DQN.create(**config)
    algo = algo.replace(eval_callback=lambda algo, ts, rng: ())  # no evaluation inside the timed run
    # train: ceil(total / eval_freq) scan steps of ceil(eval_freq / num_envs) iterations of num_envs steps
    steps = math.ceil(total / algo.eval_freq) * math.ceil(algo.eval_freq / algo.num_envs) * algo.num_envs

    train = jax.jit(jax.vmap(algo.train))
    keys = jax.random.split(jax.random.PRNGKey(0), args.seeds)
    start = time.perf_counter()
    jax.block_until_ready(train(keys))
    first = time.perf_counter() - start
    start = time.perf_counter()
    ts, _ = jax.block_until_ready(train(keys))
    seconds = time.perf_counter() - start

    max_steps = int(algo.env_params.max_steps_in_episode)

    def final_return(ts_one, key):
        _, returns = evaluate(algo.make_act(ts_one), key, algo.env, algo.env_params, 128, max_steps)
        return returns.mean()

    eval_keys = jax.random.split(jax.random.PRNGKey(1), args.seeds)
    returns = jax.jit(jax.vmap(final_return))(ts, eval_keys)
    used = {k: v for k, v in config.items() if k not in ("agent_kwargs",)}
    used.update(
        activation=args.activation, hidden_sizes=[64, 64], double_q=bool(algo.ddqn),
        loss="optax.l2_loss (0.5 * squared TD error), mean", max_grad_norm="inf (optax.clip: no clipping)",
        bootstrap="masked at done (terminated or truncated)",
        replay_sampling="jax.random.choice without replacement",
        env_steps_per_seed=steps,
    )
    return {
        "peer": "rejax", "seeds": args.seeds, "env_steps_per_seed": steps,
        "env_steps_per_s": args.seeds * steps / seconds, "seconds": seconds,
        "compile_s": max(first - seconds, 0.0), "first_call_s": first,
        "final_return_mean": float(jnp.mean(returns)), "final_return_per_seed": [float(r) for r in returns],
        "final_return_kind": "rejax evaluate: 128 episodes per seed, epsilon 0.005",
        "core": args.core, "settings": used, "versions": versions(),
        "jax_backend": jax.default_backend(), "xla_flags": os.environ.get("XLA_FLAGS"),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse, pin, run, print one JSON line."""
    args = parse(sys.argv[1:] if argv is None else argv)
    pin(args.core)
    print(json.dumps(run(args)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
