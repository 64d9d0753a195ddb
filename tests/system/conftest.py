"""System tests: a failed test keeps its run directory (var, logs), so the hook records each phase's outcome;
the embedded server's lock directory (XDG_RUNTIME_DIR) is the project's var/, as for the other tests,
not the first test's run directory, which is deleted when that test passes."""

from __future__ import annotations

import os

import pytest

from driveguard.config import PROJECT_ROOT

os.environ.setdefault("XDG_RUNTIME_DIR", str(PROJECT_ROOT / "var"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
