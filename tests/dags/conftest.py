"""Fixtures of the DAG suite: a clean `world` per test (the Airflow harness itself is a session
fixture of tests/conftest.py, shared with the browser tests; how it works: `support/airflow_harness.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from support.airflow_harness import Harness, World
from support.emulator_admin import AdminClient
from support.receivers import HttpReceiver
from support.servers import serve_asgi

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


@pytest.fixture(scope="module")
def airflow_api(harness: Harness) -> Iterator[str]:
    """Airflow's own API server app (core API + simple auth manager) on a free port."""
    from airflow.api_fastapi.app import create_app as create_airflow_app
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(harness.bag, "dags-folder", None)
    with serve_asgi(create_airflow_app(apps="core")) as url:
        yield url
