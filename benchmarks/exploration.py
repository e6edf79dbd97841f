"""The exploration study: NoisyNet against epsilon-greedy DQN on sparse and dense tasks, on the
jitted engine, each (task, method) cell one vmapped ``experiments.sweep`` of 10 seeds.

    python -m benchmarks.exploration                         # the default study (about 80 minutes
                                                             # on 2 cores), writes docs/exploration.md
    python -m benchmarks.exploration --quick --out /tmp/q    # a tiny study, under a minute
    python -m benchmarks.exploration --report-only           # rewrite the report from finished cells
    python -m benchmarks.exploration --agent rainbow         # Rainbow with and without noisy nets on
                                                             # the same tasks: docs/exploration-rainbow.md

Every cell is a sweep folder ``OUT/<task>/<method>/`` (per agent ``episodes.csv``, ``metrics.csv``,
``summary.json``). Running the same command again resumes: finished cells are kept, an interrupted
gymnax cell resumes from its checkpoint, and an interrupted envpool cell (its state is in C++) is
moved aside as ``<method>.incomplete-N`` and run again. Cells run ``--jobs`` at a time (default one
per allowed core), each process pinned to its own core before JAX starts.

The report (``noisyjax.analysis.intervals``, rliable's statistics) goes to ``--doc`` with its figures
and ``results.json`` in the folder beside it named after it (``docs/exploration/``).
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import tyro

from benchmarks.report import job_cores, pinned_command
from experiments.common import EXIT_DIVERGED, EXIT_INTERRUPTED, fail, parse, preset_default
from noisyjax.run.sweeps import parse_seeds

SEEDS = "0-9"
EVAL_EPISODES = 20  # per agent at the end (greedy on the mean weights); the study's score is the
# last-100 training mean, so the evaluation is a cross-check and kept cheap


@dataclasses.dataclass(frozen=True)
class Task:
    """One task of the study: its env id, budget (env steps per agent) and solve threshold."""

    name: str
    env: str
    total_steps: int
    threshold: float | None  # None: the env's own (gymnasium's reward_threshold)
    reward: str  # "sparse" or "dense"
    note: str = ""
    rate: float = 2_000.0  # env steps/s of 10 vmapped agents on one core (measured), for the plan
    # time of the independent-noise cell over the factorised ones': it draws one normal per weight
    # (about 17k per forward pass in the 128 x 128 MLP) at every act and three times per update;
    # measured 2.4-2.7x on LunarLander, MountainCar and Acrobot
    independent_cost: float = 2.5
    # C51's support (--v-min, --v-max) for the Rainbow cells: the discounted return from any state
    # (gamma 0.99, so at most 100 times the largest reward per step) lies inside it
    support: tuple[float, float] = (-300.0, 300.0)


@dataclasses.dataclass(frozen=True)
class Method:
    """One exploration method: flags on top of the defaults (everything else identical)."""

    name: str
    label: str
    flags: tuple[str, ...]
    short: str = ""  # the label in figures
    c51: bool = False  # gets the task's support (--v-min, --v-max)
    cost: float = 1.0  # time of its cell over the default agent's, for the plan


@dataclasses.dataclass(frozen=True)
class Study:
    """A set of methods compared on the tasks, each against the baseline method."""

    name: str
    title: str
    methods: tuple[Method, ...]
    baseline: str
    out: str  # default results folder
    doc: str  # default report


# Budgets: the default study must fit in 90 minutes on 2 cores. Rates: env steps/s of a whole
# factorised-noise cell (10 vmapped agents on one core, start-up, evaluation and plots included),
# measured in a full run of the study at larger budgets; independent_cost: that run's measured
# ratio of the independent-noise cell's wall time to the factorised ones' (docs/exploration.md,
# "Budgets").
TASKS = (
    Task("DeepSea-10", "gymnax:DeepSea-bsuite?size=10", 20_000, 0.9, "sparse",
         "2,000 episodes; a uniform policy finds the treasure once in 2^10 episodes", 1_900,
         support=(-1.0, 1.0)),
    Task("DeepSea-20", "gymnax:DeepSea-bsuite?size=20", 30_000, 0.9, "sparse",
         "1,500 episodes; once in 2^20 at random", 1_900, support=(-1.0, 1.0)),
    Task("MountainCar", "gymnax:MountainCar-v0", 60_000, None, "sparse",
         "reward -1 per step until the flag", 2_300, 2.8, support=(-110.0, 10.0)),
    Task("CartPole", "gymnax:CartPole-v1", 40_000, None, "dense", rate=2_200, independent_cost=4.0,
         support=(-10.0, 110.0)),
    Task("Acrobot", "gymnax:Acrobot-v1", 40_000, None, "dense", rate=2_150, independent_cost=2.8,
         support=(-110.0, 10.0)),
    Task("LunarLander", "envpool:LunarLander-v3", 50_000, None, "dense",
         "envpool's C++ LunarLander-v3 in the jitted engine", 1_680, 2.6),
    Task("Breakout-MinAtar", "gymnax:Breakout-MinAtar", 8_000, 10.0, "dense",
         "conv torso; 1,500 updates after the 5,000-step warm-up: far too short to conclude anything "
         "(published runs use millions of steps)", 230, 3.0, support=(-10.0, 10.0)),
)
METHODS = (
    Method("epsilon", "epsilon-greedy DQN", ("--no-noisy",), "epsilon-greedy"),
    Method("noisy", "NoisyNet, factorised, sigma0 0.25 (default)", (), "NoisyNet 0.25"),
    Method("noisy-paper", "NoisyNet, factorised, sigma0 0.5 (paper)", ("--sigma0", "0.5"), "NoisyNet 0.5"),
    Method("independent", "NoisyNet, independent noise (sigma 0.017)", ("--no-factorised",),
           "NoisyNet independent"),
)
BASELINE = "epsilon"
# Rainbow (noisy + double + dueling + PER + 3-step + C51) with its noisy nets, and with them
# replaced by epsilon-greedy: the comparison of "Revisiting Rainbow" on these tasks
# Their plan cost, 2.4x the default agent's: a rainbow update measured 4,634 us against the
# default's 1,915 (benchmarks.switches), and rainbow's LunarLander loop ran at half rainbow-lite's
# env steps/s (docs/rainbow.md)
RAINBOW_METHODS = (
    Method("rainbow-epsilon", "Rainbow without noisy nets (epsilon-greedy)",
           ("--preset", "rainbow", "--no-noisy"), "Rainbow, epsilon-greedy", c51=True, cost=2.4),
    Method("rainbow", "Rainbow (NoisyNet, factorised, sigma0 0.25)", ("--preset", "rainbow"), "Rainbow",
           c51=True, cost=2.4),
)
STUDIES = {
    "dqn": Study("dqn", "Exploration: NoisyNet against epsilon-greedy DQN", METHODS, BASELINE,
                 "runs/exploration", "docs/exploration.md"),
    "rainbow": Study("rainbow", "Exploration inside Rainbow: noisy nets against epsilon-greedy",
                     RAINBOW_METHODS, "rainbow-epsilon", "runs/exploration-rainbow",
                     "docs/exploration-rainbow.md"),
}

# --quick: one tiny task and two methods, small network and buffer, two seeds: it checks the
# plumbing (cells, resume, rliable, plots, report) in under a minute, and concludes nothing.
QUICK_TASKS = (Task("DeepSea-4", "gymnax:DeepSea-bsuite?size=4", 800, 0.5, "sparse", "plumbing check",
                    support=(-1.0, 1.0)),)
QUICK_METHODS = METHODS[:2]
QUICK_SEEDS = "0-2"
QUICK_FLAGS = ("--warmup-steps", "300", "--hidden-sizes", "16", "16", "--batch-size", "16",
               "--buffer-size", "1000", "--log-every", "100")


@dataclasses.dataclass(frozen=True)
class Args:
    """Run (or resume) the exploration study and write its report."""

    agent: Literal["dqn", "rainbow"] = "dqn"
    """dqn: epsilon-greedy DQN against three NoisyNet variants; rainbow: Rainbow with its noisy nets
    against Rainbow with epsilon-greedy."""
    quick: bool = False
    """A tiny study (one task, two methods, three seeds) that checks the plumbing in under a minute."""
    out: Path | None = None
    """Results folder (one sweep folder per cell); the same folder again resumes. Default:
    runs/exploration (runs/exploration-rainbow with --agent rainbow; -quick appended with --quick)."""
    doc: Path | None = None
    """Report to write; its figures go to the folder beside it named after it. Default:
    docs/exploration.md (docs/exploration-rainbow.md with --agent rainbow; OUT/exploration.md with
    --quick)."""
    jobs: int | None = None
    """Cells at a time, each process pinned to its own core; default: one per allowed core."""
    tasks: tyro.conf.UseAppendAction[tuple[str, ...]] = ()
    """Only these tasks (repeatable; default: all)."""
    report_only: bool = False
    """Write the report from the finished cells; train nothing."""
    reps: int | None = None
    """Bootstrap resamples of each rliable interval (curves and profiles use half as many);
    default 2,000 (200 with --quick)."""


@dataclasses.dataclass(frozen=True)
class Cell:
    """One (task, method) pair: one sweep folder."""

    task: Task
    method: Method
    seeds: str
    extra: tuple[str, ...]
    eval_episodes: int = EVAL_EPISODES

    @property
    def estimate(self) -> float:
        """Expected seconds of this cell on one core (training plus about 40 s of start-up), with
        the independent-noise cell's measured extra cost (``Task.independent_cost``)."""
        slow = self.task.independent_cost if self.method.name == "independent" else self.method.cost
        return self.task.total_steps * len(parse_seeds(self.seeds)) / self.task.rate * slow + 40.0

    @property
    def name(self) -> str:
        return f"{self.task.name} x {self.method.name}"

    def folder(self, out: Path) -> Path:
        return out / self.task.name / self.method.name

    def flags(self) -> list[str]:
        """The ``experiments.sweep`` flags of this cell (without --out)."""
        flags = ["--env", self.task.env, "--total-steps", str(self.task.total_steps), "--seeds", self.seeds,
                 "--agent-axis", "vmap", "--cpu-cores", "one", "--eval-episodes", str(self.eval_episodes),
                 "--quiet", *self.extra, *self.method.flags]
        if self.task.threshold is not None:
            flags += ["--solve-threshold", repr(self.task.threshold)]
        if self.method.c51:
            flags += ["--v-min", repr(self.task.support[0]), "--v-max", repr(self.task.support[1])]
        return flags

    def command(self, out: Path) -> str:
        """The cell as a command a reader can run."""
        return " ".join(["python -m experiments.sweep", *(_quoted(f) for f in self.flags()),
                         "--out", str(self.folder(out))])


