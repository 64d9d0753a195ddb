"""A read is not a write: admin reads are audited, exactly once each, without a COMMIT in the
request that reads. Real HTTP against the API and real PostgreSQL; commits are counted with a
SQLAlchemy `commit` event on the API's engine and attributed to the thread that issued them."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import Engine, create_engine, event, text
from support.clock import FakeClock
from support.servers import serve_asgi
from support.signin import ADMIN_HASH, ADMIN_PASSWORD, ADMIN_USER
from support.storage_seed import add_account

from api.app import create_app
from driveguard.audit import Action, ReadAudit
from driveguard.config import load_settings

NOW = dt.datetime(2031, 3, 15, 12, 0, tzinfo=dt.UTC)
FLUSHER = "read-audit-flusher"


@contextmanager
def commits_by_thread(engine: Engine) -> Iterator[list[str]]:
    """The name of the thread behind every COMMIT on `engine` while the block runs."""
    names: list[str] = []

    def on_commit(conn: object) -> None:
        names.append(threading.current_thread().name)

    event.listen(engine, "commit", on_commit)
    try:
        yield names
    finally:
        event.remove(engine, "commit", on_commit)


def read_audit_rows(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(row._mapping)
            for row in conn.execute(
                text(
                    "SELECT actor, occurred_at, details FROM audit_log "
                    "WHERE action = :action AND details->>'operation' = 'detailed_status' ORDER BY id"
                ),
                {"action": Action.ADMIN_ACTION},
            )
        ]


@pytest.fixture
def settings(base_env: dict[str, str]):  # type: ignore[no-untyped-def]
    return load_settings({**base_env, "DRIVEGUARD_ADMIN_USERS": f"{ADMIN_USER}:{ADMIN_HASH}"}, env_file="/dev/null")


def admin_token(url: str) -> str:
    answer = httpx.post(
        f"{url}/api/auth/token",
        json={"grant_type": "password", "username": ADMIN_USER, "password": ADMIN_PASSWORD},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_a_burst_of_admin_reads_is_fully_audited_without_a_commit_per_read(settings, clean_db: Engine):  # type: ignore[no-untyped-def]
    for n in range(3):
        add_account(clean_db, f"user{n}@alpha.example")
    app = create_app(settings, clean_db, clock=FakeClock(NOW))
    reads = 120
    with serve_asgi(app) as url:
        headers = {"Authorization": f"Bearer {admin_token(url)}"}
        with commits_by_thread(clean_db) as commits, httpx.Client(base_url=url, headers=headers, timeout=30) as admin:

            def read(i: int) -> int:
                answer = admin.get("/api/oauth/detailed-status", params={"limit": 1 + i % 3})
                assert answer.json()["total"] == 3
                return answer.status_code

            with ThreadPoolExecutor(max_workers=8) as pool:
                assert set(pool.map(read, range(reads))) == {200}
        # Every COMMIT during the burst was the flusher's batch, none a request's own.
        assert set(commits) <= {FLUSHER}
        assert len(commits) < reads
    # Shutdown (the lifespan) flushed the rest: one row per read, no more, no fewer.
    rows = read_audit_rows(clean_db)
    assert len(rows) == reads
    assert {row["actor"] for row in rows} == {f"user:{ADMIN_USER}"}
    assert {row["occurred_at"] for row in rows} == {NOW}  # the time of the read, not of the flush
    assert sorted(row["details"]["limit"] for row in rows) == sorted(1 + i % 3 for i in range(reads))


def test_the_buffer_is_bounded_and_keeps_rows_the_database_refused(clean_db: Engine):
    audit = ReadAudit(clean_db, flush_every=3600, batch_rows=1000, capacity=5)
    for i in range(4):
        audit.note(action=Action.ADMIN_ACTION, actor="ops", at=NOW, details={"operation": "detailed_status", "i": i})
    assert audit.pending == 4 and read_audit_rows(clean_db) == []
    # The fifth row reaches capacity: the reader writes the batch itself rather than grow the buffer.
    audit.note(action=Action.ADMIN_ACTION, actor="ops", at=NOW, details={"operation": "detailed_status", "i": 4})
    assert audit.pending == 0
    assert [row["details"]["i"] for row in read_audit_rows(clean_db)] == [0, 1, 2, 3, 4]

    down = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_pre_ping=False)
    unreachable = ReadAudit(down, flush_every=3600)
    unreachable.note(action=Action.ADMIN_ACTION, actor="ops", at=NOW, details={"token": "x", "operation": "o"})
    with pytest.raises(Exception, match="connect"):
        unreachable.flush()
    assert unreachable.pending == 1  # kept for the next attempt, not lost
    unreachable.engine = clean_db  # the database is back
    assert unreachable.flush() == 1
    down.dispose()
