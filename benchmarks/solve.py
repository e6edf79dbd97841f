"""Steps and wall-clock seconds to solve, measured on the default command itself: one
``python -m experiments.lunar --seed K --stop-when-solved`` process per seed, as many at a time as
there are cores, each pinned to its own core (the targets: median <= 150,000 env steps and
median <= 3 minutes to solve on this 2-core CPU).

    python -m benchmarks.solve                          # seeds 0-4, the defaults
    python -m benchmarks.solve --seeds 0-9 --jobs 1     # one run at a time
    python -m benchmarks.solve --quick                  # CartPole-v1, 2 seeds, about 1 minute
    python -m benchmarks.solve --loss mse --sigma0 0.5  # any Config flag is passed on

Writes into --out: ``solve.md`` (one row per seed, the medians and the verdict), ``solve.json``,
and each seed's run folder (``seedK/``, exactly what ``experiments.lunar`` writes). Seconds to
solve count the training loop from its start (compilation included) to the episode end at which
the last-100 mean first reached the threshold; imports and the final evaluation are not in it.
An unsolved seed counts as never (infinite) in the medians. Each run is pinned to one core, as the
default command pins itself, so its episodes are bitwise those of the same command run alone;
its speed is not quite: two runs side by side share the memory bus and caches.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tyro

from benchmarks.report import (
    command_line,
    header,
    job_cores,
    machine_info,
    markdown_table,
    package_versions,
    pinned_command,
    run_record,
)
from experiments.common import EXIT_INTERRUPTED, fail, new_run_dir, parse
from noisyjax.analysis.stats import median_to_solve
from noisyjax.config import Config

STEP_TARGET = 150_000
SECONDS_TARGET = 180.0
# CartPole's own threshold (475) is out of reach in a few thousand steps. Random actions last about
# 22 steps an episode, so with a long warm-up the 100th episode ends near step 2,200 with a
# last-100 mean above 15: the quick run exercises the solved path and stops there.
QUICK = {"env": "CartPole-v1", "total_steps": 4_000, "warmup_steps": 3_000, "eval_episodes": 3,
         "solve_threshold": 15.0}


@dataclasses.dataclass(frozen=True)
class Args:
    """Median steps and seconds to solve over seeds, one experiments.lunar process per seed."""

    config: tyro.conf.OmitArgPrefixes[Config] = Config()
    seeds: str | None = None
    """Seeds, e.g. 0-4 or 0,3,5; default 0-4 (0-1 with --quick)."""
    jobs: int | None = None
    """Runs at a time, each pinned to its own core; default: one per allowed core."""
    quick: bool = False
    """Plumbing check: CartPole-v1, 4,000 env steps of which 3,000 warm-up, solve threshold 15, 3
    evaluation episodes (each unless given); it solves near env step 2,200 and stops."""
    out: Path | None = None
    """Folder to create (must not exist or be empty); default: a new folder under runs/."""
    quiet: bool = False
    """No line per finished run."""


def config_flags(config: Config, base: Config | None = None) -> list[str]:
    """The ``experiments.lunar`` flags that turn ``base`` (default ``Config()``) into ``config``."""
    base = Config() if base is None else base
    flags: list[str] = []
    for field in dataclasses.fields(config):
        value, default = getattr(config, field.name), getattr(base, field.name)
        if value == default:
            continue
        name = field.name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(f"--{name}" if value else f"--no-{name}")
        elif isinstance(value, tuple):
            flags += [f"--{name}", *(str(v) for v in value)]
        else:
            flags += [f"--{name}", str(value)]
    return flags


def run_seeds(seeds: list[int], flags: list[str], out: Path, cores: list[int], quiet: bool) -> dict:
    """Run one ``experiments.lunar`` per seed, ``len(cores)`` at a time, each process allowed only
    its own core; returns ``{seed: summary dict}`` (from each run's ``summary.json``)."""
    pending = list(seeds)
    running: dict[int, tuple[subprocess.Popen, int]] = {}  # core -> (process, seed)
    summaries: dict[int, dict] = {}
    try:
        while pending or running:
            for core in cores:
                if core not in running and pending:
                    seed = pending.pop(0)
                    cmd = pinned_command("experiments.lunar", core, [
                        "--seed", str(seed), "--stop-when-solved", "--quiet",
                        "--out", str(out / f"seed{seed}"), *flags])
                    running[core] = (subprocess.Popen(cmd), seed)
            time.sleep(0.2)
            for core, (proc, seed) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[core]
                if proc.returncode != 0:
                    raise RuntimeError(f"seed {seed}: experiments.lunar exited with status {proc.returncode}")
                summaries[seed] = json.loads((out / f"seed{seed}" / "summary.json").read_text())
                if not quiet:
                    s = summaries[seed]
                    print(f"seed {seed}: steps to solve {s['steps_to_solve']}, "
                          f"{s['seconds_to_solve'] or float('nan'):.0f} s, core {core}", file=sys.stderr)
    finally:
        for proc, _ in running.values():
            proc.terminate()
            proc.wait()
    return summaries


def report(seeds: list[int], summaries: dict, meta: dict) -> tuple[str, dict]:
    """Markdown table with the medians and the verdict; plus the numbers as a dict."""
    rows = []
    for seed in seeds:
        s = summaries[seed]
        ev = s.get("final_eval") or {}
        solve, secs = s["steps_to_solve"], s["seconds_to_solve"]
        rows.append([
            str(seed), f"{solve:,}" if solve is not None else f"not within {s['env_steps']:,}",
            f"{secs:.0f}" if secs is not None else "-", f"{s['steps_per_sec']:,.0f}",
            f"{s['last100_mean']:.1f}" if s["last100_mean"] is not None else "-",
            f"{ev['mean']:.1f} +/- {ev['std']:.1f} ({ev['episodes']})" if ev else "-",
        ])
    steps = median_to_solve([summaries[s]["steps_to_solve"] for s in seeds])
    secs = median_to_solve([summaries[s]["seconds_to_solve"] for s in seeds])
    solved = sum(summaries[s]["steps_to_solve"] is not None for s in seeds)

    def shown(x: float, unit: str) -> str:
        return f"{x:,.0f} {unit}" if np.isfinite(x) else "never (fewer than half solved)"

    verdict = (
        f"median steps to solve {shown(steps, 'env steps')} "
        f"({'meets' if steps <= STEP_TARGET else 'misses'} the <= {STEP_TARGET:,} target); "
        f"median time to solve {shown(secs, 's')} "
        f"({'meets' if secs <= SECONDS_TARGET else 'misses'} the <= {SECONDS_TARGET:.0f} s target); "
        f"{solved} of {len(seeds)} seeds solved."
    )
    table = markdown_table(
        ["seed", "steps to solve", "seconds to solve", "env steps/s", "last-100 mean at stop",
         "evaluation (episodes)"],
        rows,
    )
    text = "\n".join([
        meta["header"],
        f"{len(seeds)} seeds, {meta['jobs']} run(s) at a time, each pinned to its own core; "
        f"extra flags: {' '.join(meta['flags']) or 'none (the defaults)'}.",
        "", table, "", f"**Verdict**: {verdict}", "",
    ])
    numbers = {
        "steps_to_solve": {str(s): summaries[s]["steps_to_solve"] for s in seeds},
        "seconds_to_solve": {str(s): summaries[s]["seconds_to_solve"] for s in seeds},
        "median_steps_to_solve": steps if np.isfinite(steps) else None,
        "median_seconds_to_solve": secs if np.isfinite(secs) else None,
        "solved": solved, "verdict": verdict,
        "step_target_met": bool(steps <= STEP_TARGET), "time_target_met": bool(secs <= SECONDS_TARGET),
    }
    return text, numbers


def main(argv: list[str] | None = None) -> int:
    """Run the seeds, write the report; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse(Args, argv, description=__doc__)
    from noisyjax.io.rundir import write_json
    from noisyjax.run.sweeps import SweepError, parse_seeds

    config = args.config
    if args.quick:
        given = {a.split("=", 1)[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
        config = dataclasses.replace(config, **{k: v for k, v in QUICK.items() if k not in given})
    try:
        seeds = parse_seeds(args.seeds if args.seeds is not None else ("0-1" if args.quick else "0-4"))
    except SweepError as err:
        fail(str(err))
    cores = job_cores(args.jobs)
    jobs = len(cores)
    out = new_run_dir(args.out, "bench-solve")

    flags = config_flags(config)
    versions = package_versions()
    machine = machine_info()
    command = command_line("benchmarks.solve", argv)
    t0 = time.perf_counter()
    try:
        summaries = run_seeds(seeds, flags, out, cores, args.quiet)
    except KeyboardInterrupt:
        print(f"interrupted; the finished runs are in {out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RuntimeError as err:
        print(f"error: {err}; its run folder in {out} has the details", file=sys.stderr)
        return 1
    meta = {"header": header("Steps and seconds to solve", command, versions, machine),
            "jobs": jobs, "flags": flags}
    text, numbers = report(seeds, summaries, meta)
    print(text)
    (out / "solve.md").write_text(text)
    write_json(out / "solve.json", {
        **run_record(command, versions, machine),
        "seeds": seeds, "jobs": jobs, "flags": flags, "config": dataclasses.asdict(config),
        "wall_time_s": time.perf_counter() - t0, **numbers,
    })
    print(f"wrote {out}/solve.md and solve.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
