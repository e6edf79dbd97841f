"""envpool as a device env: envpool's autoreset convention and how ``EnvpoolEnv`` hides it, stepping
inside jit loops, seeding, the one-line errors, lazy construction, and a short run on the engine."""

from __future__ import annotations

import json

import envpool
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import envpool_lunar
from noisyjax.config import Config
from noisyjax.run.device_envs import make_device_env
from noisyjax.run.envpool_env import EnvpoolEnv, envpool_seed
from noisyjax.run.envs import EnvError
from noisyjax.run.loop import train

LUNAR = "envpool:LunarLander-v3"
STEPS = 300  # a uniformly random lander ends an episode every ~100 steps: a few per slot


def _actions(steps: int, slots: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4, (steps, slots)).astype(np.int32)


def _rollout(env: EnvpoolEnv, actions: np.ndarray) -> dict[str, np.ndarray]:
    """The engine's pattern (step, then reset_done) in one ``jit(fori_loop)``: per step and slot,
    ``next_obs`` of the step, ``obs`` after reset_done, ``reward`` and ``done``."""
    steps, slots = actions.shape
    dim = env.obs_shape[0]

    @jax.jit
    def run(actions):
        seeds, episode = jnp.zeros(slots, jnp.uint32), jnp.zeros(slots, jnp.int32)
        state, obs = env.reset(seeds, episode)
        log = (jnp.zeros((steps, slots, dim)), jnp.zeros((steps, slots, dim)),
               jnp.zeros((steps, slots)), jnp.zeros((steps, slots), jnp.bool_))

        def body(i, c):
            state, _, (nx, ob, rw, dn) = c
            state, next_obs, reward, terminated, truncated = env.step(state, actions[i], seeds, episode,
                                                                      episode)
            done = terminated | truncated
            state, obs = env.reset_done(state, next_obs, done, seeds, episode)
            return state, obs, (nx.at[i].set(next_obs), ob.at[i].set(obs), rw.at[i].set(reward),
                                dn.at[i].set(done))

        _, _, log = jax.lax.fori_loop(0, steps, body, (state, obs, log))
        return obs, log

    first, (next_obs, obs, reward, done) = run(jnp.asarray(actions))
    env.close()
    return {"first": np.asarray(first), "next_obs": np.asarray(next_obs), "obs": np.asarray(obs),
            "reward": np.asarray(reward), "done": np.asarray(done)}


def test_envpool_autoresets_on_the_step_after_the_end_and_the_env_hides_that_step():
    """Replays the same seed and actions on envpool's own host API: its step after an episode's
    end ignores the action and returns the new episode's first observation, reward 0,
    ``elapsed_step`` 0 (envpool's convention); ``step`` gives the real last observation and
    ``reset_done`` that first observation; the step after it is a normal one."""
    seed, actions = 7, _actions(STEPS, 1)
    out = _rollout(EnvpoolEnv(LUNAR, (seed,), 0), actions)
    host = envpool.make("LunarLander-v3", env_type="gymnasium", num_envs=1, batch_size=1, num_threads=1,
                        seed=envpool_seed(seed))
    obs, info = host.reset()
    np.testing.assert_array_equal(out["first"][0], obs[0])
    ends = 0
    for k in range(STEPS):
        obs, reward, terminated, truncated, info = host.step(actions[k])
        assert info["elapsed_step"][0] >= 1  # a real step: the autoreset steps are taken below
        np.testing.assert_array_equal(out["next_obs"][k, 0], obs[0])
        assert out["reward"][k, 0] == np.float32(reward[0])
        assert out["done"][k, 0] == bool(terminated[0] | truncated[0])
        if out["done"][k, 0]:
            ends += 1
            fresh, reward, terminated, truncated, info = host.step(np.array([3], np.int32))
            assert info["elapsed_step"][0] == 0 and reward[0] == 0.0 and not (terminated | truncated)[0]
            np.testing.assert_array_equal(out["obs"][k, 0], fresh[0])
            assert out["obs"][k, 0, 1] > 1.3 > out["next_obs"][k, 0, 1]  # at the top again / landed
        else:
            np.testing.assert_array_equal(out["obs"][k, 0], out["next_obs"][k, 0])
    host.close()
    assert ends >= 2