def _quoted(arg: str) -> str:
    return f"'{arg}'" if any(c in arg for c in "?*& ") else arg


def plan(quick: bool, only: tuple[str, ...], study: Study = STUDIES["dqn"]) -> list[Cell]:
    """Every cell of the study, the most expensive first (so that the pool ends evenly)."""
    tasks = QUICK_TASKS if quick else TASKS
    names = {t.name for t in tasks}
    unknown = [t for t in only if t not in names]
    if unknown:
        fail(f"--tasks {', '.join(unknown)}: no such task; the study's tasks are {', '.join(sorted(names))}")
    tasks = tuple(t for t in tasks if not only or t.name in only)
    methods = (QUICK_METHODS if study.name == "dqn" else study.methods) if quick else study.methods
    seeds, extra, episodes = (QUICK_SEEDS, QUICK_FLAGS, 2) if quick else (SEEDS, (), EVAL_EPISODES)
    cells = [Cell(t, m, seeds, extra, episodes) for t in tasks for m in methods]
    return sorted(cells, key=lambda c: -c.estimate)


def cell_state(cell: Cell, out: Path) -> str:
    """``"new"`` (no folder or an empty one), ``"done"`` (its sweep finished), ``"resume"``
    (interrupted with a checkpoint, gymnax) or ``"redo"`` (interrupted, cannot resume)."""
    folder = cell.folder(out)
    if not folder.is_dir() or not any(folder.iterdir()):
        return "new"
    summary = folder / "summary.json"
    if summary.is_file():
        try:
            if json.loads(summary.read_text()).get("status") == "finished":
                return "done"
        except (OSError, ValueError):
            pass
    ckpts = folder / "checkpoints"
    if cell.task.env.startswith("gymnax:") and ckpts.is_dir() and any(ckpts.iterdir()):
        return "resume"
    return "redo"


