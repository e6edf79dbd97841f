"""The loop's hooks and its Stopwatch, on a real (tiny) run."""

from __future__ import annotations

import numpy as np
import optax

from noisyjax.config import Config
from noisyjax.run.hooks import PARTS, Hook, LogPoint, Stopwatch
from noisyjax.run.loop import train


class Recorder(Hook):
    def __init__(self):
        self.episodes, self.points, self.closed = [], [], False

    def episode(self, i, seed, episode, t, ret, length):
        self.episodes.append((i, seed, episode, t, ret, length))

    def log(self, point: LogPoint):
        self.points.append((point.t, point.loss.shape, point.sigma.shape, point.layer_names))

    def close(self):
        self.closed = True


def test_hooks_and_stopwatch_see_the_real_loop():
    """A notebook's hook gets every episode of every agent (as the result has them) and every
    log point; the Stopwatch counts the steps of its window and the updates among them; an optax
    optimiser given to train is the one the agents use."""
    config = Config(
        env="CartPole-v1", total_steps=400, warmup_steps=100, batch_size=8, buffer_size=300,
        hidden_sizes=(8,), log_every=100, eval_episodes=1,
    )
    hook, watch, own = Recorder(), Stopwatch(start=100, end=300), optax.adam(1e-3)
    result = train(config, [0, 1], hooks=[hook], stopwatch=watch, evaluate_at_end=False, optimizer=own)
    assert result.agent.optimizer is own  # the notebook's optax chain, not the default one
    assert len(result.states.learner.opt_state) == 2  # adam's chain (scale_by_adam, scale), not 3
    for i, agent in enumerate(result.agents):
        mine = [e for e in hook.episodes if e[0] == i]
        assert [e[4] for e in mine] == agent.returns and [e[3] for e in mine] == agent.end_steps
        assert [e[2] for e in mine] == list(range(len(agent.returns)))
        assert {e[1] for e in mine} == {agent.seed}
    assert [p[0] for p in hook.points] == [100, 200, 300, 400]
    assert all(p[1] == (2,) and p[2] == (2, 2) for p in hook.points)
    assert hook.points[0][3] == ["hidden_0", "q"] and hook.closed
    # the metrics history, kept without any files; and both tables of the result
    for agent in result.agents:
        assert [m["env_step"] for m in agent.metrics] == [100, 200, 300, 400]
        assert all(m["loss"] > 0 for m in agent.metrics)
        assert set(agent.metrics[0]) == {"env_step", "loss", "mean_q", "sigma_hidden_0", "sigma_q",
                                         "last100", "steps_per_sec"}
    episodes, metrics = result.to_dataframe()
    assert len(episodes) == sum(len(a.returns) for a in result.agents) and len(metrics) == 8
    assert list(episodes.columns) == ["agent", "seed", "episode", "env_step", "return", "length"]
    assert episodes[episodes.agent == 1]["return"].tolist() == result.agents[1].returns
    assert metrics[metrics.agent == 0]["sigma_q"].tolist() == [m["sigma_q"] for m in result.agents[0].metrics]

    assert watch.steps == 200
    due = sum(result.agent.update_due_at(t) for t in range(101, 301))
    assert watch.updates == due > 0
    assert set(watch.seconds) == set(PARTS) and all(s >= 0 for s in watch.seconds.values())
    assert watch.seconds["step_update"] > 0 and watch.seconds["env"] > 0
    assert np.isfinite(sum(watch.seconds.values()))


def test_progress_bar_shows_one_speed_and_the_latest_fields():
    """The bar a log point draws holds that point's fields (not the previous point's) and a
    single speed: the loop's steps/s, not also tqdm's own smoothed rate."""
    import io

    from noisyjax.run.episodes import EpisodeTracker
    from noisyjax.run.hooks import ProgressHook

    out = io.StringIO()
    hook = ProgressHook(total=3_000, initial=0, agents=2, file=out)
    hook.bar.mininterval = 0  # draw at every update (the loop's log points are seconds apart)
    tracker = EpisodeTracker(2, None)
    empty = np.zeros(2)
    for t, sps in ((1_000, 1_234.0), (2_000, 5_678.0)):
        hook.log(LogPoint(t, empty, empty, np.zeros((2, 0)), [], sps, tracker))
        frame = out.getvalue().split("\r")[-1]
        assert f"{sps:,.0f} steps/s" in frame and f"{2 * t / 1000:.2f}k/6.00k" in frame, frame
        assert frame.count("/s") == 1, frame
        assert "eval=" not in frame  # no periodic evaluation yet
    hook.evaluation(0, 0, 2_000, np.array([10.0, 20.0]))
    hook.evaluation(1, 1, 2_000, np.array([40.0]))
    hook.log(LogPoint(3_000, empty, empty, np.zeros((2, 0)), [], 1.0, tracker))
    assert " eval=27.5 " in out.getvalue().split("\r")[-1]  # mean over agents of 15 and 40
    hook.close()


def test_result_plot_writes_every_figure(tmp_path):
    """result.plot draws a run made without files: each agent's three plots from its in-memory
    logs, and the sweep figures over the agents."""
    config = Config(env="CartPole-v1", total_steps=300, warmup_steps=100, batch_size=8, buffer_size=300,
                    hidden_sizes=(8,), log_every=100, eval_episodes=1)
    result = train(config, [0, 1], evaluate_at_end=False)
    paths = result.plot(tmp_path / "figs")
    names = sorted(p.name for p in paths)
    assert names.count("learning_curve.png") == 2 and "sweep_returns.png" in names
    for p in paths:
        assert p.read_bytes()[:4] == b"\x89PNG", p
    lines = (tmp_path / "figs" / "agent001-seed1" / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("env_step,loss,mean_q,sigma_hidden_0,sigma_q,last100") and len(lines) == 4
