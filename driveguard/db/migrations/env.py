"""Alembic environment: runs on the engine handed over by `driveguard.db.migrate` or, under the
Litestar CLI, on advanced-alchemy's configured engine."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine, pool

from driveguard.db import models

config = context.config
target_metadata = models.DefaultBase.metadata


def _engine() -> Engine:
    engine = config.attributes.get("engine") or getattr(config, "engine", None)
    if engine is not None:
        return engine
    url = getattr(config, "db_url", None) or config.get_main_option("sqlalchemy.url")
    if not url:
        from driveguard.config import get_settings
        from driveguard.db.engine import resolve_database_url

        url = resolve_database_url(get_settings())
    return create_engine(url, poolclass=pool.NullPool)


def run_migrations_offline() -> None:
    context.configure(
        url=getattr(config, "db_url", None) or config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with _engine().connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
