"""SIGTERM, as a scheduler, `kill` or a parent stopping its workers sends it, unwinds a process the way
Ctrl-C does: `finally` blocks run, so the policy servers and runs it started stop with it, and a
training under way saves its step first (`policy_server.interrupt`)."""

from __future__ import annotations

import signal
import sys
from typing import Any

TERMINATED = 143  # 128 + SIGTERM: the exit status a shell reports for a process SIGTERM ended


def unwind_on_sigterm() -> Any:
    """From now on SIGTERM raises SystemExit(TERMINATED) in the main thread; returns the previous handler."""
    return signal.signal(signal.SIGTERM, lambda *_: sys.exit(TERMINATED))
