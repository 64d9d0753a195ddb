"""Alembic wiring used by `driveguard db …`, `make run`, the health check and the tests.

The same migration scripts serve `litestar database upgrade` through advanced-alchemy's plugin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"


def alembic_config(engine: Engine | None = None, *, vault: Any = None) -> Config:
    """`vault` (a `driveguard.identity.vault.Vault`) seals or opens stored secrets in data migrations
    (0007); without it they build one from the settings, and only when a row needs it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    if vault is not None:
        config.attributes["vault"] = vault
    return config


def upgrade(engine: Engine, revision: str = "head", *, vault: Any = None) -> None:
    command.upgrade(alembic_config(engine, vault=vault), revision)


def downgrade(engine: Engine, revision: str, *, vault: Any = None) -> None:
    command.downgrade(alembic_config(engine, vault=vault), revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
