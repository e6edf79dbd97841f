"""Shared glue of the experiment entry points: parsing flags with tyro, and turning bad input
into one line on stderr and exit status 2."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from typing import NoReturn, TypeVar

import tyro

T = TypeVar("T")

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
_BOX = re.compile(r"[\u2500-\u257f]")


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with status 2."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


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
        fail(_first_message(captured.getvalue()) + " (see --help)")
    except ValueError as err:
        fail(_flag_names(str(err)))


def _first_message(text: str) -> str:
    lines = [_BOX.sub("", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.lower().startswith("for full helptext")]
    for line in lines:
        if "rror" in line or "nrecognized" in line or "issing" in line or "nvalid" in line:
            return line
    return lines[0] if lines else "invalid arguments"


def _flag_names(message: str) -> str:
    """``learning_rate=0 is invalid`` -> ``--learning-rate 0 is invalid``."""
    match = re.match(r"(\w+)=(.*?) is invalid(.*)", message)
    if not match:
        return message
    name, value, rest = match.groups()
    return f"--{name.replace('_', '-')} {value} is invalid{rest}"
