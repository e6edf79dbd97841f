"""Sample efficiency on LunarLander-v3: NoisyNet-DQN (``Config()`` defaults) against epsilon-greedy
DQN (``Config(noisy=False)``, otherwise the same network, optimiser and budget), each trained as ONE
sweep (one call of ``noisyjax.run.loop.train`` for all its seeds).

    python -m benchmarks.learning                      # seeds 0-9, 80,000 env steps each
    python -m benchmarks.learning --quick              # seeds 0-4, 6,000 env steps (< 2 minutes)
    python -m benchmarks.learning --seeds 0-19 --total-steps 250000 --out runs/learning

Writes into --out: ``learning.md`` (table and verdict) and ``learning.json``; the plots of
``noisyjax.analysis.sweep_plots.plot_sweep``: ``sweep_returns.png`` (trailing-100 mean return
across seeds with a 95% bootstrap band, and the IQM), ``sweep_solved.png`` (fraction of seeds
solved over env steps), ``sweep_sigma.png`` (mean |sigma| per noisy layer); and per agent
``episodes.csv`` and ``metrics.csv`` under ``noisy/`` and ``epsilon/``. The final return of an
agent is the mean of its last 100 training episodes at the end of the budget (no separate
evaluation: it would cost as much as a large part of the training budget).

The agent axis is ``vmap`` by default: at 10 agents it ran about 3.7x faster than the exact ``map``
here; seeds are then not bitwise equal to single runs (docs/reproducibility.md), which does not
matter for comparing two methods over seeds.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.report import command_line, header, machine_info, markdown_table, package_versions, run_record
from experiments.common import EXIT_INTERRUPTED, apply_cpu_cores, fail, new_run_dir, parse
from noisyjax.config import AgentAxis, Config, CpuCores

GROUPS = (("noisy", "NoisyNet-DQN"), ("epsilon", "epsilon-greedy DQN"))


@dataclasses.dataclass(frozen=True)
class Args:
    """NoisyNet-DQN against epsilon-greedy DQN over seeds, one sweep each."""

    quick: bool = False
    """Short run (seeds 0-4, 6,000 env steps each) that finishes in < 2 minutes."""
    seeds: str | None = None
    """Seeds of each method, e.g. 0-9 or 0,3,5; default 0-9 (0-4 with --quick)."""
    total_steps: int | None = None
    """Env steps per agent; default 80000 (6000 with --quick): with the other two benchmarks this
    keeps the defaults under 30 minutes on a 2-core CPU (docs/benchmarks.md, "Budget")."""
    agent_axis: AgentAxis = "vmap"
    """Agent axis of each sweep: vmap (fast) or map (each seed bitwise equal to its single run)."""
    cpu_cores: CpuCores = "all"
    """all: one XLA CPU device per core, each sweep's agents split over them (as
    ``experiments.sweep --cpu-cores all``); one: the process pinned to one core."""
    out: Path | None = None
    """Folder to create (must not exist or be empty); default: a new folder under runs/."""
    quiet: bool = False
    """No progress bars."""


@dataclasses.dataclass
class GroupResult:
    """One method's sweep: per seed its episodes (end steps, returns) and steps to solve."""

    label: str
    config: Config
    seeds: list[int]
    dirs: list[Path]
    end_steps: list[np.ndarray]
    returns: list[np.ndarray]
    solved_at: list[int | None]
    wall_time: float
    steps_per_sec: float
    devices: int = 1  # XLA CPU devices the agents were split over


def run_group(
    name: str, label: str, config: Config, seeds: list[int], out: Path, quiet: bool
) -> GroupResult:
    """Train all ``seeds`` of one method in one ``train`` call, logging into ``out/name``."""
    from noisyjax.io.rundir import write_config
    from noisyjax.run.loop import RunFiles, train

    folder = out / name
    folder.mkdir()
    dirs = [folder / f"agent{i:03d}-seed{s}" for i, s in enumerate(seeds)]
    write_config(folder, config, seeds, {"label": label, "agent_dirs": [d.name for d in dirs]})
    if not quiet:
        print(f"{label}: {len(seeds)} agents x {config.total_steps:,} env steps", file=sys.stderr)
    with tempfile.TemporaryDirectory() as checkpoints:  # the loop always checkpoints at the end
        result = train(
            config, seeds, files=RunFiles(dirs, Path(checkpoints)), progress=not quiet,
            evaluate_at_end=False,
        )
    if result.interrupted:
        print(f"interrupted; partial logs are in {out}", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED)
    return GroupResult(
        label=label, config=config, seeds=seeds, dirs=dirs,
        end_steps=[np.asarray(a.end_steps, float) for a in result.agents],
        returns=[np.asarray(a.returns, float) for a in result.agents],
        solved_at=[a.steps_to_solve for a in result.agents],
        wall_time=result.wall_time, steps_per_sec=result.steps_per_sec, devices=result.devices,
    )


