"""Every setting of a run, in one frozen dataclass with defaults; validation names the bad field.

Defaults are chosen to solve LunarLander-v3 on a laptop CPU; README.md ("Defaults") and docs/tuning.md say how
each differs from the paper and why.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Annotated, Literal, get_args, get_type_hints

import tyro

# Each list of names is defined once, as a Literal; everything else derives from it (get_args).
Loss = Literal["huber", "mse"]
EvalPolicy = Literal["mean", "noisy", "frozen"]
"""Evaluation policies: mean weights (noise off, Dopamine), fresh noise every step (DQN Zoo), one
noise draw per episode (Stoix)."""
AgentAxis = Literal["map", "vmap"]
CpuCores = Literal["one", "all"]
PresetName = Literal["none", "rainbow-lite", "rainbow"]
"""Named bundles of settings (``--preset``); "none" is the plain defaults."""

EVAL_POLICIES: tuple[str, ...] = get_args(EvalPolicy)
PRESET_NAMES: tuple[str, ...] = get_args(PresetName)

INT32_MAX = 2**31 - 1
"""Largest value of an int field: step counters, replay slots and sizes are int32 on the device."""
FLOAT32_MAX = 3.4028234663852886e38
"""Largest magnitude of a float field: the device holds the swept settings in float32, and a
larger value would become inf there."""
MAX_EVAL_EPISODES = 1_000_000
"""Most evaluation episodes: their returns are held in memory (8 MB at this limit), and at a few
hundred env steps each this is already more env steps than any run trains."""
SEED_END = 2**32
"""Seeds lie in ``[0, SEED_END)``: each becomes a uint32 JAX key (``jax.random.PRNGKey``)."""


@dataclasses.dataclass(frozen=True)
class Config:
    """NoisyNet-DQN settings. Sizes count env steps of ONE agent unless they say otherwise."""

    env: str = "LunarLander-v3"
    """Env id with a Discrete action space: a gymnasium id (or module:Id) runs on the host loop;
    gymnax:<name> (e.g. gymnax:Breakout-MinAtar, gymnax:DeepSea-bsuite?size=20) and
    envpool:<name> run on the jitted engine (docs/engine.md)."""
    total_steps: int = 250_000
    """Env steps per agent; the run stops there."""
    stop_when_solved: bool = False
    """Stop as soon as every agent's last-100 mean return reaches the solve threshold."""
    solve_threshold: float | None = None
    """Mean return over the last solve_window episodes that counts as solved; None means the env's
    reward_threshold."""
    solve_window: int = 100
    """Episodes in the solve test's moving average (gymnasium's definition: 100). The logs' and
    summaries' last-100 columns stay 100 episodes whatever this is."""

    noisy: bool = True
    """Noisy layers everywhere (NoisyNet-DQN); False gives the epsilon-greedy DQN baseline."""
    factorised: bool = True
    """Factorised Gaussian noise (the paper's choice for DQN); False: independent noise."""
    sigma0: float = 0.25
    """Factorised sigma initialisation sigma0/sqrt(fan_in) (paper: 0.5; docs/tuning.md)."""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """Widths of the hidden layers."""
    dueling: bool = False
    """Dueling head (value + advantage streams)."""
    double_q: Annotated[bool, tyro.conf.arg(aliases=("--double",))] = True
    """Double Q-learning: the online net (its own noise) selects the next action."""
    distributional: bool = False
    """C51 head (Bellemare et al. 2017): a categorical return distribution per action on
    num_atoms atoms from v_min to v_max, trained by cross-entropy to the projected target."""
    num_atoms: int = 51
    """C51: atoms of the support (at least 2)."""
    v_min: float = -300.0
    """C51: lowest atom. LunarLander-v3's episode returns lie within about [-300, 300] (a crash
    scores -100 plus shaping, a landing 200-300), and a discounted return lies inside them."""
    v_max: float = 300.0
    """C51: highest atom (above v_min)."""

    learning_rate: float = 2e-3
    """Adam step size at the first update."""
    learning_rate_end_fraction: float = 0.1
    """The step size decays linearly from learning_rate at the first update to this fraction of
    it at total_steps (docs/tuning.md); 1 means a constant learning_rate."""
    adam_eps: float = 1e-8
    """Adam epsilon."""
    max_grad_norm: float | None = 10.0
    """Clip gradients to this global norm; None means no clipping."""
    loss: Loss = "mse"
    """TD loss: mse (squared TD error; docs/tuning.md) or huber (DQN's clipped error)."""
    huber_delta: float = 1.0
    """Huber loss: quadratic for |TD error| <= delta, linear beyond (DQN's error clipping is 1)."""
    gamma: float = 0.99
    """Discount factor."""
    batch_size: int = 128
    """Transitions per update."""
    buffer_size: int = 30_000
    """Replay capacity per agent (docs/tuning.md: a small buffer forgets the early crashes)."""
    warmup_steps: int = 5_000
    """Uniform random actions, no updates, for this many env steps first."""
    train_freq: int = 2
    """One update every this many env steps."""
    target_update_period: int = 1
    """Sync the target every this many updates (hard copy when target_tau is 1)."""
    target_tau: float = 0.01
    """Target sync: target <- tau * online + (1 - tau) * target (1.0 = hard copy)."""
    per: bool = False
    """Proportional prioritised replay (Schaul et al. 2016) instead of uniform sampling."""
    per_alpha: float = 0.5
    """PER: sampling probability proportional to priority^alpha (0 = uniform)."""
    per_beta0: float = 0.4
    """PER: importance-sampling exponent at the first update, annealed linearly to 1 at
    total_steps."""
    per_eps: float = 1e-6
    """PER: priority = |TD error| + per_eps, so that no stored transition becomes unsampleable."""
    n_step: int = 3
    """Bootstrap from the n-th next state with gamma^n after n discounted rewards (1 = plain TD);
    cut at termination (no bootstrap) and truncation (bootstrap), never across episodes."""

    epsilon_start: float = 1.0
    """Epsilon-greedy baseline only: epsilon at env step 0 of the linear decay (the decay counts
    from step 0, warm-up included, as SB3 does; epsilon is 1 during warm-up; noisy nets act
    with epsilon 0)."""
    epsilon_end: float = 0.05
    """Epsilon-greedy baseline only: final epsilon."""
    epsilon_fraction: float = 0.1
    """Epsilon-greedy baseline only: fraction of total_steps over which epsilon decays linearly."""

    eval_episodes: int = 100
    """Evaluation episodes at the end of training (fresh seeds, distinct from training); at most
    1,000,000 (every return is held in memory)."""
    eval_policy: EvalPolicy = "mean"
    """Evaluation policy: mean weights, fresh noise every step, or one noise draw per episode."""
    eval_every: int = 0
    """Evaluate every agent every this many env steps while training (a multiple of log_every;
    0: never), on eval_every_episodes episodes of their own (neither training's nor the final
    evaluation's) with eval_policy. Each result is a row of the agent's evals.csv; the parameters
    of each agent's best one are kept in checkpoints/best.npz (experiments.evaluate --checkpoint
    best)."""
    eval_every_episodes: int = 10
    """Episodes of each periodic evaluation (eval_every); at most 1,000,000."""
    log_every: int = 1_000
    """Write training metrics every this many env steps."""
    checkpoint_every: int = 50_000
    """Write a checkpoint every this many env steps (and always at the end or on Ctrl-C)."""
    agent_axis: AgentAxis = "map"
    """Agent-axis strategy: 'map' is bitwise equal to a single run; 'vmap' may differ by ulps."""
    cpu_cores: CpuCores = "one"
    """CPU cores of the run's process, applied by the entry points (``experiments.lunar`` and
    ``experiments.sweep``) before JAX starts: 'one' pins the process to one core (fastest for one
    agent on a small CPU); 'all' lets XLA use every core (faster for wide sweeps). Results are
    bitwise reproducible between runs with the same setting. ``nj.train`` ignores it: in a
    notebook the process, and JAX's threads in it, already run where the OS put them."""

    def __post_init__(self) -> None:
        validate(self)


