"""Which engine an env id runs on: ``gymnax:<name>`` and ``envpool:<name>`` are device-side
environments (the jitted engine, ``noisyjax.run.engine``); any other id is a gymnasium env on the
host (the host loop, ``noisyjax.run.loop``)."""

from __future__ import annotations

import importlib.util

DEVICE_PREFIXES = ("gymnax", "envpool")

EXTRAS = {"gymnax": "gymnax", "envpool": "envpool"}
"""The pip extra of noisyjax that installs each device backend."""


class MissingExtra(ImportError):
    """A device backend whose package is not installed (the message names the pip command)."""


def backend(env_id: str) -> str:
    """``"gymnax"``, ``"envpool"`` or ``"gymnasium"`` (the host) for ``env_id``."""
    prefix, sep, _ = env_id.partition(":")
    return prefix if sep and prefix in DEVICE_PREFIXES else "gymnasium"


def is_device_env(env_id: str) -> bool:
    """Whether ``env_id`` runs on the jitted engine."""
    return backend(env_id) != "gymnasium"


def require(package: str) -> None:
    """Raise ``MissingExtra`` naming the install command when ``package`` is not importable."""
    if importlib.util.find_spec(package) is None:
        raise MissingExtra(
            f"{package} is not installed; install it with: pip install -e \".[{EXTRAS[package]}]\" "
            f"(or pip install {package})"
        )
