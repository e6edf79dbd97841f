"""The agent's pure step functions: init, act, learn, and one step per env step.

Everything here is pure: the state (``noisyjax.agent.types``: params, target, optimiser, replay,
key, counters) goes in and comes out. ``Agent`` holds only static things (the network, the
Config, an optional optax optimiser); its methods never touch ``self`` beyond reading them, so
``jax.jit`` can close over it.

Agents of a sweep share a leading agent axis. Integer work (replay writes, sampling, key splits)
is vmapped; float work (forward passes, gradients, the optimiser) goes through
``noisyjax.agent.axis.over_agents``: exact (bitwise each agent's single run at any width) or
``jax.vmap`` (for accelerators; may differ by ulps between widths).
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from noisyjax.agent.axis import over_agents
from noisyjax.agent.distributional import expected_q, support
from noisyjax.agent.objectives import categorical_objective, scalar_objective
from noisyjax.agent.optimizer import (
    default_optimizer,
    epsilon_schedule,
    learning_rate_schedule,
    per_beta_schedule,
)
from noisyjax.agent.types import AgentState, HParams, Learner, Metrics, Transition, split_keys
from noisyjax.config import Config
from noisyjax.nn.networks import QNetwork, mean_abs_sigma, set_factorised_sigma
from noisyjax.replay.nstep import Batch, gather, uniform_slots
from noisyjax.replay.per import per_add, per_init, per_sample, per_update
from noisyjax.replay.uniform import replay_add, replay_init


@dataclasses.dataclass(frozen=True)
class Agent:
    """Static description of a NoisyNet-DQN agent; methods are pure functions of the state.

    ``optimizer``: an optax ``GradientTransformation`` over the flat parameter vector, used by
    every agent; None means ``default_optimizer`` built from each agent's ``HParams`` (clip, Adam,
    the decaying learning rate), which is what lets a sweep give agents their own rates.

    ``obs_dim``: the size of a vector observation, or the shape of one observation (a tuple;
    ``(H, W, C)`` images get the network's conv torso). ``obs_dtype``: the dtype observations are
    stored in (the replay's ``obs`` and ``next_obs``; e.g. "bool" for MinAtar's 0/1 images, a
    quarter of float32's bytes); transitions must come in it, and the network casts to float32.
    """

    config: Config
    obs_dim: int | tuple[int, ...]
    num_actions: int
    optimizer: optax.GradientTransformation | None = None
    obs_dtype: str = "float32"

    def __post_init__(self):
        # A numpy int, or a list or array of sizes: a plain int or a hashable tuple of ints.
        try:
            obs_dim: int | tuple[int, ...] = operator.index(self.obs_dim)
        except TypeError:
            obs_dim = tuple(operator.index(d) for d in self.obs_dim)
        object.__setattr__(self, "obs_dim", obs_dim)
        jnp.dtype(self.obs_dtype)  # refuses an unknown dtype name here, not at init

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """Shape of one observation: ``(obs_dim,)`` for an int ``obs_dim``."""
        return (self.obs_dim,) if isinstance(self.obs_dim, int) else self.obs_dim

    def make_optimizer(self, hp: HParams) -> optax.GradientTransformation:
        """The optimiser of the agent with ``hp`` (``optimizer`` if given)."""
        if self.optimizer is not None:
            return self.optimizer
        return default_optimizer(hp, self.decay_updates)

    @property
    def network(self) -> QNetwork:
        c = self.config
        return QNetwork(
            num_actions=self.num_actions,
            hidden_sizes=tuple(c.hidden_sizes),
            noisy=c.noisy,
            factorised=c.factorised,
            sigma0=c.sigma0,
            dueling=c.dueling,
            obs_rank=len(self.obs_shape),
            num_atoms=c.num_atoms if c.distributional else 1,
        )

    @property
    def support(self) -> jax.Array | None:
        """C51's atoms ``[num_atoms]`` (``Config.v_min`` to ``v_max``); None without the head."""
        c = self.config
        return support(c.num_atoms, c.v_min, c.v_max) if c.distributional else None

    @functools.cached_property
    def _unravel(self) -> Callable:
        dummy = jnp.zeros(self.obs_shape, self.obs_dtype)
        shapes = jax.eval_shape(self.network.init, jax.random.PRNGKey(0), dummy)
        _, unravel = ravel_pytree(jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes))
        return unravel

    def param_tree(self, flat_params: jax.Array) -> Any:
        """The Flax params dict of a flat parameter vector ``[num_params]``."""
        return self._unravel(flat_params)

    # ----- single agent -------------------------------------------------------------------

    def init(self, key: jax.Array, hparams: HParams) -> AgentState:
        """Fresh agent from its own key: params (sigma from ``hparams.sigma0``), empty replay."""
        k_params, k_agent = split_keys(key, 2)
        dummy = jnp.zeros(self.obs_shape, self.obs_dtype)
        params = self.network.init(k_params, dummy)
        if self.config.noisy and self.config.factorised:
            params = set_factorised_sigma(params, hparams.sigma0)
        params, _ = ravel_pytree(params)
        example = Transition(
            obs=dummy,
            action=jnp.zeros((), jnp.int32),
            reward=jnp.zeros((), jnp.float32),
            next_obs=dummy,
            terminated=jnp.zeros((), jnp.bool_),
            truncated=jnp.zeros((), jnp.bool_),
        )
        learner = Learner(
            params=params,
            target_params=params,
            opt_state=self.make_optimizer(hparams).init(params),
            updates=jnp.zeros((), jnp.int32),
            metrics=Metrics(jnp.zeros(()), jnp.zeros(()), jnp.zeros((), jnp.int32)),
        )
        return AgentState(
            learner=learner,
            replay=replay_init(example, self.config.buffer_size),
            key=k_agent,
            step=jnp.zeros((), jnp.int32),
            hparams=hparams,
            priority=per_init(self.config.buffer_size) if self.config.per else None,
        )

    def q_values(self, params: jax.Array, obs: jax.Array, key: jax.Array | None) -> jax.Array:
        """``obs [..., *obs_shape]`` (any dtype) ``-> Q [..., actions]`` for flat ``params
        [num_params]``; ``key=None`` means mean weights. With the C51 head, Q is the expectation
        of each action's distribution over the support."""
        out = self.network.apply(self.param_tree(params), obs, key)
        return out if self.support is None else expected_q(out, self.support)

    def logits(self, params: jax.Array, obs: jax.Array, key: jax.Array | None) -> jax.Array:
        """C51 only: ``obs [..., *obs_shape] -> logits [..., actions, atoms]`` (``q_values``' key)."""
        return self.network.apply(self.param_tree(params), obs, key)

    def epsilon(self, step: jax.Array, hp: HParams) -> jax.Array:
        """Exploration rate at env step ``step``: 1 during warm-up; then 0 for noisy nets, or
        ``epsilon_schedule`` (a linear decay from epsilon_start to epsilon_end)."""
        warm = step < self.config.warmup_steps
        if self.config.noisy:
            return jnp.where(warm, 1.0, 0.0)
        return jnp.where(warm, 1.0, epsilon_schedule(self.config, hp)(step))

    def policy(self, params: Any, obs: jax.Array, key: jax.Array, step: jax.Array, hp: HParams):
        """Action for ``obs [*obs_shape]``: greedy on freshly-noised Q, or uniform with prob epsilon."""
        k_noise, k_explore = split_keys(key, 2)
        q = self.q_values(params, obs, k_noise)
        greedy = jnp.argmax(q).astype(jnp.int32)
        u = jax.random.uniform(k_explore, (2,))  # [explore?, which random action]
        random_action = jnp.minimum(u[1] * self.num_actions, self.num_actions - 1).astype(jnp.int32)
        return jnp.where(u[0] < self.epsilon(step, hp), random_action, greedy)

    @property
    def decay_updates(self) -> int:
        """Updates over which the step size decays: those between warm-up and total_steps."""
        c = self.config
        return max(1, (c.total_steps - c.warmup_steps) // c.train_freq)

    def learning_rate(self, updates: jax.Array, hp: HParams) -> jax.Array:
        """Step size of the default optimiser after ``updates`` updates (``learning_rate_schedule``)."""
        return learning_rate_schedule(hp, self.decay_updates)(updates)

    def learn(self, learner: Learner, batch: Batch, keys: jax.Array, hp: HParams) -> Learner:
        """One TD update on ``batch`` (leaves ``[batch, ...]``), then the target sync if due.
        ``keys [3, 2]``: independent noise for the online net on s_tm1, the target net on s_t,
        and the online selector on s_t (NoisyNet paper, Algorithm 1). Each is one sample held
        fixed across the batch. ``batch.discount`` already holds gamma^n and the termination mask.
        """
        return self.learn_with_errors(learner, batch, keys, hp)[0]

    def learn_with_errors(
        self, learner: Learner, batch: Batch, keys: jax.Array, hp: HParams
    ) -> tuple[Learner, jax.Array]:
        """``learn``, also returning each sample's priority signal ``[batch]`` (for PER): the TD
        error, or with the C51 head the per-sample cross-entropy."""
        c = self.config
        k_online, k_target, k_select = keys[0], keys[1], keys[2]
        q_t_select = None
        if c.double_q:
            q_t_select = self.q_values(learner.params, batch.next_obs, k_select)
        objective = categorical_objective if c.distributional else scalar_objective
        loss_fn = objective(self, learner, batch, k_online, k_target, q_t_select, hp)
        (loss, (mean_q, errors)), grads = jax.value_and_grad(loss_fn, has_aux=True)(learner.params)
        steps, opt_state = self.make_optimizer(hp).update(grads, learner.opt_state, learner.params)
        params = optax.apply_updates(learner.params, steps)

        updates = learner.updates + 1
        target = jax.lax.cond(
            updates % c.target_update_period == 0,
            lambda: optax.incremental_update(params, learner.target_params, hp.target_tau),
            lambda: learner.target_params,
        )
        m = learner.metrics
        metrics = Metrics(m.loss_sum + loss, m.q_sum + mean_q, m.count + 1)
        return Learner(params, target, opt_state, updates, metrics), errors

    def update_due(self, step: jax.Array, size: jax.Array) -> jax.Array:
        """Whether an update follows the ``step``-th transition (counters shared by all agents)."""
        c = self.config
        # size - (n - 1): the newest n - 1 transitions cannot be sampled yet (n-step windows).
        return (step >= c.warmup_steps) & (step % c.train_freq == 0) & (size - (c.n_step - 1) >= c.batch_size)

    def update_due_at(self, step: int) -> bool:
        """``update_due`` on the host: whether the jitted step that adds the ``step``-th
        transition updates (the replay then holds ``min(step, buffer_size)`` transitions)."""
        return bool(self.update_due(step, min(step, self.config.buffer_size)))

    def step(self, state: AgentState, transition: Transition, obs: jax.Array):
        """One env step of one agent: add ``transition``, update if due (the learner syncs its
        target when due), then act on ``obs [*obs_shape]`` (the next episode's first observation if
        the last one ended). Returns ``(state, action [])``."""
        states, actions = self.step_batch(
            jax.tree.map(lambda x: x[None], state),
            jax.tree.map(lambda x: x[None], transition),
            obs[None],
        )
        return jax.tree.map(lambda x: x[0], states), actions[0]

    def act(self, state: AgentState, obs: jax.Array):
        """Act on ``obs [*obs_shape]`` without adding a transition (the first step of a run)."""
        states, actions = self.act_batch(jax.tree.map(lambda x: x[None], state), obs[None])
        return jax.tree.map(lambda x: x[0], states), actions[0]

    # ----- agent axis ---------------------------------------------------------------------

    def over_agents(self, fn: Callable, unroll: bool = True) -> Callable:
        """``fn`` over a leading agent axis, as ``config.agent_axis`` says (``noisyjax.agent.axis``)."""
        return over_agents(fn, self.config.agent_axis, unroll)

    def init_batch(self, seeds: jax.Array, hparams: HParams) -> AgentState:
        """Agents from integer ``seeds [agents]`` and ``hparams`` (leaves ``[agents]``)."""
        keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds, jnp.uint32))
        return self.over_agents(self.init, unroll=False)(keys, hparams)

    def act_batch(self, states: AgentState, obs: jax.Array):
        """Every agent acts on its ``obs [agents, *obs_shape]``; returns ``(states, actions [agents])``."""
        split = jax.vmap(lambda k: split_keys(k, 2))(states.key)
        keys, k_act = split[:, 0], split[:, 1]
        actions = self.over_agents(self.policy)(
            states.learner.params, obs, k_act, states.step, states.hparams
        )
        return states._replace(key=keys), actions

    def step_batch(
        self, states: AgentState, transitions: Transition, obs: jax.Array, update: bool | None = None
    ):
        """The jitted, vmapped agent step: ``transitions`` leaves and ``obs`` are ``[agents, ...]``.

        All agents step in lockstep, so the update schedule (a function of the shared step
        counter) is decided once for all of them. ``update``: whether an update is due at this
        step, as a static Python bool (the host knows the schedule: ``update_due_at``); jit then
        compiles one program with the update and one without (which leaves the learner's
        buffers untouched). None decides inside the program with ``lax.cond``, whose no-update
        branch copies the parameters (a small cost: docs/speed.md, "Speed of the step").
        """
        c = self.config
        write_slot = states.replay.index  # [agents]
        replay = jax.vmap(replay_add)(states.replay, transitions)
        priority = states.priority
        if c.per:
            # The transition written n - 1 steps ago has just completed its n-step window.
            ready_slot = (write_slot - (c.n_step - 1)) % c.buffer_size
            priority = jax.vmap(per_add)(priority, write_slot, ready_slot, replay.size >= c.n_step)
        step = states.step + 1
        split = jax.vmap(lambda k: split_keys(k, 2))(states.key)
        keys, k_update = split[:, 0], split[:, 1]

        def do_update(_):
            k = jax.vmap(lambda kk: split_keys(kk, 4))(k_update)  # [agents, 4, 2]
            if c.per:
                slots, weights = jax.vmap(per_sample, in_axes=(0, 0, None, None))(
                    priority, k[:, 0], c.batch_size, self.per_beta(step[0])
                )
            else:
                slots = jax.vmap(uniform_slots, in_axes=(0, 0, None, None))(
                    replay, k[:, 0], c.batch_size, c.n_step
                )
                weights = jnp.ones(slots.shape, jnp.float32)
            batch = jax.vmap(gather, in_axes=(0, 0, None, 0))(replay, slots, c.n_step, states.hparams.gamma)
            learner, errors = self.over_agents(self.learn_with_errors)(
                states.learner, batch._replace(weight=weights), k[:, 1:], states.hparams
            )
            if not c.per:
                return learner, priority
            new_priority = jax.vmap(per_update, in_axes=(0, 0, 0, None, None))(
                priority, slots, jnp.abs(errors), jnp.float32(c.per_alpha), jnp.float32(c.per_eps)
            )
            return learner, new_priority

        if update is None:
            learner, priority = jax.lax.cond(
                self.update_due(step[0], replay.size[0]),
                do_update,
                lambda _: (states.learner, priority),
                None,
            )
        elif update:
            learner, priority = do_update(None)
        else:
            learner = states.learner
        return self.act_batch(AgentState(learner, replay, keys, step, states.hparams, priority), obs)

    def per_beta(self, step: jax.Array) -> jax.Array:
        """Importance-sampling exponent at env step ``step`` (``per_beta_schedule``), float32 ``[]``."""
        return jnp.asarray(per_beta_schedule(self.config)(step), jnp.float32)

    def reset_metrics(self, states: AgentState):
        """Read and zero the running metrics: ``(states, loss [agents], q [agents], count)``
        where loss and q are means since the last reset (NaN if no update happened)."""
        m = states.learner.metrics
        count = jnp.maximum(m.count, 1)
        loss = jnp.where(m.count > 0, m.loss_sum / count, jnp.nan)
        q = jnp.where(m.count > 0, m.q_sum / count, jnp.nan)
        zero = jax.tree.map(jnp.zeros_like, m)
        return states._replace(learner=states.learner._replace(metrics=zero)), loss, q, m.count

    def all_finite(self, states: AgentState) -> jax.Array:
        """Per agent, whether its online and target parameters are all finite: bool ``[agents]``
        (the loop's divergence check)."""
        params, target = states.learner.params, states.learner.target_params
        return jnp.isfinite(params).all(axis=-1) & jnp.isfinite(target).all(axis=-1)

    def sigma_stats(self, states: AgentState) -> jax.Array:
        """Mean |sigma| of each noisy layer, ``[agents, layers]`` (``[agents, 0]`` if not noisy)."""
        return jax.vmap(lambda p: mean_abs_sigma(self.param_tree(p)))(states.learner.params)

