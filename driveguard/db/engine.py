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


def make_engine(url: str, *, pool_size: int = 5, pre_ping: bool = True) -> Engine:
    """`pre_ping=False` is for the API: a ping is a round trip per checkout, i.e. per request. There
    a connection the server dropped (a PostgreSQL restart) fails once with `connection_invalidated`,
    which invalidates the whole pool; the API answers that request 503 (retryable) and the next
    one connects afresh. Short-lived task processes keep the ping. `pool_recycle` retires
    connections before a server's or a proxy's idle timeout does."""
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
        connect_args={"application_name": "driveguard"},
    )


@lru_cache(maxsize=4)
def _engine_for(url: str, pool_size: int, pre_ping: bool) -> Engine:
    return make_engine(url, pool_size=pool_size, pre_ping=pre_ping)


def get_engine(settings: Settings | None = None, *, pre_ping: bool = True) -> Engine:
    """The process-wide engine for the configured database (the API asks for it without pre-ping)."""
    settings = settings or get_settings()
    return _engine_for(resolve_database_url(settings), settings.database.pool_size, pre_ping)


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


class RequestUnit:
    """One request's session, shared by its steps: the session lookup (with its activity touch)
    and the handler's read run in one transaction on one pooled connection. The last step
    commits it (`last_step`); whoever started it makes sure it ends (`finish`)."""

    def __init__(self, engine: Engine) -> None:
        self.session = session_factory(engine)()
        self.open = True

    @contextmanager
    def last_step(self) -> Iterator[Session]:
        """The request's final use of the session: commit on success, roll back on error, close."""
        try:
            yield self.session
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        finally:
            self.close()

    def finish(self) -> None:
        """Commit what the earlier steps did (the activity touch) and close; idempotent."""
        if not self.open:
            return
        try:
            self.session.commit()
        finally:
            self.close()

    def close(self) -> None:
        if self.open:
            self.open = False
            self.session.close()
