"""Faults a run folder must survive: two processes on one folder, SIGKILL and Ctrl-C at bad
moments, damaged or edited files, divergence, a full disk.

Faults about processes and signals use real processes (``python -m experiments.lunar``); the
others run in-process. Every byte-identity check compares with one uninterrupted reference run.
The processes all start at once, in the background, as soon as the first run has filled the JAX
compilation cache (``procs``), each on its own folder; the in-process tests run meanwhile and the
process tests come last. The runs are test_experiments.py's tiny ones (the same FLAGS, so the
same compiled programs). Plotting takes over a second a run: in-process runs write placeholder
plots (``quick_plots``), except in the test about plots; the processes draw real ones.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import call, sigint_after_checkpoint

from experiments import common, evaluate, lunar, sweep
from noisyjax.analysis import plots
from noisyjax.config import Config
from noisyjax.io import checkpoint
from noisyjax.io import summary as summaries
from noisyjax.io.restore import load_run
from noisyjax.run.signals import STOP

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 600
FLAGS = [
    "--env", "CartPole-v1", "--total-steps", str(TOTAL), "--warmup-steps", "0", "--batch-size", "16",
    "--buffer-size", "500", "--hidden-sizes", "16", "16", "--train-freq", "1", "--eval-episodes", "2",
    "--log-every", "100", "--checkpoint-every", "200", "--quiet",
]
PLOTS = ("learning_curve.png", "sigma.png", "training_metrics.png")
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
# The cores the session started with: an in-process run pins this process to one core, and a
# child would inherit that; every child gets these back before it starts (it pins itself later).
CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
UNPIN = f"import os\nif {CORES!r}: os.sched_setaffinity(0, {CORES!r})\n"
# ``python -m <args>``, as started from a shell.
EXEC = UNPIN + "import sys\nos.execv(sys.executable, [sys.executable, '-m', *sys.argv[1:]])\n"
# ``python -m experiments.lunar <args>`` that gets SIGKILL at the moment it would move a (complete)
# temporary file over the file named by $KILL_AT: the target is still the old file.
KILL_AT_REPLACE = UNPIN + """import runpy, signal
real = os.replace
def replace(src, dst, *args, **kwargs):
    if os.path.basename(dst) == os.environ["KILL_AT"]:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *args, **kwargs)
os.replace = replace
runpy.run_module("experiments.lunar", run_name="__main__", alter_sys=True)
"""
TIMEOUT = 300  # s, for a process (the processes all run at once on a small machine)


# ---------------------------------------------------------------------------------------------
# helpers


def start(*args: str, code: str = EXEC, env: dict | None = None) -> subprocess.Popen:
    """``python -m experiments.lunar <args>`` (``code`` may run it otherwise) from the root."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *([] if code != EXEC else ["experiments.lunar"]), *args],
        cwd=ROOT, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    """Wait for ``proc``; its exit status and stderr."""
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err


def wait_for(ready, proc: subprocess.Popen) -> None:
    """Poll ``ready()`` every 0.01 s until true; fails if ``proc`` ends first."""
    deadline = time.monotonic() + TIMEOUT
    while not ready():
        assert proc.poll() is None, f"the process ended first: {finish(proc)}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def signal_when(proc: subprocess.Popen, ready, *signals: int, delay: float = 0.0) -> tuple[int, str]:
    """Once ``ready()``, wait ``delay`` s, send ``signals`` (0.05 s apart); finish ``proc``."""
    wait_for(ready, proc)
    time.sleep(delay)
    for k, sig in enumerate(signals):
        time.sleep(0.05 if k else 0)
        proc.send_signal(sig)
    return finish(proc)


def exists(path: Path):
    return lambda: Path(path).exists()


def importing_jax(proc: subprocess.Popen):
    """Whether ``proc`` has started loading JAX's libraries (it is in its imports)."""
    def ready():
        with contextlib.suppress(OSError):
            return "jaxlib" in Path(f"/proc/{proc.pid}/maps").read_text()
        return False
    return ready if Path("/proc/self/maps").exists() else lambda: time.sleep(1.0) or True


