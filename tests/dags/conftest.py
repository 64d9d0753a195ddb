"""Fixtures of the DAG suite: a clean `world` per test (the Airflow harness itself is a session
fixture of tests/conftest.py, shared with the browser tests; how it works: `support/airflow_harness.py`)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from support.airflow_harness import Harness, World
from support.emulator_admin import AdminClient
from support.receivers import HttpReceiver

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
    emu.reset(seed="none")
    for receiver in receivers.values():
        receiver.clear()
        if isinstance(receiver, HttpReceiver):
            receiver.fail_next = 0
    for key, value in harness.env.items():  # undo what an earlier test changed
        monkeypatch.setenv(key, value)
    return World(dag_settings, clean_db, emu, harness, receivers)
