"""The report of ``benchmarks.exploration``: per-seed scores read from the cells' sweep folders,
rliable's intervals (``noisyjax.analysis.intervals``), the figures, and the markdown document.

Scores of one agent: the final return (mean of its last 100 training episodes at the budget), the
area under its learning curve (its trailing-100 mean return averaged over ``GRID_POINTS`` env
steps spread evenly over the budget), its steps to the task's threshold. Aggregates over tasks use
min-max normalised scores: 0 is the mean return of the episodes that ended during the uniform-random
warm-up (over every agent of the task), 1 is the task's solve threshold.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.report import (  # noqa: E402
    CORE_PACKAGES,
    command_line,
    header,
    machine_info,
    markdown_table,
    package_versions,
)
from noisyjax.analysis.figures import SIGMA_PREFIX, read_columns, read_episodes, save, style_steps_axis  # noqa: E402
from noisyjax.analysis.intervals import (  # noqa: E402
    curve_intervals,
    improvement_probability,
    iqm_intervals,
    performance_profiles,
)
from noisyjax.analysis.stats import curve_on_grid, median_to_solve  # noqa: E402

GRID_POINTS = 40
READING_MARK = "<!-- reading: the text below this line is kept when the study rewrites this file -->"
PACKAGES = (*CORE_PACKAGES, "gymnax", "envpool", "rliable", "arch", "scipy")


@dataclasses.dataclass
class CellData:
    """One cell's agents: their episodes, sigma logs and summaries, in seed order."""

    task: object  # benchmarks.exploration.Task
    method: object  # benchmarks.exploration.Method
    seeds: list[int]
    end_steps: list[np.ndarray]
    returns: list[np.ndarray]
    sigma_steps: list[np.ndarray]
    sigma: list[dict[str, np.ndarray]]  # per agent: layer -> mean |sigma| at sigma_steps
    solved_at: list[int | None]
    evals: list[float | None]
    warmup: int
    threshold: float
    wall_time: float
    steps_per_sec: float
    command: str


def read_cell(cell, out: Path) -> CellData:
    """The finished sweep folder of ``cell`` as arrays."""
    folder = cell.folder(out)
    cfg = json.loads((folder / "config.json").read_text())
    summary = json.loads((folder / "summary.json").read_text())
    data = CellData(cell.task, cell.method, list(cfg["seeds"]), [], [], [], [], [], [],
                    int(cfg["config"]["warmup_steps"]), float("nan"), float(summary["wall_time_s"]),
                    float(summary["aggregate_steps_per_sec"]), cell.command(out))
    for name in cfg["agent_dirs"]:
        agent = folder / name
        steps, rets = read_episodes(agent / "episodes.csv")
        data.end_steps.append(steps)
        data.returns.append(rets)
        _, cols = read_columns(agent / "metrics.csv")
        data.sigma_steps.append(cols.get("env_step", np.zeros(0)))
        data.sigma.append({k[len(SIGMA_PREFIX):]: v for k, v in cols.items() if k.startswith(SIGMA_PREFIX)})
        s = json.loads((agent / "summary.json").read_text())
        data.solved_at.append(s["steps_to_solve"])
        data.evals.append((s.get("final_eval") or {}).get("mean"))
        data.threshold = float(s["solve_threshold"])
    return data


def final_returns(d: CellData) -> np.ndarray:
    """Mean of each agent's last 100 training returns at the budget: ``[seeds]``."""
    return np.array([r[-100:].mean() if r.size else np.nan for r in d.returns])


def grid(budget: int) -> np.ndarray:
    """``GRID_POINTS`` env steps spread evenly over ``(0, budget]``."""
    return np.linspace(budget / GRID_POINTS, budget, GRID_POINTS)


def curves(d: CellData) -> np.ndarray:
    """Each agent's trailing-100 mean return on ``grid`` (NaN before its first episode):
    ``[seeds, points]``."""
    g = grid(d.task.total_steps)
    return np.stack([curve_on_grid(s, r, g) for s, r in zip(d.end_steps, d.returns)])


