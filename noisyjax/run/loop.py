"""The host loop: S agents (seeds x hyperparameter values; S = 1 for a single run) step S host
environments in lockstep, with ONE jitted agent step per env step.

``train`` is the library entry point: set up, loop, finish. The parts own their state: the
episode tracker (``noisyjax.run.episodes``), the host envs (``noisyjax.run.envs``) and the CSV hook
(``noisyjax.run.hooks``) each give a ``get_state`` for the checkpoint and take it back on resume;
logging and progress are hooks. Run folders are optional (``RunFiles``), so a notebook can call
``train`` with no I/O at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from noisyjax.agent.agent import Agent
from noisyjax.agent.types import AgentState, Transition, stack_hparams
from noisyjax.config import Config
from noisyjax.io.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from noisyjax.nn.networks import noisy_layer_names
from noisyjax.run.devices import agent_mesh, place
from noisyjax.run.env_ids import is_device_env
from noisyjax.run.envs import EVAL_STREAM, HostEnvs, solve_threshold
from noisyjax.run.episodes import EpisodeTracker
from noisyjax.run.evaluation import evaluate
from noisyjax.run.hooks import CsvLogHook, HistoryHook, Hook, LogPoint, NoStopwatch, ProgressHook, Stopwatch
from noisyjax.run.periodic import BestParams, periodic_evaluation
from noisyjax.run.programs import compile_programs
from noisyjax.run.results import AgentResult, RunFiles, TrainResult, config_record
from noisyjax.run.signals import STOP

__all__ = ["AgentResult", "RunFiles", "TrainResult", "config_record", "drive", "step_loop", "train"]


class _Run:
    """The loop's state: the env step ``t``, the agents, the envs and the episode tracker."""

    def __init__(self, config: Config, seeds: list[int], envs: HostEnvs, agent: Agent, programs, mesh):
        self.config, self.seeds, self.envs, self.agent, self.fns = config, seeds, envs, agent, programs
        self.mesh = mesh
        threshold = solve_threshold(config.env, config.solve_threshold)
        self.tracker = EpisodeTracker(len(seeds), threshold, config.solve_window)
        self.t = 0
        self.wall_before = 0.0  # loop seconds of the earlier parts of a resumed run
        self.t_start = self.t_log = time.perf_counter()
        self.states: AgentState | None = None
        self.obs = self.actions = None
        self.layer_names: list[str] = []
        self.diverged: list[int | None] = [None] * len(seeds)  # env step of divergence per agent
        self.best = BestParams(len(seeds))  # of the periodic evaluations (Config.eval_every)

    def seconds(self) -> float:
        """Training-loop seconds so far, earlier parts of a resumed run included."""
        return self.wall_before + time.perf_counter() - self.t_start

    def begin(self, hparams, files: RunFiles | None) -> list[dict] | None:
        """Fresh agents acting on the envs' first observations, or (``files.resume``) the state of
        the latest checkpoint; returns the CSV line counts that checkpoint had seen (None when
        starting afresh: also a resumed run that stopped before its first checkpoint)."""
        states = self.fns.init(jnp.asarray(self.seeds), hparams)
        self.layer_names = noisy_layer_names(self.agent.param_tree(states.learner.params[0]))
        ckpt = latest_checkpoint(files.checkpoint_dir) if files is not None and files.resume else None
        if ckpt is None:
            self.obs = self.envs.reset()
            self.states, actions = self.fns.act(states, self.obs)
            self.actions = np.asarray(actions)
            return None
        states, host = load_checkpoint(ckpt, states)
        self.set_state(states, host)
        self.best.load(files.checkpoint_dir)
        return host["lines"]

    def get_state(self) -> dict:
        """The host part of a checkpoint (JSON-able): counters, tracker and envs."""
        return {
            **self.counters(), **self.envs.get_state(), "obs": self.obs.tolist(),
            "next_actions": self.actions.tolist(),
        }

    def counters(self) -> dict:
        """What both engines' checkpoints record besides their envs: step, seeds, loop seconds,
        the episode tracker, divergences and the config."""
        return {
            "t": self.t, "seeds": self.seeds, "wall_s": self.seconds(), **self.tracker.get_state(),
            "diverged": self.diverged, "config": config_record(self.config),
        }

    def set_counters(self, host: dict) -> None:
        """Take ``counters``' part of a checkpoint back."""
        self.diverged = list(host.get("diverged", self.diverged))
        for i, at in enumerate(self.diverged):
            if at is not None:
                self.tracker.freeze(i)
        self.t = int(host["t"])
        self.wall_before = float(host.get("wall_s", 0.0))
        self.tracker.set_state(host)

    def set_state(self, states: AgentState, host: dict) -> None:
        self.set_counters(host)
        self.states = place(states, self.mesh)
        self.obs = self.envs.set_state(host)
        if not np.array_equal(self.obs, np.asarray(host["obs"], np.float32)):
            raise RuntimeError("resumed environments do not match the checkpoint's observations")
        self.actions = np.asarray(host["next_actions"], np.int32)

    def env_step(self, hooks: list[Hook], watch: Stopwatch) -> Transition:
        next_obs, reward, terminated, truncated = self.envs.step(self.actions)
        watch.lap("env")
        self.t += 1
        transitions = Transition(self.obs, self.actions, reward, next_obs, terminated, truncated)
        self.tracker.add(reward)
        done = terminated | truncated
        if done.any():
            for i in np.flatnonzero(done):
                ended = self.tracker.end(i, self.t, self.seconds())
                if ended is None:  # a diverged agent: its episodes no longer count
                    continue
                episode, ret, length = ended
                for hook in hooks:
                    hook.episode(i, self.seeds[i], episode, self.t, ret, length)
            watch.lap("bookkeeping")
            self.obs = self.envs.reset_done(done)
            watch.lap("env")
        else:
            self.obs = next_obs
        watch.lap("bookkeeping")
        return transitions

    def agent_step(self, transitions: Transition, watch: Stopwatch) -> None:
        due = self.agent.update_due_at(self.t)
        self.states, actions = self.fns.step[due](self.states, transitions, self.obs)
        if watch.blocking:
            jax.block_until_ready(actions)
            watch.lap("step_update" if due else "step_act")
        self.actions = np.asarray(actions)
        watch.lap("transfer_out")

    def log(self, hooks: list[Hook], log_times: list) -> None:
        now = time.perf_counter()
        sps = self.config.log_every * len(self.seeds) / max(now - self.t_log, 1e-9)
        self.t_log = now
        log_times.append((self.t, now - self.t_start))
        self.states, loss, q, count = self.fns.metrics(self.states)
        count = np.asarray(count)
        self.check_health(hooks, np.asarray(loss), count)
        sigma = np.asarray(self.fns.sigma(self.states))
        point = LogPoint(self.t, np.asarray(loss), np.asarray(q), sigma, self.layer_names, sps, self.tracker,
                         count)
        for hook in hooks:
            hook.log(point)

    def check_health(self, hooks: list[Hook], loss=None, count=None) -> None:
        """Mark every agent whose parameters (or, given ``loss [agents]`` and update ``count``,
        loss since the last log point) are no longer finite as diverged at this env step."""
        ok = np.asarray(self.fns.finite(self.states))
        if loss is not None:
            ok = ok & ((count == 0) | np.isfinite(loss))
        for i in np.flatnonzero(~ok):
            if self.diverged[i] is None:
                self.diverged[i] = self.t
                self.tracker.freeze(i)
                for hook in hooks:
                    hook.diverged(int(i), self.seeds[i], self.t)

    def evaluate(self, i: int, episodes: int | None = None, stream: int = EVAL_STREAM) -> np.ndarray:
        """Evaluate agent ``i`` now on ``episodes`` episodes (None: ``eval_episodes``, the final
        evaluation) of ``stream``: returns ``[episodes]``."""
        c = self.config
        params = self.states.learner.params[i]
        return evaluate(self.agent, params, seed=self.seeds[i], episodes=episodes or c.eval_episodes,
                        policy=c.eval_policy, stream=stream)

    def all_diverged(self) -> bool:
        # stops at the first healthy agent: O(1) per step in a healthy sweep
        return None not in self.diverged

    def done(self) -> bool:
        """Nothing left to train: the budget is spent, every agent solved the task (with
        ``stop_when_solved``), or every agent diverged. Also true of a resumed finished run."""
        c = self.config
        if self.t >= c.total_steps:
            return True
        # the budget first: the common per-step case is one comparison
        return (c.stop_when_solved and self.tracker.all_solved()) or self.all_diverged()

    def checkpoint(self, files: RunFiles | None, hooks: list[Hook]) -> None:
        """Write a checkpoint, unless every agent has diverged: then the last one written (of
        finite states) stays the latest."""
        if files is None:
            return
        self.check_health(hooks)
        if self.all_diverged():
            return
        host = self.get_state()
        for hook in hooks:
            host.update(hook.before_checkpoint())
        save_checkpoint(files.checkpoint_dir, self.checkpoint_tree(), host, files.keep_checkpoints)

    def checkpoint_tree(self):
        """The arrays a checkpoint stores: the agents' states (the jitted engine adds its envs')."""
        return self.states


