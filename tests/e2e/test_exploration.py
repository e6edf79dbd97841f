"""benchmarks.exploration end to end with --quick (two real cells on the jitted engine, rliable's
intervals, the figures and the report), its resume states, and its refusals."""

import dataclasses
import json

import pytest
from conftest import call

from benchmarks import exploration
from benchmarks.exploration_report import READING_MARK

# one worker runs the whole module; the quick study is a session fixture, because a worker may run
# other modules' tests between this module's, which would tear a module fixture down and redo it
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("exploration")]
pytest.importorskip("rliable", reason="the analysis extra is part of the test command")


@pytest.fixture(scope="session")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("exploration") / "study"
    code = call(exploration.main, ["--quick", "--out", str(out)])
    return code, out


def test_quick_study_writes_cells_report_and_figures(quick):
    code, out = quick
    assert code == 0
    for method in ("epsilon", "noisy"):
        cell = out / "DeepSea-4" / method
        assert json.loads((cell / "summary.json").read_text())["status"] == "finished"
        for agent in ("agent000-seed0", "agent002-seed2"):
            header = (cell / agent / "episodes.csv").read_text().splitlines()[0]
            assert header == "seed,episode,env_step,return,length"
    doc = (out / "exploration.md").read_text()
    for needle in ("## Results per task", "## Probability of improvement over epsilon-greedy",
                   "## What the data says",
                   "python -m experiments.sweep --env 'gymnax:DeepSea-bsuite?size=4'",
                   "rliable 1.", READING_MARK):
        assert needle in doc
    figs = out / "exploration"
    for png in ("curves", "iqm", "profiles", "improvement", "sigma"):
        assert (figs / f"{png}.png").read_bytes()[:4] == b"\x89PNG"
    res = json.loads((figs / "results.json").read_text())
    task = res["tasks"]["DeepSea-4"]
    for method in ("epsilon", "noisy"):
        m = task["methods"][method]
        assert len(m["final"]) == 3 and m["final_iqm"][1] <= m["final_iqm"][0] <= m["final_iqm"][2]
    p, lo, hi = task["improvement"]["noisy"]["final"]
    assert 0.0 <= lo <= p <= hi <= 1.0
    assert json.loads((out / "study.json").read_text())["parts"][0]["wall_time_s"] > 0


def test_rerun_keeps_finished_cells_and_the_reading(quick, capsys):
    code, out = quick
    assert code == 0
    doc = out / "exploration.md"
    doc.write_text(doc.read_text() + "A reader's note that must survive.\n")
    before = (out / "DeepSea-4" / "noisy" / "summary.json").read_bytes()
    assert call(exploration.main, ["--quick", "--out", str(out)]) == 0
    assert "2 of 2 cells already done" in capsys.readouterr().err
    assert (out / "DeepSea-4" / "noisy" / "summary.json").read_bytes() == before
    assert doc.read_text().endswith("A reader's note that must survive.\n")
    assert len(json.loads((out / "study.json").read_text())["parts"]) == 1  # nothing was trained


def test_cell_states_and_move_aside(tmp_path):
    cell = exploration.plan(True, ())[0]
    assert exploration.cell_state(cell, tmp_path) == "new"
    folder = cell.folder(tmp_path)
    folder.mkdir(parents=True)
    assert exploration.cell_state(cell, tmp_path) == "new"  # an empty folder
    (folder / "config.json").write_text("{}")
    assert exploration.cell_state(cell, tmp_path) == "redo"  # started, no checkpoint
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "step_100").mkdir()
    assert exploration.cell_state(cell, tmp_path) == "resume"  # gymnax: resumes from it
    (folder / "summary.json").write_text('{"status": "interrupted"}')
    assert exploration.cell_state(cell, tmp_path) == "resume"
    (folder / "summary.json").write_text('{"status": "finished"}')
    assert exploration.cell_state(cell, tmp_path) == "done"
    envpool = exploration.Cell(exploration.TASKS[5], cell.method, "0-9", ())
    assert envpool.task.env.startswith("envpool:")
    moved = tmp_path / "LunarLander" / "epsilon"
    (moved / "checkpoints" / "step_1").mkdir(parents=True)
    assert exploration.cell_state(envpool, tmp_path) == "redo"  # envpool's state is in C++
    first = exploration.move_aside(moved)
    moved.mkdir()
    (moved / "x").write_text("")
    second = exploration.move_aside(moved)
    assert (first.name, second.name) == ("epsilon.incomplete-1", "epsilon.incomplete-2")
    assert (first / "checkpoints" / "step_1").is_dir() and (second / "x").is_file()


