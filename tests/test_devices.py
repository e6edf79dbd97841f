"""Splitting the agent axis over XLA CPU devices (noisyjax.devices)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp

from noisyjax import devices


def test_one_device_is_one_group():
    """The test process has one CPU device: every width is one group on it."""
    assert len(jax.devices()) == 1
    for n in (1, 4, 7):
        assert devices.agent_groups(n) == [(slice(0, n), jax.devices()[0])]


def test_use_cpu_devices_after_start_changes_nothing():
    """Once JAX has started, the device count cannot change: only the current count is 'ok'."""
    jnp.zeros(1).block_until_ready()
    assert devices.use_cpu_devices(1)
    assert not devices.use_cpu_devices(3)
    assert len(jax.devices()) == 1


def test_two_devices_split_agents_and_keep_them_independent():
    """In a process with two CPU devices: 4 agents split 2 + 2 (3 agents, 1 agent: one group),
    and the two groups' steps, each on its own device, give exactly the states of one group of
    four on one device."""
    script = textwrap.dedent(
        """
        from noisyjax import devices
        assert devices.use_cpu_devices(2)
        import jax, jax.numpy as jnp, numpy as np
        from noisyjax.agent import Agent, Transition
        from noisyjax.config import Config
        from noisyjax.loop import stack_hparams

        d0, d1 = jax.devices()
        assert devices.agent_groups(3) == [(slice(0, 3), d0)]
        assert devices.agent_groups(1) == [(slice(0, 1), d0)]
        groups = devices.agent_groups(4)
        assert groups == [(slice(0, 2), d0), (slice(2, 4), d1)]
        c = Config(hidden_sizes=(16,), batch_size=8, buffer_size=64, warmup_steps=0, train_freq=1)
        agent, n = Agent(c, 4, 2), 4
        rng = np.random.default_rng(0)
        tr = Transition(rng.normal(size=(n, 4)).astype(np.float32), np.zeros(n, np.int32),
                        np.ones(n, np.float32), rng.normal(size=(n, 4)).astype(np.float32),
                        np.zeros(n, bool), np.zeros(n, bool))
        init, step = jax.jit(agent.init_batch), jax.jit(agent.step_batch)

        def run(groups):
            out = []
            for sl, dev in groups:
                put = lambda x: jax.device_put(x, dev)
                s = init(put(jnp.arange(n)[sl]), put(stack_hparams(c, [{}] * (sl.stop - sl.start))))
                part = jax.tree.map(lambda x: x[sl], tr)
                for _ in range(12):
                    s, a = step(s, part, part.next_obs)
                assert s.step.devices() == {dev}
                out.append(jax.device_get(s))
            return jax.tree.map(lambda *xs: np.concatenate(xs), *out)

        whole, split = run([(slice(0, 4), d0)]), run(groups)
        for x, y in zip(jax.tree.leaves(whole), jax.tree.leaves(split)):
            np.testing.assert_array_equal(x, y)
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
