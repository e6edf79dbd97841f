"""Train many NoisyNet-DQN agents (seeds x hyperparameter grid) in one process, one loop.

    python -m experiments.sweep --seeds 0-9
    python -m experiments.sweep --seeds 0-4 --grid lr=1e-4,3e-4,1e-3 --grid sigma0=0.1,0.5
    python -m experiments.sweep --resume runs/<sweep folder>

Agent k of a sweep gives exactly the episodes of ``python -m experiments.lunar --seed k`` with
the same settings (with the default --agent-axis map). Writes one sub-folder per agent (as a
single run's), sweep.csv, aggregate plots, and one checkpoint for the whole sweep.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import tyro

from experiments.common import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    check_env,
    check_resumable,
    check_resume_engine,
    divergence_hint,
    entry,
    fail,
    new_run_dir,
    parse,
    pin_cores,
    preset_default,
    refusing,
    request_devices,
)
from noisyjax.config import Config, PresetName
from noisyjax.io import atomic
from noisyjax.io.live import LiveLog, live_hooks, require
from noisyjax.io.provenance import command_line
from noisyjax.io.rundir import (
    CHECKPOINT_DIR,
    SUMMARY_FILE,
    RunDirError,
    held,
    read_config,
    write_config,
    write_json,
)
from noisyjax.io.summary import finish_agent_dir, rebuild_plots, status
from noisyjax.run.env_ids import MissingExtra
from noisyjax.run.envs import folder_name, solve_threshold
from noisyjax.run.loop import RunFiles, train
from noisyjax.run.results import config_record
from noisyjax.run.sweeps import (
    SweepError,
    available_memory,
    bytes_per_agent,
    check_memory,
    expand,
    label,
    parse_grid,
    parse_seeds,
)


@dataclasses.dataclass(frozen=True)
class Args:
    """Train one agent per (seed, grid point) in one vmapped loop."""

    config: tyro.conf.OmitArgPrefixes[Config] = Config()
    config_file: Path | None = None
    """Start from the settings of an earlier run (its config.json or its folder) or of a JSON or
    YAML file of Config fields; other flags override them."""
    preset: PresetName = "none"
    """Start from a named bundle of settings (rainbow-lite: noisy + double + dueling + PER +
    3-step returns; rainbow: rainbow-lite with the C51 head); other flags override it."""
    seeds: str = "0-4"
    """Seeds: a range and/or list, e.g. 0-9 or 0,3,5; each in [0, 2**32), at most 1,000,000
    agents in all (seeds x grid points)."""
    grid: tyro.conf.UseAppendAction[tuple[str, ...]] = ()
    """Swept setting, repeatable: --grid lr=1e-4,3e-4 --grid sigma0=0.1,0.5."""
    out: Path | None = None
    """Sweep folder to create (must not exist or be empty); default: a new folder under runs/."""
    resume: Path | None = None
    """Continue the sweep in this folder from its last checkpoint."""
    quiet: bool = False
    """No progress bar."""
    keep_checkpoints: int = 2
    """Checkpoints kept in checkpoints/ (the newest N, at least 1); experiments.evaluate
    --checkpoint STEP evaluates any kept one."""
    log: tyro.conf.UseAppendAction[tuple[LiveLog, ...]] = ()
    """Live logging beside the CSVs (repeatable): tensorboard (event files in each agent folder's
    tb/) or wandb (one W&B run per agent); see experiments.lunar --help."""


def agent_dir_name(i: int, seed: int, override: dict) -> str:
    parts = [f"agent{i:03d}", f"seed{seed}"] + [f"{k}{v:g}" for k, v in override.items()]
    return "-".join(parts)


def main(argv: list[str] | None = None) -> int:
    """The command; a damaged or busy run folder is one ``error:`` line (exit status 2)."""
    with refusing():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(Args, argv, description=__doc__, default=preset_default(Args, argv))
    try:
        require(args.log)
    except MissingExtra as err:
        fail(str(err))
    if not 1 <= args.keep_checkpoints <= 10**6:
        fail(f"--keep-checkpoints {args.keep_checkpoints} is invalid: must be in [1, 1000000]")
    if args.resume is not None:
        if args.config_file is not None:
            fail("--config-file cannot be combined with --resume (a resumed sweep keeps its own settings)")
        return resume(args, argv)
    request_devices(args.config)  # before anything starts JAX's backend
    info = check_env(args.config)
    try:
        seeds = parse_seeds(args.seeds)
        agent_seeds, overrides = expand(seeds, parse_grid(args.grid), args.config)
        per_agent = bytes_per_agent(args.config, info.obs_dim, info.num_actions, info.obs_dtype)
        check_memory(len(agent_seeds), per_agent, available_memory())
    except SweepError as err:
        fail(str(err))
    out = new_run_dir(args.out, f"sweep-{folder_name(args.config.env)}")
    names = [agent_dir_name(i, s, o) for i, (s, o) in enumerate(zip(agent_seeds, overrides))]
    with held(out):
        write_config(
            out, args.config, agent_seeds,
            {"overrides": overrides, "agent_dirs": names, "grid": list(args.grid), "seeds_arg": args.seeds,
             "preset": args.preset, "memory_bytes_per_agent": per_agent,
             "command": command_line("experiments.sweep", argv)},
        )
        return run(args.config, out, agent_seeds, overrides, names, resume=False, quiet=args.quiet,
                   log=args.log, keep=args.keep_checkpoints)


def resume(args: Args, argv: list[str]) -> int:
    run_dir = args.resume
    try:
        config, payload = read_config(run_dir)
        if "agent_dirs" not in payload:
            fail(f"{run_dir} is a single run; resume it with: python -m experiments.lunar --resume "
                 f"{run_dir}")
    except RunDirError as err:
        fail(str(err))
    again = parse(Args, argv, default=Args(config=config, resume=run_dir, quiet=args.quiet))
    if args.grid or any(a.startswith("--seeds") or a.startswith("--out") for a in argv):
        fail("--seeds, --grid and --out cannot change on --resume; drop them")
    check_resume_engine(config)
    check_resumable(config, again.config, run_dir, payload["seeds"], "sweep")  # before the lock
    with held(run_dir):  # checked again under the lock: another process may have moved on
        state = check_resumable(config, again.config, run_dir, payload["seeds"], "sweep")
        if state == "finished":
            threshold = solve_threshold(config.env, config.solve_threshold)
            rebuilt = [rebuild_plots(Path(run_dir) / d, threshold) for d in payload["agent_dirs"]]
            if not any(rebuilt):
                fail(f"{run_dir} already finished; start a new sweep (with --out) instead of resuming")
            print(f"{run_dir} had finished; its missing plots were rebuilt from its logs", file=sys.stderr)
            return 0
        if state == "restart" and not args.quiet:
            print("no checkpoint yet: the sweep starts again from env step 0", file=sys.stderr)
        request_devices(config)
        return run(
            config, Path(run_dir), payload["seeds"], payload["overrides"], payload["agent_dirs"],
            resume=True, quiet=args.quiet, log=args.log, keep=args.keep_checkpoints,
        )


def run(config, out: Path, seeds, overrides, names, *, resume: bool, quiet: bool,
        log: tuple[str, ...] = (), keep: int = 2) -> int:
    dirs = [out / name for name in names]
    files = RunFiles(dirs, out / CHECKPOINT_DIR, resume=resume, keep_checkpoints=keep)
    if not quiet:
        print(f"sweep folder: {out} ({len(seeds)} agents)", file=sys.stderr)
    pin_cores(config, quiet)
    from noisyjax.run.devices import agent_mesh

    mesh = agent_mesh(len(seeds))  # the split train will use; said before the long wait
    if mesh is not None and not quiet:
        print(f"agents split over {mesh.size} CPU devices ({len(seeds) // mesh.size} each)", file=sys.stderr)
    hooks = live_hooks(log, dirs, config_record(config), list(seeds))
    result = train(config, seeds, overrides=overrides, files=files, progress=not quiet, hooks=hooks)
    rows = []
    for i, d in enumerate(dirs):
        s = finish_agent_dir(d, result, i)
        ev = s["final_eval"] or {}
        rows.append({
            "agent": i, "seed": seeds[i], **overrides[i], "status": s["status"],
            "diverged_at": s["diverged_at"], "steps_to_solve": s["steps_to_solve"],
            "last100_mean": s["last100_mean"], "eval_mean": ev.get("mean"), "eval_std": ev.get("std"),
            "eval_episodes": ev.get("episodes"), "eval_policy": ev.get("policy"), "folder": names[i],
        })
    write_sweep_csv(out / "sweep.csv", rows)
    groups: dict[str, list[Path]] = {}
    for d, o in zip(dirs, overrides):
        groups.setdefault(label(o), []).append(d)
    from noisyjax.analysis import plots

    plots.plot_sweep(groups, out, result.threshold, window=result.agent.config.solve_window)
    solved = [r["steps_to_solve"] for r in rows if r["steps_to_solve"] is not None]
    diverged = [i for i in range(len(seeds)) if status(result, i) == "diverged"]
    summary = {
        "status": "interrupted" if result.interrupted else "finished",
        "agents": len(seeds),
        "diverged": len(diverged),
        "env_steps_per_agent": result.env_steps,
        "solved": len(solved),
        "median_steps_to_solve_of_solved": float(np.median(solved)) if solved else None,
        "wall_time_s": result.wall_time,
        "aggregate_steps_per_sec": result.steps_per_sec,
        "cpu_devices": result.devices,
    }
    write_json(out / SUMMARY_FILE, summary)
    if result.interrupted:
        print(
            f"interrupted at env step {result.env_steps}; checkpoint written. Resume with: "
            f"python -m experiments.sweep --resume {out}", file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    for i in diverged:
        print(
            f"error: agent {i} (seed {seeds[i]}, {label(overrides[i])}) diverged at env step "
            f"{result.agents[i].diverged_at} (a non-finite loss or parameter); likely cause: "
            f"{divergence_hint(dataclasses.replace(config, **overrides[i]))}. Its episodes stop "
            "there; sweep.csv marks it",
            file=sys.stderr,
        )
    if diverged:
        return EXIT_DIVERGED
    if not quiet:
        print(
            f"done: {len(seeds)} agents x {result.env_steps} env steps, {len(solved)} solved, "
            f"{result.steps_per_sec:.0f} env steps/s in total, wall {result.wall_time:.0f} s -> {out}",
            file=sys.stderr,
        )
    return 0


def write_sweep_csv(path: Path, rows: list[dict]) -> None:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    lines = [",".join(fields)]
    for r in rows:
        lines.append(",".join("" if r.get(k) is None else str(r.get(k)) for k in fields))
    atomic.write_text(path, "\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(entry(main))