def areas(d: CellData) -> np.ndarray:
    """Area under each agent's learning curve per env step (the mean of ``curves`` over the points
    it has a value at): ``[seeds]``."""
    c = curves(d)
    return np.array([np.nanmean(row) if np.isfinite(row).any() else np.nan for row in c])


def random_return(cells: list[CellData]) -> float:
    """Mean return of the episodes that ended during the uniform-random warm-up, over every
    agent of ``cells`` (one task): the 0 of its normalised scores."""
    rets = [r[s <= d.warmup] for d in cells for s, r in zip(d.end_steps, d.returns)]
    rets = np.concatenate(rets) if rets else np.zeros(0)
    return float(rets.mean()) if rets.size else float("nan")


def _ci(point: float, ci: tuple[float, float], fmt: str = "{:.1f}") -> str:
    return f"{fmt.format(point)} [{fmt.format(ci[0])}, {fmt.format(ci[1])}]"


def _verdict(p: float, ci: tuple[float, float]) -> str:
    if ci[0] > 0.5:
        return "better"
    if ci[1] < 0.5:
        return "worse"
    return "within the interval"


def analyse(data: dict[tuple[str, str], CellData], tasks, methods, baseline: str, reps: int) -> dict:
    """Every number of the report, as plain lists and floats (``results.json``)."""
    res: dict = {"tasks": {}, "aggregate": {}, "reps": reps}
    norm_final: dict[str, list[np.ndarray]] = {m.name: [] for m in methods}
    norm_auc: dict[str, list[np.ndarray]] = {m.name: [] for m in methods}
    for t in tasks:
        cells = [data[t.name, m.name] for m in methods]
        lo, hi = random_return(cells), cells[0].threshold
        finals = {m.name: final_returns(data[t.name, m.name])[:, None] for m in methods}
        aucs = {m.name: areas(data[t.name, m.name])[:, None] for m in methods}
        f_pt, f_ci = iqm_intervals(finals, reps)
        a_pt, a_ci = iqm_intervals(aucs, reps)
        entry = {"random_return": lo, "threshold": hi, "budget": t.total_steps, "methods": {}}
        for m in methods:
            d = data[t.name, m.name]
            entry["methods"][m.name] = {
                "seeds": d.seeds, "final": finals[m.name][:, 0].tolist(), "auc": aucs[m.name][:, 0].tolist(),
                "steps_to_solve": d.solved_at, "eval": d.evals,
                "final_iqm": [f_pt[m.name], *f_ci[m.name]], "auc_iqm": [a_pt[m.name], *a_ci[m.name]],
                "solved": int(sum(s is not None for s in d.solved_at)),
                "median_steps_to_solve": _finite(median_to_solve(d.solved_at)),
                "wall_time_s": d.wall_time, "steps_per_sec": d.steps_per_sec,
            }
            norm_final[m.name].append((finals[m.name][:, 0] - lo) / (hi - lo))
            norm_auc[m.name].append((aucs[m.name][:, 0] - lo) / (hi - lo))
        # per task on the final score only: each probability costs about as much as an IQM interval
        entry["improvement"] = {m.name: {"final": _poi(finals[m.name], finals[baseline], reps)}
                                for m in methods if m.name != baseline}
        res["tasks"][t.name] = entry
    nf = {k: np.stack(v, axis=1) for k, v in norm_final.items()}  # [runs, tasks]
    na = {k: np.stack(v, axis=1) for k, v in norm_auc.items()}
    f_pt, f_ci = iqm_intervals(nf, reps)
    a_pt, a_ci = iqm_intervals(na, reps)
    res["aggregate"] = {
        "final_iqm": {k: [f_pt[k], *f_ci[k]] for k in nf},
        "auc_iqm": {k: [a_pt[k], *a_ci[k]] for k in na},
        "improvement": {m.name: {"final": _poi(nf[m.name], nf[baseline], reps),
                                 "auc": _poi(na[m.name], na[baseline], reps)}
                        for m in methods if m.name != baseline},
        "normalised_final": {k: v.tolist() for k, v in nf.items()},
    }
    return res


