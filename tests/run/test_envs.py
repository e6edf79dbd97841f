"""noisyjax.run.envs: which env ids are accepted (module:Id, unversioned ids) and which are
refused up front, each with one message saying why."""

from __future__ import annotations

import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest

from noisyjax.run.envs import EnvError, HostEnvs, check_env_id, env_spec, folder_name, solve_threshold


class ShiftedActions(gym.Env):
    """A flat Box observation and ``Discrete(3, start=-1)`` actions: -1, 0, 1."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(3, start=-1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}


@pytest.fixture
def shifted():
    """ShiftedActions registered as an id for the test's duration."""
    env_id = "NoisyjaxShiftedActions-v0"
    gym.register(env_id, entry_point=ShiftedActions)
    yield env_id
    del gym.registry[env_id]


MODULE = "noisyjax_test_env_module"
TINY_MODULE = """
import gymnasium as gym
import numpy as np


class Tiny(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.np_random.uniform(-1, 1, 3).astype(np.float32), {}

    def step(self, action):
        return np.zeros(3, np.float32), 1.0, False, False, {}


gym.register("NoisyjaxTiny-v0", entry_point=__name__ + ":Tiny", reward_threshold=12.5)
"""


@pytest.fixture
def env_module(tmp_path, monkeypatch):
    """Write a module that registers NoisyjaxTiny-v0 when it is imported (as a package of envs
    does), on sys.path but not imported yet; undo the import and the registration afterwards."""

    def write(source: str) -> str:
        (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent(source))
        return MODULE

    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    sys.modules.pop(MODULE, None)
    gym.registry.pop("NoisyjaxTiny-v0", None)


def test_discrete_start_other_than_zero_is_refused(shifted):
    words = r"has action space Discrete\(3, start=-1\); noisyjax needs Discrete\(n\) starting at 0"
    with pytest.raises(EnvError, match=words):
        check_env_id(shifted)


def test_module_id_imports_the_module_that_registers_the_env(env_module):
    """``module:Id`` imports the module (which registers Id), as gym.make does; the env is made,
    its threshold read from its spec, and HostEnvs runs it."""
    env_id = f"{env_module(TINY_MODULE)}:NoisyjaxTiny-v0"
    assert "NoisyjaxTiny-v0" not in gym.registry
    env = check_env_id(env_id)
    assert env.observation_space.shape == (3,) and env.action_space.n == 2
    env.close()
    assert solve_threshold(env_id, None) == 12.5
    assert solve_threshold(env_id, 3.0) == 3.0
    envs = HostEnvs(env_id, [0, 1])
    assert envs.reset().shape == (2, 3) and envs.num_actions == 2
    envs.close()


def test_module_id_of_gymnasium_itself():
    """A module:Id naming a module gymnasium already has works the same way (threshold too)."""
    env_id = "gymnasium.envs.classic_control:CartPole-v1"
    check_env_id(env_id).close()
    assert solve_threshold(env_id, None) == 475.0
    assert folder_name(env_id) == "CartPole-v1"


def test_unversioned_id_resolves_as_make_does():
    """An id without a version is made at its latest version (gymnasium warns); the threshold is
    that version's (gym.spec alone would not find the id)."""
    with pytest.warns(UserWarning, match="CartPole-v1"):
        check_env_id("CartPole").close()
    assert env_spec("CartPole").id == "CartPole-v1"
    assert solve_threshold("CartPole", None) == 475.0


@pytest.mark.parametrize(
    ("env_id", "words"),
    [
        (
            "noisyjax_no_such_module:Foo-v0",
            "needs module 'noisyjax_no_such_module', which is not installed; get it with "
            "pip install noisyjax_no_such_module",
        ),
        (  # a module of a package: pip installs the package
            "noisyjax_no_such_package.envs:Foo-v0",
            "needs module 'noisyjax_no_such_package', which is not installed; get it with "
            "pip install noisyjax_no_such_package",
        ),
        (
            "gymnasium.envs.no_such:Foo-v0",
            "needs module 'gymnasium.envs.no_such', which gymnasium does not have",
        ),
        ("a:b:c", "is not an env id of the form Id or module:Id"),
        (":CartPole-v1", "is not an env id of the form Id or module:Id"),
        ("json:NoisyjaxNoSuch-v0", "unknown or unusable env id"),  # the module registers nothing
    ],
)
def test_bad_module_ids_are_refused(env_id, words):
    with pytest.raises(EnvError, match=words.replace("(", r"\(")):
        check_env_id(env_id)


def test_module_failing_on_import_is_refused(env_module):
    env_id = env_module("raise RuntimeError('no display')") + ":NoisyjaxTiny-v0"
    words = rf"importing its module '{MODULE}' failed \(RuntimeError: no display\)"
    with pytest.raises(EnvError, match=words):
        check_env_id(env_id)


def test_folder_name():
    assert folder_name("ale_py:ALE/Pong-v5") == "ALE-Pong-v5"
    assert folder_name("LunarLander-v3") == "LunarLander-v3"
