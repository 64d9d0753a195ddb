"""The fuzz suite's API: its own database (migrated here, dropped after), the shared emulator, the
app served by uvicorn over real HTTP, a signed-in person and an admin; and the run's summary line."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from sqlalchemy import Engine, text
from support.database import PostgresForTests
from support.emulator import GoogleEmulator
from support.fuzzing import FUZZ_USER, TALLY, FuzzTarget, password_admin_token
from support.servers import free_port, serve_asgi
from support.signin import ADMIN_EMAIL, deployment_env
from support.storage_seed import GIB, refresh_read_model, set_level, write_snapshots

from api.app import create_app
from api.auth.cookies import CookiePolicy
from driveguard.config import load_settings
from driveguard.db import migrate
from driveguard.db.engine import make_engine
from driveguard.storage.interval import Interval


@pytest.fixture(scope="module")
def fuzz_database(pg_server: PostgresForTests) -> Iterator[tuple[str, Engine]]:
    """A database of its own: what the fuzzer writes (login states, revocations, settings) never
    reaches another test's."""
    name = pg_server.create_database(prefix="dg_fuzz")
    url = pg_server.url_for(name)
    engine = make_engine(url, pool_size=5, pre_ping=False)
    migrate.upgrade(engine)
    yield url, engine
    engine.dispose()
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def fuzz_target(
    google_emulator: GoogleEmulator, fuzz_database: tuple[str, Engine], base_env: dict[str, str]
) -> Iterator[FuzzTarget]:
    database_url, engine = fuzz_database
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # every feature switched on, so every documented option is one the deployment accepts
    workspace = {"GOOGLE_WORKSPACE_ADMIN_EMAIL": ADMIN_EMAIL}
    env = deployment_env({**base_env, "DATABASE_URL": database_url}, google_emulator.url, url, **workspace)
    settings = load_settings(env, env_file="/dev/null")
    google_emulator.reset()
    google_emulator.register_client(f"{url}/auth/callback")
    app = create_app(settings, engine)
    with serve_asgi(app, port=port) as served, httpx.Client(timeout=30) as browser:
        assert served == url
        target = FuzzTarget(
            url=url,
            emulator=google_emulator,
            admin_token=password_admin_token(url),
            browser=browser,
            session_cookie=CookiePolicy.of(app).session_cookie,
        )
        target.user_cookies()  # the person signs in once up front: their account exists from here on
        target.account_id = seed_history(engine, FUZZ_USER)
        yield target
    google_emulator.reset()


def seed_history(engine: Engine, email: str) -> uuid.UUID:
    """A day of hourly usage for the signed-in person's account, so account routes fuzzed with its id
    answer from data (not only 404s)."""
    with engine.begin() as conn:
        account_id = conn.execute(text("SELECT id FROM google_account WHERE email = :e"), {"e": email}).scalar_one()
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    for back in range(24, 0, -1):
        interval = Interval.of(hour - dt.timedelta(hours=back), hour - dt.timedelta(hours=back - 1))
        write_snapshots(engine, interval, [(account_id, (100 - back) * GIB // 10, 15 * GIB)])
    refresh_read_model(engine, interval)
    set_level(engine, account_id, "warning", hour)
    return uuid.UUID(str(account_id))


@pytest.fixture(scope="module")
def api_schema(fuzz_target: FuzzTarget) -> schemathesis.BaseSchema:
    """The app's own OpenAPI document, as served."""
    return schemathesis.openapi.from_url(f"{fuzz_target.url}/api/docs/openapi.json")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and report.nodeid.startswith("tests/fuzz/"):
        TALLY.failures += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY.operations:
        terminalreporter.write_line(TALLY.summary())
