"""Host-side environments: one gymnasium sub-env per agent, explicitly seeded, reset by hand.

Autoreset is DISABLED: ``step`` returns the real last observation of an episode that just ended
(terminated or truncated), and the loop resets exactly the finished sub-envs before the next
action, so no stored transition ever spans two episodes.

Every episode is reset with its own seed, derived from (run seed, stream, episode index). That
makes any episode reproducible on its own, which is what lets ``--resume`` rebuild the episodes
in progress exactly (reset with the episode's seed, replay its actions).
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec, find_highest_version, get_env_id, parse_env_id

TRAIN_STREAM = 0
EVAL_STREAM = 1
SELECT_STREAM = 2  # periodic evaluations (--eval-every): the best checkpoint is chosen on these
# episodes, so a final evaluation of it on EVAL_STREAM is not biased by the choice


class EnvError(ValueError):
    """An environment id that noisyjax cannot train on (message says why and what to use)."""


def episode_seed(seed: int, episode: int, stream: int = TRAIN_STREAM) -> int:
    """Reset seed of episode ``episode`` of run ``seed``; training and evaluation use distinct
    streams so evaluation never replays a training episode's start state."""
    return int(np.random.SeedSequence([int(seed), int(stream), int(episode)]).generate_state(1)[0])


def import_env_module(env_id: str) -> str:
    """Import the module of a ``module:Id`` id (importing it registers the env, as in
    ``gym.make``) and return the registered ``Id``; an id without a module is returned as is."""
    if ":" not in env_id:
        return env_id
    module, _, name = env_id.partition(":")
    if not module or not name or ":" in name:
        raise EnvError(f"{env_id!r} is not an env id of the form Id or module:Id (e.g. ale_py:ALE/Pong-v5)")
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        missing = err.name or module
        top = missing.partition(".")[0]
        if top != missing and importlib.util.find_spec(top) is not None:
            raise EnvError(f"{env_id!r} needs module {missing!r}, which {top} does not have") from None
        raise EnvError(
            f"{env_id!r} needs module {missing!r}, which is not installed; get it with "
            f"pip install {top}"
        ) from None
    except Exception as err:  # the module is there but fails on import: say so on one line
        raise EnvError(
            f"{env_id!r}: importing its module {module!r} failed ({err.__class__.__name__}: {err})"
        ) from None
    return name


def env_spec(env_id: str) -> EnvSpec:
    """The registered spec ``gym.make(env_id)`` would use: the module of a ``module:Id`` id is
    imported first, and an id without a version resolves to the latest one, as ``gym.make`` does
    (``gym.spec`` does neither)."""
    name = import_env_module(env_id)
    spec = gym.registry.get(name)
    if spec is None:
        namespace, base, version = parse_env_id(name)
        latest = find_highest_version(namespace, base) if version is None else None
        if latest is not None:
            spec = gym.registry.get(get_env_id(namespace, base, latest))
    return gym.spec(name) if spec is None else spec  # gym.spec raises, naming the id


def folder_name(env_id: str) -> str:
    """``env_id`` as part of a folder name: without the module of ``module:Id``, and a
    namespace's ``/`` as ``-`` (``ale_py:ALE/Pong-v5`` -> ``ALE-Pong-v5``)."""
    name = env_id.rpartition(":")[2]
    for char in "/?&=":  # a namespace, and a gymnax id's options (DeepSea-bsuite?size=20)
        name = name.replace(char, "-")
    return name


def check_env_id(env_id: str) -> gym.Env:
    """Make one env of ``env_id`` (a registered id, or ``module:Id`` whose module registers it)
    and check it has a flat Box observation and a Discrete action space starting at 0."""
    import_env_module(env_id)  # a missing module is named here, with how to install it
    # gymnasium warns before it raises (e.g. "LunarLander-v2 is out of date", then DeprecatedEnv):
    # hold its warnings back, drop them when the id is refused (the error says it all, on one
    # line), and show them as usual when the env was made.
    with warnings.catch_warnings(record=True) as caught:
        try:
            env = gym.make(env_id)
        except gym.error.Error as err:
            raise EnvError(
                f"unknown or unusable env id {env_id!r} ({err.__class__.__name__}: {err}); "
                "use a registered gymnasium id such as LunarLander-v3, CartPole-v1 or Acrobot-v1"
            ) from None
        except Exception as err:  # the env's own constructor failed: one line, not a traceback
            raise EnvError(f"{env_id!r} could not be made ({err.__class__.__name__}: {err})") from None
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(act_space, gym.spaces.Discrete):
        env.close()
        raise EnvError(
            f"env {env_id!r} has a {type(act_space).__name__} action space; DQN needs a "
            "Discrete one (for LunarLander use LunarLander-v3, not continuous=True)"
        )
    if int(act_space.start) != 0:
        # The network's outputs are indexed 0..n-1 and its actions are stepped as they are.
        env.close()
        raise EnvError(
            f"env {env_id!r} has action space {act_space}; noisyjax needs Discrete(n) starting at 0"
        )
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        env.close()
        raise EnvError(
            f"env {env_id!r} has observation space {obs_space}; noisyjax needs a flat Box"
        )
    return env