def _fail(field: str, value, need: str) -> None:
    raise ValueError(f"{field}={value!r} is invalid: {need}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate(c: Config) -> None:
    """Raise ``ValueError`` naming the first invalid field and the valid range."""
    for name in INT_FIELDS:
        value = getattr(c, name)
        low = 0 if name in ("warmup_steps", "eval_every") else 1  # zero is a valid choice of these
        if not _is_int(value) or value < low:
            _fail(name, value, "must be a non-negative integer" if low == 0 else "must be a positive integer")
        high, why = _INT_LIMITS.get(name, (INT32_MAX, "int32 step counters"))
        if value > high:
            _fail(name, value, f"must be at most {high} ({why})")
    if not isinstance(c.hidden_sizes, (tuple, list)) or not c.hidden_sizes or not all(
        _is_int(h) and h > 0 for h in c.hidden_sizes
    ):
        _fail("hidden_sizes", c.hidden_sizes, "must be one or more positive integers")
    if max(c.hidden_sizes) > INT32_MAX:
        _fail("hidden_sizes", c.hidden_sizes, f"each must be at most {INT32_MAX} (int32 array sizes)")
    for name in FLOAT_FIELDS:
        # inf and nan mean nothing for any of these (None, where allowed, means "no value"); nan
        # slips through "not x > 0"-style checks, and inf passes them.
        value = getattr(c, name)
        if value is None and name in OPTIONAL_FLOAT_FIELDS:
            continue
        none = ", or None" if name in OPTIONAL_FLOAT_FIELDS else ""
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            _fail(name, value, f"must be a number{none}")
        if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
            need = f"must be a finite number within float32 range (|x| <= {FLOAT32_MAX:.3g}){none}"
            _fail(name, value, need)
    for name in ["learning_rate", "adam_eps", "huber_delta"]:
        if not getattr(c, name) > 0:
            _fail(name, getattr(c, name), "must be > 0")
    if c.sigma0 < 0:
        _fail("sigma0", c.sigma0, "must be >= 0")
    if c.max_grad_norm is not None and not c.max_grad_norm > 0:
        _fail("max_grad_norm", c.max_grad_norm, "must be > 0, or None for no clipping")
    if not 0.0 <= c.gamma <= 1.0:
        _fail("gamma", c.gamma, "must be in [0, 1]")
    if not 0.0 < c.target_tau <= 1.0:
        _fail("target_tau", c.target_tau, "must be in (0, 1]")
    if not c.per_eps > 0:
        _fail("per_eps", c.per_eps, "must be > 0")
    for name in [
        "epsilon_start", "epsilon_end", "epsilon_fraction", "per_alpha", "per_beta0",
        "learning_rate_end_fraction",
    ]:
        if not 0.0 <= getattr(c, name) <= 1.0:
            _fail(name, getattr(c, name), "must be in [0, 1]")
    if c.num_atoms < 2:
        _fail("num_atoms", c.num_atoms, "must be at least 2 (a support needs two ends)")
    if not c.v_min < c.v_max:
        _fail("v_min", c.v_min, f"must be below v_max={c.v_max}")
    if c.eval_every % c.log_every:
        _fail("eval_every", c.eval_every, f"must be a multiple of log_every={c.log_every} (or 0: never)")
    if c.n_step >= c.buffer_size:
        _fail("n_step", c.n_step, f"must be smaller than buffer_size={c.buffer_size}")
    if c.batch_size > c.buffer_size:
        _fail("batch_size", c.batch_size, f"must not exceed buffer_size={c.buffer_size}")
    choices_of = {"loss": Loss, "eval_policy": EvalPolicy, "agent_axis": AgentAxis, "cpu_cores": CpuCores}
    for name, kind in choices_of.items():
        choices = get_args(kind)
        if getattr(c, name) not in choices:
            _fail(name, getattr(c, name), "must be one of " + ", ".join(repr(x) for x in choices))


# The fields each check of ``validate`` covers, read off Config's annotations (one source of truth:
# a new field is checked by its type without being listed here).
_HINTS = get_type_hints(Config)
INT_FIELDS: tuple[str, ...] = tuple(n for n, t in _HINTS.items() if t is int)
FLOAT_FIELDS: tuple[str, ...] = tuple(n for n, t in _HINTS.items() if t in (float, float | None))
OPTIONAL_FLOAT_FIELDS: tuple[str, ...] = tuple(n for n, t in _HINTS.items() if t == float | None)
_INT_LIMITS: dict[str, tuple[int, str]] = {
    "batch_size": (INT32_MAX, "int32 replay indices"),
    "buffer_size": (INT32_MAX, "int32 replay indices"),
    "eval_episodes": (MAX_EVAL_EPISODES, "evaluation holds every return in memory"),
    "eval_every_episodes": (MAX_EVAL_EPISODES, "evaluation holds every return in memory"),
    "solve_window": (MAX_EVAL_EPISODES, "the jitted engine keeps the last solve_window returns per agent"),
}
"""Int fields whose upper limit, or its reason, is not that of the int32 step counters."""


PRESETS: dict[str, dict] = {
    "none": {},
    "rainbow-lite": dict(noisy=True, double_q=True, dueling=True, per=True, n_step=3),
    "rainbow": dict(noisy=True, double_q=True, dueling=True, per=True, n_step=3, distributional=True),
}
"""The settings of each ``PresetName`` (``--preset NAME``); flags given with a preset override
its values."""
assert tuple(PRESETS) == PRESET_NAMES, "PRESETS must define every PresetName, in order"


def preset_config(name: str | None) -> Config:
    """``Config`` with the preset's values (None or "none": the plain defaults)."""
    if name is None:
        return Config()
    if name not in PRESETS:
        raise ValueError(f"preset={name!r} is invalid: choose one of {', '.join(PRESET_NAMES)}")
    return Config(**PRESETS[name])
