"""The jitted engine: episode boundaries, the static update plan, exactness across agent counts,
same-twice, resume, and agreement with the host loop on a scripted env both can run."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from noisyjax.agent.types import stack_hparams
from noisyjax.analysis.stats import steps_to_solve
from noisyjax.config import Config
from noisyjax.run import engine
from noisyjax.run.device_eval import evaluate_device
from noisyjax.run.envs import SELECT_STREAM
from noisyjax.run.hooks import Hook
from noisyjax.run.loop import RunFiles, train
from noisyjax.run.signals import STOP

TINY = dict(hidden_sizes=(8,), batch_size=8, buffer_size=256, eval_episodes=2, log_every=100,
            checkpoint_every=200)
CARTPOLE = Config(env="gymnax:CartPole-v1", total_steps=600, warmup_steps=100, **TINY)


# ---------------------------------------------------------------------------------------------
# A scripted chain, as a device env and as a gymnasium env: position p starts at 0; action 1
# moves right (reward 1), action 0 stays (reward 0); p == GOAL terminates; LIMIT steps truncate.

GOAL, LIMIT = 3, 5


def _chain_obs(p, n):
    return jnp.stack([p, n]).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class DeviceChain:
    """The chain as a device env over ``[slots]`` (state: ``(position, steps)``)."""

    env_id: str = "scripted:Chain"
    obs_shape: tuple = (2,)
    obs_dtype: str = "float32"
    num_actions: int = 2
    threshold: float | None = None
    resumable = True

    def check(self):
        pass

    def reset(self, seeds, episode):
        z = jnp.zeros(seeds.shape, jnp.int32)
        return (z, z), jax.vmap(_chain_obs)(z, z)

    def step(self, state, actions, seeds, episode, ep_len):
        p, n = state
        p, n = p + actions, n + 1
        terminated = p >= GOAL
        truncated = (n >= LIMIT) & ~terminated
        return (p, n), jax.vmap(_chain_obs)(p, n), actions.astype(jnp.float32), terminated, truncated

    def reset_done(self, state, obs, done, seeds, episode):
        (p, n), fresh = self.reset(seeds, episode)
        keep = lambda a, b: jnp.where(done.reshape(done.shape + (1,) * (a.ndim - 1)), a, b)  # noqa: E731
        return (keep(p, state[0]), keep(n, state[1])), keep(fresh, obs)


class GymChain(gym.Env):
    """The same chain on the host."""

    observation_space = gym.spaces.Box(-10, 10, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.p = self.n = 0
        return np.array([0, 0], np.float32), {}

    def step(self, action):
        self.p, self.n = self.p + int(action), self.n + 1
        terminated = self.p >= GOAL
        truncated = self.n >= LIMIT and not terminated
        return np.array([self.p, self.n], np.float32), float(action), terminated, truncated, {}


gym.register("ScriptedChain-v0", entry_point=GymChain)


def _scripted_agent(config):
    return engine.make_agent(config, DeviceChain())


def test_episode_boundaries_in_the_replay():
    """A time-limit transition bootstraps (truncated, its real last obs), a termination does not,
    and the first transition after a reset starts from the reset observation: scripted actions
    through the engine's own step, read back from the replay."""
    config = Config(env="CartPole-v1", hidden_sizes=(4,), buffer_size=64, batch_size=8, warmup_steps=1000,
                    n_step=1)
    agent, denv = _scripted_agent(config), DeviceChain()
    s = engine.init_state(agent, denv, jnp.array([7], jnp.uint32), stack_hparams(config, [{}]))
    # episode 0: stay x5 -> truncated at n=5 (p=0); episode 1: right x3 -> terminated at p=3
    for a in [0, 0, 0, 0, 0, 1, 1, 1, 0]:
        s = s._replace(actions=jnp.array([a], jnp.int32))
        s, (_, done) = engine.env_step(agent, denv, None, s, update=False)
    r = jax.tree.map(lambda x: np.asarray(x[0]), s.agents.replay.data)
    trunc, term = 4, 7
    assert r.truncated[trunc] and not r.terminated[trunc]
    np.testing.assert_array_equal(r.next_obs[trunc], [0, 5])  # the real last observation
    assert r.terminated[term] and not r.truncated[term]
    np.testing.assert_array_equal(r.next_obs[term], [3, 3])
    np.testing.assert_array_equal(r.obs[trunc + 1], [0, 0])  # starts from the reset
    np.testing.assert_array_equal(r.obs[term + 1], [0, 0])
    assert not r.terminated[:trunc].any() and not r.truncated[trunc + 1:term].any()
    assert int(s.episode[0]) == 2 and int(s.ep_len[0]) == 1


