"""Which engine an env id runs on: ``gymnax:<name>`` and ``envpool:<name>`` are device-side
environments (the jitted engine, ``noisyjax.run.engine``); any other id is a gymnasium env on the
host (the host loop, ``noisyjax.run.loop``)."""

from __future__ import annotations

import importlib.util
from typing import NamedTuple

from noisyjax.run.envs import EnvError

DEVICE_PREFIXES = ("gymnax", "envpool")

INSTALL = {
    "gymnax": 'pip install "gymnax>=1.0.1,<1.1" six (a dependency of noisyjax: pip install -e .)',
    "envpool": 'pip install -e ".[envpool]" (noisyjax\'s envpool extra)',
}
"""The command that installs each device backend."""


class MissingExtra(EnvError):
    """A device backend whose package is not installed (the message names the pip command)."""


def backend(env_id: str) -> str:
    """``"gymnax"``, ``"envpool"`` or ``"gymnasium"`` (the host) for ``env_id``."""
    prefix, sep, _ = env_id.partition(":")
    return prefix if sep and prefix in DEVICE_PREFIXES else "gymnasium"


def is_device_env(env_id: str) -> bool:
    """Whether ``env_id`` runs on the jitted engine."""
    return backend(env_id) != "gymnasium"


def installed(package: str) -> bool:
    """Whether ``package`` can be imported."""
    return importlib.util.find_spec(package) is not None


def require(package: str) -> None:
    """Raise ``MissingExtra`` naming the install command when ``package`` is not importable."""
    if not installed(package):
        raise MissingExtra(f"{package} is not installed; install it with: {INSTALL[package]}")


class EnvInfo(NamedTuple):
    """What an entry point needs to know of an env id before it builds anything."""

    obs_shape: tuple[int, ...]
    obs_dtype: str  # the dtype the replay stores observations in
    num_actions: int
    threshold: float | None  # the solve threshold (reward_threshold); None: none

    @property
    def obs_dim(self) -> int | tuple[int, ...]:
        """``Agent``'s ``obs_dim`` argument: an int for vector observations, else the shape."""
        return self.obs_shape[0] if len(self.obs_shape) == 1 else self.obs_shape


def describe(env_id: str, configured_threshold: float | None = None) -> EnvInfo:
    """Check ``env_id`` (host or device) and describe it; raises ``EnvError`` (``MissingExtra`` for a
    backend that is not installed) with a one-line message when it cannot be used."""
    if is_device_env(env_id):
        from noisyjax.run.device_envs import make_device_env

        denv = make_device_env(env_id, [0])
        denv.check()
        threshold = denv.threshold if configured_threshold is None else float(configured_threshold)
        info = EnvInfo(tuple(denv.obs_shape), denv.obs_dtype, denv.num_actions, threshold)
        getattr(denv, "close", lambda: None)()
        return info
    from noisyjax.run.envs import check_env_id, solve_threshold  # noqa: I001 (gymnasium's, lazily)

    env = check_env_id(env_id)
    info = EnvInfo(tuple(env.observation_space.shape), "float32", int(env.action_space.n),
                   solve_threshold(env_id, configured_threshold))
    env.close()
    return info
