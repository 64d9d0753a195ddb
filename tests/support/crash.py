"""Stopping product code the way a killed process stops: no cleanup, no `except Exception` catching it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable


class SimulatedCrash(BaseException):
    """Raised from a test seam (e.g. a dispatcher's `after_send`); a BaseException, so the code under
    test cannot handle it and leaves its rows exactly as a dead process would."""


def kill_when(process: subprocess.Popen[bytes], condition: Callable[[], bool], *, timeout: float = 60.0) -> float:
    """SIGKILL `process` as soon as `condition()` holds (polled with a deadline): no cleanup, no
    `finally`, open transactions cut by PostgreSQL. Returns the seconds it ran; fails if the process
    ended by itself or the condition never held."""
    started = time.monotonic()
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the process ended (exit {process.returncode}) before it could be killed")
        if time.monotonic() - started > timeout:
            process.kill()
            raise AssertionError(f"condition not reached within {timeout}s")
        time.sleep(0.05)  # polling a database between checks, not waiting for an outcome
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    return time.monotonic() - started
