"""Engines and sessions. One sync engine per process: the Google client libraries are synchronous,
so the core is too, and the API calls it from worker threads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from driveguard.config import ConfigError, Settings, get_settings


def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL, or a stop naming it: only the local launcher and the tests start an embedded
    server (and they hand its URL over as DATABASE_URL), so a production process never does."""
    if settings.database.url:
        return settings.database.url
    raise ConfigError(
        [
            "DATABASE_URL is required (postgresql://user:password@host:5432/driveguard); "
            "only `make run` and `make test` start an embedded PostgreSQL"
        ]
    )


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


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A session for reads: it never commits (its transaction ends with the rollback the pool does
    on check-in anyway), so a read is not a write in the database's books either."""
    with session_factory(engine)() as session:
        yield session