def _poi(x: np.ndarray, y: np.ndarray, reps: int) -> list[float]:
    p, ci = improvement_probability(x, y, reps)
    return [p, *ci]


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


# ------------------------------------------------------------------------------------------- figures
def _colors(methods) -> dict[str, str]:
    cmap = plt.get_cmap("tab10")
    return {m.name: cmap(i) for i, m in enumerate(methods)}


def plot_curves(data, tasks, methods, reps: int, path: Path) -> Path:
    """Per task, the IQM over seeds of the trailing-100 return, with rliable's 95% band."""
    cols = min(3, len(tasks))
    rows = -(-len(tasks) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    colors = _colors(methods)
    for ax, t in zip(axes.flat, tasks):
        g = grid(t.total_steps)
        pts, bands = curve_intervals({m.name: curves(data[t.name, m.name])[:, None, :] for m in methods},
                                     max(100, reps // 2))
        for m in methods:
            ax.plot(g, pts[m.name], color=colors[m.name], lw=1.8, label=m.short)
            ax.fill_between(g, bands[m.name][0], bands[m.name][1], color=colors[m.name], alpha=0.18, lw=0)
        ax.axhline(data[t.name, methods[0].name].threshold, color="0.4", ls=":", lw=1)
        ax.set_title(t.name)
        ax.set_ylabel("return (trailing 100)")
        style_steps_axis(ax)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(methods)), frameon=False)
    fig.suptitle("IQM over seeds of the trailing-100 return, 95% stratified-bootstrap band (rliable); "
                 "dotted: threshold", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    return save(fig, path, tight=False)


def plot_profiles(res, methods, reps: int, path: Path) -> Path:
    """rliable's performance profile of the normalised final scores over every task and seed."""
    from rliable import plot_utils

    scores = {m.name: np.asarray(res["aggregate"]["normalised_final"][m.name]) for m in methods}
    taus = np.linspace(min(-0.25, np.nanmin([v.min() for v in scores.values()])),
                       max(1.25, np.nanmax([v.max() for v in scores.values()])), 61)
    prof, band = performance_profiles(scores, taus, max(100, reps // 2))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    colors = _colors(methods)
    plot_utils.plot_performance_profiles(prof, taus, performance_profile_cis=band, ax=ax,
                                         colors=colors, xlabel="normalised final score (tau)")
    ax.legend([plt.Line2D([], [], color=colors[m.name]) for m in methods], [m.short for m in methods],
              loc="upper right", fontsize=9)
    ax.set_title("Performance profile over all tasks and seeds (0 = random, 1 = threshold)", fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def plot_iqm(res, tasks, methods, path: Path) -> Path:
    """The IQM of the normalised final score per task and over all tasks, with rliable's 95%
    intervals: one panel each, one bar per method."""
    names = [t.name for t in tasks] + ["all tasks"]
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 0.45 * len(methods) * rows + 0.9 * rows),
                             squeeze=False)
    colors = _colors(methods)
    for ax, name in zip(axes.flat, names):
        for y, m in enumerate(methods):
            if name == "all tasks":
                point, lo, hi = res["aggregate"]["final_iqm"][m.name]
            else:
                e = res["tasks"][name]
                a, b = e["random_return"], e["threshold"]
                point, lo, hi = ((v - a) / (b - a) for v in e["methods"][m.name]["final_iqm"])
            ax.barh(y, hi - lo, left=lo, height=0.6, color=colors[m.name], alpha=0.75)
            ax.plot([point, point], [y - 0.3, y + 0.3], color="black", lw=1.5)
        ax.set_yticks(range(len(methods)))
        ax.set_yticklabels([m.short for m in methods] if ax in axes[:, 0] else [])
        ax.set_title(name, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.supxlabel("IQM of the normalised final score (0 = random, 1 = threshold), 95% interval (rliable)",
                  fontsize=9)
    fig.tight_layout()
    return save(fig, path, tight=False)


def plot_improvement(res, methods, baseline_label: str, path: Path) -> Path:
    """rliable's plot of P(method > baseline) on the final score, over all tasks."""
    from rliable import plot_utils

    agg = res["aggregate"]["improvement"]
    labels = {m.name: m.short for m in methods}
    pts = {f"{labels[k]}|{baseline_label}": v["final"][0] for k, v in agg.items()}
    cis = {f"{labels[k]}|{baseline_label}": np.array(v["final"][1:]) for k, v in agg.items()}
    ax = plot_utils.plot_probability_of_improvement(pts, cis, pair_separator="|",
                                                    figsize=(5.5, 1.0 + 0.55 * len(pts)),
                                                    xlabel="P(X > Y), final score over all tasks")
    fig = ax.get_figure()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tight layout not applied")
        return save(fig, path)


def plot_sigma(data, tasks, methods, path: Path) -> Path:
    """Mean |sigma| per noisy layer over training, every seed (thin) and their mean (thick)."""
    noisy = [m for m in methods if "--no-noisy" not in m.flags]
    layers = sorted({k for t in tasks for m in noisy for s in data[t.name, m.name].sigma for k in s})
    fig, axes = plt.subplots(len(tasks), max(1, len(layers)), figsize=(3.6 * max(1, len(layers)),
                             2.5 * len(tasks)), squeeze=False)
    colors = _colors(methods)
    for r, t in enumerate(tasks):
        for c, layer in enumerate(layers):
            ax = axes[r, c]
            for m in noisy:
                d = data[t.name, m.name]
                runs = [(st, s[layer]) for st, s in zip(d.sigma_steps, d.sigma) if layer in s]
                for st, v in runs:
                    ax.plot(st, v, color=colors[m.name], lw=0.5, alpha=0.35)
                if runs:
                    n = min(len(v) for _, v in runs)
                    ax.plot(runs[0][0][:n], np.mean([v[:n] for _, v in runs], axis=0), color=colors[m.name],
                            lw=2, label=m.short)
            ax.set_title(f"{t.name}: {layer}", fontsize=9)
            ax.set_ylabel("mean |sigma|")
            style_steps_axis(ax)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(noisy), frameon=False)
    fig.tight_layout(rect=(0, 0.6 / (2.5 * len(tasks)), 1, 1))
    return save(fig, path, tight=False)


# ---------------------------------------------------------------------------------------- document
def write_report(
    cells, out: Path, doc: Path, argv: list[str], study: dict, reps: int, setup, *, quick: bool
) -> None:
    """Read every cell, compute, plot, and write ``doc`` (keeping its reading section) plus
    ``<doc folder>/results.json``; ``setup`` is the ``benchmarks.exploration.Study`` (its title
    and the baseline every method is compared with)."""
    tasks = list(dict.fromkeys(c.task for c in cells))
    methods = list(dict.fromkeys(c.method for c in cells))
    data = {(c.task.name, c.method.name): read_cell(c, out) for c in cells}
    res = analyse(data, tasks, methods, setup.baseline, reps)
    base = next(m for m in methods if m.name == setup.baseline)
    figs = doc.with_suffix("")
    figs.mkdir(parents=True, exist_ok=True)
    files = {
        "curves": plot_curves(data, tasks, methods, reps, figs / "curves.png"),
        "iqm": plot_iqm(res, tasks, methods, figs / "iqm.png"),
        "profiles": plot_profiles(res, methods, reps, figs / "profiles.png"),
        "improvement": plot_improvement(res, methods, base.short, figs / "improvement.png"),
        "sigma": plot_sigma(data, tasks, methods, figs / "sigma.png"),
    }
    command = command_line("benchmarks.exploration", argv)
    versions = package_versions(PACKAGES)
    record = {"command": command, "versions": versions, "study": study, **res,
              "commands": {f"{c.task.name}/{c.method.name}": c.command(out) for c in cells}}
    (figs / "results.json").write_text(json.dumps(record, indent=1, default=_json_default))
    kept = ""
    if doc.is_file():
        old = doc.read_text()
        if READING_MARK in old:
            kept = old.split(READING_MARK, 1)[1]
    text = render(res, data, tasks, methods, files, doc, command, versions, study, out, quick, setup, base)
    doc.write_text(text + "\n" + READING_MARK + (kept if kept else "\n"))


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(type(x))


def _steps(x) -> str:
    return "-" if x is None else f"{x:,.0f}"


def render(
    res, data, tasks, methods, files, doc: Path, command, versions, study, out, quick, setup, base
) -> str:
    """The markdown of the report (everything above the reading section)."""
    parts = study.get("parts", [])
    wall = sum(p["wall_time_s"] for p in parts)
    lines = [
        f"# {setup.title}" if not quick else f"# {setup.title} (quick)",
        "",
        f"Generated by `{command_line('benchmarks.exploration', _agent(setup))}`"
        + (" --quick: a plumbing check that concludes nothing." if quick else
           "; everything above the reading section at the end is rewritten when it runs again."),
        "",
        header("Run", command, versions, machine_info()).replace("## Run\n\n", ""),
        f"- wall time of the study: {wall / 60:.1f} min in {len(parts)} part(s) "
        f"({', '.join(_part(p) for p in parts)})",
        f"- cells trained by `{command_line('benchmarks.exploration', _agent(setup) + ['--out', str(out)])}"
        + (" --quick`" if quick else "`") + "; results folder (every raw episode: "
        "`<task>/<method>/agent*/episodes.csv`): `" + str(out) + "`",
        f"- intervals: rliable {versions.get('rliable')}, percentile stratified bootstrap, {res['reps']:,} "
        f"resamples ({max(100, res['reps'] // 2):,} for the curves and profiles), 95%",
        "",
        "## Tasks and budgets",
        "",
        "Each (task, method) cell is one vmapped sweep of seeds "
        f"{', '.join(map(str, data[tasks[0].name, methods[0].name].seeds))} on the jitted engine "
        "with the default settings (`experiments.sweep --agent-axis vmap`); only the exploration "
        "flags differ between methods. Scores are normalised per task: 0 is the mean return of the "
        "episodes that ended during the uniform-random warm-up (all agents of the task), 1 the threshold.",
        "",
        markdown_table(
            ["task", "env id", "reward", "budget (env steps)", "threshold", "random return (norm. 0)",
             "planned min per cell", "note"],
            [[t.name, f"`{t.env}`", t.reward, f"{t.total_steps:,}", f"{res['tasks'][t.name]['threshold']:g}",
              f"{res['tasks'][t.name]['random_return']:.3g}",
              f"{(t.total_steps * len(data[t.name, methods[0].name].seeds) / t.rate + 40) / 60:.1f}", t.note]
             for t in tasks]),
        "",
        *([] if quick else BUDGETS),
        *([] if quick or setup.name == "dqn" else RAINBOW_SETUP),
        markdown_table(["method", "flags"], [[m.label, f"`{' '.join(m.flags)}`" if m.flags else "(defaults)"]
                                              for m in methods]),
        "",
        "## Results per task",
        "",
        "Final: mean of the last 100 training returns at the budget. AUC: the trailing-100 return "
        f"averaged over {GRID_POINTS} points spread evenly over the budget. Both as IQM over seeds "
        "[95% interval]. Median steps to solve counts an unsolved seed as never. Evaluation: "
        "greedy on the mean weights, 20 episodes per seed, mean over seeds (a cross-check).",
        "",
    ]
    rows = []
    for t in tasks:
        for m in methods:
            e = res["tasks"][t.name]["methods"][m.name]
            evals = [v for v in e["eval"] if v is not None]
            rows.append([t.name, m.label, f"{e['solved']}/{len(e['seeds'])}",
                         _steps(e["median_steps_to_solve"]) if e["median_steps_to_solve"] else "never",
                         _ci(e["final_iqm"][0], e["final_iqm"][1:], _fmt(t)),
                         _ci(e["auc_iqm"][0], e["auc_iqm"][1:], _fmt(t)),
                         _fmt(t).format(np.mean(evals)) if evals else "-",
                         f"{e['wall_time_s']:.0f} s, {e['steps_per_sec']:,.0f}"])
    lines += [markdown_table(["task", "method", "solved", "median steps to solve", "final (IQM)", "AUC (IQM)",
                              "evaluation", "cell wall time, env steps/s"], rows), ""]
    lines += [f"## Probability of improvement over {base.short}", "",
              f"rliable's `probability_of_improvement` P(X > {base.short}) over seeds [95% interval]; "
              "0.5 means no difference. The verdict says whether the interval lies above 0.5 (better), "
              "below (worse), or contains it. Per task on the final score; over all tasks on the "
              "final score and the AUC.", ""]
    rows = []
    for t in [*tasks, None]:
        imp = res["aggregate"]["improvement"] if t is None else res["tasks"][t.name]["improvement"]
        for m in methods:
            if m.name not in imp:
                continue
            f, a = imp[m.name]["final"], imp[m.name].get("auc")
            rows.append(["all tasks" if t is None else t.name, m.label,
                         f"{_ci(f[0], f[1:], '{:.2f}')} {_verdict(f[0], f[1:])}",
                         f"{_ci(a[0], a[1:], '{:.2f}')} {_verdict(a[0], a[1:])}" if a else "-"])
    lines += [markdown_table(["task", "method X", "P(X > baseline), final", "P(X > baseline), AUC"], rows),
              ""]
    agg = res["aggregate"]
    rows = [[m.label, _ci(agg["final_iqm"][m.name][0], agg["final_iqm"][m.name][1:], "{:.2f}"),
             _ci(agg["auc_iqm"][m.name][0], agg["auc_iqm"][m.name][1:], "{:.2f}")] for m in methods]
    lines += ["## Over all tasks", "",
              "IQM over every (task, seed) of the normalised score, stratified bootstrap over seeds "
              "within each task.", "",
              markdown_table(["method", "final (IQM, normalised)", "AUC (IQM, normalised)"], rows), ""]
    rel = {k: v.relative_to(doc.parent).as_posix() for k, v in files.items()}
    lines += ["## Figures", "",
              f"Every figure is written by the command in the header (`{command}`), from the cells' "
              "folders; `--report-only` redraws them without training.", "",
              f"![learning curves]({rel['curves']})", "",
              f"![IQM per task]({rel['iqm']})", "",
              f"![performance profiles]({rel['profiles']})", "",
              f"![probability of improvement]({rel['improvement']})", "",
              "Mean |sigma| per noisy layer over training (the paper's figure 3 analysis), every seed "
              "thin and their mean thick:", "",
              f"![sigma]({rel['sigma']})", ""]
    lines += ["## What the data says", "", *verdicts(res, tasks, methods, base.short), ""]
    lines += ["## The cells' commands", "",
              "Each cell is this command (run by the study pinned to one core):",
              "", "```", *(data[t.name, m.name].command for t in tasks for m in methods), "```", ""]
    return "\n".join(lines)


BUDGETS = [
    "**How the budgets were chosen.** The study has to fit in 90 minutes on a 2-core machine, with "
    "two cells at a time, each pinned to a core. A first full run of the study, at larger budgets "
    "(CartPole and Acrobot 50k, MountainCar and LunarLander 80k, MinAtar 12k), took about 2 h 15 min "
    "of wall time here: the plan is now built from that run's measured rates. A factorised-noise "
    "cell of 10 vmapped agents runs at about 2,200 env steps/s on CartPole and Acrobot, 2,300 on "
    "MountainCar, 1,900 on DeepSea (ten times as many episodes to log), 1,680 on envpool's "
    "LunarLander and about 230 on Breakout-MinAtar (12.5 ms per conv update and agent), start-up, "
    "evaluation and plots included; the epsilon-greedy cells are 10-30% faster. The independent-"
    "noise cells cost 2.6-4 times as much (they draw one normal per weight at every act and forward "
    "pass; measured per task). With those rates the budgets share the 90 minutes, with about 10% "
    "left for a loaded machine: CartPole and Acrobot 40k (enough for the default agent to learn "
    "them), MountainCar 60k, LunarLander 50k (well below the default agent's median of about 114k "
    "steps to solve on the host loop: its scores are taken mid-learning), DeepSea 2,000 episodes at "
    "size 10 and 1,500 at size 20, and MinAtar what was left: 8,000 steps, of which 5,000 are the "
    "random warm-up. The planned minutes are in the table; the measured wall time of each cell is "
    "in the results.",
    "",
    "**Thresholds.** CartPole, Acrobot, MountainCar and LunarLander use gymnasium's reward_threshold. "
    "DeepSea has none: 0.9 (the treasure in at least 90 of the last 100 episodes; the optimal return "
    "is 0.99). Breakout-MinAtar has none either: 10 is a chosen level, not a published one, and at "
    "this budget no agent is near it.",
    "",
    "**What stays fixed.** Every cell uses the default network (two hidden layers of 128; MinAtar a "
    "conv torso), Adam with a decaying step size, a 30k replay buffer, 3-step double-Q targets, "
    "5,000 warm-up steps and one update every 2 env steps. The agent axis is `vmap`: each seed's "
    "numbers are reproducible run to run, but are not bitwise those of a single run of that seed "
    "(docs/reproducibility.md).",
    "",
]


RAINBOW_SETUP = [
    "**Rainbow's settings.** Both methods are `--preset rainbow` (noisy nets, double Q, dueling, "
    "prioritised replay, 3-step returns and the C51 head with 51 atoms), one with its noisy layers "
    "replaced by plain ones and epsilon-greedy exploration (`--no-noisy`, the default epsilon "
    "schedule). C51's support is set per task so that every discounted return (gamma 0.99) lies "
    "inside it: DeepSea [-1, 1], MountainCar and Acrobot [-110, 10], CartPole [-10, 110], "
    "LunarLander [-300, 300] (the default), Breakout-MinAtar [-10, 10] (Dopamine's and Revisiting "
    "Rainbow's support for rewards clipped to 1).",
    "",
]


def _agent(setup) -> list[str]:
    return [] if setup.name == "dqn" else ["--agent", setup.name]


def _part(p: dict) -> str:
    return f"{p['wall_time_s'] / 60:.1f} min ending {p['ended']}"


def _fmt(task) -> str:
    return "{:.2f}" if task.name.startswith("DeepSea") else "{:.1f}"


def verdicts(res, tasks, methods, baseline_label: str = "epsilon-greedy") -> list[str]:
    """One line per task (and over all tasks) stating, from the intervals only, where each method
    is better, worse, or not distinguishable from the baseline on the final score."""
    out = []
    for t in [*tasks, None]:
        imp = res["aggregate"]["improvement"] if t is None else res["tasks"][t.name]["improvement"]
        parts = []
        for m in methods:
            if m.name not in imp:
                continue
            f = imp[m.name]["final"]
            parts.append(f"{m.label.split(' (')[0]} {_verdict(f[0], f[1:])} "
                         f"(P = {f[0]:.2f} [{f[1]:.2f}, {f[2]:.2f}])")
        if t is None:
            out.append(f"- **All tasks** (normalised final score): {'; '.join(parts)}.")
        else:
            e = res["tasks"][t.name]["methods"]
            solved = ", ".join(f"{k} {v['solved']}/{len(v['seeds'])}" for k, v in e.items())
            out.append(f"- **{t.name}** (final score, vs {baseline_label}): {'; '.join(parts)}. "
                       f"Solved: {solved}.")
    return out
