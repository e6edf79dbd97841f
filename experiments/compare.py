"""Compare finished runs and sweeps: one learning-curve figure, the sigma curves and one table.

    python -m experiments.compare runs/LunarLander-v3-seed0-... runs/sweep-LunarLander-v3-...
    python -m experiments.compare RUN_A RUN_B --label NoisyNet --label epsilon-greedy --out cmp/

Every agent of every folder (a run folder is one agent, a sweep folder one per agent) joins a
group: by default the settings in which the agents differ (e.g. ``noisy=False``), or with
``--label`` one name per folder. The output folder gets ``compare.md`` and ``compare.csv`` (per
group: agents, solved, median steps to solve, the final last-100 return as IQM with rliable's
95% stratified-bootstrap interval, the final evaluation) and the figures ``sweep_returns.png``
(mean and IQM band per group), ``sweep_solved.png`` and ``sweep_sigma.png``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from pathlib import Path
from typing import Literal

import numpy as np
import tyro

from experiments.common import entry, fail, new_run_dir, parse
from noisyjax.analysis.stats import median_to_solve

# Settings that do not change what an agent learns: never a reason to split groups.
IGNORED = frozenset({"cpu_cores", "log_every", "checkpoint_every", "eval_episodes"})


@dataclasses.dataclass(frozen=True)
class Args:
    """Compare finished runs and sweeps (any mix): figures and a table per group of agents."""

    folders: tyro.conf.Positional[tuple[Path, ...]]
    """Run or sweep folders (at least one)."""
    label: tyro.conf.UseAppendAction[tuple[str, ...]] = ()
    """One group name per folder, in order (repeatable); default: group by the differing settings."""
    out: Path | None = None
    """Folder to write into (must not exist or be empty); default: a new runs/compare-<UTC time>."""
    allow_mixed_envs: bool = False
    """Compare folders of different envs (their returns are on different scales)."""
    reps: int = 2_000
    """Bootstrap resamples of each interval."""
    formats: tyro.conf.UseAppendAction[tuple[Literal["pdf", "svg"], ...]] = ()
    """Vector copies of every figure beside its PNG (repeatable: --formats pdf --formats svg)."""


@dataclasses.dataclass
class AgentRun:
    """One agent: its folder, its settings (the config with its swept values) and its summary."""

    folder: Path
    seed: int
    settings: dict
    summary: dict


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        fail(f"{path.parent} is not a run or sweep folder (no {path.name}); give folders that "
             "experiments.lunar or experiments.sweep wrote")
    except (OSError, ValueError) as err:
        fail(f"{path} cannot be read ({err}); is the folder complete?")


def read_agents(folder: Path) -> list[AgentRun]:
    """The finished agents of a run or sweep ``folder`` (one ``error:`` line if it is neither or
    has an agent without ``summary.json``)."""
    config = _read_json(folder / "config.json")
    if "config" not in config:
        fail(f"{folder / 'config.json'} holds no config; give folders that experiments.lunar or "
             "experiments.sweep wrote")
    dirs = [folder / d for d in config["agent_dirs"]] if "agent_dirs" in config else [folder]
    overrides = config.get("overrides") or [{} for _ in dirs]
    agents = []
    for d, seed, extra in zip(dirs, config["seeds"], overrides):
        if not (d / "summary.json").is_file() or not (d / "episodes.csv").is_file():
            fail(f"{d} has no summary.json or episodes.csv: the run has not finished (resume it first)")
        agents.append(AgentRun(d, int(seed), {**config["config"], **extra}, _read_json(d / "summary.json")))
    return agents


def group(folders: list[list[AgentRun]], labels: tuple[str, ...]) -> dict[str, list[AgentRun]]:
    """Agents by group name: ``labels[i]`` for every agent of folder i, or else the settings in
    which the agents differ (``"all"`` when they differ in none)."""
    if labels:
        out: dict[str, list[AgentRun]] = {}
        for name, agents in zip(labels, folders):
            out.setdefault(name, []).extend(agents)
        return out
    agents = [a for f in folders for a in f]
    keys = sorted({k for a in agents for k in a.settings} - IGNORED)
    differing = [k for k in keys if len({json.dumps(a.settings.get(k)) for a in agents}) > 1]
    out = {}
    for a in agents:
        name = " ".join(f"{k}={_show(a.settings.get(k))}" for k in differing) or "all"
        out.setdefault(name, []).append(a)
    return out


def _show(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, list) else str(v)


def table(groups: dict[str, list[AgentRun]], reps: int) -> list[dict]:
    """One row per group: agents, solved, median steps to solve, final last-100 return (IQM
    [95% interval] over agents; rliable) and the mean final evaluation over agents."""
    from noisyjax.analysis.intervals import iqm_intervals

    finals = {name: np.array([[a.summary.get("last100_mean", np.nan)] for a in agents], np.float64)
              for name, agents in groups.items()}
    point, ci = iqm_intervals(finals, reps=reps)
    rows = []
    for name, agents in groups.items():
        steps = [a.summary.get("steps_to_solve") for a in agents]
        evals = [a.summary["final_eval"]["mean"] for a in agents if a.summary.get("final_eval")]
        rows.append({
            "group": name, "agents": len(agents), "seeds": " ".join(str(a.seed) for a in agents),
            "solved": sum(s is not None for s in steps), "median_steps_to_solve": median_to_solve(steps),
            "final_iqm": point[name], "final_low": ci[name][0], "final_high": ci[name][1],
            "eval_mean": float(np.mean(evals)) if evals else None,
        })
    return rows


def write_table(rows: list[dict], out: Path, sources: list[Path]) -> str:
    """``compare.csv`` and ``compare.md`` in ``out``; returns the Markdown."""
    with open(out / "compare.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| group | agents | solved | median steps to solve | final last-100 return, IQM [95% CI] | "
             "evaluation (mean) |", "|---|---|---|---|---|---|"]
    for r in rows:
        m = r["median_steps_to_solve"]
        median = f"{m:,.0f}" if np.isfinite(m) else "never"
        ev = "-" if r["eval_mean"] is None else f"{r['eval_mean']:.1f}"
        lines.append(f"| {r['group']} | {r['agents']} | {r['solved']}/{r['agents']} | {median} | "
                     f"{r['final_iqm']:.1f} [{r['final_low']:.1f}, {r['final_high']:.1f}] | {ev} |")
    md = "\n".join(["# Comparison", "", "Folders: " + ", ".join(f"`{s}`" for s in sources), "",
                    "Median steps to solve counts an unsolved agent as never. Intervals: rliable's "
                    "percentile stratified bootstrap over agents.", "", *lines, "",
                    "Figures: `sweep_returns.png`, `sweep_solved.png`, `sweep_sigma.png`.", ""])
    (out / "compare.md").write_text(md)
    return md


def main(argv: list[str] | None = None) -> int:
    return entry(_main, argv)


def _main(argv: list[str] | None) -> int:
    from noisyjax.analysis.intervals import require_rliable
    from noisyjax.run.env_ids import MissingExtra

    args = parse(Args, sys.argv[1:] if argv is None else argv, description=__doc__)
    if not args.folders:
        fail("give at least one run or sweep folder")
    if args.label and len(args.label) != len(args.folders):
        fail(f"--label was given {len(args.label)} time(s) for {len(args.folders)} folder(s); "
             "give one per folder")
    if args.reps < 100:
        fail(f"--reps {args.reps} is too few: give at least 100")
    try:
        require_rliable()
    except MissingExtra as err:
        fail(str(err))
    folders = [read_agents(Path(f)) for f in args.folders]
    envs = sorted({a.settings["env"] for f in folders for a in f})
    if len(envs) > 1 and not args.allow_mixed_envs:
        fail(f"the folders hold runs of different envs ({', '.join(envs)}); compare one env, or pass "
             "--allow-mixed-envs")
    groups = group(folders, args.label)
    out = new_run_dir(args.out, "compare")
    rows = table(groups, args.reps)
    print(write_table(rows, out, list(args.folders)))
    from noisyjax.analysis.figures import also_save_as
    from noisyjax.analysis.plots import plot_sweep

    thresholds = {a.summary.get("solve_threshold") for f in folders for a in f}
    threshold = thresholds.pop() if len(thresholds) == 1 else None  # none drawn for mixed ones
    windows = {a.summary.get("solve_window", 100) for f in folders for a in f}
    window = windows.pop() if len(windows) == 1 else 100
    with also_save_as(args.formats):
        plot_sweep({name: [a.folder for a in agents] for name, agents in groups.items()}, out, threshold,
                   window=window)
    print(f"wrote {out}/compare.md, compare.csv and the figures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
