"""Fixtures of the DAG suite: a clean `world` per test (the Airflow harness itself is a session
fixture of tests/conftest.py, shared with the browser tests; how it works: `support/airflow_harness.py`)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from support.airflow_harness import Harness, World, fresh_world
from support.emulator_admin import AdminClient

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
    return fresh_world(clean_db, emu, harness, dag_settings, receivers, monkeypatch.setenv)