def locked_by(folder: Path, proc: subprocess.Popen):
    """Whether ``proc`` holds ``folder``'s lock (the lock file holds the holder's PID)."""
    def ready():
        with contextlib.suppress(OSError):
            return (Path(folder) / ".lock").read_text().strip() == str(proc.pid)
        return False
    return ready


def clean(err: str) -> None:
    assert "Traceback" not in err, err


def one_error(err: str) -> str:
    """The one ``error:`` line of ``err`` (and no traceback)."""
    clean(err)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]




def refused(main, argv: list[str], capsys) -> str:
    """``main(argv)`` exits 2 with one ``error:`` line as its whole stderr; returns the line."""
    capsys.readouterr()
    code = call(main, argv)
    err = capsys.readouterr().err
    assert code == 2, err
    line = one_error(err)
    assert err.strip() == line, err
    return line


def resume(folder: Path) -> int:
    return call(lunar.main, ["--resume", str(folder), "--quiet"])


def snapshot(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
        for p in sorted(Path(folder).rglob("*")) if p.name not in skip
    }


def episodes(folder: Path) -> bytes:
    return (Path(folder) / "episodes.csv").read_bytes()


def summary(folder: Path) -> dict:
    return json.loads((Path(folder) / "summary.json").read_text())


def latest(folder: Path) -> str:
    return (Path(folder) / "checkpoints" / "LATEST").read_text().strip()


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


PLACEHOLDER = b"a placeholder plot\n"


@pytest.fixture(scope="module", autouse=True)
def quick_plots():
    """In-process runs write a placeholder file for each plot, and no sweep plots."""
    def write_plots(agent_dir, threshold, title="", window=100):
        for name in PLOTS:
            (Path(agent_dir) / name).write_bytes(PLACEHOLDER)

    real = summaries.write_plots
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(summaries, "write_plots", write_plots)
        mp.setattr(plots, "plot_sweep", lambda *args, **kwargs: [])
        yield real


