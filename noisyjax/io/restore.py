"""Rebuild trained agents from a run folder (config.json + the latest checkpoint)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from noisyjax.agent.agent import Agent
from noisyjax.agent.types import AgentState, stack_hparams
from noisyjax.io.checkpoint import checkpoint_at, latest_checkpoint, load_checkpoint
from noisyjax.io.rundir import CHECKPOINT_DIR, RunDirError, read_config
from noisyjax.run.env_ids import is_device_env
from noisyjax.run.envs import check_env_id


def load_run(run_dir: Path, step: int | None = None) -> tuple[Agent, AgentState, dict, dict]:
    """``(agent, states [agents, ...], host counters, config.json payload)`` of a run folder, from
    its checkpoint of env step ``step`` (None: the latest)."""
    run_dir = Path(run_dir)
    config, payload = read_config(run_dir)
    if step is not None:
        ckpt = checkpoint_at(run_dir / CHECKPOINT_DIR, step)
    else:
        ckpt = latest_checkpoint(run_dir / CHECKPOINT_DIR)
    if ckpt is None:
        raise RunDirError(f"{run_dir} has no checkpoint; was the run started?")
    seeds = payload["seeds"]
    overrides = payload.get("overrides") or [{} for _ in seeds]
    hparams = stack_hparams(config, overrides)
    if is_device_env(config.env):  # the jitted engine's checkpoint: agents and envs
        from noisyjax.run.device_envs import make_device_env
        from noisyjax.run.engine import init_state, make_agent

        denv = make_device_env(config.env, seeds, config.agent_axis)
        agent = make_agent(config, denv)
        template = jax.eval_shape(lambda: init_state(agent, denv, jnp.asarray(seeds, jnp.uint32), hparams))
        template = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), template)
        carry, host = load_checkpoint(ckpt, template)
        getattr(denv, "close", lambda: None)()
        return agent, carry.agents, host, payload
    env = check_env_id(config.env)
    agent = Agent(config, int(env.observation_space.shape[0]), int(env.action_space.n))
    env.close()
    template = agent.init_batch(jnp.asarray(seeds), hparams)
    states, host = load_checkpoint(ckpt, template)
    return agent, states, host, payload