def step_loop(
    run: _Run, files: RunFiles | None, hooks: list[Hook], watch: Stopwatch, log_times: list,
    advance: Callable[[], None] | None = None,
) -> tuple[bool, float]:
    """Step until the budget, the solve (with ``stop_when_solved``), Ctrl-C or the divergence of
    every agent, then write the last checkpoint (Ctrl-C during it only sets the flag). Returns
    ``(interrupted, loop seconds)``. ``advance``: moves ``run.t`` on (None: one env step of the
    host loop; the jitted engine passes one chunk)."""
    c = run.config
    if advance is None:
        def advance():
            run.agent_step(run.env_step(hooks, watch), watch)

    with STOP as flag:
        interrupted = flag.stop  # Ctrl-C during start-up or compilation
        while not (interrupted or run.done()):
            watch.begin(run.t + 1)
            advance()
            if run.t % c.log_every == 0:
                run.log(hooks, log_times)
                if c.eval_every and run.t % c.eval_every == 0:
                    periodic_evaluation(run, files, hooks)
                    run.t_log = time.perf_counter()  # the next interval's steps/s: training only
                watch.lap("logging")
            if run.t % c.checkpoint_every == 0:
                run.checkpoint(files, hooks)
                watch.lap("checkpoint")
            if flag.stop:
                interrupted = True
                break
        wall = time.perf_counter() - run.t_start
        run.checkpoint(files, hooks)
    return interrupted, wall