def check_cell_settings(cell: Cell, out: Path) -> None:
    """Refuse (exit 2) a cell folder written with other settings than this study's."""
    from experiments.sweep import Args as SweepArgs
    from noisyjax.io.rundir import RunDirError, read_config

    try:
        saved, payload = read_config(cell.folder(out))
    except RunDirError:
        return  # no config yet: the sweep had not started; it is run again
    flags = cell.flags()
    wanted = parse(SweepArgs, flags, default=preset_default(SweepArgs, flags)).config
    diff = [f.name for f in dataclasses.fields(saved)
            if f.name not in ("cpu_cores",) and getattr(saved, f.name) != getattr(wanted, f.name)]
    if diff or payload.get("seeds_arg") != cell.seeds:
        what = ", ".join(diff) if diff else "the seeds"
        fail(f"{cell.folder(out)} was written with other settings ({what}) than this study's; "
             "give another --out, or move that folder away")


def move_aside(folder: Path) -> Path:
    """Rename a cell folder that cannot resume to ``<name>.incomplete-N`` (the first N free), so
    that nothing already written is lost; returns the new path."""
    n = 1
    while folder.with_name(f"{folder.name}.incomplete-{n}").exists():
        n += 1
    return folder.rename(folder.with_name(f"{folder.name}.incomplete-{n}"))


