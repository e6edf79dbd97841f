"""The training loop's solve bookkeeping: steps and seconds to solve, also across a resume."""

from __future__ import annotations

import dataclasses

from noisyjax.config import Config
from noisyjax.run.loop import RunFiles, train

# CartPole returns are at least 8, so a threshold of 5 is reached at the end of the 100th episode:
# a solve within a short run, at an env step the test can predict from the episode log.
CONFIG = Config(
    env="CartPole-v1", total_steps=2_500, warmup_steps=100, batch_size=8, buffer_size=256,
    hidden_sizes=(8,), eval_episodes=1, solve_threshold=5.0, log_every=500, checkpoint_every=500,
)


def test_seconds_to_solve_is_recorded_and_survives_a_resume(tmp_path):
    """The solve is timed within the loop's wall time; a resumed run carries the time (and the
    step) over from the checkpoint instead of timing it again or losing it."""
    files = RunFiles([tmp_path / "agent"], tmp_path / "checkpoints")
    files.agent_dirs[0].mkdir()
    first = train(CONFIG, [0], files=files, evaluate_at_end=False)
    a = first.agents[0]
    assert a.steps_to_solve == a.end_steps[99]  # the 100th episode's end
    assert a.seconds_to_solve is not None and 0 < a.seconds_to_solve <= first.wall_time

    longer = dataclasses.replace(CONFIG, total_steps=3_000)
    again = train(longer, [0], files=dataclasses.replace(files, resume=True), evaluate_at_end=False)
    b = again.agents[0]
    assert again.env_steps == 3_000 and len(b.returns) > len(a.returns)
    assert (b.steps_to_solve, b.seconds_to_solve) == (a.steps_to_solve, a.seconds_to_solve)


def test_unsolved_run_has_no_seconds_to_solve():
    result = train(dataclasses.replace(CONFIG, total_steps=300), [0], evaluate_at_end=False)
    assert result.agents[0].steps_to_solve is None and result.agents[0].seconds_to_solve is None


def test_a_diverged_agent_is_frozen_and_the_others_go_on():
    """In a sweep, the agent whose learning rate blows its parameters up is marked diverged at
    the first log point after it happened; its episodes stop there and it is not evaluated. The
    other agent trains on and logs exactly the episodes of its single run."""
    config = dataclasses.replace(CONFIG, total_steps=600, warmup_steps=0, log_every=100)
    both = train(config, [0, 1], overrides=[{}, {"learning_rate": 1e30}], evaluate_at_end=True)
    fine, blown = both.agents
    assert fine.diverged_at is None and blown.diverged_at == 100 and both.diverged
    assert all(t <= 100 for t in blown.end_steps) and blown.eval_returns is None
    assert fine.eval_returns is not None and both.env_steps == 600
    alone = train(config, [0], evaluate_at_end=False).agents[0]
    assert (alone.returns, alone.end_steps) == (fine.returns, fine.end_steps)


def test_metrics_before_the_first_update_have_empty_loss_cells(tmp_path):
    """Log points with no update since the last one (the warm-up) leave loss and mean_q empty,
    not "nan"; from the first update on they hold numbers."""
    import csv

    config = dataclasses.replace(CONFIG, total_steps=400, warmup_steps=250, log_every=100,
                                 checkpoint_every=400)
    files = RunFiles([tmp_path / "agent"], tmp_path / "checkpoints")
    files.agent_dirs[0].mkdir()
    result = train(config, [0], files=files, evaluate_at_end=False)
    with open(files.agent_dirs[0] / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # the in-memory history holds the CSV's rows (written to 6 significant digits)
    for row, kept in zip(rows, result.agents[0].metrics, strict=True):
        assert {k: f"{v:.6g}" if isinstance(v, float) else ("" if v is None else str(v))
                for k, v in kept.items()} == row
    assert [int(r["env_step"]) for r in rows] == [100, 200, 300, 400]
    assert [(r["loss"], r["mean_q"]) for r in rows[:2]] == [("", ""), ("", "")]
    assert all(float(r["loss"]) >= 0 and r["mean_q"] not in ("", "nan") for r in rows[2:])
