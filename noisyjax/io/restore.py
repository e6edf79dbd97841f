"""Rebuild trained agents from a run folder (config.json + the latest checkpoint)."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp

from noisyjax.agent.agent import Agent
from noisyjax.agent.types import AgentState, stack_hparams
from noisyjax.io.checkpoint import latest_checkpoint, load_checkpoint
from noisyjax.io.rundir import CHECKPOINT_DIR, RunDirError, read_config
from noisyjax.run.envs import check_env_id


def load_run(run_dir: Path) -> tuple[Agent, AgentState, dict, dict]:
    """``(agent, states [agents, ...], host counters, config.json payload)`` of a run folder."""
    run_dir = Path(run_dir)
    config, payload = read_config(run_dir)
    ckpt = latest_checkpoint(run_dir / CHECKPOINT_DIR)
    if ckpt is None:
        raise RunDirError(f"{run_dir} has no checkpoint; was the run started?")
    env = check_env_id(config.env)
    agent = Agent(config, int(env.observation_space.shape[0]), int(env.action_space.n))
    env.close()
    seeds = payload["seeds"]
    overrides = payload.get("overrides") or [{} for _ in seeds]
    template = agent.init_batch(jnp.asarray(seeds), stack_hparams(config, overrides))
    states, host = load_checkpoint(ckpt, template)
    return agent, states, host, payload