def test_chunk_plan_follows_the_update_schedule():
    """The plan reproduces ``Agent.update_due_at`` step for step (warm-up, the first update
    waiting for a full batch, train_freq) across chunk bounds."""
    config = Config(env="CartPole-v1", hidden_sizes=(4,), buffer_size=64, batch_size=8, warmup_steps=37,
                    train_freq=3, n_step=2, log_every=10, total_steps=200)
    agent = _scripted_agent(config)
    for t0, t1 in engine.chunk_bounds(config, 0):
        p, g, r = engine.chunk_plan(agent, t0, t1 - t0)
        updates = [False] * p
        for k in range(g):
            updates += [True] + [False] * (r if k == g - 1 else config.train_freq - 1)
        assert updates == [agent.update_due_at(t) for t in range(t0 + 1, t1 + 1)], (t0, t1)


def test_host_loop_and_engine_agree_on_the_scripted_chain():
    """The same agent on the same env, once through the host loop (gymnasium) and once through
    the jitted engine (make_train): the same episodes, and parameters equal to float32 rounding
    (the two compile the same step into different programs)."""
    config = Config(env="ScriptedChain-v0", total_steps=400, warmup_steps=50, log_every=100,
                    checkpoint_every=400, **{k: v for k, v in TINY.items() if k not in ("log_every",
                                                                                       "checkpoint_every")})
    host = train(config, [3], evaluate_at_end=False)
    out = jax.jit(engine.make_train(config, DeviceChain()))(jnp.array([3], jnp.uint32),
                                                             stack_hparams(config, [{}]))
    assert int(out.state.episode[0]) == len(host.agents[0].returns)
    ends = host.agents[0].end_steps
    per_chunk = [sum(t <= b for t in ends) for b in range(100, 401, 100)]
    np.testing.assert_array_equal(np.asarray(out.episodes[:, 0]), per_chunk)
    # every stored transition the same: the same actions, so the same episodes
    stored = [jax.tree.leaves(r.replay.data) for r in (out.state.agents, host.states)]
    for got, want in zip(*stored):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    np.testing.assert_allclose(np.asarray(out.state.agents.learner.params),
                               np.asarray(host.states.learner.params), rtol=1e-5, atol=1e-6)


def test_same_run_twice_and_seed_in_a_sweep_equals_its_single_run():
    one = train(CARTPOLE, [5], evaluate_at_end=False)
    again = train(CARTPOLE, [5], evaluate_at_end=False)
    sweep = train(CARTPOLE, [2, 5, 9], evaluate_at_end=False)
    a, b, k = one.agents[0], again.agents[0], sweep.agents[1]
    assert a.returns == b.returns == k.returns and a.end_steps == k.end_steps and len(a.returns) > 5
    p1, pk = np.asarray(one.states.learner.params[0]), np.asarray(sweep.states.learner.params[1])
    np.testing.assert_array_equal(p1, pk)  # bitwise, on the exact agent axis
    assert not np.array_equal(p1, np.asarray(sweep.states.learner.params[0]))


class _StopAt(Hook):
    def __init__(self, t):
        self.t = t

    def log(self, point):
        if point.t == self.t:
            STOP.stop = True


def test_resume_is_exact_on_gymnax(tmp_path):
    """Stopped at a chunk's end and resumed from its checkpoint (env states included), a run
    ends with the parameters and episodes of the uninterrupted run, bitwise."""
    def files(name, resume=False):
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        return RunFiles([d], d / "checkpoints", resume=resume)

    full = train(CARTPOLE, [1], files=files("full"), evaluate_at_end=False)
    with STOP:
        cut = train(CARTPOLE, [1], files=files("cut"), evaluate_at_end=False, hooks=[_StopAt(400)])
    assert cut.interrupted and cut.env_steps == 400
    rest = train(CARTPOLE, [1], files=files("cut", resume=True), evaluate_at_end=False)
    assert rest.env_steps == 600 and rest.agents[0].returns == full.agents[0].returns
    params = [np.asarray(r.states.learner.params) for r in (rest, full)]
    np.testing.assert_array_equal(*params)
    csv = [(tmp_path / name / "episodes.csv").read_bytes() for name in ("cut", "full")]
    assert csv[0] == csv[1]