def test_default_plan_fits_the_time_limit_and_is_complete():
    cells = exploration.plan(False, ())
    assert {c.task.name for c in cells} == {"DeepSea-10", "DeepSea-20", "MountainCar", "CartPole", "Acrobot",
                                            "LunarLander", "Breakout-MinAtar"}
    assert {c.method.name for c in cells} == {"epsilon", "noisy", "noisy-paper", "independent"}
    assert all(c.seeds == "0-9" for c in cells) and len(cells) == 28
    estimates = [c.estimate for c in cells]
    assert estimates == sorted(estimates, reverse=True)  # the longest cells first
    flags = {c.method.name: c.flags() for c in cells if c.task.name == "CartPole"}
    assert "--no-noisy" in flags["epsilon"] and "--no-factorised" in flags["independent"]
    assert flags["noisy-paper"][flags["noisy-paper"].index("--sigma0") + 1] == "0.5"
    # everything but the method's own flags is identical
    own = {m.name: m.flags for m in exploration.METHODS}
    shared = {k: [f for f in v if f not in own[k]] for k, v in flags.items()}
    assert shared["epsilon"] == shared["noisy"] == shared["noisy-paper"] == shared["independent"]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--quick", "--tasks", "Nope"], "--tasks Nope: no such task"),
        (["--quick", "--jobs", "0"], "--jobs 0 is invalid"),
        (["--quick", "--reps", "10"], "--reps 10 is too few"),
    ],
)
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, argv, needle):
    assert call(exploration.main, [*argv, "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()


def test_report_only_refuses_missing_cells_and_other_settings(quick, tmp_path, capsys):
    assert call(exploration.main, ["--quick", "--report-only", "--out", str(tmp_path / "none")]) == 2
    assert "not finished" in capsys.readouterr().err
    code, out = quick
    cfg = out / "DeepSea-4" / "epsilon" / "config.json"
    saved = cfg.read_text()
    try:
        data = json.loads(saved)
        data["config"]["total_steps"] = 999
        cfg.write_text(json.dumps(data))
        assert call(exploration.main, ["--quick", "--report-only", "--out", str(out)]) == 2
        assert "written with other settings (total_steps)" in capsys.readouterr().err
    finally:
        cfg.write_text(saved)


def test_rainbow_plan_sets_each_tasks_support_and_accepts_its_own_folder(tmp_path):
    """--agent rainbow: both methods are the rainbow preset with the task's C51 support; a folder
    the cell wrote (preset included) is its own, not one "with other settings"."""
    from experiments.common import parse, preset_default
    from experiments.sweep import Args as SweepArgs
    from noisyjax.io.rundir import write_config

    cells = exploration.plan(False, (), exploration.STUDIES["rainbow"])
    assert len(cells) == 14 and {c.method.name for c in cells} == {"rainbow", "rainbow-epsilon"}
    cart = {c.method.name: c for c in cells if c.task.name == "CartPole"}
    flags = cart["rainbow-epsilon"].flags()
    assert flags[flags.index("--v-min") + 1] == "-10.0" and flags[flags.index("--v-max") + 1] == "110.0"
    assert "--no-noisy" in flags and "--no-noisy" not in cart["rainbow"].flags()
    config = parse(SweepArgs, flags, default=preset_default(SweepArgs, flags)).config
    assert config.distributional and config.per and config.dueling
    assert (config.v_min, config.v_max) == (-10, 110)
    cell = cart["rainbow-epsilon"]
    cell.folder(tmp_path).mkdir(parents=True)
    write_config(cell.folder(tmp_path), config, list(range(10)), {"seeds_arg": cell.seeds})
    exploration.check_cell_settings(cell, tmp_path)  # returns: the settings are the cell's
    method = dataclasses.replace(cell.method, flags=("--no-noisy",), c51=False)
    plain = dataclasses.replace(cell, method=method)
    with pytest.raises(SystemExit):  # the same folder, asked for plain DQN
        exploration.check_cell_settings(plain, tmp_path)
