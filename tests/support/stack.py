"""The launcher (`make run`) as the system tests drive it: started as its own session, its log read
until the banner, and the URL of the embedded database it started."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from driveguard.config import PROJECT_ROOT

READY_LINE = "Driveguard is running"


def database_url(env: dict[str, str], database: str = "driveguard") -> str:
    """libpq URL of a database on the embedded server of the stack's var directory (its Unix socket)."""
    return f"postgresql://postgres@/{database}?host={Path(env['DRIVEGUARD_VAR_DIR']) / 'postgres'}"


def start_launcher(env: dict[str, str], log: Path, *, sigint_ignored: bool = False) -> subprocess.Popen[bytes]:
    """`python -m launcher` as its own session; `sigint_ignored` starts it the way a script's background
    job is started: with SIGINT inherited as ignored, so Python installs no KeyboardInterrupt handler."""
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "launcher"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None,
    )


def wait_for_line(proc: subprocess.Popen[bytes], log: Path, line: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if line in text:
            return text
        if proc.poll() is not None:
            pytest.fail(f"launcher exited early ({proc.returncode}):\n{text}")
        time.sleep(0.5)
    pytest.fail(f"launcher not ready in {timeout}s:\n{log.read_text(errors='replace')}")