def solve_threshold(env_id: str, configured: float | None) -> float | None:
    """The configured threshold, or the env's ``reward_threshold`` (None if it has none)."""
    if configured is not None:
        return float(configured)
    from noisyjax.run.env_ids import is_device_env

    if is_device_env(env_id):
        from noisyjax.run.device_envs import make_device_env

        return make_device_env(env_id, [0]).threshold
    spec = env_spec(env_id)
    return None if spec.reward_threshold is None else float(spec.reward_threshold)


class HostEnvs:
    """``len(seeds)`` sub-envs in a gymnasium ``SyncVectorEnv``, sub-env i seeded from seed i."""

    def __init__(self, env_id: str, seeds: Sequence[int], stream: int = TRAIN_STREAM):
        check_env_id(env_id).close()
        self.seeds = [int(s) for s in seeds]
        self.stream = stream
        self.envs = gym.vector.SyncVectorEnv(
            [lambda: gym.make(env_id) for _ in self.seeds],
            autoreset_mode=gym.vector.AutoresetMode.DISABLED,
        )
        n = len(self.seeds)
        self.obs_dim = int(self.envs.single_observation_space.shape[0])
        self.num_actions = int(self.envs.single_action_space.n)
        self.episode = np.zeros(n, np.int64)  # index of the episode in progress, per sub-env
        self.actions: list[list[int]] = [[] for _ in range(n)]  # actions of that episode so far

    def _seeds(self, mask: np.ndarray) -> list[int | None]:
        return [
            episode_seed(s, e, self.stream) if m else None
            for s, e, m in zip(self.seeds, self.episode, mask)
        ]

    def reset(self) -> np.ndarray:
        """Start every sub-env's current episode; returns ``obs [agents, obs_dim]`` float32."""
        mask = np.ones(len(self.seeds), bool)
        obs, _ = self.envs.reset(seed=self._seeds(mask))
        self.actions = [[] for _ in self.seeds]
        return np.asarray(obs, np.float32)

    def step(self, actions: np.ndarray):
        """Step every sub-env: ``(next_obs [agents, obs_dim], reward [agents] float32,
        terminated [agents] bool, truncated [agents] bool)``."""
        for history, a in zip(self.actions, actions.tolist()):
            history.append(a)
        obs, reward, terminated, truncated, _ = self.envs.step(actions)
        return (
            np.asarray(obs, np.float32),
            np.asarray(reward, np.float32),
            np.asarray(terminated, bool),
            np.asarray(truncated, bool),
        )

    def reset_done(self, done: np.ndarray) -> np.ndarray:
        """Move finished sub-envs (``done [agents]``) to their next episode; returns the obs of
        all sub-envs (fresh first observations where done)."""
        self.episode = self.episode + done
        for i in np.flatnonzero(done):
            self.actions[i] = []
        obs, _ = self.envs.reset(seed=self._seeds(done), options={"reset_mask": done.copy()})
        return np.asarray(obs, np.float32)

    def restore(self, episode: np.ndarray, actions: list[list[int]]) -> np.ndarray:
        """Rebuild the episodes in progress: reset each sub-env with its episode's seed and
        replay its actions. Returns the current ``obs [agents, obs_dim]``."""
        self.episode = np.asarray(episode, np.int64).copy()
        obs = np.asarray(self.envs.reset(seed=self._seeds(np.ones(len(self.seeds), bool)))[0])
        obs = obs.astype(np.float32)
        for i, history in enumerate(actions):
            env = self.envs.envs[i]
            for a in history:
                o, _, term, trunc, _ = env.step(a)
                if term or trunc:
                    raise RuntimeError("checkpointed episode ended during replay: not a valid resume")
                obs[i] = o
        self.actions = [list(h) for h in actions]
        return obs

    def get_state(self) -> dict:
        """JSON-able state for a checkpoint: each sub-env's episode index and its actions so far."""
        return {"episode": self.episode.tolist(), "actions": self.actions}

    def set_state(self, state: dict) -> np.ndarray:
        """Rebuild the episodes of ``get_state``'s output; returns the current ``obs``."""
        return self.restore(np.asarray(state["episode"]), state["actions"])

    def close(self) -> None:
        self.envs.close()
