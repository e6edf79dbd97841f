"""n-step returns: hand-computed tables for windows that terminate, truncate or run on (n = 1, 3,
and n longer than the episode), reading windows out of a wrapped buffer, never sampling the newest
n - 1 slots, and jit / vmap equal to the unbatched result."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from noisyjax.agent.types import Transition
from noisyjax.replay.nstep import batch_from_transitions, gather, nstep_return, sample_uniform, sampleable
from noisyjax.replay.uniform import replay_add, replay_init

GAMMA = 0.5
F, T = False, True

# (case, rewards, terminated, truncated, expected return, expected discount, expected last)
# gamma = 0.5: powers 1, 0.5, 0.25, 0.125, ...
TABLE = [
    ("n1-runs-on", [1.0], [F], [F], 1.0, 0.5, 0),
    ("n1-terminated", [1.0], [T], [F], 1.0, 0.0, 0),
    ("n1-truncated", [1.0], [F], [T], 1.0, 0.5, 0),
    ("n3-runs-on", [1.0, 2.0, 4.0], [F, F, F], [F, F, F], 3.0, 0.125, 2),
    ("n3-terminated-at-1", [1.0, 2.0, 4.0], [F, T, F], [F, F, F], 2.0, 0.0, 1),
    ("n3-truncated-at-1", [1.0, 2.0, 4.0], [F, F, F], [F, T, F], 2.0, 0.25, 1),
    ("n3-terminated-at-0", [1.0, 2.0, 4.0], [T, F, F], [F, F, F], 1.0, 0.0, 0),
    ("n3-truncated-at-2", [1.0, 2.0, 4.0], [F, F, F], [F, F, T], 3.0, 0.125, 2),
    ("n3-terminated-at-2", [1.0, 2.0, 4.0], [F, F, T], [F, F, F], 3.0, 0.0, 2),
    # the next episode (rewards 4, 8, 16) must not leak into a window that terminated at step 1
    ("n5-longer-than-episode", [1.0, 2.0, 4.0, 8.0, 16.0], [F, T, F, F, F], [F] * 5, 2.0, 0.0, 1),
    ("n5-truncated-episode", [1.0, -2.0, 4.0, 8.0, 16.0], [F, F, F, F, F], [F, F, T, F, T], 1.0, 0.125, 2),
    ("n3-negative-runs-on", [-1.0, -2.0, 3.0], [F, F, F], [F, F, F], -1.25, 0.125, 2),
]


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("case,r,term,trunc,ret,disc,last", TABLE, ids=[t[0] for t in TABLE])
def test_nstep_return_table(jit, case, r, term, trunc, ret, disc, last):
    fn = jax.jit(nstep_return) if jit else nstep_return
    got_ret, got_disc, got_last = fn(
        jnp.asarray(r, jnp.float32), jnp.asarray(term), jnp.asarray(trunc), jnp.float32(GAMMA)
    )
    assert float(got_ret) == pytest.approx(ret, abs=1e-6)
    assert float(got_disc) == pytest.approx(disc, abs=1e-7)
    assert int(got_last) == last


def item(i: int, *, terminated=False, truncated=False) -> Transition:
    """Transition number i: obs = [i], next_obs = [i + 0.5], reward = i, action = i % 4."""
    return Transition(
        obs=jnp.asarray([float(i)], jnp.float32),
        action=jnp.int32(i % 4),
        reward=jnp.float32(i),
        next_obs=jnp.asarray([i + 0.5], jnp.float32),
        terminated=jnp.asarray(terminated),
        truncated=jnp.asarray(truncated),
    )


def filled(capacity: int, count: int, ends: dict[int, str]):
    """A buffer after writing transitions 0..count-1; ``ends[i]`` is 'term' or 'trunc'."""
    buf = replay_init(item(0), capacity)
    for i in range(count):
        kind = ends.get(i)
        buf = replay_add(buf, item(i, terminated=kind == "term", truncated=kind == "trunc"))
    return buf


def test_gather_from_wrapped_buffer_matches_hand_table():
    """Capacity 10, 14 writes (slots hold transitions 10..13 at 0..3 and 4..9 at 4..9). Episode ends:
    7 terminated, 11 truncated. n = 3, gamma 0.5; slot -> (transition, return, discount, boot)."""
    buf = filled(10, 14, {7: "term", 11: "trunc"})
    slots = jnp.asarray([4, 6, 7, 8, 9, 0, 1], jnp.int32)
    b = gather(buf, slots, 3, jnp.float32(GAMMA))
    # transition 4: 4 + 0.5*5 + 0.25*6 = 8.0, bootstrap from 6's next_obs with 0.125
    # transition 6: 6 + 0.5*7 = 9.5, 7 terminated -> discount 0
    # transition 7: 7, terminated -> 0
    # transition 8: 8 + 0.5*9 + 0.25*10 = 15.0 (the window wraps from slot 9 to slot 0)
    # transition 9: 9 + 0.5*10 + 0.25*11 = 16.75, 11 truncated at the window's end -> 0.125, boot 11
    # transition 10: 10 + 0.5*11 = 15.5, 11 truncated -> bootstrap from 11 with 0.25
    # transition 11: 11, truncated -> 0.5, boot 11
    np.testing.assert_allclose(b.reward, [8.0, 9.5, 7.0, 15.0, 16.75, 15.5, 11.0])
    np.testing.assert_allclose(b.discount, [0.125, 0.0, 0.0, 0.125, 0.125, 0.25, 0.5])
    np.testing.assert_array_equal(b.next_obs[:, 0], [6.5, 7.5, 7.5, 10.5, 11.5, 11.5, 11.5])
    np.testing.assert_array_equal(b.obs[:, 0], [4, 6, 7, 8, 9, 10, 11])
    np.testing.assert_array_equal(b.action, [0, 2, 3, 0, 1, 2, 3])
    np.testing.assert_array_equal(b.weight, np.ones(7))
    np.testing.assert_array_equal(b.index, slots)


def test_one_step_gather_is_the_stored_transition_bitwise():
    """n = 1: reward and next_obs are the stored ones, discount gamma * (1 - terminated), bit for
    bit equal to ``batch_from_transitions`` of the same items."""
    buf = filled(8, 8, {2: "term", 5: "trunc"})
    slots = jnp.arange(8, dtype=jnp.int32)
    gamma = jnp.float32(0.99)
    got = gather(buf, slots, 1, gamma)
    want = batch_from_transitions(buf.data, gamma)
    for name in ("obs", "action", "reward", "discount", "next_obs", "weight", "index"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert float(got.discount[2]) == 0.0 and float(got.discount[5]) == pytest.approx(0.99)


@pytest.mark.parametrize("n", [1, 3, 5])
def test_sample_never_reads_incomplete_windows(n):
    """Full, wrapped buffer (capacity 10, 14 writes: the newest are slots 3, 2, 1, ...): every
    slot but the newest n - 1 is drawn, those never; before wrapping only 0..size-n are drawn."""
    buf = filled(10, 14, {})
    draws = np.asarray(sample_uniform(buf, jax.random.PRNGKey(0), 4000, n, jnp.float32(GAMMA)).index)
    newest = {(13 - k) % 10 for k in range(n - 1)}
    assert set(draws.tolist()) == set(range(10)) - newest
    assert int(sampleable(buf, n)) == 10 - (n - 1)

    partial = filled(10, 6, {})
    draws = np.asarray(sample_uniform(partial, jax.random.PRNGKey(1), 2000, n, jnp.float32(GAMMA)).index)
    assert set(draws.tolist()) == set(range(6 - (n - 1)))


def test_sample_jit_and_vmap_equal_unbatched():
    """Three agents' buffers (different contents, gammas and keys): the jitted, vmapped sampler
    equals the eager per-agent sampler bitwise."""
    bufs = [filled(10, c, {3: "term", 8: "trunc"}) for c in (7, 12, 16)]
    gammas = jnp.asarray([0.5, 0.9, 0.99], jnp.float32)
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *bufs)
    batched = jax.jit(jax.vmap(sample_uniform, in_axes=(0, 0, None, None, 0)), static_argnums=(2, 3))(
        stacked, keys, 16, 3, gammas
    )
    for k in range(3):
        single = sample_uniform(bufs[k], keys[k], 16, 3, gammas[k])
        for x, y in zip(jax.tree.leaves(single), jax.tree.leaves(batched)):
            np.testing.assert_array_equal(x, np.asarray(y)[k])


def test_agent_waits_for_complete_windows():
    """No update before batch_size windows are complete: size - (n - 1) >= batch_size."""
    from noisyjax.agent.agent import Agent
    from noisyjax.config import Config

    agent = Agent(Config(batch_size=4, buffer_size=16, warmup_steps=0, train_freq=1, n_step=3), 1, 2)
    assert not bool(agent.update_due(jnp.int32(5), jnp.int32(5)))
    assert bool(agent.update_due(jnp.int32(6), jnp.int32(6)))


def test_nstep_return_bits_do_not_depend_on_agent_width():
    """The n-step return of an agent is the same float bits alone and inside a vmapped sweep of
    10 agents. (A cumprod / sum version differed at n = 5, width 10: XLA vectorised the
    reduction another way, and a sweep's seed 0 left its single run at episode 60.)"""
    rng = np.random.default_rng(0)
    width, batch, n = 10, 128, 5
    rewards = jnp.asarray(rng.normal(size=(width, batch, n)) * 50, jnp.float32)
    terminated = jnp.asarray(rng.random((width, batch, n)) < 0.05)
    truncated = jnp.zeros((width, batch, n), bool)
    gamma = jnp.full((width,), 0.99, jnp.float32)
    fn = jax.jit(jax.vmap(jax.vmap(nstep_return, in_axes=(0, 0, 0, None))))
    whole = fn(rewards, terminated, truncated, gamma)
    for i in range(width):
        alone = fn(rewards[i : i + 1], terminated[i : i + 1], truncated[i : i + 1], gamma[i : i + 1])
        for a, b in zip(whole, alone):
            np.testing.assert_array_equal(np.asarray(a[i]), np.asarray(b[0]))
