"""Shared glue of the experiment entry points: parsing flags with tyro, turning bad input into
one line on stderr and exit status 2, and the checks before a run folder is resumed.

Exit statuses: 0 done, 2 bad input (or an unusable run folder), 3 a run diverged, 4 a file could
not be written (a full disk), 130 interrupted (Ctrl-C or SIGTERM; the folder can be resumed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import errno
import io
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn, TypeVar

import tyro

T = TypeVar("T")

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_WRITE_FAILED = 4
EXIT_INTERRUPTED = 130
_BOX = re.compile(r"[\u2500-\u257f]")


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with status 2."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def entry(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run an entry point's ``main`` as a command: Ctrl-C or SIGTERM from the first line on
    becomes a stop request (the loop then writes a checkpoint; a second one aborts at once), and
    the run-time failures a user can meet become one line on stderr: a damaged run folder
    (status 2), a full disk or another write error (status 4; the last good checkpoint is kept),
    an abort (status 130)."""
    from noisyjax.run.signals import STOP

    try:
        with STOP:
            return main(argv)
    except KeyboardInterrupt:
        print("interrupted; the last checkpoint is kept: resume with --resume <folder>", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as err:
        what = "disk full" if err.errno in (errno.ENOSPC, errno.EDQUOT) else err.strerror
        where = f" writing {err.filename}" if err.filename else ""
        print(f"error: {what}{where}; the last good checkpoint is kept: free space (or fix the "
              "folder) and resume with --resume <folder>", file=sys.stderr)
        return EXIT_WRITE_FAILED


@contextlib.contextmanager
def refusing() -> Iterator[None]:
    """Turn a damaged or busy run folder met inside the block (a ``RunDirError``, a damaged
    checkpoint or log) into one ``error:`` line and exit status 2."""
    from noisyjax.io.checkpoint import CheckpointError
    from noisyjax.io.csvlog import LogError
    from noisyjax.io.rundir import RunDirError

    try:
        yield
    except (RunDirError, CheckpointError, LogError) as err:
        fail(str(err))


def parse(cls: type[T], args: list[str] | None = None, description: str = "", default: T | None = None) -> T:
    """Parse flags into ``cls`` with tyro; a parse error or a ``ValueError`` raised by a
    constructor (Config validation) becomes one ``error:`` line and exit status 2."""
    args = sys.argv[1:] if args is None else args
    if any(a in ("-h", "--help") for a in args):
        return tyro.cli(cls, args=args, description=description, default=default)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
            return tyro.cli(cls, args=args, description=description, default=default)
    except SystemExit as exit_:
        if exit_.code in (0, None):
            raise
        message = _first_message(captured.getvalue())
        fail(message + _did_you_mean(cls, description, default, message) + " (see --help)")
    except ValueError as err:
        fail(_flag_names(str(err)))


def _did_you_mean(cls: type, description: str, default, message: str) -> str:
    """``"; did you mean --seed?"`` for each unrecognised flag in tyro's ``message`` that is close
    to a real one (the flags of ``cls``'s help text); empty when none is."""
    unknown = re.match(r"Unrecognized options?: (.*)", message)
    if unknown is None:
        return ""
    text = io.StringIO()
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        tyro.cli(cls, args=["--help"], description=description, default=default)
    known = sorted(set(re.findall(r"--[a-z0-9][a-z0-9.-]*", _BOX.sub(" ", text.getvalue()))))
    hints = []
    for flag in (f.strip() for f in unknown.group(1).split(",")):
        close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6) if flag.startswith("--") else []
        if close:
            hints.append(f"did you mean {close[0]} for {flag}?")
    return "; " + "; ".join(hints) if hints else ""


def _first_message(text: str) -> str:
    """The message of tyro's error box: its title is followed by a rule, then the message (which
    tyro may wrap over several lines), then another rule and help hints. Returns the message
    joined into one line (``Error parsing config: gamma=1.5 ...`` -> ``--gamma 1.5 ...``); the
    title alone ("Value error") would not name the problem."""
    blocks: list[str] = []
    current: list[str] = []
    for raw in text.splitlines():
        line = _BOX.sub("", raw).strip()
        if not line or set(line) <= set("-"):  # a rule or blank line ends a block
            if current:
                blocks.append(" ".join(current))
                current = []
        else:
            current.append(line)
    if current:
        blocks.append(" ".join(current))
    blocks = [b for b in blocks if not b.lower().startswith(("for full helptext", "perhaps you meant"))]
    if not blocks:
        return "invalid arguments"
    message = blocks[1] if len(blocks) > 1 else blocks[0]
    prefix = re.match(r"Error parsing config: (.*)", message)
    return _flag_names(prefix.group(1)) if prefix else message


