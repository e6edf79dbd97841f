"""Splitting the agent axis over XLA CPU devices (noisyjax.run.devices)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp

from noisyjax.run import devices


def test_one_device_shards_nothing():
    """The test process has one CPU device: no mesh, functions and placement unchanged."""
    assert len(jax.devices()) == 1
    assert devices.agent_mesh(4) is None

    def fn(x):
        return x * 2

    assert devices.over_devices(fn, None) is fn
    x = devices.place(jnp.arange(3), None)
    assert x.devices() == {jax.devices()[0]}


def test_use_cpu_devices_after_start_changes_nothing():
    """Once JAX has started, the device count cannot change: only the current count is 'ok'."""
    jnp.zeros(1).block_until_ready()
    assert devices.use_cpu_devices(1)
    assert not devices.use_cpu_devices(3)
    assert len(jax.devices()) == 1


def test_two_devices_split_agents_and_keep_them_independent():
    """In a process with two CPU devices: 4 agents split 2 + 2 (3 agents: not split), and the
    sharded agent step gives exactly the single-device results."""
    script = textwrap.dedent(
        """
        from noisyjax.run import devices
        assert devices.use_cpu_devices(2)
        import jax, jax.numpy as jnp, numpy as np
        from noisyjax.agent.agent import Agent
        from noisyjax.agent.types import Transition
        from noisyjax.config import Config
        from noisyjax.agent.types import stack_hparams

        assert devices.agent_mesh(3) is None and devices.agent_mesh(4).size == 2
        c = Config(hidden_sizes=(16,), batch_size=8, buffer_size=64, warmup_steps=0, train_freq=1)
        agent, n = Agent(c, 4, 2), 4
        mesh = devices.agent_mesh(n)
        rng = np.random.default_rng(0)
        tr = Transition(rng.normal(size=(n, 4)).astype(np.float32), np.zeros(n, np.int32),
                        np.ones(n, np.float32), rng.normal(size=(n, 4)).astype(np.float32),
                        np.zeros(n, bool), np.zeros(n, bool))
        out = []
        for m in (None, mesh):
            init = jax.jit(devices.over_devices(agent.init_batch, m))
            step = jax.jit(devices.over_devices(agent.step_batch, m))
            s = init(jnp.arange(n), stack_hparams(c, [{}] * n))
            for _ in range(12):
                s, a = step(s, tr, tr.next_obs)
            out.append(s)
        assert len(out[1].learner.params[0].devices()) == 2
        for x, y in zip(jax.tree.leaves(out[0]), jax.tree.leaves(out[1])):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


def test_jitted_engine_over_two_devices_matches_one():
    """A gymnax run of 2 agents split over two CPU devices (the engine's chunk under shard_map)
    gives the episodes and parameters of the same run on one device."""
    script = textwrap.dedent(
        """
        from noisyjax.run import devices
        assert devices.use_cpu_devices(2)
        import jax, numpy as np
        from noisyjax.config import Config
        from noisyjax.run.loop import train

        c = Config(env="gymnax:CartPole-v1", total_steps=400, warmup_steps=100, hidden_sizes=(8,),
                   batch_size=8, buffer_size=256, log_every=100, eval_episodes=1)
        split = train(c, [0, 1], evaluate_at_end=False)
        assert split.devices == 2 and len(split.states.learner.params.devices()) == 2
        from noisyjax.run import device_run
        device_run.agent_mesh = lambda n: None  # the same run on the default device
        alone = train(c, [0, 1], evaluate_at_end=False)
        assert alone.devices == 1
        assert [a.returns for a in split.agents] == [a.returns for a in alone.agents]
        np.testing.assert_array_equal(np.asarray(split.states.learner.params),
                                      np.asarray(alone.states.learner.params))
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
