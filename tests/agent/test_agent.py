"""Agent: seeding, sigma init, the TD update and its three noise keys, target sync, epsilon,
greedy noisy acting, and the agent axis (lax.map bitwise equal to one agent; vmap within ulps).

Compilations dominate the cost on a small CPU: jitted functions are cached per agent and shared
between tests, all sweeps have width 3, and single-agent updates run eagerly.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from noisyjax.agent.agent import Agent
from noisyjax.agent.types import Transition, hparams_from_config, split_keys, stack_hparams
from noisyjax.config import Config
from noisyjax.nn.networks import noisy_layer_names
from noisyjax.nn.noisy import unit_normals
from noisyjax.replay.nstep import batch_from_transitions, sample_uniform
from noisyjax.replay.uniform import replay_add

OBS, ACTIONS, WIDTH, T = 3, 3, 3, 20
SEEDS = (0, 1, 2)
OVERRIDES = ({}, {"sigma0": 0.2, "learning_rate": 3e-3}, {"gamma": 0.9, "target_tau": 0.5})


def make_agent(**kw) -> Agent:
    """A tiny agent that updates from its 4th step on: warmup 0, batch 4, buffer 16, train_freq 1,
    one-step returns and the paper's sigma0 0.5 (tests that need n-step say so)."""
    base = dict(
        n_step=1,
        sigma0=0.5,
        total_steps=1000,
        hidden_sizes=(8,),
        batch_size=4,
        buffer_size=16,
        warmup_steps=0,
        train_freq=1,
        target_update_period=3,
        learning_rate=1e-2,
        eval_episodes=1,
        log_every=10,
        checkpoint_every=100,
    )
    base.update(kw)
    return Agent(Config(**base), OBS, ACTIONS)


@functools.cache
def jitted(agent: Agent, name: str):
    """One jitted method per (agent, name) for the whole module (Agent is frozen and hashable)."""
    return jax.jit(getattr(agent, name))


def random_transitions(rng, *shape) -> Transition:
    return Transition(
        obs=rng.normal(size=(*shape, OBS)).astype(np.float32),
        action=rng.integers(0, ACTIONS, size=shape).astype(np.int32),
        reward=rng.normal(size=shape).astype(np.float32),
        next_obs=rng.normal(size=(*shape, OBS)).astype(np.float32),
        terminated=rng.random(size=shape) < 0.2,
        truncated=rng.random(size=shape) < 0.1,
    )


def take(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


def assert_trees_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def assert_trees_close(a, b, rtol, atol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        x, y = np.asarray(x), np.asarray(y)
        if np.issubdtype(x.dtype, np.floating):
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)
        else:
            np.testing.assert_array_equal(x, y)


def assert_learners_close(a, b, lr: float):
    """Two learners computed with different float op orders (eager vs jit, vmap vs single) agree.

    Gradients, Adam moments, losses and counters agree to float tolerance. Params and target get
    an absolute tolerance of 0.1 * lr: Adam's step g / (|g| + 1e-8) maps a gradient at float-noise
    level (|g| ~ 1e-10, e.g. exactly cancelling clipped Huber terms, 0 in one op order and 5e-11
    in another) to a step of up to ~0.1 lr. A wrong batch, key or gradient moves most params by
    about 2 lr, and shows in the moments anyway."""
    np.testing.assert_array_equal(a.updates, b.updates)
    np.testing.assert_array_equal(a.metrics.count, b.metrics.count)
    np.testing.assert_allclose(a.metrics.loss_sum, b.metrics.loss_sum, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.metrics.q_sum, b.metrics.q_sum, rtol=1e-5, atol=1e-6)
    for x, y in zip(jax.tree.leaves(a.opt_state), jax.tree.leaves(b.opt_state)):
        if np.issubdtype(np.asarray(x).dtype, np.floating):  # mu ~ g, nu ~ g^2
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-8)
        else:
            np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=0.1 * lr)
    np.testing.assert_allclose(a.target_params, b.target_params, rtol=0, atol=0.1 * lr)
    close = np.abs(np.asarray(a.params) - np.asarray(b.params)) <= 1e-6
    assert close.mean() > 0.95, close.mean()  # and nearly every param agrees to float precision


def hp_list(config: Config, overrides=OVERRIDES):
    return [hparams_from_config(config, **o) for o in overrides]


def data(seed: int = 0):
    """T steps of transitions and next observations for WIDTH agents: leaves [T, WIDTH, ...]."""
    rng = np.random.default_rng(seed)
    return random_transitions(rng, T, WIDTH), rng.normal(size=(T, WIDTH, OBS)).astype(np.float32)


def run_batched(agent: Agent, transitions: Transition, obs: np.ndarray, seeds=SEEDS, host_schedule=False):
    """Host loop: one jitted step_batch per env step, the update decided inside the program, or
    (``host_schedule``) as noisyjax.run.loop decides it, a static flag from ``update_due_at``.
    Returns the states after init and after every step, and the actions of every step."""
    states = jitted(agent, "init_batch")(jnp.asarray(seeds), stack_hparams(agent.config, OVERRIDES))
    history, actions = [states], []
    step = jitted(agent, "step_batch")
    flagged = jax.jit(agent.step_batch, static_argnames="update")
    for t in range(T):
        if host_schedule:
            states, a = flagged(states, take(transitions, t), obs[t], update=agent.update_due_at(t + 1))
        else:
            states, a = step(states, take(transitions, t), obs[t])
        history.append(states)
        actions.append(np.asarray(a))
    return history, np.stack(actions)


def run_single(agent: Agent, k: int, transitions: Transition, obs: np.ndarray):
    """Agent k alone: ``Agent.init`` from its seed, then the single-agent ``Agent.step``."""
    # init has no agent axis: the same for both axes
    init = jitted(make_agent(**{k: getattr(agent.config, k) for k in STATE_SHAPING}), "init")
    state = init(jax.random.PRNGKey(SEEDS[k]), hp_list(agent.config)[k])
    history, actions = [state], []
    step = jitted(agent, "step")
    for t in range(T):
        state, a = step(state, take(take(transitions, t), k), obs[t, k])
        history.append(state)
        actions.append(int(a))
    return history, np.asarray(actions)


