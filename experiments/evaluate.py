"""Evaluate a trained run on fresh episodes (seeds distinct from training), optionally as a GIF.

    python -m experiments.evaluate runs/<folder> --episodes 100 --policy mean --gif lander.gif
    python -m experiments.evaluate runs/<envpool run> --env LunarLander-v3   # on another engine's env
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import tyro

from experiments.common import entry, fail, parse, pin_cores, refusing
from noisyjax.config import MAX_EVAL_EPISODES, EvalPolicy
from noisyjax.io.restore import load_run
from noisyjax.run.device_eval import evaluate_device
from noisyjax.run.env_ids import is_device_env
from noisyjax.run.evaluation import evaluate, record_episode


@dataclasses.dataclass(frozen=True)
class Args:
    """Evaluate a checkpoint of a run folder (the latest by default)."""

    run_dir: tyro.conf.Positional[Path]
    """The run folder (python -m experiments.lunar wrote it)."""
    episodes: int = 100
    """Evaluation episodes, at most 1,000,000 (every return is held in memory, and at a few
    hundred env steps each that is already more env steps than a run trains)."""
    policy: EvalPolicy = "mean"
    """mean: noise off; noisy: fresh noise every step; frozen: one noise draw per episode."""
    gif: Path | None = None
    """Also render the first evaluation episode to this GIF file (headless; gymnasium envs only)."""
    env: str | None = None
    """Evaluate on this env id instead of the run's own (the same observation shape and number of
    actions): e.g. a run trained on envpool:LunarLander-v3 on gymnasium's LunarLander-v3."""
    agent: int = 0
    """In a sweep folder: which agent (its index in the sweep's seed list)."""
    checkpoint: str = "latest"
    """Which checkpoint: latest; best (the parameters of the agent's best periodic evaluation, of a
    run trained with --eval-every); or the env step of a kept one (--keep-checkpoints keeps more)."""
    quiet: bool = False
    """Print only the JSON result."""


def main(argv: list[str] | None = None) -> int:
    args = parse(Args, sys.argv[1:] if argv is None else argv, description=__doc__)
    if not 0 < args.episodes <= MAX_EVAL_EPISODES:
        fail(f"--episodes {args.episodes} is invalid: must be a positive integer at most {MAX_EVAL_EPISODES}")
    if args.gif is not None and args.gif.exists():
        fail(f"--gif {args.gif} exists; name a new file (nothing is overwritten)")
    if args.gif is not None and not args.gif.absolute().parent.is_dir():
        fail(f"--gif {args.gif}: folder {args.gif.absolute().parent} does not exist")
    if args.checkpoint not in ("latest", "best") and not args.checkpoint.isdigit():
        fail(f"--checkpoint {args.checkpoint} is invalid: give latest, best or an env step, e.g. 50000")
    step = int(args.checkpoint) if args.checkpoint.isdigit() else None
    with refusing():  # no config.json, a damaged one, a missing or damaged checkpoint
        agent, states, host, payload = load_run(args.run_dir, step)
    seeds = payload["seeds"]
    if args.env is not None:
        agent = on_env(agent, args.env)
    if args.gif is not None and is_device_env(agent.config.env):
        fail(f"--gif renders gymnasium envs only, not {agent.config.env}; for a LunarLander run "
             "add --env LunarLander-v3")
    if not 0 <= args.agent < len(seeds):
        fail(f"--agent {args.agent} is invalid: the folder has agents 0..{len(seeds) - 1}")
    pin_cores(agent.config, args.quiet)  # the run's own setting, so evaluation computes as it did
    params, trained = states.learner.params[args.agent], host["t"]
    if args.checkpoint == "best":
        params, trained = best_params(args.run_dir, args.agent)
    seed = seeds[args.agent]
    run_eval = evaluate_device if is_device_env(agent.config.env) else evaluate
    returns = run_eval(agent, params, seed=seed, episodes=args.episodes, policy=args.policy)
    result = {
        "run_dir": str(args.run_dir),
        "env": agent.config.env,
        "agent": args.agent,
        "seed": seed,
        "checkpoint": args.checkpoint,
        "env_steps_trained": trained,
        "policy": args.policy,
        "episodes": args.episodes,
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "min": float(np.min(returns)),
        "max": float(np.max(returns)),
        "solved_fraction": None,
    }
    threshold = agent.config.solve_threshold
    from noisyjax.run.envs import solve_threshold

    threshold = solve_threshold(agent.config.env, threshold)
    if threshold is not None:
        result["solved_fraction"] = float(np.mean(returns >= threshold))
    if args.gif is not None:
        ret, frames = record_episode(agent, params, args.gif, seed=seed, policy=args.policy)
        result["gif"] = {"file": str(args.gif), "return": ret, "frames": frames}
    print(json.dumps(result, indent=1))
    if not args.quiet:
        print(
            f"{args.policy} policy: {result['mean']:.1f} +/- {result['std']:.1f} over "
            f"{args.episodes} episodes (min {result['min']:.1f}, max {result['max']:.1f})",
            file=sys.stderr,
        )
    return 0


def best_params(run_dir: Path, agent: int):
    """``(flat params [P], env step)`` of agent ``agent``'s best periodic evaluation (refused
    with one line when the run kept none)."""
    import jax.numpy as jnp

    from noisyjax.io.checkpoint import load_best
    from noisyjax.io.rundir import CHECKPOINT_DIR

    with refusing():  # a damaged best.npz
        best = load_best(Path(run_dir) / CHECKPOINT_DIR)
    if best is None:
        fail(f"--checkpoint best: {run_dir} has no best checkpoint (it trained without --eval-every); "
             "give latest or an env step")
    params, meta = best
    if meta["mean"][agent] is None:
        fail(f"--checkpoint best: agent {agent} was never evaluated (it diverged first); give latest "
             "or an env step")
    return jnp.asarray(params[agent]), int(meta["env_step"][agent])


def on_env(agent, env_id: str):
    """``agent`` acting on ``env_id`` (checked: same observation shape and action count)."""
    from noisyjax.run.env_ids import describe
    from noisyjax.run.envs import EnvError

    try:
        info = describe(env_id)
    except EnvError as err:
        fail(f"--env {err}")
    if tuple(info.obs_shape) != tuple(agent.obs_shape) or info.num_actions != agent.num_actions:
        fail(f"--env {env_id} has observations {tuple(info.obs_shape)} and {info.num_actions} actions; "
             f"the run's agent takes {tuple(agent.obs_shape)} and {agent.num_actions}")
    config = dataclasses.replace(agent.config, env=env_id)
    return dataclasses.replace(agent, config=config, obs_dtype=info.obs_dtype)


if __name__ == "__main__":
    raise SystemExit(entry(main))
