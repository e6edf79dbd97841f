"""Ctrl-C (SIGINT) and SIGTERM as a request to stop, checked by the loop between steps, so the
state is consistent when the loop writes its checkpoint. A second signal aborts at once
(``KeyboardInterrupt``).

The request is one flag per process: an entry point catches signals from its first line on (so
a Ctrl-C during start-up or compilation is not lost, and raises no traceback), and the loop it
calls joins the same flag rather than installing its own.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Whether a stop was requested; ``with`` installs the handlers (nested uses share them)."""

    def __init__(self) -> None:
        self.stop = False
        self._depth = 0
        self._previous: dict = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop:  # the second signal: abort at once
            raise KeyboardInterrupt
        self.stop = True

    def __enter__(self) -> StopRequest:
        if self._depth == 0:
            self.stop = False
            if threading.current_thread() is threading.main_thread():
                for sig in _SIGNALS:
                    self._previous[sig] = signal.signal(sig, self._handle)
        self._depth += 1
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0:
            for sig, previous in self._previous.items():
                signal.signal(sig, previous)
            self._previous = {}


STOP = StopRequest()
"""The process's stop request (use ``with STOP:``)."""
