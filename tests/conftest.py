"""Session-wide fixtures: a real PostgreSQL database (migrated once), settings, the API over HTTP."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from support.airflow_harness import (
    ADMIN_EMAIL,
    AIRFLOW_PASSWORD,
    AIRFLOW_USER,
    CLIENT_ID,
    CLIENT_SECRET,
    DAGS_FOLDER,
    REDIRECT_URI,
    TEMPLATE,
    Harness,
    airflow_base_env,
    ensure_template,
)
from support.database import PostgresForTests
from support.emulator import GoogleEmulator
from support.emulator_admin import AdminClient, serve
from support.receivers import HttpReceiver, SmtpReceiver
from support.servers import serve_asgi
from support.settings import required_env, settings_for

from driveguard.config import GOOGLE_API_POOL, Settings, load_settings
from driveguard.db import migrate
from driveguard.db.engine import make_engine
from driveguard.db.models import DefaultBase
from emulator import Client, EmulatorState
from launcher.airflow_env import ops_connection


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresForTests]:
    server = PostgresForTests()
    yield server
    server.close()


@pytest.fixture(scope="session")
def database_url(pg_server: PostgresForTests) -> Iterator[str]:
    # `make mutate` runs the tests once per mutant: it migrates one template database up front and
    # names it here, so each run clones it (0.2 s) instead of migrating (3 s).
    template = os.environ.get("DRIVEGUARD_TEST_TEMPLATE_DATABASE")
    name = pg_server.create_database(template=template)
    url = pg_server.url_for(name)
    if not template:
        engine = make_engine(url, pool_size=2)
        migrate.upgrade(engine)
        engine.dispose()
    yield url
    pg_server.drop_database(name)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=10)
    yield engine
    engine.dispose()


@pytest.fixture
def clean_db(engine: Engine) -> Iterator[Engine]:
    """Empties every application table before the test, so each test starts from nothing."""
    tables = ", ".join(t.name for t in DefaultBase.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield engine


@pytest.fixture(scope="session")
def base_env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment a test deployment runs with (Google endpoints are added by emulator fixtures)."""
    return required_env(
        DATABASE_URL=database_url,
        DRIVEGUARD_VAR_DIR=str(tmp_path_factory.mktemp("var")),
        GOOGLE_EMULATOR_URL="http://127.0.0.1:9",
        AIRFLOW_API_URL="http://127.0.0.1:9",
    )


@pytest.fixture(scope="session")
def settings(base_env: dict[str, str]) -> Settings:
    return settings_for(base_env)


# ---------------------------------------------------------------------------------------------
# Google emulator (shared). One in-process emulator per test session, served over real HTTP,
# with the test deployment's OAuth client registered. Tests that change its state call
# `google_emulator.reset()` (then `register_client(...)` again for extra redirect URIs).
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def google_emulator(base_env: dict[str, str]) -> Iterator[GoogleEmulator]:
    from emulator import Client, EmulatorState
    from emulator import create_app as create_emulator_app

    client_id, secret = base_env["GOOGLE_CLIENT_ID"], base_env["GOOGLE_CLIENT_SECRET"]
    state = EmulatorState(seed="demo", clients=[Client(client_id, secret, [base_env["GOOGLE_REDIRECT_URI"]])])
    with serve_asgi(create_emulator_app(state)) as url, httpx.Client(base_url=f"{url}/_emulator", timeout=30) as admin:
        yield GoogleEmulator(url=url, admin=admin, state=state, client_id=client_id, client_secret=secret)


# ---------------------------------------------------------------------------------------------
# The pipelines' world: a second emulator (empty seed) driven through its admin API, real SMTP/HTTP
# receivers for apprise, and the environment DAG tasks run with. Shared by the DAG runs and the
# storage and Google integration tests.
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def receivers() -> Iterator[dict[str, Any]]:
    smtp, http, ops = SmtpReceiver().start(), HttpReceiver().start(), HttpReceiver().start()
    yield {"smtp": smtp, "http": http, "ops": ops}
    smtp.stop()
    http.stop()
    ops.stop()


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    state = EmulatorState(seed="none", clients=[Client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])])
    with serve(state) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def emu(emulator_url: str) -> Iterator[AdminClient]:
    admin = AdminClient(emulator_url)
    yield admin
    admin.close()


@pytest.fixture(scope="session")
def dag_env(base_env: dict[str, str], emulator_url: str, receivers: dict[str, Any]) -> dict[str, str]:
    """The environment DAG tasks run with (on top of the suite's base environment)."""
    return {
        **base_env,
        "DRIVEGUARD_ENV_FILE": os.devnull,
        "GOOGLE_CLIENT_ID": CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
        "GOOGLE_REDIRECT_URI": REDIRECT_URI,
        "GOOGLE_EMULATOR_URL": emulator_url,
        "GOOGLE_RATE_LIMIT_PER_MINUTE": "12000",
        "GOOGLE_API_POOL_SLOTS": "1",
        "GOOGLE_BACKOFF_BASE_SECONDS": "0.05",
        "GOOGLE_BACKOFF_MAX_SECONDS": "1",
        "GOOGLE_WORKSPACE_ADMIN_EMAIL": ADMIN_EMAIL,
        "APPRISE_URLS": f"{receivers['smtp'].url()} {receivers['http'].url()}",
        "OPS_APPRISE_URLS": receivers["ops"].url("/ops"),
        "AIRFLOW_CONN_APPRISE_DEFAULT": ops_connection([receivers["ops"].url("/ops")]),
        "NOTIFY_BACKOFF_BASE_SECONDS": "60",
        "NOTIFY_LEASE_SECONDS": "2",
        "BACKFILL_NOT_READY_RETRY_SECONDS": "1",
    }


@pytest.fixture(scope="session")
def dag_settings(dag_env: dict[str, str]) -> Settings:
    return load_settings(dag_env, env_file=os.devnull)


# ---------------------------------------------------------------------------------------------
# Airflow in this process (how it works: support/airflow_harness.py). Session-wide and defined here,
# not in tests/dags, because Airflow is configured once per process: the DAG runs and the browser
# tests' Airflow API must share one harness.
# ---------------------------------------------------------------------------------------------
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


@pytest.fixture(scope="module")
def airflow_api(harness: Harness) -> Iterator[str]:
    """Airflow's own API server app (core API + simple auth manager) on a free port, with the
    harness's DAGs: for the DAG tests that control Airflow through its REST API, and the browser's."""
    from airflow.api_fastapi.app import create_app as create_airflow_app
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(harness.bag, "dags-folder", None)
    with serve_asgi(create_airflow_app(apps="core")) as url:
        yield url