def _flag_names(message: str) -> str:
    """``learning_rate=0 is invalid`` -> ``--learning-rate 0 is invalid``."""
    match = re.match(r"(\w+)=(.*?) is invalid(.*)", message)
    if not match:
        return message
    name, value, rest = match.groups()
    return f"--{name.replace('_', '-')} {value} is invalid{rest}"


def new_run_dir(out: Path | None, prefix: str) -> Path:
    """Create the run folder ``out`` (None: a new ``runs/<prefix>-<UTC time>``); a folder that
    exists and is not empty, or cannot be written, is one ``error:`` line and exit status 2."""
    from noisyjax.io.rundir import RunDirError, create_run_dir, default_run_dir

    path = Path(out) if out is not None else default_run_dir(prefix)
    try:
        return create_run_dir(path)
    except RunDirError as err:
        fail(str(err))


def check_resumable(saved, requested, run_dir: Path, seeds: list[int], what: str = "run") -> str:
    """Check a resume before it starts (one ``error:`` line and exit 2 when refused): the flags
    must not change a saved Config field, ``config.json`` must agree with the checkpoint's own
    record of the run, and a diverged run cannot be resumed. Returns ``"resume"``, ``"restart"``
    (no checkpoint yet: the run stopped during start-up, and starts again from step 0) or
    ``"finished"`` (nothing left to train; the caller refuses, or rebuilds missing plots)."""
    from noisyjax.io.checkpoint import HOST_FILE, latest_checkpoint
    from noisyjax.io.rundir import CHECKPOINT_DIR, CONFIG_FILE, SUMMARY_FILE
    from noisyjax.run.loop import config_record

    for field in dataclasses.fields(saved):
        old, new = getattr(saved, field.name), getattr(requested, field.name)
        if old != new:
            flag = "--" + field.name.replace("_", "-")
            fail(f"{flag} {new} conflicts with the {what}'s {field.name}={old!r}; drop it to resume")
    ckpt = latest_checkpoint(Path(run_dir) / CHECKPOINT_DIR)
    if ckpt is None:
        return "restart"
    try:
        host = json.loads((ckpt / HOST_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        fail(f"{ckpt / HOST_FILE} is damaged ({err}); restore it from a copy")
    record, now = host.get("config"), config_record(saved)
    if record is not None and record != now:  # checkpoints written before the record have none
        changed = ", ".join(f"{k} is {now.get(k)!r}, the checkpoint's {record.get(k)!r}"
                            for k in sorted(set(record) | set(now)) if record.get(k) != now.get(k))
        fail(f"{Path(run_dir) / CONFIG_FILE} was edited after the run started ({changed}); restore it")
    if host.get("seeds") is not None and host["seeds"] != list(seeds):
        fail(f"{Path(run_dir) / CONFIG_FILE} was edited after the run started (seeds); restore it")
    status = _summary_status(Path(run_dir) / SUMMARY_FILE)
    if status == "diverged" and what == "run":
        fail(f"{run_dir} diverged (see its summary.json); start a new run with other settings")
    return "finished" if status == "finished" else "resume"


def _summary_status(path: Path) -> str | None:
    """The ``status`` of a ``summary.json``; None when missing or damaged (resume rebuilds it)."""
    try:
        return json.loads(path.read_text()).get("status")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None


def check_env(config):
    """Check ``config.env`` and the flags its engine supports; returns its ``EnvInfo``. An unknown
    or unusable id, a missing optional extra, or a flag the engine cannot honour is one
    ``error:`` line (exit status 2)."""
    from noisyjax.run.env_ids import backend, describe
    from noisyjax.run.envs import EnvError

    if backend(config.env) == "envpool" and config.cpu_cores == "all":
        fail("--cpu-cores all is not supported with envpool envs (their C++ envs belong to one "
             "process and device); drop it, or use a gymnax: env")
    try:
        return describe(config.env, config.solve_threshold)
    except EnvError as err:
        fail(f"--env {err}")


def check_resume_engine(config) -> None:
    """Refuse ``--resume`` where the env's state cannot be restored (envpool keeps it in C++)."""
    from noisyjax.run.env_ids import backend

    if backend(config.env) == "envpool":
        fail(f"--resume is not supported for {config.env}: envpool keeps its envs' state in C++, "
             "which a checkpoint cannot hold; start a new run (gymnax: and gymnasium envs resume)")


def divergence_hint(config) -> str:
    """The likely cause of a divergence under ``config`` and what to try, in a few words."""
    if config.learning_rate > 1e-2:
        return f"--learning-rate {config.learning_rate:g} is large; try 1e-3 or smaller"
    if config.max_grad_norm is None:
        return "gradients are not clipped; set --max-grad-norm (e.g. 10) or lower --learning-rate"
    return f"try a smaller --learning-rate (now {config.learning_rate:g})"


def _flag_value(argv: list[str], flag: str) -> str | None:
    """The value of the last ``flag VALUE`` or ``flag=VALUE`` in ``argv`` (None if absent)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def config_from_file(path: Path):
    """The ``Config`` of ``--config-file``: a run's ``config.json`` (its ``config`` object; a field
    it lacks takes the value the run trained with), a run folder, or a JSON or YAML file of Config
    fields. Anything else is one ``error:`` line and exit status 2."""
    from noisyjax.config import Config
    from noisyjax.io.rundir import ADDED_FIELDS, CONFIG_FILE

    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_FILE
    try:
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            payload = yaml.safe_load(text)
        else:
            payload = json.loads(text)
    except FileNotFoundError:
        fail(f"--config-file {path}: no such file; give a run's config.json or a YAML file of settings")
    except (OSError, UnicodeDecodeError, ValueError) as err:  # yaml's and json's errors are ValueErrors
        fail(f"--config-file {path} cannot be read ({str(err).splitlines()[0]}); give JSON or YAML")
    if isinstance(payload, dict) and isinstance(payload.get("config"), dict):
        fields = {**ADDED_FIELDS, **payload["config"]}  # a run's config.json
    elif isinstance(payload, dict):
        fields = payload
    else:
        fail(f"--config-file {path} holds no settings (expected a mapping of Config fields)")
    names = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(fields) - names)
    if unknown:
        hint = difflib.get_close_matches(unknown[0], sorted(names), n=1)
        fail(f"--config-file {path} has unknown setting(s) {', '.join(unknown)}"
             + (f"; did you mean {hint[0]}?" if hint else ""))
    if isinstance(fields.get("hidden_sizes"), list):
        fields["hidden_sizes"] = tuple(fields["hidden_sizes"])
    try:
        return Config(**fields)
    except (TypeError, ValueError) as err:
        fail(f"--config-file {path}: " + _flag_names(str(err)))


def preset_default(cls: type[T], argv: list[str]) -> T | None:
    """Default ``cls`` instance for ``--preset NAME`` or ``--config-file FILE`` in ``argv`` (its
    Config holds the preset's or the file's values, which the other flags then override); None
    when neither is given. Both at once are refused."""
    from noisyjax.config import preset_config

    name, file = _flag_value(argv, "--preset"), _flag_value(argv, "--config-file")
    if name is not None and file is not None:
        fail("--preset and --config-file cannot be combined: put the preset's settings in the file")
    if file is not None:
        return cls(config=config_from_file(Path(file)), config_file=Path(file))
    if name is None:
        return None
    try:
        return cls(config=preset_config(name), preset=name)
    except ValueError as err:
        fail(_flag_names(str(err)))


def request_devices(config) -> None:
    """For ``config.cpu_cores == 'all'`` ask XLA for one CPU device per allowed core, so that a
    sweep's agents are split across cores (``noisyjax.run.devices``). Call it before the first JAX
    computation; later it changes nothing."""
    from noisyjax.run import cpu
    from noisyjax.run.devices import use_cpu_devices

    if config.cpu_cores == "all":
        use_cpu_devices(len(cpu.allowed_cores()))


def apply_cpu_cores(config, quiet: bool) -> None:
    """``request_devices`` then ``pin_cores``: the whole ``config.cpu_cores`` setting, for an
    entry point that has not run JAX yet."""
    request_devices(config)
    pin_cores(config, quiet)


def pin_cores(config, quiet: bool) -> None:
    """Apply ``config.cpu_cores`` to this process (see ``noisyjax.run.cpu``) and say so."""
    from noisyjax.run import cpu

    core = cpu.apply(config.cpu_cores)
    if core is not None and not quiet:
        print(f"pinned to CPU core {core} (--cpu-cores all lets it use every core)", file=sys.stderr)