@pytest.fixture(scope="module")
def ref(base, quick_plots) -> Path:
    """An uninterrupted run of seed 0: the bytes every resumed run must end with. The first run
    of the file: it fills the compilation cache the processes then read."""
    out = base / "ref0"
    assert lunar.main([*FLAGS, "--seed", "0", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def ref1(base) -> Path:
    """An uninterrupted run of seed 1."""
    out = base / "ref1"
    assert lunar.main([*FLAGS, "--seed", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def stopped(base, ref) -> Path:
    """Seed 0 stopped by SIGINT right after its checkpoint at env step 200 (copy it to use it)."""
    out = base / "stopped"
    with sigint_after_checkpoint(200):
        assert common.entry(lunar.main, [*FLAGS, "--seed", "0", "--out", str(out)]) == 130
    assert latest(out) == "step_0000000200" and summary(out)["status"] == "interrupted"
    assert episodes(ref).startswith(episodes(out)) and episodes(ref) != episodes(out)
    return out


@pytest.fixture(scope="module", autouse=True)
def procs(request, base, ref, stopped):
    """Every process scenario, started at once in the background (threads), each on its own
    folder, when a selected test asks for them; name -> a future of the scenario's result (its
    checks fail in ``result()``)."""
    if not any("procs" in item._fixtureinfo.argnames for item in request.session.items):
        yield {}
        return
    scenarios = {
        "race-new": lambda: race_new(base / "race-new"),
        "race-resume": lambda: race_resume(copy(stopped, base / "race-resume")),
        "csv-kill": lambda: kill_during_rewrite(copy(stopped, base / "csv-kill"), ref),
        **{name: (lambda name=name, plan=plan: start_up(base / f"start-up-{name}", *plan))
           for name, plan in START_UP.items()},
    }
    with ThreadPoolExecutor(len(scenarios)) as pool:
        yield {name: pool.submit(job) for name, job in scenarios.items()}


# ---------------------------------------------------------------------------------------------
# 3. a damaged summary, missing plots


def test_truncated_summary_is_rebuilt(base, stopped, ref):
    """summary.json cut to 30 bytes in a stopped run: the resume finishes it, byte-identical."""
    folder = copy(stopped, base / "summary-cut")
    os.truncate(folder / "summary.json", 30)
    assert resume(folder) == 0
    assert episodes(folder) == episodes(ref)
    s = summary(folder)
    assert s["status"] == "finished" and s["final_eval"] == summary(ref)["final_eval"]


def test_truncated_summary_of_finished_run_is_rebuilt(base, ref):
    """summary.json cut in a finished run: resume evaluates again (deterministic), same summary."""
    folder = copy(ref, base / "finished-summary-cut")
    os.truncate(folder / "summary.json", 30)
    assert resume(folder) == 0
    assert episodes(folder) == episodes(ref)
    wall = ("wall_time_s", "steps_per_sec", "aggregate_steps_per_sec", "seconds_to_solve")
    assert ({k: v for k, v in summary(folder).items() if k not in wall}
            == {k: v for k, v in summary(ref).items() if k not in wall})


def test_missing_plots_are_rebuilt_then_resume_refused(base, ref, quick_plots, monkeypatch, capsys):
    """A finished run without its PNGs: resume rebuilds them (exit 0); with every plot there,
    resume is refused as finished (exit 2) and changes nothing."""
    monkeypatch.setattr(summaries, "write_plots", quick_plots)  # real plots
    folder = copy(ref, base / "no-plots")
    for name in PLOTS:
        (folder / name).unlink()
    capsys.readouterr()
    assert resume(folder) == 0
    clean(capsys.readouterr().err)
    for name in PLOTS:
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert episodes(folder) == episodes(ref)
    before = snapshot(folder, skip=(".lock",))
    assert "already finished" in refused(lunar.main, ["--resume", str(folder), "--quiet"], capsys)
    assert snapshot(folder, skip=(".lock",)) == before


# ---------------------------------------------------------------------------------------------
# 4. divergence


def test_single_run_divergence(base, capsys):
    """--learning-rate 1e30 diverges: exit 3, one error line naming the seed, the step and the
    cause, summary "diverged", the latest checkpoint finite (none of the diverged state), and
    resume refused."""
    folder = base / "diverged"
    capsys.readouterr()
    assert lunar.main([*FLAGS, "--seed", "0", "--learning-rate", "1e30", "--out", str(folder)]) == 3
    err = capsys.readouterr().err
    line = one_error(err)
    assert err.strip() == line
    s = summary(folder)
    assert s["status"] == "diverged" and s["diverged_at"] is not None and s["final_eval"] is None
    assert f"seed 0 diverged at env step {s['diverged_at']}" in line and "--learning-rate" in line
    _, states, host, _ = load_run(folder)
    assert host["t"] < s["diverged_at"]
    for leaf in (states.learner.params, states.learner.target_params):
        assert np.isfinite(np.asarray(leaf)).all()
    assert "diverged" in refused(lunar.main, ["--resume", str(folder), "--quiet"], capsys)


def test_sweep_divergence_marks_only_diverging_agents(base, ref, capsys):
    """A sweep over a diverging and a sane learning rate: exit 3, sweep.csv marks only the
    diverging agent, the other trains its full budget with the single run's very episodes."""
    folder = base / "diverged-sweep"
    capsys.readouterr()
    code = sweep.main([*FLAGS, "--seeds", "0", "--grid", f"lr=1e30,{Config().learning_rate:g}",
                       "--out", str(folder)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "agent 0" in one_error(err)
    table = [line.split(",") for line in (folder / "sweep.csv").read_text().splitlines()]
    header, body = table[0], [dict(zip(table[0], r)) for r in table[1:]]
    assert {"status", "diverged_at"} <= set(header)
    assert [r["status"] for r in body] == ["diverged", "finished"]
    assert body[0]["diverged_at"] != "" and body[1]["diverged_at"] == ""
    assert summary(folder / body[0]["folder"])["status"] == "diverged"
    sane = folder / body[1]["folder"]
    assert summary(sane)["env_steps"] == TOTAL and summary(sane)["status"] == "finished"
    assert episodes(sane) == episodes(ref)


# ---------------------------------------------------------------------------------------------
# 6. a one-seed sweep folder is a sweep


def test_lunar_resume_refuses_one_seed_sweep(base, ref, capsys):
    """lunar --resume of a stopped one-seed sweep is refused and changes nothing; sweep --resume
    then finishes it, with the single run's episodes."""
    folder = base / "one-seed-sweep"
    with sigint_after_checkpoint(200):
        assert common.entry(sweep.main, [*FLAGS, "--seeds", "0", "--out", str(folder)]) == 130
    before = snapshot(folder)
    assert "experiments.sweep" in refused(lunar.main, ["--resume", str(folder), "--quiet"], capsys)
    assert snapshot(folder) == before
    assert call(sweep.main, ["--resume", str(folder), "--quiet"]) == 0
    (agent,) = json.loads((folder / "config.json").read_text())["agent_dirs"]
    assert episodes(folder / agent) == episodes(ref)


# ---------------------------------------------------------------------------------------------
# 7-8. edited and damaged files, a full disk


def edit_config(change):
    def edit(folder: Path) -> None:
        payload = json.loads((folder / "config.json").read_text())
        change(payload["config"])
        (folder / "config.json").write_text(json.dumps(payload))
    return edit


def cut(name: str, size: int):
    def damage(folder: Path) -> None:
        os.truncate(folder / name.replace("<latest>", f"checkpoints/{latest(folder)}"), size)
    return damage


DAMAGES = {  # name -> (damage, what the error line names)
    "edited-learning-rate": (edit_config(lambda c: c.update(learning_rate=0.5)),
                             ["config.json", "learning_rate"]),
    "config-bad-json": (cut("config.json", 40), ["config.json", "not valid JSON"]),
    "config-missing-key": (edit_config(lambda c: c.pop("gamma")), ["config.json", "gamma"]),
    "config-extra-key": (edit_config(lambda c: c.update(colour="blue")), ["config.json", "colour"]),
    "host-cut": (cut("<latest>/host.json", 20), ["step_0000000200/host.json"]),
    "state-cut": (cut("<latest>/state.msgpack", 100), ["step_0000000200/state.msgpack"]),
}


@pytest.mark.parametrize("name", list(DAMAGES))
def test_damaged_or_edited_folder_is_refused(name, base, stopped, capsys):
    """An edited config.json or a damaged config.json / host.json / state.msgpack: resume is
    one error line naming the file (or the edited field), exit 2; the folder is unchanged."""
    damage, named = DAMAGES[name]
    folder = copy(stopped, base / f"damaged-{name}")
    damage(folder)
    before = snapshot(folder, skip=(".lock",))
    line = refused(lunar.main, ["--resume", str(folder), "--quiet"], capsys)
    assert all(word in line for word in named), line
    assert snapshot(folder, skip=(".lock",)) == before


def test_evaluate_refuses_damaged_checkpoint(base, stopped, capsys):
    """experiments.evaluate of a run whose state.msgpack is cut: one error line naming it."""
    folder = copy(stopped, base / "evaluate-damaged")
    cut("<latest>/state.msgpack", 100)(folder)
    assert "state.msgpack" in refused(evaluate.main, [str(folder), "--episodes", "1", "--quiet"], capsys)


def test_disk_full_keeps_last_checkpoint(base, ref, capsys):
    """ENOSPC from the second checkpoint on: exit 4, one error line saying "disk full", LATEST
    still names step 0; with space again, the resume ends with the uninterrupted run's bytes."""
    folder = base / "disk-full"
    real, calls = checkpoint._write, []

    def write(path, data):
        calls.append(path)
        if len(calls) > 2:  # a checkpoint is two files: the first checkpoint goes through
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(checkpoint, "_write", write)
        code = common.entry(lunar.main, [*FLAGS, "--seed", "0", "--out", str(folder)])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "disk full" in one_error(err) and err.strip() == one_error(err)
    assert latest(folder) == "step_0000000000"
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["LATEST", "step_0000000000"]
    assert resume(folder) == 0
    assert episodes(folder) == episodes(ref)


# ---------------------------------------------------------------------------------------------
# 1. two processes on one folder (processes)


def race(folder: Path, *commands: list[str]) -> dict:
    """Start the commands together; their processes and (exit status, stderr)."""
    ps = [start(*command) for command in commands]
    return {"folder": folder, "procs": ps, "results": [finish(p) for p in ps]}


def race_new(folder: Path) -> dict:
    folder.mkdir()
    return race(folder, *[[*FLAGS, "--seed", str(seed), "--out", str(folder)] for seed in (0, 1)])


def race_resume(folder: Path) -> dict:
    return race(folder, *[["--resume", str(folder), "--quiet"]] * 2)


def check_race(outcome: dict, *reasons: str) -> int:
    """One process exits 0, the other 2 with one error line naming the winner's PID (or, in the
    moment before the winner has written it, "another process"; or one of ``reasons``); returns
    the winner's index."""
    procs, results = outcome["procs"], outcome["results"]
    assert sorted(code for code, _ in results) == [0, 2], results
    winner = [code for code, _ in results].index(0)
    line = one_error(results[1 - winner][1])
    named = (f"in use by process {procs[winner].pid}", "in use by another process", *reasons)
    assert any(r in line for r in named), line
    clean(results[winner][1])
    return winner


def test_two_new_runs_on_one_folder(procs, ref, ref1):
    """Two runs (seeds 0 and 1) started together on one empty folder: one wins, the other is
    refused (exit 2), and the folder holds exactly the winner's uninterrupted run."""
    outcome = procs["race-new"].result()
    winner = check_race(outcome, "just taken", "not empty")
    folder = outcome["folder"]
    assert json.loads((folder / "config.json").read_text())["seeds"] == [winner]
    assert episodes(folder) == episodes([ref, ref1][winner])
    assert summary(folder)["status"] == "finished"


def test_two_resumes_of_one_folder(procs, ref):
    """Two resumes of one stopped run started together: one finishes, the other is refused;
    no row is doubled."""
    outcome = procs["race-resume"].result()
    check_race(outcome, "already finished")
    assert episodes(outcome["folder"]) == episodes(ref)
    assert summary(outcome["folder"])["status"] == "finished"


# ---------------------------------------------------------------------------------------------
# 2. SIGKILL while resume rewrites the CSV logs (processes)


def kill_during_rewrite(folder: Path, ref: Path) -> Path:
    """A stopped run with rows past its checkpoint (as a run killed between checkpoints leaves
    them, here the full run's rows): a resume killed exactly where it would move the cut
    episodes.csv into place changes nothing; then resumes killed 0.1 and 0.8 s after they take
    the lock (start-up, the cut, the first steps) leave a prefix of the full log. Returns the
    folder (to resume to the end)."""
    for name in ("episodes.csv", "metrics.csv"):
        shutil.copy(ref / name, folder / name)
    before = snapshot(folder, skip=(".lock",))
    env = {**ENV, "KILL_AT": "episodes.csv"}
    proc = start("--resume", str(folder), "--quiet", code=KILL_AT_REPLACE, env=env)
    code, err = finish(proc)
    assert code == -signal.SIGKILL, err
    assert list(folder.glob(".episodes.tmp-*.csv")), "not killed at the rewrite of episodes.csv"
    after = snapshot(folder, skip=(".lock",))
    assert {k: v for k, v in after.items() if ".tmp-" not in k} == before
    full = before["episodes.csv"]
    for delay in (0.1, 0.8):
        proc = start("--resume", str(folder), "--quiet")
        code, err = signal_when(proc, locked_by(folder, proc), signal.SIGKILL, delay=delay)
        assert code == -signal.SIGKILL, err
        assert full.startswith(episodes(folder))
    return folder


def test_sigkill_during_csv_rewrite_loses_nothing(procs, ref):
    """After the SIGKILLs, a resume finishes with the uninterrupted run's episodes.csv."""
    folder = procs["csv-kill"].result()
    assert resume(folder) == 0
    assert episodes(folder) == episodes(ref)
    assert summary(folder)["status"] == "finished"


# ---------------------------------------------------------------------------------------------
# 5. Ctrl-C and SIGKILL during start-up and compilation (processes)

# name -> (when, signals, delay): SIGINT while JAX is imported, SIGINT 0, 0.7 and 1.5 s after
# config.json appears (start-up and compilation), SIGINT then SIGTERM (a stop request, then the
# abort), SIGKILL before the first checkpoint.
START_UP = {
    "imports": ("importing", [signal.SIGINT], 0.0),
    "sigint-0s": ("config", [signal.SIGINT], 0.0),
    "sigint-0.7s": ("config", [signal.SIGINT], 0.7),
    "sigint-1.5s": ("config", [signal.SIGINT], 1.5),
    "sigint-sigterm": ("config", [signal.SIGINT, signal.SIGTERM], 0.3),
    "sigkill": ("config", [signal.SIGKILL], 0.0),
}


def start_up(folder: Path, when: str, signals: list[int], delay: float) -> dict:
    proc = start(*FLAGS, "--seed", "0", "--out", str(folder))
    ready = importing_jax(proc) if when == "importing" else exists(folder / "config.json")
    code, err = signal_when(proc, ready, *signals, delay=delay)
    return {"folder": folder, "code": code, "err": err}


def test_second_ctrl_c_in_a_gc_callback_aborts(capsys):
    """The second Ctrl-C aborts even when it lands in a gc callback (JAX has one), where Python
    ignores exceptions: no "Exception ignored" traceback, and the abort is not lost."""
    fired = []

    def callback(phase, info):
        if phase == "start" and STOP.stop and not fired:
            fired.append(phase)
            os.kill(os.getpid(), signal.SIGINT)  # its handler runs here, inside the callback

    gc.callbacks.append(callback)
    try:
        with pytest.raises(KeyboardInterrupt), STOP:
            os.kill(os.getpid(), signal.SIGINT)  # the first: a stop request
            assert STOP.stop
            gc.collect()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # the loop's work goes on until the abort
                pass
    finally:
        gc.callbacks.remove(callback)
    assert fired
    clean(capsys.readouterr().err)


def test_ctrl_c_during_imports_leaves_nothing(procs):
    """SIGINT while ``python -m experiments.lunar`` imports: exit 130 quietly, no folder."""
    outcome = procs["imports"].result()
    assert outcome["code"] == 130, outcome["err"]
    clean(outcome["err"])
    assert "nothing was written" in outcome["err"]
    assert not outcome["folder"].exists()


@pytest.mark.parametrize("name", [n for n in START_UP if n != "imports"])
def test_signal_during_start_up_is_resumable(procs, name, ref):
    """SIGINT, SIGINT then SIGTERM, or SIGKILL once config.json exists: exit 130 (or killed)
    with no traceback, and --resume finishes the run to the uninterrupted run's bytes."""
    outcome = procs[name].result()
    code, err = outcome["code"], outcome["err"]
    clean(err)
    if code == 0 and summary(outcome["folder"])["status"] == "finished":
        # the tiny run (compiled from the cache) ended before the delayed signal reached it: it
        # must then be the complete run
        assert episodes(outcome["folder"]) == episodes(ref)
        return
    assert code == (-signal.SIGKILL if name == "sigkill" else 130), err
    assert resume(outcome["folder"]) == 0
    assert episodes(outcome["folder"]) == episodes(ref)
    assert summary(outcome["folder"])["status"] == "finished"
