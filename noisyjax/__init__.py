"""noisyjax: Noisy Networks for exploration in deep Q-learning, in JAX."""

from noisyjax.agent import (
    SWEEPABLE,
    Agent,
    AgentState,
    HParams,
    Learner,
    Transition,
    hparams_from_config,
)
from noisyjax.config import Config
from noisyjax.loop import AgentResult, TrainResult, train
from noisyjax.losses import discount_from_termination, huber, td_error, td_loss, td_target
from noisyjax.networks import QNetwork, mean_abs_sigma
from noisyjax.noisy import (
    NoisyDense,
    factorised_noise,
    noise_sample,
    noisy_dense_apply,
    noisy_dense_init,
    scale_noise,
)
from noisyjax.replay import ReplayState, can_sample, replay_add, replay_init, replay_sample

__all__ = [
    "SWEEPABLE",
    "Agent",
    "AgentResult",
    "TrainResult",
    "train",
    "AgentState",
    "Config",
    "HParams",
    "Learner",
    "NoisyDense",
    "QNetwork",
    "ReplayState",
    "Transition",
    "can_sample",
    "discount_from_termination",
    "factorised_noise",
    "hparams_from_config",
    "huber",
    "mean_abs_sigma",
    "noise_sample",
    "noisy_dense_apply",
    "noisy_dense_init",
    "replay_add",
    "replay_init",
    "replay_sample",
    "scale_noise",
    "td_error",
    "td_loss",
    "td_target",
]
