"""Is ``envpool:LunarLander-v3`` the same task as gymnasium's ``LunarLander-v3``? A uniformly random
policy plays N episodes on each, and the two distributions of episode return and of episode length
are compared with the two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``).

    python -m benchmarks.envpool_lunar                  # 1000 episodes each, about a minute
    python -m benchmarks.envpool_lunar --quick          # 30 episodes each: for tests

gymnasium: one env, each episode reset with its own seed (``episode_seed(seed, i)``). envpool:
noisyjax's own device env (``EnvpoolEnv``, what training steps), ``--slots`` pools stepped in one
jitted loop (slot ``s``'s pool seeded ``episode_seed(seed, s, 2)``), slot ``s`` playing its episodes
in order; episode ``j`` of slot ``s`` is number
``j * slots + s`` and the first N of those are kept, so no slot's short episodes are favoured.
Prints a table and writes it as JSON to ``--out``. A small p-value says the distributions differ.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

from benchmarks.report import command_line, header, machine_info, markdown_table, package_versions, run_record
from experiments.common import fail, parse

PACKAGES = ("noisyjax", "jax", "jaxlib", "numpy", "gymnasium", "box2d", "envpool", "scipy")


@dataclasses.dataclass(frozen=True)
class Args:
    """Random-policy episode returns and lengths: gymnasium vs envpool LunarLander-v3 (KS test)."""

    episodes: int = 1000
    """Episodes on each implementation."""
    seed: int = 0
    """Seed of the episode resets (gymnasium), of the pools (envpool) and of the random actions."""
    slots: int = 8
    """envpool pools stepped side by side."""
    chunk: int = 1000
    """envpool env steps per jitted call."""
    out: Path = Path("runs/bench-envpool-lunar.json")
    """Where the JSON report goes."""
    quick: bool = False
    """30 episodes (unless --episodes is given)."""


def gymnasium_episodes(episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(returns, lengths)`` of ``episodes`` uniformly random episodes of gymnasium's env."""
    import gymnasium as gym

    from noisyjax.run.envs import episode_seed

    env = gym.make("LunarLander-v3")
    env.action_space.seed(seed)
    returns, lengths = np.zeros(episodes), np.zeros(episodes, np.int64)
    for i in range(episodes):
        env.reset(seed=episode_seed(seed, i))
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            returns[i] += reward
            lengths[i] += 1
            done = terminated or truncated
    env.close()
    return returns, lengths


def envpool_episodes(episodes: int, seed: int, slots: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """``(returns, lengths)`` of ``episodes`` uniformly random episodes of ``EnvpoolEnv`` (module
    docstring: the order they are kept in)."""
    import jax
    import jax.numpy as jnp

    from noisyjax.run.envpool_env import EnvpoolEnv
    from noisyjax.run.envs import episode_seed

    slots = max(1, min(slots, episodes))
    env = EnvpoolEnv("envpool:LunarLander-v3", tuple(episode_seed(seed, s, 2) for s in range(slots)), 0)
    env.check()
    zeros = jnp.zeros(slots, jnp.int32)

    @jax.jit
    def start():
        return env.reset(zeros.astype(jnp.uint32), zeros)

    @jax.jit
    def run(state, obs, actions):  # actions int32 [chunk, slots] -> rewards, dones [chunk, slots]
        def body(carry, a):
            state, _ = carry
            state, next_obs, reward, terminated, truncated = env.step(state, a, zeros, zeros, zeros)
            done = terminated | truncated
            state, obs = env.reset_done(state, next_obs, done, zeros, zeros)
            return (state, obs), (reward, done)

        (state, obs), (reward, done) = jax.lax.scan(body, (state, obs), actions)
        return state, obs, reward, done

    rng = np.random.default_rng([seed, 1])
    need = -(-episodes // slots)  # episodes per slot
    per_slot: list[list[tuple[float, int]]] = [[] for _ in range(slots)]
    ret, length = np.zeros(slots), np.zeros(slots, np.int64)
    state, obs = start()
    while min(len(p) for p in per_slot) < need:
        actions = rng.integers(0, env.num_actions, (chunk, slots)).astype(np.int32)
        state, obs, rewards, dones = run(state, obs, jnp.asarray(actions))
        rewards, dones = np.asarray(rewards, np.float64), np.asarray(dones)
        for t in range(chunk):
            ret += rewards[t]
            length += 1
            for s in np.flatnonzero(dones[t]):
                per_slot[s].append((ret[s], int(length[s])))
                ret[s], length[s] = 0.0, 0
    env.close()
    kept = [per_slot[s][j] for j in range(need) for s in range(slots)][:episodes]
    return np.array([r for r, _ in kept]), np.array([n for _, n in kept], np.int64)


def compare(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Means, standard deviations (ddof 1), medians, maxima and the two-sample KS statistic and
    p-value of gymnasium's ``a`` and envpool's ``b``."""
    from scipy.stats import ks_2samp

    ks = ks_2samp(a, b)
    out = {}
    for name, x in (("gymnasium", a), ("envpool", b)):
        out |= {f"{name}_mean": float(x.mean()), f"{name}_std": float(x.std(ddof=1)),
                f"{name}_median": float(np.median(x)), f"{name}_max": float(x.max())}
    return out | {"ks_statistic": float(ks.statistic), "p_value": float(ks.pvalue)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(Args, argv, description=__doc__)
    episodes = 30 if args.quick and "--episodes" not in " ".join(argv) else args.episodes
    bounds = (("--episodes", episodes, 2), ("--slots", args.slots, 1), ("--chunk", args.chunk, 1))
    for flag, value, least in bounds:
        if value < least:
            fail(f"{flag} {value} is invalid: must be at least {least}")
    command = command_line("benchmarks.envpool_lunar", argv)
    versions, machine = package_versions(PACKAGES), machine_info()
    g_ret, g_len = gymnasium_episodes(episodes, args.seed)
    e_ret, e_len = envpool_episodes(episodes, args.seed, args.slots, args.chunk)
    results = {"return": compare(g_ret, e_ret), "length": compare(g_len.astype(float), e_len.astype(float))}
    rows = [[name, *(f"{r[f'{k}_mean']:.2f} ± {r[f'{k}_std']:.2f} ({r[f'{k}_median']:.1f}, "
                      f"{r[f'{k}_max']:.1f})" for k in ("gymnasium", "envpool")),
             f"{r['ks_statistic']:.4f}", f"{r['p_value']:.3f}"] for name, r in results.items()]
    columns = ["episode", *(f"{k} mean ± std (median, max)" for k in ("gymnasium", "envpool")),
               "KS statistic", "p-value"]
    table = markdown_table(columns, rows)
    print(header(f"Random policy on LunarLander-v3, {episodes} episodes each", command, versions, machine))
    print(table)
    from noisyjax.io.rundir import write_json

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {**run_record(command, versions, machine), "episodes": episodes,
                          "seed": args.seed, "slots": args.slots, "results": results, "table": table})
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
