"""Engines and sessions. One sync engine per process: the Google client libraries are synchronous,
so the core is too, and the API calls it from worker threads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from driveguard.config import Settings, get_settings
from driveguard.db import embedded

APP_DATABASE = "driveguard"


def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL when given, else the embedded server's `driveguard` database (started on demand)."""
    if settings.database.url:
        return settings.database.url
    server_url = embedded.start(settings.database.embedded_dir)
    embedded.ensure_database(server_url, APP_DATABASE)
    return embedded.with_database(server_url, APP_DATABASE)


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"application_name": "driveguard"},
    )


@lru_cache(maxsize=4)
def _engine_for(url: str, pool_size: int) -> Engine:
    return make_engine(url, pool_size=pool_size)


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database."""
    settings = settings or get_settings()
    return _engine_for(resolve_database_url(settings), settings.database.pool_size)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    with session_factory(engine).begin() as session:
        yield session
