"""The fault suite's fixtures: a clean `world` per scenario (as in tests/dags) and the summary line."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from support.airflow_harness import Harness, World, fresh_world
from support.database import TEST_PG_DIR, RestartablePostgres
from support.emulator_admin import AdminClient
from support.reliability import LEDGER

from driveguard.config import Settings


@pytest.fixture
def world(
    clean_db: Engine,
    emu: AdminClient,
    harness: Harness,
    dag_settings: Settings,
    receivers: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    world = fresh_world(clean_db, emu, harness, dag_settings, receivers, monkeypatch.setenv)
    # The harness retries a task after 1 s, not after minutes: with no wait after an uncertain refresh
    # (answer lost), a retry may refresh again at once. The wait itself is pinned in
    # tests/integration/identity/test_grants_refresh.py.
    monkeypatch.setenv("TOKEN_REFRESH_UNCERTAIN_RETRY_SECONDS", "0")
    LEDGER.scenarios += 1
    return world


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if LEDGER.scenarios:
        terminalreporter.write_line(LEDGER.summary())


@pytest.fixture(scope="session")
def own_postgres() -> Iterator[RestartablePostgres]:
    """The suite's own PostgreSQL, for the scenarios that restart it (the shared test server, which
    also holds Airflow's metadata, is never touched). Under var/ like the shared one: the server runs
    as its own user when tests run as root, and pytest's temporary dirs are closed to it."""
    data_dir = TEST_PG_DIR.parent / f"reliability-postgres-{os.getpid()}"
    server = RestartablePostgres(data_dir)
    try:
        yield server
    finally:
        server.close()
        shutil.rmtree(data_dir, ignore_errors=True)
