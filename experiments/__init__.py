"""The entry points (``python -m experiments.<name>``)."""

import os
import signal
import sys


def _interrupted_during_start_up(signum, frame):  # noqa: ARG001
    # Nothing is written before main() runs (it then takes over the signals), so leave at once.
    os.write(2, b"interrupted during start-up; nothing was written\n")
    os._exit(130)


# While ``python -m experiments.X`` imports its modules (JAX takes seconds), sys.argv[0] is
# still "-m": a Ctrl-C then ends the process quietly instead of printing an import traceback.
# Importing the package any other way (tests, notebooks) changes no signal handler.
if sys.argv[:1] == ["-m"]:
    for _sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_sig, _interrupted_during_start_up)
