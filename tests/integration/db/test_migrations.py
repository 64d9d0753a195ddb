"""Migrations: one head, models and migrations agree, and stepping down and up keeps existing rows."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from support.database import PostgresForTests

from driveguard.db import migrate
from driveguard.db.engine import make_engine
from driveguard.db.models import DefaultBase


@pytest.fixture
def scratch_engine(pg_server: PostgresForTests) -> Iterator[Engine]:
    name = pg_server.create_database("dg_mig")
    engine = make_engine(pg_server.url_for(name), pool_size=1)
    yield engine
    engine.dispose()
    pg_server.drop_database(name)


def revisions_oldest_first() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_there_is_exactly_one_head():
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_heads()) == 1, script.get_heads()


def test_models_and_migrations_describe_the_same_schema(engine: Engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), DefaultBase.metadata)

    # Partitions of storage_snapshot are created at run time and are not part of the model.
    def on_partition(item: tuple) -> bool:
        obj = item[1]
        table = getattr(obj, "table", obj)
        return item[0] in {"remove_table", "remove_index"} and table.name.startswith("storage_snapshot_")

    diff = [d for d in diff if not on_partition(d)]
    assert diff == []


def seed_rows(engine: Engine) -> dict[str, int]:
    account_id = uuid.uuid4()
    now = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO google_account (id, google_sub, email, refresh_token_ciphertext, token_key_id,"
                " created_at, updated_at) VALUES (:id, 'sub-1', 'a@example.com', '\\x0102', 'k1', :now, :now)"
            ),
            {"id": account_id, "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO user_session (id, account_id, token_hash, expires_at, last_activity_at, created_at,"
                " updated_at) VALUES (:sid, :id, :hash, :later, :now, :now, :now)"
            ),
            {"sid": uuid.uuid4(), "id": account_id, "hash": b"h" * 32, "now": now, "later": now + dt.timedelta(30)},
        )
        for hour in range(24):
            start = now - dt.timedelta(hours=hour + 1)
            conn.execute(
                text(
                    "INSERT INTO storage_snapshot (account_id, interval_start, interval_end, usage_bytes, limit_bytes)"
                    " VALUES (:id, :start, :end, :usage, 16106127360)"
                ),
                {"id": account_id, "start": start, "end": start + dt.timedelta(hours=1), "usage": 1000 + hour},
            )
        conn.execute(text("INSERT INTO audit_log (actor, action) VALUES ('system', 'seed')"))
        conn.execute(text("INSERT INTO monitoring_config (key, value) VALUES ('warning_threshold_percent', '75')"))
    return snapshot_of(engine)


def snapshot_of(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            "accounts": conn.execute(text("SELECT count(*) FROM google_account WHERE email='a@example.com'")).scalar(),
            "sessions": conn.execute(text("SELECT count(*) FROM user_session")).scalar(),
            "snapshot_usage_sum": conn.execute(text("SELECT sum(usage_bytes) FROM storage_snapshot")).scalar(),
            "audit": conn.execute(text("SELECT count(*) FROM audit_log WHERE action='seed'")).scalar(),
            "config": conn.execute(text("SELECT count(*) FROM monitoring_config")).scalar(),
        }


def test_every_step_down_and_up_keeps_existing_rows(scratch_engine: Engine):
    revisions = revisions_oldest_first()
    migrate.upgrade(scratch_engine, revisions[0])
    before = seed_rows(scratch_engine)
    assert before["snapshot_usage_sum"] == sum(1000 + h for h in range(24))

    migrate.upgrade(scratch_engine, "head")
    assert snapshot_of(scratch_engine) == before
    for revision in reversed(revisions[:-1]):
        migrate.downgrade(scratch_engine, revision)
        assert migrate.current_revision(scratch_engine) == revision
        assert snapshot_of(scratch_engine) == before
    migrate.upgrade(scratch_engine, "head")
    assert snapshot_of(scratch_engine) == before
    assert migrate.current_revision(scratch_engine) == migrate.head_revision()


def test_base_to_head_and_back_leaves_nothing_behind(scratch_engine: Engine):
    migrate.upgrade(scratch_engine, "head")
    migrate.downgrade(scratch_engine, "base")
    with scratch_engine.connect() as conn:
        leftover_types = (
            conn.execute(
                text(
                    "SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
                    " WHERE n.nspname = 'public' AND t.typtype = 'e'"
                )
            )
            .scalars()
            .all()
        )
    assert set(inspect(scratch_engine).get_table_names()) <= {"alembic_version"}
    assert leftover_types == []
    migrate.upgrade(scratch_engine, "head")
    with scratch_engine.begin() as conn:  # no default partition: the month is created before the write
        conn.execute(text("SELECT ensure_storage_snapshot_partition('2026-11-20T00:00:00Z')"))
    assert seed_rows(scratch_engine)["accounts"] == 1


def test_snapshot_partitions_are_created_on_demand_per_series(scratch_engine: Engine):
    migrate.upgrade(scratch_engine, "head")
    with scratch_engine.begin() as conn:
        part = conn.execute(text("SELECT ensure_storage_snapshot_partition('2026-11-20T00:00:00Z')")).scalar()
        again = conn.execute(text("SELECT ensure_storage_snapshot_partition('2026-11-01T00:00:00Z', 'raw')")).scalar()
        daily = conn.execute(text("SELECT ensure_storage_snapshot_partition('2026-11-20T00:00:00Z', 'daily')")).scalar()
    seed_rows(scratch_engine)
    with scratch_engine.connect() as conn:
        placement = dict(
            conn.execute(text("SELECT tableoid::regclass::text, count(*) FROM storage_snapshot GROUP BY 1")).all()
        )
    assert (part, again, daily) == ("storage_snapshot_raw_p202611", "storage_snapshot_raw_p202611",
                                    "storage_snapshot_daily_p2026")  # fmt: skip
    assert placement == {"storage_snapshot_raw_p202611": 24}