def train(
    config: Config,
    seeds: Sequence[int],
    *,
    overrides: Sequence[dict] | None = None,
    files: RunFiles | None = None,
    progress: bool = False,
    evaluate_at_end: bool = True,
    hooks: Sequence[Hook] = (),
    stopwatch: Stopwatch | None = None,
    optimizer: optax.GradientTransformation | None = None,
) -> TrainResult:
    """Train one agent per entry of ``seeds`` in one loop (one jitted step per env step).

    ``overrides``: one dict per agent of swept values (``SWEEPABLE`` fields); None means every
    agent uses the config. ``files``: where to write logs and checkpoints (None: no I/O), and
    whether to resume from its checkpoint. ``hooks``: more ``Hook``s (after the CSV and progress
    ones). ``stopwatch``: times the loop's parts (None: no timing). ``optimizer``: an optax
    transformation every agent uses (None: the default chain from each agent's ``HParams``; see
    ``Agent``). Agent k's run depends only on
    ``seeds[k]``, its overrides and the config, never on the other agents.
    """
    seeds = [int(s) for s in seeds]
    overrides = [dict(o) for o in overrides] if overrides is not None else [{} for _ in seeds]
    if len(overrides) != len(seeds):
        raise ValueError(f"overrides has {len(overrides)} entries for {len(seeds)} seeds")
    if is_device_env(config.env):  # gymnax:/envpool: ids run on the jitted engine
        from noisyjax.run.device_run import train_device

        if stopwatch is not None:
            raise ValueError("stopwatch times the host loop's parts; the jitted engine has none")
        return train_device(config, seeds, overrides=overrides, files=files, progress=progress,
                            evaluate_at_end=evaluate_at_end, hooks=hooks, optimizer=optimizer)
    envs = HostEnvs(config.env, seeds)
    agent = Agent(config, envs.obs_dim, envs.num_actions, optimizer)
    mesh = agent_mesh(len(seeds))  # with several XLA devices each runs its share of the agents
    run = _Run(config, seeds, envs, agent, compile_programs(agent, mesh), mesh)
    watch = stopwatch or NoStopwatch()
    return drive(run, overrides, files, progress, hooks, evaluate_at_end,
                 lambda r, f, h, times: step_loop(r, f, h, watch, times))


