"""One transaction and no extra round trips per authenticated request: `/api/oauth/status` (and
`/api/storage/me`) with a
session does its lookup, the throttled activity touch and the status read on one pooled
connection in one transaction, with no pre-ping; a PostgreSQL that dropped the connections costs
one retryable 503, not a broken API. Real HTTP and PostgreSQL; SQLAlchemy events count the work."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import Engine, event, text
from support.clock import FakeClock
from support.servers import serve_asgi
from support.storage_seed import add_account, session_token

from api.app import create_app
from driveguard.config import Settings
from driveguard.db.engine import make_engine

NOW = dt.datetime(2031, 3, 15, 12, 0, tzinfo=dt.UTC)


@dataclass
class Counts:
    checkouts: int = 0
    begins: int = 0
    commits: int = 0
    rollbacks: int = 0
    statements: list[str] = field(default_factory=list)
    backend_pids: set[int] = field(default_factory=set)

    def reset(self) -> None:
        self.checkouts = self.begins = self.commits = self.rollbacks = 0
        self.statements = []


@pytest.fixture
def api_engine(database_url: str, clean_db: Engine) -> Iterator[tuple[Engine, Counts]]:
    """The API's engine as production builds it (no pre-ping), with every unit of work counted."""
    engine = make_engine(database_url, pool_size=4, pre_ping=False)
    counts = Counts()
    event.listen(engine, "connect", lambda dbapi, _record: counts.backend_pids.add(dbapi.info.backend_pid))
    event.listen(engine, "checkout", lambda *_: setattr(counts, "checkouts", counts.checkouts + 1))
    event.listen(engine, "begin", lambda _conn: setattr(counts, "begins", counts.begins + 1))
    event.listen(engine, "commit", lambda _conn: setattr(counts, "commits", counts.commits + 1))
    event.listen(engine, "rollback", lambda _conn: setattr(counts, "rollbacks", counts.rollbacks + 1))
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_: counts.statements.append(sql.split()[0]))
    yield engine, counts
    engine.dispose()


@dataclass
class Api:
    url: str
    clock: FakeClock
    counts: Counts
    token: str

    def status(self) -> httpx.Response:
        self.counts.reset()
        return httpx.get(f"{self.url}/api/oauth/status", cookies={"dg_session": self.token}, timeout=30)


@pytest.fixture
def api(settings: Settings, clean_db: Engine, api_engine: tuple[Engine, Counts]) -> Iterator[Api]:
    engine, counts = api_engine
    clock = FakeClock(NOW)
    account = add_account(clean_db, "ann@alpha.example")
    token = session_token(settings, clean_db, account, clock)
    with serve_asgi(create_app(settings, engine, clock=clock)) as url:
        yield Api(url, clock, counts, token)
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]  # every request gave its connection back


def last_activity(engine: Engine) -> dt.datetime:
    with engine.connect() as conn:
        return conn.execute(text("SELECT last_activity_at FROM user_session")).scalar_one()


def test_status_is_one_transaction_on_one_connection(api: Api, clean_db: Engine):
    answer = api.status()
    assert answer.status_code == 200, answer.text
    assert answer.json()["account"]["email"] == "ann@alpha.example"
    # Session lookup, the account, its live sessions: three statements, one checkout, one
    # transaction, no ping and no activity write (the session was used less than a minute ago).
    assert (api.counts.checkouts, api.counts.begins, api.counts.commits) == (1, 1, 1)
    assert api.counts.statements == ["SELECT", "SELECT", "SELECT"]

    api.clock.advance(minutes=5)
    answer = api.status()
    assert answer.status_code == 200, answer.text
    # The throttled activity touch joins the same transaction, and commits with it.
    assert (api.counts.checkouts, api.counts.begins, api.counts.commits) == (1, 1, 1)
    assert sorted(api.counts.statements) == ["SELECT", "SELECT", "SELECT", "UPDATE"]
    assert last_activity(clean_db) == NOW + dt.timedelta(minutes=5)


def test_me_is_one_transaction_on_one_connection(api: Api, clean_db: Engine):
    api.clock.advance(minutes=5)  # so the throttled activity touch is due and joins the transaction
    api.counts.reset()
    me = httpx.get(f"{api.url}/api/storage/me", cookies={"dg_session": api.token}, timeout=30)
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "ann@alpha.example"
    # Session lookup and touch, the account's usage, the settings, the daily and hourly history:
    # one checkout, one transaction that commits the touch, no ping.
    assert (api.counts.checkouts, api.counts.begins, api.counts.commits, api.counts.rollbacks) == (1, 1, 1, 0)
    assert "UPDATE" in api.counts.statements and api.counts.statements.count("SELECT") <= 6
    assert last_activity(clean_db) == NOW + dt.timedelta(minutes=5)


def test_an_unknown_session_and_other_routes_end_their_transaction(api: Api):
    api.counts.reset()
    refused = httpx.get(f"{api.url}/api/oauth/status", cookies={"dg_session": "x" * 43}, timeout=30)
    assert refused.status_code == 401
    assert api.counts.commits + api.counts.rollbacks <= 1 and api.counts.checkouts <= 1
    api.counts.reset()
    me = httpx.get(f"{api.url}/api/storage/me", cookies={"dg_session": api.token}, timeout=30)
    assert me.status_code in (200, 404), me.text
    # (the fixture checks that no connection stayed checked out)


def test_connections_the_server_dropped_cost_one_retryable_503(api: Api, clean_db: Engine):
    assert api.status().status_code == 200
    with clean_db.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM unnest(:pids) AS pid"), {"pids": list(api.counts.backend_pids)}
        )
    dropped = api.status()
    assert dropped.status_code == 503, dropped.text
    assert dropped.headers["content-type"].startswith("application/problem+json")
    assert dropped.headers["retry-after"] == "1"
    again = api.status()
    assert again.status_code == 200, again.text