def _start(cell: Cell, out: Path, state: str, core: int, log: Path) -> subprocess.Popen:
    folder = cell.folder(out)
    if state == "redo":
        move_aside(folder)
    if state == "resume":
        args = ["--resume", str(folder), "--quiet"]
    else:
        folder.parent.mkdir(parents=True, exist_ok=True)
        args = [*cell.flags(), "--out", str(folder)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as f:
        shown = cell.command(out) if state != "resume" else " ".join(["python -m experiments.sweep", *args])
        f.write(f"$ {shown}\n")
        f.flush()
        return subprocess.Popen(pinned_command("experiments.sweep", core, args), stdout=f, stderr=f)


def run_cells(cells: list[Cell], out: Path, cores: list[int]) -> list[Cell]:
    """Run every cell not yet done, ``len(cores)`` at a time; returns the cells that failed."""
    todo = [(c, s) for c in cells if (s := cell_state(c, out)) != "done"]
    done = len(cells) - len(todo)
    if done:
        print(f"{done} of {len(cells)} cells already done in {out}", file=sys.stderr)
    if todo:
        eta = sum(c.estimate for c, _ in todo) / len(cores)
        print(f"{len(todo)} cells to run, {len(cores)} at a time: about {eta / 60:.0f} min on this "
              "project's 2-core reference machine", file=sys.stderr)
    running: dict[int, tuple[subprocess.Popen, Cell, float]] = {}
    failed: list[Cell] = []
    t0 = time.perf_counter()
    try:
        while todo or running:
            for core in cores:
                if core not in running and todo:
                    cell, state = todo.pop(0)
                    verb = {"resume": "resuming", "redo": "restarting"}.get(state, "starting")
                    print(f"[{_clock(t0)}] {verb} {cell.name} on core {core}", file=sys.stderr)
                    log = out / "logs" / f"{cell.task.name}-{cell.method.name}.log"
                    proc = _start(cell, out, state, core, log)
                    running[core] = (proc, cell, time.perf_counter())
            time.sleep(0.5)
            for core, (proc, cell, started) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[core]
                done += 1
                ok = proc.returncode in (0, EXIT_DIVERGED) and cell_state(cell, out) == "done"
                if not ok:
                    failed.append(cell)
                what = "done" if ok else f"FAILED (exit status {proc.returncode}; see {out}/logs)"
                print(f"[{_clock(t0)}] {cell.name}: {what} in {time.perf_counter() - started:.0f} s "
                      f"({done}/{len(cells)} cells)", file=sys.stderr)
    except KeyboardInterrupt:
        # The terminal sent SIGINT to the whole group: each sweep checkpoints and exits.
        for proc, _, _ in running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc, _, _ in running.values():
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise
    return failed


def _clock(t0: float) -> str:
    s = int(time.perf_counter() - t0)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def main(argv: list[str] | None = None) -> int:
    """Run the missing cells, then write the report; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse(Args, argv, description=__doc__)
    from noisyjax.run.env_ids import MissingExtra, require

    study = STUDIES[args.agent]
    out = args.out or Path(study.out + ("-quick" if args.quick else ""))
    doc = args.doc or (out / Path(study.doc).name if args.quick else Path(study.doc))
    reps = args.reps if args.reps is not None else (200 if args.quick else 2_000)
    if reps < 100:
        fail(f"--reps {reps} is too few for a 95% interval; use at least 100 (rliable uses 50,000)")
    cells = plan(args.quick, args.tasks, study)
    try:
        from noisyjax.analysis.intervals import require_rliable

        require_rliable()
        for backend in sorted({c.task.env.split(":")[0] for c in cells}):
            require(backend)
    except MissingExtra as err:
        fail(str(err))
    cores = job_cores(args.jobs)
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file; give a folder")
    for cell in cells:
        if cell_state(cell, out) != "new":
            check_cell_settings(cell, out)
    t0 = time.perf_counter()
    ran = False
    if args.report_only:
        missing = [c.name for c in cells if cell_state(c, out) != "done"]
        if missing:
            fail(f"--report-only: {len(missing)} cell(s) not finished in {out} ({', '.join(missing[:3])}); "
                 "run without --report-only to train them")
    else:
        out.mkdir(parents=True, exist_ok=True)
        ran = any(cell_state(c, out) != "done" for c in cells)
        try:
            failed = run_cells(cells, out, cores)
        except KeyboardInterrupt:
            print(f"interrupted; the finished cells are kept in {out}: run the same command to resume",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
        if failed:
            print(f"error: {len(failed)} cell(s) failed: {', '.join(c.name for c in failed)}; their logs are "
                  f"in {out}/logs; run the same command again to retry them", file=sys.stderr)
            return 1
    from benchmarks.exploration_report import write_report

    study_time = _record_wall_time(out, time.perf_counter() - t0, args.report_only or not ran)
    write_report(cells, out, doc, argv, study_time, reps, study, quick=args.quick)
    print(f"wrote {doc} (figures and results.json in {doc.with_suffix('')})", file=sys.stderr)
    return 0


def _record_wall_time(out: Path, seconds: float, nothing_ran: bool) -> dict:
    """Add this invocation's training wall time to ``OUT/study.json`` (the study may have been
    run in several parts); returns the record."""
    path = out / "study.json"
    record = json.loads(path.read_text()) if path.is_file() else {"parts": []}
    if not nothing_ran:
        record["parts"].append({"wall_time_s": round(seconds, 1), "ended": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                         time.gmtime())})
        path.write_text(json.dumps(record, indent=1))
    return record


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the study as Ctrl-C does: the cells checkpoint first


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    raise SystemExit(main())
