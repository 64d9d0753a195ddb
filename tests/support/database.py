"""Real PostgreSQL for tests: TEST_DATABASE_URL's server when given, else the embedded one.

Every test session gets its own freshly created database, so parallel runs never collide.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import Engine, text

from driveguard.config import PROJECT_ROOT, _normalise_database_url
from launcher import embedded

TEST_PG_DIR = Path(os.environ.get("DRIVEGUARD_TEST_PG_DIR", PROJECT_ROOT / "var" / "test-postgres"))


class PostgresForTests:
    """A PostgreSQL server the tests may create and drop databases on."""

    def __init__(self) -> None:
        given = os.environ.get("TEST_DATABASE_URL")
        self.started_here = False
        if given:
            self.url = _normalise_database_url(given)
        else:
            self.started_here = not embedded.is_running(TEST_PG_DIR) if (TEST_PG_DIR / "PG_VERSION").exists() else True
            self.url = embedded.start(TEST_PG_DIR)

    def create_database(self, prefix: str = "dg_test", template: str | None = None) -> str:
        name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
        embedded.ensure_database(self.url, name, template=template)
        return name

    def url_for(self, database: str) -> str:
        return embedded.with_database(self.url, database)

    def drop_database(self, database: str) -> None:
        embedded.drop_database(self.url, database)

    def close(self) -> None:
        """Stop the embedded server only if this session started it and no other session uses it."""
        if self.started_here and not os.environ.get("TEST_DATABASE_URL") and not _other_test_databases(self.url):
            embedded.stop(TEST_PG_DIR)


def _other_test_databases(server_url: str) -> bool:
    import psycopg

    with psycopg.connect(embedded.libpq_url(embedded.with_database(server_url, "postgres"))) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'dg_%%'").fetchone()
    return bool(row and row[0])


def backends_waiting_for_a_lock(engine: Engine) -> int:
    """Connections of this test database queued on a lock: concurrency tests poll it (with a deadline)
    until every caller waits, so their threads are in step without sleeping."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


class RestartablePostgres:
    """An embedded PostgreSQL of a suite's own (its own data dir and socket), migrated, that a test
    may stop and start again mid-run without hurting the other tests' server."""

    def __init__(self, data_dir: Path, database: str = "dg_reliability") -> None:
        from driveguard.db import migrate
        from driveguard.db.engine import make_engine

        self.data_dir = data_dir
        self.url = embedded.with_database(embedded.start(data_dir), database)
        embedded.ensure_database(self.url, database)
        self.engine = make_engine(self.url, pool_size=8)
        migrate.upgrade(self.engine)
        self.restarts = 0

    def running(self) -> bool:
        return embedded.is_running(self.data_dir)

    def stop(self) -> None:
        """Fast shutdown: every open connection is cut, as in a restart or a failover."""
        embedded.stop(self.data_dir)

    def start(self) -> None:
        """Start again on the same data dir and socket (the wheel's server object restarts it)."""
        embedded._server(self.data_dir).ensure_postgres_running()
        self.restarts += 1

    def truncate(self) -> None:
        from driveguard.db.models import DefaultBase

        tables = ", ".join(t.name for t in DefaultBase.metadata.sorted_tables)
        with self.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))

    def close(self) -> None:
        self.engine.dispose()
        embedded.stop(self.data_dir)