# Settings that change what init builds (the rest of the state comes out the same).
STATE_SHAPING = ("per", "dueling", "n_step", "distributional", "num_atoms", "v_min", "v_max")


@functools.cache
def batched_run(axis: str, seed: int = 0, **kw):
    agent = make_agent(agent_axis=axis, **kw)
    return run_batched(agent, *data(seed))


# ----- init -----------------------------------------------------------------------------------------


def test_init_seeds_independent():
    """Trap 5: different seeds give different params and keys, equal seeds equal ones, and agent k
    of init_batch equals Agent.init from seed k alone (bitwise)."""
    agent = make_agent()
    seeds = (0, 1, 0)
    states = jitted(agent, "init_batch")(jnp.asarray(seeds), stack_hparams(agent.config, [{}] * 3))
    p = np.asarray(states.learner.params)
    np.testing.assert_array_equal(p[0], p[2])
    trees = [agent.param_tree(p[k]) for k in range(2)]
    for name in ("hidden_0", "q"):  # every mu differs (sigma are the same constants)
        for mu in ("mu_w", "mu_b"):
            assert np.all(
                np.asarray(trees[0]["params"][name][mu]) != np.asarray(trees[1]["params"][name][mu])
            )
    assert not np.array_equal(states.key[0], states.key[1])
    np.testing.assert_array_equal(states.key[0], states.key[2])
    np.testing.assert_array_equal(states.learner.target_params, states.learner.params)
    for k, seed in enumerate(seeds):
        alone = jitted(agent, "init")(jax.random.PRNGKey(seed), hparams_from_config(agent.config))
        assert_trees_equal(take(states, k), alone)


def test_init_sigma_per_agent_sigma0():
    """Factorised sigma (weights and biases) == sigma0/sqrt(fan_in) of each layer, with sigma0
    overridden per agent; sigma_stats reports the same; mu within 1/sqrt(fan_in)."""
    agent = make_agent()
    sigma0s = [0.5, 0.1, 0.8]
    states = jitted(agent, "init_batch")(
        jnp.asarray(SEEDS), stack_hparams(agent.config, [{"sigma0": s} for s in sigma0s])
    )
    fan_in = {"hidden_0": 3, "q": 8}
    stats = np.asarray(agent.sigma_stats(states))
    assert stats.shape == (3, 2)
    for k, sigma0 in enumerate(sigma0s):
        tree = agent.param_tree(states.learner.params[k])
        names = noisy_layer_names(tree)
        assert sorted(names) == ["hidden_0", "q"]
        for j, name in enumerate(names):
            layer = tree["params"][name]
            want = sigma0 / math.sqrt(fan_in[name])
            np.testing.assert_allclose(layer["sigma_w"], np.full(layer["sigma_w"].shape, want), rtol=1e-6)
            np.testing.assert_allclose(layer["sigma_b"], np.full(layer["sigma_b"].shape, want), rtol=1e-6)
            np.testing.assert_allclose(stats[k, j], want, rtol=1e-6)
            bound = 1 / math.sqrt(fan_in[name])
            assert np.all(np.abs(np.asarray(layer["mu_w"])) <= bound)


def test_init_independent_and_plain():
    """Independent noise: sigma 0.017 whatever sigma0; a plain network has no sigma at all
    (the plain agent is only traced, with jax.eval_shape)."""
    agent = make_agent(factorised=False)
    state = agent.init(jax.random.PRNGKey(0), hparams_from_config(agent.config, sigma0=0.3))
    tree = agent.param_tree(state.learner.params)
    for name in ("hidden_0", "q"):
        np.testing.assert_allclose(tree["params"][name]["sigma_w"], 0.017, rtol=1e-6)
        np.testing.assert_allclose(tree["params"][name]["sigma_b"], 0.017, rtol=1e-6)
    plain = make_agent(noisy=False)
    hp = hparams_from_config(plain.config)

    def names_and_stats(key):
        state = plain.init(key, hp)
        tree = plain.param_tree(state.learner.params)
        assert noisy_layer_names(tree) == []
        return plain.sigma_stats(jax.tree.map(lambda x: x[None], state))

    assert jax.eval_shape(names_and_stats, jax.random.PRNGKey(0)).shape == (1, 0)


def test_stack_hparams():
    """stack_hparams: one [agents] leaf per setting, overrides applied per agent, None grad norm -> inf."""
    config = make_agent(max_grad_norm=None).config
    hp = stack_hparams(config, [{}, {"sigma0": 0.1, "gamma": 0.5}])
    np.testing.assert_allclose(hp.sigma0, [0.5, 0.1])
    np.testing.assert_allclose(hp.gamma, [0.99, 0.5])
    np.testing.assert_allclose(hp.learning_rate, [1e-2, 1e-2])
    assert np.all(np.isinf(np.asarray(hp.max_grad_norm)))
    assert all(leaf.shape == (2,) and leaf.dtype == jnp.float32 for leaf in hp)


# ----- learn ----------------------------------------------------------------------------------------


def learner_and_batch(agent: Agent, sigma0: float = 0.5, seed: int = 0, n: int = 4):
    """A fresh learner whose target differs from the online params, and a batch of n transitions."""
    hp = hparams_from_config(agent.config, sigma0=sigma0)
    learner = agent.init(jax.random.PRNGKey(seed), hp).learner
    rng = np.random.default_rng(seed)
    target = learner.params + jnp.asarray(0.3 * rng.normal(size=learner.params.shape), jnp.float32)
    batch = batch_from_transitions(jax.tree.map(jnp.asarray, random_transitions(rng, n)), hp.gamma)
    return learner._replace(target_params=target), batch, hp


