"""Fixtures of the DAG suite: the Airflow harness, the emulator, real SMTP/HTTP receivers, and a
clean `world` per test. How the harness works is described in `support/airflow_harness.py`."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from support.airflow_harness import (
    AIRFLOW_PASSWORD,
    AIRFLOW_USER,
    DAGS_FOLDER,
    TEMPLATE,
    Harness,
    World,
    airflow_base_env,
    ensure_template,
)
from support.database import PostgresForTests
from support.emulator_admin import AdminClient
from support.receivers import HttpReceiver
from support.servers import serve_asgi

from driveguard.config import GOOGLE_API_POOL, Settings


@pytest.fixture(scope="session")
def harness(
    pg_server: PostgresForTests, dag_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    home = tmp_path_factory.mktemp("airflow_home")
    ensure_template(pg_server, home)
    database = pg_server.create_database("airflow_test", template=TEMPLATE)
    url = pg_server.url_for(database)
    env = {**dag_env, **airflow_base_env(home, url)}
    (home / "passwords.json").write_text(json.dumps({AIRFLOW_USER: AIRFLOW_PASSWORD}))
    settings_module = sys.modules.get("airflow.settings")
    if settings_module is not None and getattr(settings_module, "SQL_ALCHEMY_CONN", None) != url:
        raise RuntimeError("airflow was imported before the DAG harness configured it; import airflow lazily")
    saved = {key: os.environ.get(key) for key in env}
    root_handlers, root_level = logging.root.handlers[:], logging.root.level
    os.environ.update(env)
    try:
        from airflow.dag_processing.dagbag import BundleDagBag
        from airflow.models.pool import Pool

        Pool.create_or_update_pool(
            GOOGLE_API_POOL, slots=4, description="Driveguard: tasks that call Google", include_deferred=False
        )
        bag = BundleDagBag(dag_folder=str(DAGS_FOLDER), bundle_path=DAGS_FOLDER)
        assert not bag.import_errors, bag.import_errors
        harness = Harness(url, env, bag)
        yield harness
        print(f"\nDAG run wall times (s): {harness.timings}")
    finally:
        from airflow import settings as airflow_settings

        airflow_settings.dispose_orm()
        # Airflow pointed the root logger at pytest's capture streams; later atexit logging
        # (the embedded PostgreSQL helper) must not write into closed files.
        logging.root.handlers[:] = root_handlers
        logging.root.setLevel(root_level)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        pg_server.drop_database(database)


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