def drive(run: _Run, overrides: list[dict], files: RunFiles | None, progress: bool, hooks: Sequence[Hook],
          evaluate_at_end: bool, loop: Callable) -> TrainResult:
    """Both engines' frame around their loop: start or resume ``run``, set up the CSV and
    progress hooks, ``loop(run, files, hooks, log_times) -> (interrupted, seconds)``, close the
    hooks and envs, evaluate, and collect the result."""
    lines = run.begin(stack_hparams(run.config, overrides), files)
    history = HistoryHook(len(run.seeds))
    all_hooks: list[Hook] = [history]
    if files is not None:
        all_hooks.append(CsvLogHook(files.agent_dirs, run.layer_names, lines, run.config.eval_every > 0))
    if progress:
        all_hooks.append(ProgressHook(run.config.total_steps, run.t, len(run.seeds)))
    all_hooks += list(hooks)
    if lines is None:  # a checkpoint at step 0: a run stopped at any moment can be resumed
        run.checkpoint(files, all_hooks)

    start_t, log_times = run.t, []
    run.t_start = run.t_log = time.perf_counter()
    interrupted, wall = loop(run, files, all_hooks, log_times)
    for hook in all_hooks:
        hook.close()
    run.envs.close()
    mesh = run.mesh
    evaluate_now = evaluate_at_end and not interrupted
    return _finish(run, overrides, evaluate_now, history.rows, history.evals, TrainResult(
        agents=[], states=run.states, agent=run.agent, env_steps=run.t, wall_time=wall,
        steps_per_sec=(run.t - start_t) * len(run.seeds) / max(wall, 1e-9), interrupted=interrupted,
        threshold=run.tracker.threshold, devices=1 if mesh is None else mesh.size, log_times=log_times,
        total_wall_time=run.wall_before + wall,
    ))


def _finish(run: _Run, overrides: list[dict], evaluate_now: bool, metrics: list[list[dict]],
            evals: list[list[dict]], result: TrainResult) -> TrainResult:
    """Fill ``result.agents`` from the tracker and the metrics ``history``, with the final
    evaluation when asked for."""
    tr = run.tracker
    for i, seed in enumerate(run.seeds):
        a = AgentResult(
            seed, overrides[i], tr.returns[i], tr.lengths[i], tr.end_steps[i], tr.solved_at[i],
            seconds_to_solve=tr.solved_time[i], diverged_at=run.diverged[i], metrics=metrics[i],
            evals=evals[i], best_eval=run.best.summary(i),
        )
        if evaluate_now and a.diverged_at is None:
            a.eval_returns = run.evaluate(i).tolist()
        result.agents.append(a)
    return result
