"""Train NoisyNet-DQN on LunarLander-v3 (or another Box/Discrete gymnasium env) and leave a run
folder: config.json, episodes.csv, metrics.csv, summary.json, plots and checkpoints.

    python -m experiments.lunar --seed 0
    python -m experiments.lunar --seed 0 --no-noisy            # epsilon-greedy DQN baseline
    python -m experiments.lunar --resume runs/<folder>         # continue from the last checkpoint
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

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
)
from noisyjax.config import SEED_END, Config, PresetName
from noisyjax.io.live import LiveLog, live_hooks, require
from noisyjax.io.provenance import command_line
from noisyjax.io.rundir import (
    CHECKPOINT_DIR,
    RunDirError,
    held,
    read_config,
    write_config,
)
from noisyjax.io.summary import finish_agent_dir, rebuild_plots
from noisyjax.run.env_ids import MissingExtra
from noisyjax.run.envs import folder_name, solve_threshold
from noisyjax.run.loop import RunFiles, train
from noisyjax.run.results import config_record
from noisyjax.run.sweeps import SweepError, available_memory, bytes_per_agent, check_memory


@dataclasses.dataclass(frozen=True)
class Args:
    """Train one NoisyNet-DQN agent and write a run folder."""

    config: tyro.conf.OmitArgPrefixes[Config] = Config()
    config_file: Path | None = None
    """Start from the settings of an earlier run (its config.json or its folder) or of a JSON or
    YAML file of Config fields; other flags override them."""
    preset: PresetName = "none"
    """Start from a named bundle of settings (rainbow-lite: noisy + double + dueling + PER +
    3-step returns; rainbow: rainbow-lite with the C51 head); other flags override it."""
    seed: int = 0
    """Seed of the agent (network init, noise, replay sampling) and of its environment; in
    [0, 2**32)."""
    out: Path | None = None
    """Run folder to create (must not exist or be empty); default: a new folder under runs/."""
    resume: Path | None = None
    """Continue the run in this folder from its last checkpoint (its settings come from its
    config.json; flags that contradict them are refused)."""
    quiet: bool = False
    """No progress bar (for scripts)."""
    keep_checkpoints: int = 2
    """Checkpoints kept in checkpoints/ (the newest N, at least 1); experiments.evaluate
    --checkpoint STEP evaluates any kept one."""
    log: tyro.conf.UseAppendAction[tuple[LiveLog, ...]] = ()
    """Live logging beside the CSVs (repeatable): tensorboard writes event files into the run
    folder's tb/ (the tensorboard extra); wandb logs to Weights & Biases (the wandb extra;
    WANDB_MODE=offline works offline)."""


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
            fail("--config-file cannot be combined with --resume (a resumed run keeps its own settings)")
        return resume(args, argv)
    if not 0 <= args.seed < SEED_END:
        fail(f"--seed {args.seed} is invalid: must be in [0, {SEED_END}) (uint32 JAX keys)")
    info = check_env(args.config)
    try:  # the sweep's check, for one agent: a state that cannot fit is refused before the folder
        check_memory(1, bytes_per_agent(args.config, info.obs_dim, info.num_actions, info.obs_dtype),
                     available_memory())
    except SweepError as err:
        fail(str(err))
    out = new_run_dir(args.out, f"{folder_name(args.config.env)}-seed{args.seed}")
    with held(out):
        write_config(out, args.config, [args.seed],
                     {"preset": args.preset, "command": command_line("experiments.lunar", argv)})
        return run(args.config, args.seed, out, resume=False, quiet=args.quiet, log=args.log,
                   keep=args.keep_checkpoints)


def resume(args: Args, argv: list[str]) -> int:
    run_dir = args.resume
    if args.out is not None:
        fail("--out cannot be combined with --resume (a resumed run stays in its folder)")
    try:
        config, payload = read_config(run_dir)
        if "agent_dirs" in payload or len(payload["seeds"]) != 1:
            fail(f"{run_dir} is a sweep folder; resume it with: python -m experiments.sweep --resume "
                 f"{run_dir}")
    except RunDirError as err:
        fail(str(err))
    seed = payload["seeds"][0]
    # Re-parse with the run's own settings as defaults: any flag that changes them is a conflict.
    saved = Args(config=config, seed=seed, out=None, resume=run_dir, quiet=args.quiet, log=args.log,
                 keep_checkpoints=args.keep_checkpoints)
    again = parse(Args, argv, default=saved)
    if again.seed != seed:
        fail(f"--seed {again.seed} conflicts with the run's seed {seed}; drop it to resume")
    check_resume_engine(config)
    check_resumable(config, again.config, run_dir, [seed], "run")  # refusals before the lock
    with held(run_dir):  # checked again under the lock: another process may have moved on
        state = check_resumable(config, again.config, run_dir, [seed], "run")
        if state == "finished":
            if rebuild_plots(Path(run_dir), solve_threshold(config.env, config.solve_threshold)):
                print(f"{run_dir} had finished; its missing plots were rebuilt", file=sys.stderr)
                return 0
            fail(f"{run_dir} already finished; start a new run (with --out) instead of resuming")
        if state == "restart" and not args.quiet:
            print("no checkpoint yet: the run starts again from env step 0", file=sys.stderr)
        return run(config, seed, Path(run_dir), resume=True, quiet=args.quiet, log=args.log,
                   keep=args.keep_checkpoints)


def run(config: Config, seed: int, out: Path, *, resume: bool, quiet: bool, log: tuple[str, ...] = (),
        keep: int = 2) -> int:
    files = RunFiles([out], out / CHECKPOINT_DIR, resume=resume, keep_checkpoints=keep)
    if not quiet:
        print(f"run folder: {out}", file=sys.stderr)
    pin_cores(config, quiet)
    hooks = live_hooks(log, [out], config_record(config), [seed])
    result = train(config, [seed], files=files, progress=not quiet, hooks=hooks)
    summary = finish_agent_dir(out, result, 0)
    if result.interrupted:
        print(
            f"interrupted at env step {result.env_steps}; checkpoint written. Resume with: "
            f"python -m experiments.lunar --resume {out}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if result.diverged:
        print(
            f"error: seed {seed} diverged at env step {result.agents[0].diverged_at} (a non-finite "
            f"loss or parameter); likely cause: {divergence_hint(config)}. The latest checkpoint "
            f"holds the last finite state; {out}/summary.json says \"diverged\"",
            file=sys.stderr,
        )
        return EXIT_DIVERGED
    if not quiet:
        ev = summary["final_eval"]
        solve = summary["steps_to_solve"]
        if solve is not None:
            solve = f"{solve} ({summary['seconds_to_solve']:.0f} s)"
        print(
            f"done: {result.env_steps} env steps, {summary['episodes']} episodes, "
            f"steps to solve {solve}, eval ({ev['policy']}) "
            f"{ev['mean']:.1f} +/- {ev['std']:.1f} over {ev['episodes']} episodes, "
            f"{summary['steps_per_sec']:.0f} steps/s, wall {summary['wall_time_s']:.0f} s -> {out}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(entry(main))
