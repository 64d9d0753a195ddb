"""System tests: a failed test keeps its run directory (var, logs), so the hook records each phase's outcome;
the embedded server's lock directory (XDG_RUNTIME_DIR) is the project's var/, as for the other tests,
not the first test's run directory, which is deleted when that test passes."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.servers import free_port

from driveguard.config import PROJECT_ROOT

os.environ.setdefault("XDG_RUNTIME_DIR", str(PROJECT_ROOT / "var"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def run_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """Var directory and logs of one test, outside pytest's tmp_path (other pytest sessions on the machine
    prune old tmp_path trees and reset /tmp/pytest-of-<user> to 0700, which would pull the embedded
    server's directory out from under it: it runs as its own user) and on a short path wherever the
    checkout lives: the server's Unix socket path must stay under 108 bytes. Kept when the test
    failed, for its logs (named in the failure)."""
    root = Path(tempfile.gettempdir()) / "driveguard-system-tests"
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    yield path
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.passed:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def stack_env(run_dir: Path) -> dict[str, str]:
    """The environment of one launcher start: its own var directory and free ports, nothing inherited
    that would point it at another installation."""
    api, airflow, emulator = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "GOOGLE_", "DRIVEGUARD_", "DATABASE"))}
    env.update(
        {
            "DRIVEGUARD_VAR_DIR": str(run_dir / "var"),
            "DRIVEGUARD_ENV_FILE": str(run_dir / "absent.env"),
            "API_PORT": str(api),
            "API_PUBLIC_URL": f"http://127.0.0.1:{api}",
            "GOOGLE_REDIRECT_URI": f"http://127.0.0.1:{api}/auth/callback",
            "AIRFLOW_API_URL": f"http://127.0.0.1:{airflow}",
            "GOOGLE_EMULATOR_URL": f"http://127.0.0.1:{emulator}",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        }
    )
    return env