def test_same_seeds_same_trajectories_other_seeds_differ():
    """Two objects with the same seeds, the same actions: the same episodes (slots 0 and 2 have
    the same seed too); the slots of other seeds start and play differently."""
    actions = _actions(STEPS, 3, seed=1)
    actions[:, 2] = actions[:, 0]
    a = _rollout(EnvpoolEnv(LUNAR, (3, 2**32 - 1, 3), 0), actions)
    b = _rollout(EnvpoolEnv(LUNAR, (3, 2**32 - 1, 3), 0), actions)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        slots = np.moveaxis(a[key], 0 if key == "first" else 1, 0)
        np.testing.assert_array_equal(slots[0], slots[2])
    assert not np.array_equal(a["first"][0], a["first"][1])
    assert not np.array_equal(a["done"][:, 0], a["done"][:, 1])
    assert envpool_seed(2**32 - 1) == -1 and envpool_seed(2**31 - 1) == 2**31 - 1


def test_steps_inside_a_while_loop_and_a_second_reset_starts_new_episodes():
    """device_eval's pattern: a ``lax.while_loop`` until every slot has ended one episode; running
    the program again (a second reset of the same envs) starts fresh episodes."""
    env = EnvpoolEnv(LUNAR, (11, 12), 1)

    @jax.jit
    def one_episode():
        z = jnp.zeros(2, jnp.int32)
        state, obs = env.reset(z.astype(jnp.uint32), z)

        def body(c):
            state, obs, ended, lengths = c
            state, next_obs, _, terminated, truncated = env.step(state, jnp.zeros(2, jnp.int32), z, z, z)
            done = terminated | truncated
            state, obs = env.reset_done(state, next_obs, done, z, z)
            return state, obs, ended | done, lengths + (~ended).astype(jnp.int32)

        out = jax.lax.while_loop(lambda c: ~c[2].all(), body, (state, obs, jnp.zeros(2, bool), z))
        return obs, out[3]

    first, lengths = one_episode()
    again, lengths_again = one_episode()
    env.close()
    assert (np.asarray(lengths) > 10).all() and (np.asarray(lengths_again) > 10).all()
    assert (np.asarray(first)[:, 1] > 1.3).all() and (np.asarray(again)[:, 1] > 1.3).all()


def test_construction_and_static_facts_make_no_cpp_env(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("envpool.make called")

    monkeypatch.setattr(envpool, "make", refuse)
    env = make_device_env(LUNAR, [0, 1], "vmap")
    assert isinstance(env, EnvpoolEnv) and env.resumable is False
    assert (env.obs_shape, env.obs_dtype, env.num_actions) == ((8,), "float32", 4)
    assert (env.threshold, env.max_episode_steps) == (200.0, 1000)
    assert env._pools is None
    env.close()  # nothing to close


def test_objects_compare_by_identity():
    a, b = EnvpoolEnv(LUNAR, (0,), 0), EnvpoolEnv(LUNAR, (0,), 0)
    assert a != b and len({a, b}) == 2 and a == a


@pytest.mark.parametrize("name, message", [
    ("NoSuchLander-v9", "unknown envpool env 'NoSuchLander-v9'; discrete-action envpool envs include"),
    ("LunarLanderContinuous-v3", "Box action space; DQN needs a Discrete one"),
    ("Pong-v5", r"shape \(4, 84, 84\); noisyjax takes envpool tasks with vector observations"),
])
def test_check_refuses_in_one_line(name, message):
    with pytest.raises(EnvError, match=message) as err:
        EnvpoolEnv(f"envpool:{name}", (0,), 0).check()
    assert "\n" not in str(err.value)


@pytest.mark.e2e
def test_train_on_the_engine_twice_gives_the_same_returns():
    """Each run compiles its own programs (they call its own C++ envs): about 12 s a run here."""
    config = Config(env=LUNAR, total_steps=3000, warmup_steps=500, hidden_sizes=(16,), buffer_size=2000,
                    batch_size=32, log_every=500, eval_episodes=2)
    first, second = (train(config, [0]) for _ in range(2))
    returns = first.agents[0].returns
    assert len(returns) >= 10
    np.testing.assert_array_equal(returns, second.agents[0].returns)
    assert len(first.agents[0].eval_returns) == 2
    np.testing.assert_array_equal(first.agents[0].eval_returns, second.agents[0].eval_returns)


@pytest.mark.e2e
def test_bench_envpool_lunar_quick_writes_its_report(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert envpool_lunar.main(["--quick", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["command"] == f"python -m benchmarks.envpool_lunar --quick --out {out}"
    assert data["episodes"] == 30 and data["table"] in capsys.readouterr().out
    for row in ("return", "length"):
        assert 0.0 <= data["results"][row]["p_value"] <= 1.0 and f"| {row} |" in data["table"]