def final_returns(g: GroupResult, window: int = 100) -> np.ndarray:
    """Mean of each seed's last ``window`` training returns at the end (NaN without episodes): ``[seeds]``."""
    return np.array([r[-window:].mean() if r.size else np.nan for r in g.returns])


def mean_curve_returns(g: GroupResult, grid: np.ndarray) -> np.ndarray:
    """Each seed's trailing-100 return averaged over the env-step ``grid`` (area under the learning
    curve per env step; points before its first episode are skipped): ``[seeds]``."""
    from noisyjax.analysis.stats import curve_on_grid

    out = []
    for s, r in zip(g.end_steps, g.returns):
        c = curve_on_grid(s, r, grid)
        out.append(np.nanmean(c) if np.isfinite(c).any() else np.nan)
    return np.array(out)


def iqm_with_ci(x: np.ndarray) -> tuple[float, float, float]:
    """IQM of ``x [seeds]`` and rliable's 95% bootstrap interval of it."""
    from noisyjax.analysis.intervals import iqm_intervals

    point, ci = iqm_intervals({"x": np.asarray(x)[:, None]})
    return point["x"], *ci["x"]


def improvement(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """rliable's probability of improvement P(a > b) over seeds ``[seeds]`` and its 95% interval."""
    from noisyjax.analysis.intervals import improvement_probability

    p, (lo, hi) = improvement_probability(np.asarray(a)[:, None], np.asarray(b)[:, None])
    return p, lo, hi


def sigma_table(g: GroupResult) -> tuple[list[str], list[list[str]]]:
    """Mean |sigma| per noisy layer (mean across seeds) at the first and the last log point."""
    from noisyjax.io.csvlog import read_csv

    first: dict[str, list[float]] = {}
    last: dict[str, list[float]] = {}
    steps = (None, None)
    for d in g.dirs:
        rows = read_csv(d / "metrics.csv")
        if not rows:
            continue
        steps = (rows[0]["env_step"], rows[-1]["env_step"])
        for name in rows[0]:
            if name.startswith("sigma_"):
                first.setdefault(name[6:], []).append(float(rows[0][name]))
                last.setdefault(name[6:], []).append(float(rows[-1][name]))
    columns = ["noisy layer", f"mean abs sigma at env step {steps[0]}", f"at env step {steps[1]}", "change"]
    rows = [
        [layer, f"{np.mean(first[layer]):.4f}", f"{np.mean(last[layer]):.4f}",
         f"{100 * (np.mean(last[layer]) / np.mean(first[layer]) - 1):+.0f}%"]
        for layer in first
    ]
    return columns, rows


def _compare(what: str, poi: tuple[float, float, float], n: int, steps: int) -> str:
    p, lo, hi = poi
    ci = f"P(NoisyNet > epsilon-greedy) = {p:.2f}, 95% CI {lo:.2f} to {hi:.2f}"
    if lo > 0.5:
        return f"{what}: NoisyNet is better ({ci}, above 0.5)."
    if hi < 0.5:
        return f"{what}: NoisyNet is worse ({ci}, below 0.5)."
    return f"{what}: {ci} includes 0.5, so {n} seeds per method at {steps:,} env steps do not resolve it."


def verdict(poi_final: tuple[float, float, float], poi_mean: tuple[float, float, float],
            solved: tuple[int, int], n: int, steps: int) -> str:
    """Plain words from the numbers: what the probabilities of improvement and their intervals say."""
    lo, hi = poi_final[1], poi_final[2]
    if lo > 0.5:
        head = "NoisyNet helps here."
    elif hi < 0.5:
        head = "NoisyNet does worse than epsilon-greedy here."
    else:
        head = "This run does not show that NoisyNet helps (or hurts) here."
    return " ".join([
        head,
        _compare("Final return", poi_final, n, steps),
        _compare("Mean return over the whole run", poi_mean, n, steps),
        f"Seeds solved within {steps:,} env steps: NoisyNet {solved[0]}/{n}, epsilon-greedy {solved[1]}/{n}.",
        *(["With fewer than 10 seeds per method the percentile bootstrap is too narrow: read these "
           "intervals as optimistic."] if n < 10 else []),
    ])


def report(groups: list[GroupResult], meta: dict, threshold: float | None) -> tuple[str, dict]:
    """Markdown table, sigma table and verdict; plus the numbers as a dict."""
    from noisyjax.analysis.stats import median_to_solve

    steps = meta["total_steps"]
    grid = np.linspace(0.0, float(steps), 201)
    rows, numbers = [], {}
    finals, means = [], []
    for g in groups:
        final, mean = final_returns(g), mean_curve_returns(g, grid)
        finals.append(final)
        means.append(mean)
        f_iqm, f_lo, f_hi = iqm_with_ci(final)
        m_iqm, m_lo, m_hi = iqm_with_ci(mean)
        solved = sum(s is not None for s in g.solved_at)
        med = median_to_solve(g.solved_at)
        rows.append([
            g.label, str(len(g.seeds)), f"{f_iqm:.1f} [{f_lo:.1f}, {f_hi:.1f}]",
            f"{m_iqm:.1f} [{m_lo:.1f}, {m_hi:.1f}]", f"{solved}/{len(g.seeds)}",
            f"{med:,.0f}" if np.isfinite(med) else f"> {steps:,} (fewer than half solved)",
            f"{g.wall_time:,.0f} s, {g.steps_per_sec:,.0f}",
        ])
        numbers[g.label] = {
            "seeds": g.seeds, "final_return": final.tolist(), "mean_curve_return": mean.tolist(),
            "final_iqm": [f_iqm, f_lo, f_hi], "mean_curve_iqm": [m_iqm, m_lo, m_hi],
            "steps_to_solve": g.solved_at, "median_steps_to_solve": med if np.isfinite(med) else None,
            "wall_time_s": g.wall_time, "aggregate_steps_per_sec": g.steps_per_sec,
            "config": dataclasses.asdict(g.config),
        }
    n = len(groups[0].seeds)
    diff_final = improvement(finals[0], finals[1])
    diff_mean = improvement(means[0], means[1])
    solved = tuple(sum(s is not None for s in g.solved_at) for g in groups)
    words = verdict(diff_final, diff_mean, solved, n, steps)
    table = markdown_table(
        ["method", "seeds", "IQM final return [95% CI]", "IQM mean return over training [95% CI]",
         "solved", "median steps to solve", "wall time, aggregate env steps/s"],
        rows,
    )
    sigma_cols, sigma_rows = sigma_table(groups[0])
    lines = [
        meta["header"],
        f"{n} seeds per method, {steps:,} env steps per agent, agent axis {meta['agent_axis']}, "
        f"--cpu-cores {meta['cpu_cores']}; "
        f"final return = mean of the last 100 training episodes; solved = last-100 mean >= "
        f"{threshold if threshold is not None else 'n/a'}. Intervals: rliable's 95% percentile bootstrap "
        "over seeds "
        "(noisyjax.analysis.intervals, 2,000 resamples).",
        "",
        table,
        "",
        f"**Verdict** (computed from the numbers above): {words}",
        "",
        "Mean |sigma| of the noisy layers (NoisyNet agents, mean across seeds):",
        "",
        markdown_table(sigma_cols, sigma_rows) if sigma_rows else "(no metrics logged)",
        "",
        "Plots: sweep_returns.png, sweep_solved.png, sweep_sigma.png.",
        "",
    ]
    numbers["improvement_final"] = list(diff_final)
    numbers["improvement_mean_curve"] = list(diff_mean)
    numbers["verdict"] = words
    return "\n".join(lines), numbers


def main(argv: list[str] | None = None) -> int:
    """Train both sweeps, plot, and write the report; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse(Args, argv, description=__doc__)
    from noisyjax.run.sweeps import SweepError, parse_seeds

    seeds_text = args.seeds if args.seeds is not None else ("0-4" if args.quick else "0-9")
    total = args.total_steps if args.total_steps is not None else (6_000 if args.quick else 80_000)
    try:
        seeds = parse_seeds(seeds_text)
    except SweepError as err:
        fail(str(err))
    if total < 1:
        fail(f"--total-steps {total} is invalid: must be a positive integer")
    # checkpoint_every only sets how often the loop writes a checkpoint (I/O, not learning).
    noisy = Config(
        total_steps=total, agent_axis=args.agent_axis, cpu_cores=args.cpu_cores,
        checkpoint_every=10**9,
    )
    epsilon = dataclasses.replace(noisy, noisy=False)
    out = new_run_dir(args.out, "bench-learning")
    out = Path(out)
    apply_cpu_cores(noisy, args.quiet)  # before JAX's first computation

    versions = package_versions()
    machine = machine_info()
    command = command_line("benchmarks.learning", argv)
    t0 = time.perf_counter()
    groups = [
        run_group(name, label, config, seeds, out, args.quiet)
        for (name, label), config in zip(GROUPS, (noisy, epsilon))
    ]
    from noisyjax.analysis.sweep_plots import plot_sweep
    from noisyjax.run.envs import solve_threshold

    threshold = solve_threshold(noisy.env, noisy.solve_threshold)
    plot_sweep({g.label: g.dirs for g in groups}, out, threshold)
    meta = {
        "header": header("Sample efficiency: NoisyNet-DQN vs epsilon-greedy DQN", command, versions, machine),
        "total_steps": total, "agent_axis": args.agent_axis, "cpu_cores": args.cpu_cores,
    }
    text, numbers = report(groups, meta, threshold)
    print(text)
    (out / "learning.md").write_text(text)
    payload = {
        **run_record(command, versions, machine),
        "total_steps": total, "agent_axis": args.agent_axis, "cpu_cores": args.cpu_cores,
        "cpu_devices": {g.label: g.devices for g in groups}, "threshold": threshold,
        "wall_time_s": time.perf_counter() - t0, **numbers,
    }
    from noisyjax.io.rundir import write_json

    write_json(out / "learning.json", payload)
    print(f"wrote {out}/learning.md, learning.json and the plots", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
