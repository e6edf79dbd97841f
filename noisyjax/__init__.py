"""noisyjax: Noisy Networks for exploration in deep Q-learning, in JAX."""

from noisyjax.agent.agent import Agent
from noisyjax.agent.distributional import (
    categorical_l2_project,
    categorical_loss,
    categorical_target,
    expected_q,
    support,
)
from noisyjax.agent.losses import discount_from_termination, huber, td_error, td_loss, td_target
from noisyjax.agent.optimizer import default_optimizer
from noisyjax.agent.types import (
    SWEEPABLE,
    AgentState,
    HParams,
    Learner,
    Transition,
    hparams_from_config,
    stack_hparams,
)
from noisyjax.analysis import stats
from noisyjax.config import PRESETS, Config, preset_config
from noisyjax.nn.networks import QNetwork, mean_abs_sigma
from noisyjax.nn.noisy import (
    NoisyDense,
    factorised_noise,
    noise_sample,
    noisy_dense_apply,
    noisy_dense_init,
    scale_noise,
    unit_normals,
)
from noisyjax.replay.nstep import Batch, batch_from_transitions, gather, nstep_return, sample_uniform
from noisyjax.replay.per import PriorityState, per_add, per_init, per_sample, per_update
from noisyjax.replay.uniform import ReplayState, can_sample, replay_add, replay_init, replay_sample
from noisyjax.run.engine import EngineState, TrainOutput, make_train
from noisyjax.run.episodes import WINDOW, EpisodeTracker, is_solved
from noisyjax.run.evaluation import evaluate
from noisyjax.run.hooks import Hook, LogPoint, Stopwatch
from noisyjax.run.loop import AgentResult, RunFiles, TrainResult, train

__all__ = [
    "evaluate",
    "stats",
    "categorical_l2_project",
    "categorical_loss",
    "categorical_target",
    "expected_q",
    "support",
    "PRESETS",
    "Batch",
    "PriorityState",
    "batch_from_transitions",
    "gather",
    "nstep_return",
    "per_add",
    "per_init",
    "per_sample",
    "per_update",
    "preset_config",
    "sample_uniform",
    "SWEEPABLE",
    "default_optimizer",
    "stack_hparams",
    "Agent",
    "AgentResult",
    "EpisodeTracker",
    "Hook",
    "LogPoint",
    "RunFiles",
    "Stopwatch",
    "WINDOW",
    "is_solved",
    "TrainResult",
    "train",
    "make_train",
    "EngineState",
    "TrainOutput",
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
    "unit_normals",
]
