"""The agent's optimiser and schedules, from optax.

The default update is ``clip_by_global_norm -> scale_by_adam -> scale_by_learning_rate`` with a
linear learning-rate decay, built per agent from its ``HParams`` (traced values, so a sweep's
agents each get their own rates inside one program). Its results differ in their last bits from
the hand-written update it replaced, which computed the same things in another order:
``optax.clip_by_global_norm`` scales a clipped gradient as ``(g / norm) * max_norm`` (that code:
``g * (max_norm / norm)``; clipping happens within the default run's first 7,000 env steps), and
``optax.linear_schedule`` writes the line as ``(init - end) * (1 - frac) + end`` (that code:
``init + frac * (end - init)``). See docs/reproducibility.md. Exploration (epsilon) and PER's
importance-sampling exponent (beta) are optax schedules too, of the env step.
"""

from __future__ import annotations

from typing import Any

import optax

from noisyjax.agent.types import HParams
from noisyjax.config import Config


def learning_rate_schedule(hp: HParams, decay_updates: int) -> optax.Schedule:
    """Step size after ``count`` updates: linear from ``hp.learning_rate`` to
    ``hp.learning_rate_end`` over ``decay_updates`` updates, then constant."""
    return optax.linear_schedule(hp.learning_rate, hp.learning_rate_end, decay_updates)


def default_optimizer(hp: HParams, decay_updates: int) -> optax.GradientTransformation:
    """The chain every agent uses unless given its own: clip the global gradient norm to
    ``hp.max_grad_norm`` (inf: no clipping), Adam with ``hp.adam_eps``, then the decaying step."""
    return optax.chain(
        optax.clip_by_global_norm(hp.max_grad_norm),
        optax.scale_by_adam(eps=hp.adam_eps),
        optax.scale_by_learning_rate(learning_rate_schedule(hp, decay_updates)),
    )


def epsilon_schedule(config: Config, hp: HParams) -> optax.Schedule:
    """Epsilon at env step ``step`` (epsilon-greedy baseline): linear from ``epsilon_start`` to
    ``epsilon_end`` over ``epsilon_fraction * total_steps`` env steps, counted from step 0 (the
    warm-up, where the agent acts uniformly anyway, included, as SB3 does)."""
    span = max(round(config.epsilon_fraction * config.total_steps), 1)
    return optax.linear_schedule(hp.epsilon_start, hp.epsilon_end, span)


def per_beta_schedule(config: Config) -> optax.Schedule:
    """PER's importance-sampling exponent at env step ``step``: ``per_beta0`` at step 0, linear
    to 1 at ``total_steps`` (Schaul et al. 2016, section 3.4)."""
    return optax.linear_schedule(config.per_beta0, 1.0, config.total_steps)


def upgrade_opt_state(saved: Any) -> Any:
    """A checkpoint's ``opt_state`` (a state dict) in today's layout. Checkpoints written before
    the optax chain held Adam's state alone (``{count, mu, nu}``); the chain's state is
    ``(clip: empty, adam, schedule: {count})``, and the schedule had counted the same updates."""
    if isinstance(saved, dict) and "mu" in saved:
        return {"0": {}, "1": saved, "2": {"count": saved["count"]}}
    return saved

