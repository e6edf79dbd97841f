"""Ctrl-C (SIGINT) and SIGTERM as a request to stop, checked by the loop between steps, so the
state is consistent when the loop writes its checkpoint. A second signal aborts at once
(``KeyboardInterrupt``).

The request is one flag per process: an entry point catches signals from its first line on (so
a Ctrl-C during start-up or compilation is not lost, and raises no traceback), and the loop it
calls joins the same flag rather than installing its own.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Whether a stop was requested; ``with`` installs the handlers (nested uses share them)."""

    def __init__(self) -> None:
        self.stop = False
        self._depth = 0
        self._previous: dict = {}
        self._previous_hook = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop:  # the second signal: abort at once
            raise KeyboardInterrupt
        self.stop = True

    def _unraisable(self, unraisable) -> None:
        # The abort was raised where Python ignores exceptions (a gc callback such as JAX's, a
        # __del__), which would print a traceback and carry on: signal again in a moment instead,
        # so that it is raised once that code is left.
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and self.stop:
            threading.Timer(0.01, self._signal_again).start()
        else:
            self._previous_hook(unraisable)

    def _signal_again(self) -> None:
        if self._depth > 0 and self.stop:  # not if the abort got out another way meanwhile
            os.kill(os.getpid(), signal.SIGINT)

    def __enter__(self) -> StopRequest:
        if self._depth == 0:
            self.stop = False
            if threading.current_thread() is threading.main_thread():
                for sig in _SIGNALS:
                    self._previous[sig] = signal.signal(sig, self._handle)
                self._previous_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        self._depth += 1
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0:
            for sig, previous in self._previous.items():
                signal.signal(sig, previous)
            self._previous = {}
            if self._previous_hook is not None:
                sys.unraisablehook, self._previous_hook = self._previous_hook, None


STOP = StopRequest()
"""The process's stop request (use ``with STOP:``)."""
