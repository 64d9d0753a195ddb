"""Session-wide fixtures: a real PostgreSQL database (migrated once), settings, the API over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, text
from support.database import PostgresForTests
from support.emulator import GoogleEmulator
from support.servers import serve_asgi

from driveguard.config import Settings, generate_encryption_key, load_settings
from driveguard.db import migrate
from driveguard.db.engine import make_engine
from driveguard.db.models import DefaultBase


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresForTests]:
    server = PostgresForTests()
    yield server
    server.close()


@pytest.fixture(scope="session")
def database_url(pg_server: PostgresForTests) -> Iterator[str]:
    name = pg_server.create_database()
    url = pg_server.url_for(name)
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
    return {
        "DATABASE_URL": database_url,
        "DRIVEGUARD_VAR_DIR": str(tmp_path_factory.mktemp("var")),
        "DRIVEGUARD_ENV": "test",
        "GOOGLE_CLIENT_ID": "driveguard-test.apps.googleusercontent.com",
        "GOOGLE_CLIENT_SECRET": "test-client-secret",
        "GOOGLE_REDIRECT_URI": "http://127.0.0.1:8000/auth/callback",
        "GOOGLE_EMULATOR_URL": "http://127.0.0.1:9",
        "DRIVEGUARD_ENCRYPTION_KEYS": generate_encryption_key("k1"),
        "DRIVEGUARD_SECRET_KEY": "test-secret-key-0123456789abcdef0123456789",
        "SESSION_COOKIE_SECURE": "false",
        "AIRFLOW_API_URL": "http://127.0.0.1:9",
    }


@pytest.fixture(scope="session")
def settings(base_env: dict[str, str]) -> Settings:
    return load_settings(base_env, env_file="/dev/null")


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