def test_device_evaluation_is_reproducible_and_on_fresh_episodes():
    result = train(CARTPOLE, [0])
    again = train(CARTPOLE, [0])
    assert result.agents[0].eval_returns == again.agents[0].eval_returns
    assert len(result.agents[0].eval_returns) == 2 and all(r >= 8 for r in result.agents[0].eval_returns)


@pytest.mark.parametrize("name, shape", [("DeepSea-bsuite", (64,)), ("Catch-bsuite", (50,)),
                                         ("Breakout-MinAtar", (10, 10, 4))])
def test_grid_and_image_envs_store_bool_observations(name, shape):
    """0/1 grids are stored as bool (flattened for DeepSea and Catch; MinAtar's images keep their
    shape and go through the conv torso), and the run trains on them."""
    config = dataclasses.replace(CARTPOLE, env=f"gymnax:{name}", total_steps=300)
    result = train(config, [0], evaluate_at_end=False)
    obs = result.states.replay.data.obs
    assert obs.dtype == jnp.bool_ and obs.shape == (1, CARTPOLE.buffer_size, *shape)
    params = np.asarray(result.states.learner.params)
    assert int(result.states.learner.updates[0]) > 0 and np.isfinite(params).all()
    if name.endswith("MinAtar"):
        assert "conv" in result.agent.param_tree(result.states.learner.params[0])["params"]


@pytest.mark.parametrize("policy", ["mean", "noisy", "frozen"])
def test_device_evaluation_policies(policy):
    """Each evaluation policy by name runs in jit on the device env, twice the same, and the
    noisy ones differ from the mean weights' greedy policy for an untrained agent."""
    from noisyjax.run.device_eval import evaluate_device

    agent = engine.make_agent(CARTPOLE, engine.make_device_env(CARTPOLE.env, [0]))
    params = jax.jit(agent.init_batch)(jnp.arange(1), stack_hparams(CARTPOLE, [{}])).learner.params[0]
    a = evaluate_device(agent, params, seed=4, episodes=12, policy=policy)
    b = evaluate_device(agent, params, seed=4, episodes=12, policy=policy)
    assert a.shape == (12,) and np.isfinite(a).all() and (a >= 1).all()
    np.testing.assert_array_equal(a, b)
    if policy != "mean":
        assert not np.array_equal(a, evaluate_device(agent, params, seed=4, episodes=12, policy="mean"))


def test_solve_window_sets_the_solve_test_on_host_and_device():
    """``solve_window`` 5: the host tracker's steps to solve is the first step whose last 5
    returns average the threshold (not the last 100's), and the device's own float32 test in
    ``make_train``'s carry finds the same step."""
    config = dataclasses.replace(CARTPOLE, solve_window=5, solve_threshold=15.0)
    a = train(config, [0], evaluate_at_end=False).agents[0]
    want = steps_to_solve(a.end_steps, a.returns, 15.0, window=5)
    assert want is not None and a.steps_to_solve == want
    assert steps_to_solve(a.end_steps, a.returns, 15.0, window=100) != want
    out = jax.jit(engine.make_train(config))(jnp.array([0], jnp.uint32), stack_hparams(config, [{}]))
    assert out.state.recent.shape == (1, 5) and int(out.state.solved_at[0]) == want


def test_periodic_evaluations_leave_training_alone_and_score_the_params():
    """``eval_every`` 200: one evaluation row per 200 env steps, each the mean of
    ``eval_every_episodes`` returns on the selection stream; the episodes trained are those of the
    run without evaluations."""
    plain = train(CARTPOLE, [0], evaluate_at_end=False)
    config = dataclasses.replace(CARTPOLE, eval_every=200, eval_every_episodes=3)
    result = train(config, [0], evaluate_at_end=False)
    a = result.agents[0]
    assert a.returns == plain.agents[0].returns and a.end_steps == plain.agents[0].end_steps
    assert [r["env_step"] for r in a.evals] == [200, 400, 600] and {r["episodes"] for r in a.evals} == {3}
    final = evaluate_device(result.agent, result.states.learner.params[0], seed=0, episodes=3,
                            policy="mean", stream=SELECT_STREAM)
    assert a.evals[-1]["mean"] == pytest.approx(float(np.mean(final)))
    best = max(a.evals, key=lambda r: r["mean"])  # the first of ties
    assert a.best_eval == {"env_step": best["env_step"], "mean": pytest.approx(best["mean"])}