def reference_loss_and_grad(agent: Agent, learner, batch, keys, gamma):
    """Double-Q Huber TD loss written independently of noisyjax.agent.losses: online net with keys[0] on
    s_tm1, target net with keys[1] on s_t, online selector with keys[2] on s_t."""
    n = batch.reward.shape[0]
    rows = jnp.arange(n)
    q_t = agent.q_values(learner.target_params, batch.next_obs, keys[1])
    q_sel = agent.q_values(learner.params, batch.next_obs, keys[2])
    target = batch.reward + batch.discount * q_t[rows, jnp.argmax(q_sel, axis=1)]

    def loss(params):
        q_tm1 = agent.q_values(params, batch.obs, keys[0])
        err = target - q_tm1[rows, batch.action]
        return jnp.mean(jnp.where(jnp.abs(err) <= 1.0, 0.5 * err**2, jnp.abs(err) - 0.5))

    return jax.value_and_grad(loss)(learner.params)


def test_sweep_update_reproduced_without_jit():
    """The update inside the jitted step_batch is reproduced eagerly (no jit): replay_add, the key
    splits (state key -> (next, k_update); k_update -> 4: sample, online, target, selector),
    replay_sample and Agent.learn give the same replay (bitwise) and learner (float tolerance) for
    every agent with its own hyperparameters, at the first update (step 4) and a later one. The
    update changes the params, sigma included; the target only moves when due (update 3)."""
    agent = make_agent(agent_axis="map")
    transitions, _ = data(0)
    history, _ = batched_run("map")
    hps = hp_list(agent.config)
    for t in (3, 5):  # after transition t, step t + 1: updates number 1 and 3
        for k in range(WIDTH):
            before, after = take(history[t], k), take(history[t + 1], k)
            replay = replay_add(before.replay, take(take(transitions, t), k))
            assert_trees_equal(replay, after.replay)
            _, k_update = split_keys(before.key, 2)
            kk = split_keys(k_update, 4)
            batch = sample_uniform(replay, kk[0], agent.config.batch_size, 1, hps[k].gamma)
            learner = agent.learn(before.learner, batch, kk[1:], hps[k])
            assert_learners_close(learner, after.learner, float(hps[k].learning_rate))
            assert int(learner.updates) == t - 2 and int(learner.metrics.count) == t - 2
            delta = np.abs(np.asarray(learner.params) - np.asarray(before.learner.params))
            assert np.mean(delta > 1e-5) > 0.25  # (units inactive on the whole batch get no gradient)
            new, old = agent.param_tree(learner.params), agent.param_tree(before.learner.params)
            for name in ("hidden_0", "q"):
                for s in ("sigma_w", "sigma_b"):
                    assert np.any(np.asarray(new["params"][name][s]) != np.asarray(old["params"][name][s]))
            if t == 3:  # not due: target untouched
                np.testing.assert_array_equal(learner.target_params, before.learner.target_params)
            else:  # third update: synced (hard copy, or Polyak with tau 0.5 for agent 2)
                tau = float(hps[k].target_tau)
                want = tau * np.asarray(learner.params, np.float64) + (1 - tau) * np.asarray(
                    before.learner.target_params, np.float64
                )
                np.testing.assert_allclose(learner.target_params, want, rtol=1e-6, atol=1e-7)


def test_learn_uses_three_independent_noise_keys():
    """Trap 3: learn's loss equals an independent double-Q loss that uses keys[0] (online, s_tm1),
    keys[1] (target, s_t) and keys[2] (selector, s_t); changing any ONE key, or swapping the target
    and selector keys, changes the loss, and learn still matches the reference each time. The
    first Adam step moves each parameter by -lr * g / (|g| + eps) with the reference gradient g."""
    agent = make_agent(double_q=True, loss="huber")
    learner, batch, hp = learner_and_batch(agent, sigma0=2.0)
    k = split_keys(jax.random.PRNGKey(0), 5)

    def selected(key):
        return np.argmax(np.asarray(agent.q_values(learner.params, batch.next_obs, key)), axis=1)

    # a selector key that selects another action for at least one bootstrapped transition
    bootstrapped = np.asarray(batch.discount) > 0
    other_selector = next(
        kk
        for kk in split_keys(jax.random.PRNGKey(1), 20)
        if np.any((selected(kk) != selected(k[2]))[bootstrapped])
    )
    variants = {
        "base": jnp.stack([k[0], k[1], k[2]]),
        "online": jnp.stack([k[3], k[1], k[2]]),
        "target": jnp.stack([k[0], k[4], k[2]]),
        "selector": jnp.stack([k[0], k[1], other_selector]),
        "swapped": jnp.stack([k[0], k[2], k[1]]),
    }
    refs = {}
    for name, keys in variants.items():
        ref_loss, ref_grad = reference_loss_and_grad(agent, learner, batch, keys, hp.gamma)
        out = agent.learn(learner, batch, keys, hp)
        np.testing.assert_allclose(out.metrics.loss_sum, ref_loss, rtol=1e-5, err_msg=name)
        refs[name] = float(ref_loss)
        if name == "base":
            g = np.asarray(ref_grad, np.float64)
            step = np.asarray(learner.params, np.float64) - np.asarray(out.params, np.float64)
            big = np.abs(g) > 1e-5
            assert big.mean() > 0.25  # (units inactive on the whole batch get no gradient)
            expected = float(hp.learning_rate) * g / (np.abs(g) + float(hp.adam_eps))
            np.testing.assert_allclose(step[big], expected[big], atol=2e-3 * float(hp.learning_rate))
            assert np.all(np.abs(step) <= float(hp.learning_rate) * (1 + 1e-5))
    for name in ("online", "target", "selector", "swapped"):
        assert abs(refs[name] - refs["base"]) > 1e-3 * abs(refs["base"]), (name, refs)


def test_learn_uses_the_agents_huber_delta():
    """The swept huber_delta reaches the loss: with delta 1 learn matches the reference Huber loss;
    with a delta above every TD error of the batch it is the squared loss (mse), and differs."""
    agent = make_agent(double_q=True, loss="huber")
    learner, batch, hp = learner_and_batch(agent, sigma0=2.0)
    keys = split_keys(jax.random.PRNGKey(0), 3)
    ref_loss, _ = reference_loss_and_grad(agent, learner, batch, keys, hp.gamma)
    wide = hp._replace(huber_delta=jnp.float32(1e6))
    huber_loss = agent.learn(learner, batch, keys, hp).metrics.loss_sum
    wide_loss = agent.learn(learner, batch, keys, wide).metrics.loss_sum
    mse_agent = make_agent(double_q=True, loss="mse")
    mse_loss = mse_agent.learn(learner, batch, keys, hp).metrics.loss_sum
    np.testing.assert_allclose(huber_loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(wide_loss, mse_loss, rtol=1e-5)
    assert abs(float(wide_loss) - float(huber_loss)) > 1e-3 * float(huber_loss)


def test_learning_rate_decays_linearly_to_its_end_over_the_budget():
    """Update u takes the step size lr + (end - lr) * min(1, u / U), end = lr * fraction,
    U = (total_steps - warmup_steps) / train_freq (hand-computed: 1e-2 -> 0 over 500 updates).
    With fraction 1 the rate is exactly learning_rate at every update (the pre-decay runs)."""
    agent = make_agent(learning_rate_end_fraction=0.0, total_steps=1100, warmup_steps=100, train_freq=2)
    assert agent.decay_updates == 500
    hp = hparams_from_config(agent.config)
    rates = [float(agent.learning_rate(jnp.int32(u), hp)) for u in (0, 125, 250, 500, 900)]
    np.testing.assert_allclose(rates, [1e-2, 7.5e-3, 5e-3, 0.0, 0.0], atol=1e-9)
    constant = make_agent(learning_rate_end_fraction=1.0)
    hp_c = hparams_from_config(constant.config, learning_rate=3e-3)
    assert float(hp_c.learning_rate_end) == float(hp_c.learning_rate)  # follows a swept rate
    default = hparams_from_config(Config())
    assert default.learning_rate_end == np.float32(2e-4)  # not float32(2e-3) * float32(0.1)
    for u in (0, 7, 10**6):
        assert constant.learning_rate(jnp.int32(u), hp_c) == hp_c.learning_rate


def test_learn_takes_the_scheduled_step():
    """learn after u updates equals learn with a constant rate of the scheduled value, and the
    step shrinks with u: the schedule reaches Adam's step, not only the metrics."""
    agent = make_agent(learning_rate_end_fraction=0.1)  # 1e-2 -> 1e-3 over 1000 updates
    learner, batch, hp = learner_and_batch(agent)
    keys = split_keys(jax.random.PRNGKey(0), 3)
    clip, adam, schedule = learner.opt_state  # the optax chain's states: the schedule counts updates
    at_600 = (clip, adam, schedule._replace(count=jnp.int32(600)))
    late = learner._replace(updates=jnp.int32(600), opt_state=at_600)
    out = agent.learn(late, batch, keys, hp)
    scheduled = 1e-2 + 0.6 * (1e-3 - 1e-2)
    ref = make_agent(learning_rate_end_fraction=1.0).learn(late, batch, keys, hp._replace(
        learning_rate=jnp.float32(scheduled), learning_rate_end=jnp.float32(scheduled)))
    np.testing.assert_allclose(out.params, ref.params, rtol=1e-6, atol=1e-9)
    early = agent.learn(learner, batch, keys, hp)
    step_early = np.abs(np.asarray(early.params - learner.params)).max()
    step_late = np.abs(np.asarray(out.params - late.params)).max()
    np.testing.assert_allclose(step_late / step_early, scheduled / 1e-2, rtol=1e-3)


def test_double_q_selector_is_online_net_with_its_own_key():
    """With target == online params and keys[1] == keys[2], double Q-learning selects exactly what
    plain Q-learning does (same net, same noise): identical updates. With keys[1] != keys[2] they
    differ: the selector draws its own noise."""
    double, single = make_agent(double_q=True), make_agent(double_q=False)
    learner, batch, hp = learner_and_batch(double, sigma0=2.0)
    learner = learner._replace(target_params=learner.params)
    k = split_keys(jax.random.PRNGKey(1), 3)
    same = jnp.stack([k[0], k[1], k[1]])
    assert_trees_equal(double.learn(learner, batch, same, hp), single.learn(learner, batch, same, hp))
    diff = jnp.stack([k[0], k[1], k[2]])
    a = double.learn(learner, batch, diff, hp)
    b = single.learn(learner, batch, diff, hp)
    assert not np.allclose(a.metrics.loss_sum, b.metrics.loss_sum)


def test_hard_target_sync_every_second_update():
    """target_update_period=2, tau=1: the target is the old one after updates 1 and 3 and equals
    the online params exactly after updates 2 and 4."""
    agent = make_agent(target_update_period=2, target_tau=1.0)
    learner, batch, hp = learner_and_batch(agent)
    keys = split_keys(jax.random.PRNGKey(2), 4)
    initial_target = np.asarray(learner.target_params)
    previous_sync = initial_target
    for u in range(1, 5):
        learner = agent.learn(learner, batch, split_keys(keys[u - 1], 3), hp)
        assert int(learner.updates) == u
        if u % 2 == 0:
            np.testing.assert_array_equal(learner.target_params, learner.params)
            previous_sync = np.asarray(learner.params)
        else:
            np.testing.assert_array_equal(learner.target_params, previous_sync)
            assert not np.allclose(learner.target_params, learner.params)


def test_polyak_target_update():
    """tau=0.5 (per-agent hparam) with period 1: target = 0.5 * online + 0.5 * old target after
    every update; with period 3 only every third update moves the target."""
    agent = make_agent(target_update_period=1)
    learner, batch, hp = learner_and_batch(agent)
    hp = hp._replace(target_tau=jnp.float32(0.5))
    for u in range(3):
        old = np.asarray(learner.target_params, np.float64)
        learner = agent.learn(learner, batch, split_keys(jax.random.PRNGKey(u), 3), hp)
        want = 0.5 * np.asarray(learner.params, np.float64) + 0.5 * old
        np.testing.assert_allclose(learner.target_params, want, rtol=1e-6, atol=1e-7)
        assert not np.allclose(learner.target_params, learner.params)

    agent = make_agent(target_update_period=3)
    learner, batch, _ = learner_and_batch(agent)
    old = np.asarray(learner.target_params, np.float64)
    for u in range(1, 4):
        learner = agent.learn(learner, batch, split_keys(jax.random.PRNGKey(u), 3), hp)
        if u < 3:
            np.testing.assert_array_equal(learner.target_params, old)
    np.testing.assert_allclose(
        learner.target_params, 0.5 * np.asarray(learner.params, np.float64) + 0.5 * old, rtol=1e-6, atol=1e-7
    )


# ----- epsilon and acting ---------------------------------------------------------------------------


def test_epsilon_noisy():
    """Noisy nets: epsilon 1 during warm-up (steps 0..9), 0 from then on."""
    agent = make_agent(warmup_steps=10)
    hp = hparams_from_config(agent.config)
    got = [float(agent.epsilon(jnp.int32(s), hp)) for s in (0, 5, 9, 10, 11, 500, 999)]
    assert got == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_epsilon_plain_linear_decay():
    """Epsilon-greedy baseline: linear from epsilon_start to epsilon_end over epsilon_fraction *
    total_steps (1000 * 0.1 = 100 steps), then flat; hand-computed values, also per-agent overrides."""
    agent = make_agent(
        noisy=False,
        warmup_steps=0,
        total_steps=1000,
        epsilon_fraction=0.1,
        epsilon_start=1.0,
        epsilon_end=0.05,
    )
    hp = hparams_from_config(agent.config)
    steps = (0, 25, 50, 100, 101, 999)
    want = [1.0, 0.7625, 0.525, 0.05, 0.05, 0.05]
    np.testing.assert_allclose([float(agent.epsilon(jnp.int32(s), hp)) for s in steps], want, rtol=1e-6)
    hp = hparams_from_config(agent.config, epsilon_start=0.5, epsilon_end=0.1)
    np.testing.assert_allclose(
        [float(agent.epsilon(jnp.int32(s), hp)) for s in (0, 50, 200)], [0.5, 0.3, 0.1], rtol=1e-6
    )
    warm = make_agent(noisy=False, warmup_steps=10, total_steps=1000, epsilon_fraction=0.1)
    hp = hparams_from_config(warm.config)
    assert [float(warm.epsilon(jnp.int32(s), hp)) for s in (0, 9)] == [1.0, 1.0]
    np.testing.assert_allclose(
        [float(warm.epsilon(jnp.int32(s), hp)) for s in (110, 500)], [0.05, 0.05], rtol=1e-6
    )


def test_policy_random_in_warmup_then_greedy_on_noisy_q():
    """Agent.policy over 600 keys: during warm-up every action is the uniform draw
    min(floor(u[1] * A), A - 1) with u = uniform(k_explore, [2]) (each action about 1/3 of the time);
    after warm-up it is argmax of Q with noise k_noise, where (k_noise, k_explore) = split(key)."""
    agent = make_agent(warmup_steps=5)
    hp = hparams_from_config(agent.config, sigma0=2.0)
    params = agent.init(jax.random.PRNGKey(0), hp).learner.params
    obs = jnp.asarray([0.3, -1.0, 0.5], jnp.float32)

    def one_key(key):
        k_noise, k_explore = split_keys(key, 2)  # the key path of Agent.policy, by hand
        return (
            agent.policy(params, obs, key, jnp.int32(4), hp),  # warm-up
            agent.policy(params, obs, key, jnp.int32(5), hp),  # after warm-up
            jax.random.uniform(k_explore, (2,)),
            agent.q_values(params, obs, k_noise),
            agent.q_values(params, obs, None),
        )

    keys = jax.random.split(jax.random.PRNGKey(1), 600)
    warm, greedy, u, q, q_mean = (np.asarray(a) for a in jax.jit(jax.vmap(one_key))(keys))
    np.testing.assert_array_equal(warm, np.minimum(np.floor(u[:, 1] * ACTIONS), ACTIONS - 1))
    counts = np.bincount(warm, minlength=ACTIONS)
    assert np.all(np.abs(counts - 200) < 60), counts  # SE ~11.5
    np.testing.assert_array_equal(greedy, np.argmax(q, axis=1))
    assert np.any(greedy != np.argmax(q_mean[0])), "noise should change the greedy action sometimes"


def test_q_values_without_key_are_deterministic():
    """Trap 7: no key, no randomness: q_values(params, obs, None) twice is identical; a key
    changes it (noisy net)."""
    agent = make_agent()
    params = agent.init(jax.random.PRNGKey(0), hparams_from_config(agent.config)).learner.params
    obs = jnp.asarray(np.random.default_rng(0).normal(size=(4, OBS)), jnp.float32)
    q = np.asarray(agent.q_values(params, obs, None))
    np.testing.assert_array_equal(q, agent.q_values(params, obs, None))
    assert not np.allclose(q, agent.q_values(params, obs, jax.random.PRNGKey(0)))


def test_update_schedule():
    """update_due: not in warm-up, every train_freq-th step, only once batch_size items are stored."""
    agent = make_agent(warmup_steps=5, train_freq=2, batch_size=4)
    due = [
        bool(agent.update_due(jnp.int32(s), jnp.int32(n)))
        for s, n in [(4, 4), (5, 5), (6, 6), (7, 7), (6, 3), (8, 4), (100, 16)]
    ]
    assert due == [False, False, True, False, False, True, True]


@pytest.mark.parametrize("kw", [{}, {"per": True}, {"agent_axis": "vmap"}])
def test_host_schedule_step_equals_in_graph_cond(kw):
    """The loop passes ``update=agent.update_due_at(t)`` as a static flag; that gives exactly the
    states and actions of deciding inside the program with ``lax.cond``, step by step, and the
    host's schedule is the one the program followed (the buffer of 16 wraps within T=20 steps)."""
    agent = make_agent(warmup_steps=3, train_freq=2, n_step=2, **kw)
    transitions, obs = data()
    in_graph, a_graph = run_batched(agent, transitions, obs)
    on_host, a_host = run_batched(agent, transitions, obs, host_schedule=True)
    np.testing.assert_array_equal(a_graph, a_host)
    for x, y in zip(in_graph, on_host):
        for u, v in zip(jax.tree.leaves(x), jax.tree.leaves(y)):
            np.testing.assert_array_equal(u, v)
    updates = [int(s.learner.updates[0]) for s in in_graph]
    did = [b - a for a, b in zip(updates, updates[1:])]  # did[t - 1]: the step adding transition t
    assert did == [int(agent.update_due_at(t)) for t in range(1, T + 1)]
    assert 0 < sum(did) < T  # some steps update, some do not


# ----- the agent axis -------------------------------------------------------------------------------


def test_map_sweep_equals_single_agents_bitwise():
    """agent_axis='map': over 20 steps with updates from step 4 on, every agent of a width-3 sweep
    (its own seed and hyperparameters) equals Agent.step of that agent alone, bitwise, at every step
    (all leaves: params, target, Adam, replay, key, counters, metrics) and in every action."""
    agent = make_agent(agent_axis="map")
    transitions, obs = data(0)
    history, actions = batched_run("map")
    for k in range(WIDTH):
        single_history, single_actions = run_single(agent, k, transitions, obs)
        np.testing.assert_array_equal(actions[:, k], single_actions)
        for t in range(T + 1):
            assert_trees_equal(take(history[t], k), single_history[t])
    final = history[-1]
    # 17 updates: after transitions 4..20; the buffer holds the last 16 transitions
    np.testing.assert_array_equal(final.learner.updates, [17, 17, 17])
    np.testing.assert_array_equal(final.step, [20, 20, 20])
    np.testing.assert_array_equal(final.replay.size, [16, 16, 16])
    np.testing.assert_array_equal(final.replay.index, [4, 4, 4])
    for t in range(4, T):
        np.testing.assert_array_equal(final.replay.data.reward[:, t % 16], transitions.reward[t])
    assert not np.allclose(final.learner.params, history[0].learner.params)


def assert_states_close(a, b, lr: float):
    """Agent states equal up to float op order: learners as in ``assert_learners_close``, the
    rest (replay, key, step counter, hparams) bitwise."""
    assert_learners_close(a.learner, b.learner, lr)
    assert_trees_equal((a.replay, a.key, a.step, a.hparams), (b.replay, b.key, b.step, b.hparams))


def test_vmap_sweep_equals_single_agents_within_ulps():
    """agent_axis='vmap': every agent of the width-3 sweep matches Agent.step of that agent alone
    at every step within float tolerance (XLA may pick other kernels per width: about an ulp);
    integer leaves (replay, keys, counters) and the actions are equal. The final states also
    match the 'map' sweep within the same tolerance."""
    agent = make_agent(agent_axis="vmap")
    transitions, obs = data(0)
    history, actions = batched_run("vmap")
    lrs = [float(hp.learning_rate) for hp in hp_list(agent.config)]
    for k in range(WIDTH):
        single_history, single_actions = run_single(agent, k, transitions, obs)
        np.testing.assert_array_equal(actions[:, k], single_actions)
        for t in range(T + 1):
            assert_states_close(take(history[t], k), single_history[t], lrs[k])
    np.testing.assert_array_equal(history[-1].learner.updates, [17, 17, 17])
    map_history, _ = batched_run("map")
    for k in range(WIDTH):
        assert_states_close(take(history[-1], k), take(map_history[-1], k), lrs[k])


@pytest.mark.parametrize("axis", ["map", "vmap"])
def test_agents_in_a_sweep_are_independent(axis):
    """Trap 6: changing agent 1's transitions and observations changes agent 1 but leaves agents 0
    and 2 (params, Adam state, actions: every leaf) bitwise unchanged."""
    agent = make_agent(agent_axis=axis)
    transitions, obs = data(0)
    history, actions = batched_run(axis)
    rng = np.random.default_rng(99)
    other = random_transitions(rng, T)
    changed = jax.tree.map(np.copy, transitions)
    for leaf, new in zip(changed, other):
        leaf[:, 1] = new
    obs2 = obs.copy()
    obs2[:, 1] = rng.normal(size=(T, OBS))
    history2, actions2 = run_batched(agent, changed, obs2)
    for k in (0, 2):
        np.testing.assert_array_equal(actions2[:, k], actions[:, k])
        assert_trees_equal(take(history2[-1], k), take(history[-1], k))
    assert not np.allclose(history2[-1].learner.params[1], history[-1].learner.params[1])


def np_q_values(agent: Agent, flat_params, obs, key):
    """Q of the tiny factorised agent network (3 -> 8 -> 3) in float64 numpy, the noise of both
    layers from ONE normal draw of (3 + 8) + (8 + 3) unit normals (key None: mean weights)."""
    tree = {
        name: {k: np.asarray(v, np.float64) for k, v in layer.items()}
        for name, layer in agent.param_tree(flat_params)["params"].items()
    }
    e = None if key is None else np.asarray(unit_normals(key, 22), np.float64)

    def dense(layer, x, e):
        w, b = layer["mu_w"], layer["mu_b"]
        if e is not None:
            n_in = w.shape[0]
            f = np.sign(e) * np.sqrt(np.abs(e))
            w = w + layer["sigma_w"] * np.outer(f[:n_in], f[n_in:])
            b = b + layer["sigma_b"] * f[n_in:]
        return x @ w + b

    h = np.maximum(dense(tree["hidden_0"], np.asarray(obs, np.float64), None if e is None else e[:11]), 0.0)
    return dense(tree["q"], h, None if e is None else e[11:])


def test_sweep_acts_greedily_on_fresh_noise():
    """Noisy agents with warm-up 0 act greedily: each action of the sweep equals argmax of Q with
    the updated params and the noise key step_batch derives (split the state key -> (keys,
    k_update); split keys -> (next key, k_act); split k_act -> (k_noise, k_explore)), Q computed
    independently in numpy. The noise is fresh every step and sometimes changes the action away
    from the mean-weights argmax."""
    agent = make_agent(agent_axis="map")
    _, obs = data(0)
    history, actions = batched_run("map")
    differs = 0
    for t in range(T):
        before, after = history[t], history[t + 1]
        for k in range(WIDTH):
            keys = split_keys(before.key[k], 2)[0]
            next_key, k_act = split_keys(keys, 2)
            np.testing.assert_array_equal(after.key[k], next_key)
            k_noise = split_keys(k_act, 2)[0]
            q = np_q_values(agent, after.learner.params[k], obs[t, k], k_noise)
            top2 = np.sort(q)[-2:]
            if top2[1] - top2[0] > 1e-4:  # no near-tie between float32 and float64
                assert actions[t, k] == int(np.argmax(q)), (t, k, q)
            q_mean = np_q_values(agent, after.learner.params[k], obs[t, k], None)
            differs += actions[t, k] != int(np.argmax(q_mean))
    assert differs > 0


def test_sigma_stats_after_training():
    """sigma_stats after 17 updates equals mean |sigma| over weights and biases computed by hand
    from param_tree, per agent and layer; learning has moved sigma off its initial value."""
    agent = make_agent(agent_axis="map")
    history, _ = batched_run("map")
    final = history[-1]
    stats = np.asarray(agent.sigma_stats(final))
    init_stats = np.asarray(agent.sigma_stats(history[0]))
    for k in range(WIDTH):
        tree = agent.param_tree(final.learner.params[k])
        for j, name in enumerate(noisy_layer_names(tree)):
            layer = tree["params"][name]
            both = np.concatenate([np.abs(np.ravel(layer["sigma_w"])), np.abs(np.ravel(layer["sigma_b"]))])
            np.testing.assert_allclose(stats[k, j], both.mean(), rtol=1e-5)
    assert not np.allclose(stats, init_stats, rtol=1e-4, atol=0)


# ----- prioritised replay and n-step returns in the agent step -----------------------------------

RAINBOW = dict(per=True, n_step=3, dueling=True)
RAINBOW_C51 = dict(RAINBOW, distributional=True, num_atoms=11, v_min=-5.0, v_max=5.0)


@pytest.mark.parametrize("settings", [RAINBOW, RAINBOW_C51], ids=["rainbow-lite", "rainbow"])
def test_rainbow_map_sweep_equals_single_agents_bitwise(settings):
    """PER + 3-step + dueling (and C51): every agent of the width-3 map sweep (own
    hyperparameters) equals that agent alone at every step, bitwise, sum tree included (trap 5
    for the new state)."""
    agent = make_agent(agent_axis="map", **settings)
    transitions, obs = data(0)
    history, actions = batched_run("map", **settings)
    for k in range(WIDTH):
        single_history, single_actions = run_single(agent, k, transitions, obs)
        np.testing.assert_array_equal(actions[:, k], single_actions)
        for t in range(T + 1):
            assert_trees_equal(take(history[t], k), single_history[t])
    # first update once batch 4 windows of 3 are complete: after transition 6 -> 20 - 6 + 1 = 15
    np.testing.assert_array_equal(history[-1].learner.updates, [15, 15, 15])


@pytest.mark.parametrize("settings", [RAINBOW, RAINBOW_C51], ids=["rainbow-lite", "rainbow"])
def test_rainbow_priorities_track_windows_and_td_errors(settings):
    """After every step: the newest n - 1 = 2 slots have priority 0 (their windows are incomplete),
    every other stored slot a positive one; the tree's total is the sum of its leaves; slots
    sampled by an update carry (|TD error| + eps)^alpha (C51: the per-sample cross-entropy),
    reproduced eagerly from the state before."""
    agent = make_agent(agent_axis="map", **settings)
    history, _ = batched_run("map", **settings)
    transitions, _ = data(0)
    for t in range(1, T + 1):
        pr = np.asarray(history[t].priority.priorities)  # [agents, 16]
        for k in range(WIDTH):
            stored = min(t, 16)
            newest = {(t - 1 - j) % 16 for j in range(min(2, t))}
            for slot in range(16):
                if slot in newest or slot >= stored:
                    assert pr[k, slot] == 0.0, (t, k, slot)
                else:
                    assert pr[k, slot] > 0.0, (t, k, slot)
            np.testing.assert_allclose(history[t].priority.sums[-1][k, 0], pr[k].sum(), rtol=1e-6)
    # reproduce the update after transition t = 10 for agent 1 eagerly
    from noisyjax.replay.nstep import gather
    from noisyjax.replay.per import per_add, per_sample

    t, k = 10, 1
    before = take(history[t], k)
    replay = replay_add(before.replay, take(take(transitions, t), k))
    prio = per_add(before.priority, before.replay.index, (before.replay.index - 2) % 16, replay.size >= 3)
    _, k_update = split_keys(before.key, 2)
    kk = split_keys(k_update, 4)
    hp = hp_list(agent.config)[k]
    slots, weights = per_sample(prio, kk[0], 4, agent.per_beta(jnp.int32(t + 1)))
    batch = gather(replay, slots, 3, hp.gamma)._replace(weight=weights)
    _, errors = agent.learn_with_errors(before.learner, batch, kk[1:], hp)
    want = (np.abs(np.asarray(errors, np.float64)) + agent.config.per_eps) ** agent.config.per_alpha
    after = np.asarray(history[t + 1].priority.priorities[k])
    last = {int(s): i for i, s in enumerate(np.asarray(slots))}  # a repeated slot keeps its last value
    for slot, i in last.items():
        np.testing.assert_allclose(after[slot], want[i], rtol=1e-4)
    assert float(np.max(weights)) == 1.0


def test_per_beta_anneals_to_one():
    agent = make_agent(per=True, per_beta0=0.4, total_steps=1000)
    got = [float(agent.per_beta(jnp.int32(s))) for s in (0, 500, 1000, 5000)]
    np.testing.assert_allclose(got, [0.4, 0.7, 1.0, 1.0], rtol=1e-6)


@pytest.mark.parametrize("settings", [RAINBOW, RAINBOW_C51], ids=["rainbow-lite", "rainbow"])
def test_rainbow_state_survives_a_checkpoint(tmp_path, settings):
    """The PER sum tree and the rest of a rainbow sweep state come back from a checkpoint bitwise."""
    from noisyjax.io.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint

    history, _ = batched_run("map", **settings)
    state = history[-1]
    save_checkpoint(tmp_path, state, {"t": T})
    template = history[0]
    loaded, host = load_checkpoint(latest_checkpoint(tmp_path), template)
    assert host["t"] == T
    assert_trees_equal(loaded, state)
    assert float(np.asarray(loaded.priority.sums[-1]).sum()) > 0


def test_training_loop_updates_exactly_on_the_host_schedule():
    """noisyjax.run.loop.train picks the step with or without the update from ``update_due_at``: after
    the run every agent has done exactly the updates that schedule names (an off-by-one in the
    loop's step count would change the count: 299 steps, an update every 3rd from step 51)."""
    from noisyjax.run.loop import train

    config = Config(
        env="CartPole-v1", total_steps=299, warmup_steps=50, train_freq=3, batch_size=8,
        buffer_size=64, hidden_sizes=(8,), eval_episodes=1, agent_axis="vmap",
    )
    result = train(config, [0, 1], evaluate_at_end=False)
    agent = result.agent
    expected = sum(agent.update_due_at(t) for t in range(1, config.total_steps + 1))
    assert expected == (297 - 51) // 3 + 1  # steps 51, 54, ..., 297
    np.testing.assert_array_equal(result.states.learner.updates, [expected, expected])


# ----- a user's own optax optimiser ------------------------------------------------------------


def test_agent_takes_its_own_optax_optimizer():
    """``Agent(..., optimizer=optax.sgd(lr))``: learn moves the params by exactly -lr times the
    gradient of the (Huber) TD loss, ignores the HParams' rate, and the step runs under jit."""
    lr = 0.05
    agent = make_agent(loss="huber", max_grad_norm=None)
    own = dataclasses.replace(agent, optimizer=optax.sgd(lr))
    learner, batch, hp = learner_and_batch(agent)
    learner = learner._replace(opt_state=own.make_optimizer(hp).init(learner.params))
    keys = split_keys(jax.random.PRNGKey(3), 3)
    _, grad = reference_loss_and_grad(agent, learner, batch, keys, hp.gamma)
    out = jax.jit(own.learn)(learner, batch, keys, hp._replace(learning_rate=jnp.float32(123.0)))
    np.testing.assert_allclose(out.params, learner.params - lr * grad, rtol=1e-5, atol=1e-7)
    state = own.init(jax.random.PRNGKey(0), hp)
    assert jax.tree.structure(state.learner.opt_state) == jax.tree.structure(learner.opt_state)


# ----- the C51 head -------------------------------------------------------------------------------


@pytest.mark.parametrize("dueling", [False, True])
def test_c51_probabilities_sum_to_one_and_q_is_their_expectation(dueling):
    agent = make_agent(distributional=True, num_atoms=7, v_min=-3.0, v_max=3.0, dueling=dueling)
    learner, batch, _ = learner_and_batch(agent)
    key = jax.random.PRNGKey(3)
    logits = agent.logits(learner.params, batch.obs, key)  # [batch, actions, atoms]
    assert logits.shape == (4, ACTIONS, 7)
    probs = jax.nn.softmax(logits, axis=-1)
    np.testing.assert_allclose(np.sum(probs, axis=-1), 1.0, rtol=1e-6)
    z = np.linspace(-3.0, 3.0, 7)
    want = np.sum(np.asarray(probs, np.float64) * z, axis=-1)
    np.testing.assert_allclose(agent.q_values(learner.params, batch.obs, key), want, rtol=1e-5, atol=1e-6)


def reference_c51_loss(agent: Agent, learner, batch, keys):
    """C51 loss wired by hand: online logits with keys[0] on s_tm1, target probabilities with
    keys[1] on s_t at the action the online selector (keys[2], expected Q) picks on s_t."""
    z = agent.support
    rows = jnp.arange(batch.reward.shape[0])
    sel = agent.q_values(learner.params, batch.next_obs, keys[2])
    p_t = jax.nn.softmax(agent.logits(learner.target_params, batch.next_obs, keys[1]), axis=-1)
    p_star = p_t[rows, jnp.argmax(sel, axis=1)]
    from noisyjax.agent.distributional import categorical_l2_project

    atoms = batch.reward[:, None] + batch.discount[:, None] * z[None, :]
    target = jax.vmap(categorical_l2_project, in_axes=(0, 0, None))(atoms, p_star, z)
    log_p = jax.nn.log_softmax(agent.logits(learner.params, batch.obs, keys[0]), axis=-1)
    return float(jnp.mean(-jnp.sum(target * log_p[rows, batch.action], axis=-1)))


def test_c51_update_uses_three_independent_noise_keys():
    """The C51 loss matches the hand-wired reference for the base keys and for each single key
    changed (online, target, selector) and for target and selector swapped, and each change moves it."""
    agent = make_agent(distributional=True, num_atoms=11, v_min=-3.0, v_max=3.0)
    learner, batch, hp = learner_and_batch(agent, sigma0=2.0, n=16)
    k = split_keys(jax.random.PRNGKey(0), 6)
    variants = {
        "base": jnp.stack([k[0], k[1], k[2]]),
        "online": jnp.stack([k[3], k[1], k[2]]),
        "target": jnp.stack([k[0], k[4], k[2]]),
        "selector": jnp.stack([k[0], k[1], k[5]]),
        "swapped": jnp.stack([k[0], k[2], k[1]]),
    }
    losses = {}
    for name, keys in variants.items():
        out = agent.learn(learner, batch, keys, hp)
        losses[name] = float(out.metrics.loss_sum)
        assert losses[name] == pytest.approx(reference_c51_loss(agent, learner, batch, keys), rel=1e-5)
    for name in ("online", "target", "selector", "swapped"):
        assert losses[name] != pytest.approx(losses["base"], rel=1e-6), name
