"""Migration 0010: the snapshot rows move into the series/range tree and back, with their key,
checks and foreign key; no default partition is left to catch rows."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from support.database import PostgresForTests

from driveguard.db import migrate
from driveguard.db.engine import make_engine

REVISION = "0010_snapshot_partition_tree"
ACCOUNT = uuid.UUID(int=7)


@pytest.fixture
def scratch_engine(pg_server: PostgresForTests) -> Iterator[Engine]:
    name = pg_server.create_database("dg_m10")
    engine = make_engine(pg_server.url_for(name), pool_size=1)
    yield engine
    engine.dispose()
    pg_server.drop_database(name)


def previous_revision() -> str:
    previous = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(REVISION).down_revision
    assert isinstance(previous, str)
    return previous


def rows_by_partition(engine: Engine) -> dict[tuple[str, str, str], int]:
    with engine.connect() as conn:
        return {
            (part, granularity, month): n
            for part, granularity, month, n in conn.execute(
                text(
                    "SELECT tableoid::regclass::text, granularity, "
                    "to_char(interval_start AT TIME ZONE 'UTC', 'YYYY-MM'), count(*) "
                    "FROM storage_snapshot GROUP BY 1, 2, 3"
                )
            )
        }


def all_rows(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text(
                    "SELECT account_id, interval_start, interval_end, collected_at, usage_bytes, usage_in_drive_bytes,"
                    " usage_in_trash_bytes, limit_bytes, source, granularity FROM storage_snapshot ORDER BY 2, 10"
                )
            )
        ]


def insert(engine: Engine, start: dt.datetime, granularity: str, usage: int) -> None:
    width = dt.timedelta(days=1) if granularity == "daily" else dt.timedelta(hours=1)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO storage_snapshot (account_id, interval_start, interval_end, usage_bytes, limit_bytes,"
                " source, granularity) VALUES (:a, :s, :e, :u, 100, :src, :g)"
            ),
            {"a": ACCOUNT, "s": start, "e": start + width, "u": usage, "g": granularity,
             "src": "reports_usage" if granularity == "daily" else "drive_about"},
        )  # fmt: skip


def test_rows_move_into_the_tree_and_back_with_key_checks_and_foreign_key(scratch_engine: Engine):
    migrate.upgrade(scratch_engine, previous_revision())
    with scratch_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO google_account (id, google_sub, email, created_at, updated_at) "
                "VALUES (:id, 'sub-7', 'seven@example.com', now(), now())"
            ),
            {"id": ACCOUNT},
        )
        conn.execute(text("SELECT ensure_storage_snapshot_partition('2025-12-05T00:00Z')"))  # the old monthly one
    midnight = dt.datetime(2025, 12, 5, tzinfo=dt.UTC)
    insert(scratch_engine, midnight, "raw", 10)  # the same midnight in both series: the key keeps both
    insert(scratch_engine, midnight, "daily", 11)
    insert(scratch_engine, dt.datetime(2025, 12, 31, 23, tzinfo=dt.UTC), "raw", 12)
    insert(scratch_engine, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "daily", 13)  # the old default partition
    insert(scratch_engine, dt.datetime(2026, 2, 3, 4, tzinfo=dt.UTC), "raw", 14)
    before = all_rows(scratch_engine)
    assert rows_by_partition(scratch_engine) == {
        ("storage_snapshot_p202512", "raw", "2025-12"): 2,
        ("storage_snapshot_p202512", "daily", "2025-12"): 1,
        ("storage_snapshot_default", "daily", "2026-01"): 1,
        ("storage_snapshot_default", "raw", "2026-02"): 1,
    }

    migrate.upgrade(scratch_engine, REVISION)

    assert all_rows(scratch_engine) == before
    assert rows_by_partition(scratch_engine) == {
        ("storage_snapshot_raw_p202512", "raw", "2025-12"): 2,
        ("storage_snapshot_daily_p2025", "daily", "2025-12"): 1,
        ("storage_snapshot_daily_p2026", "daily", "2026-01"): 1,
        ("storage_snapshot_raw_p202602", "raw", "2026-02"): 1,
    }
    with scratch_engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('storage_snapshot_default')")).scalar() is None
        assert conn.execute(text("SELECT to_regclass('storage_snapshot_old')")).scalar() is None
    with pytest.raises(IntegrityError, match="duplicate key"):
        insert(scratch_engine, midnight, "raw", 99)
    with pytest.raises(IntegrityError, match="usage_non_negative"):
        insert(scratch_engine, midnight + dt.timedelta(hours=1), "raw", -1)
    with pytest.raises(IntegrityError, match="no partition of relation"):
        insert(scratch_engine, dt.datetime(2024, 6, 1, tzinfo=dt.UTC), "raw", 1)

    migrate.downgrade(scratch_engine, previous_revision())

    assert all_rows(scratch_engine) == before
    assert rows_by_partition(scratch_engine) == {
        ("storage_snapshot_p202512", "raw", "2025-12"): 2,
        ("storage_snapshot_p202512", "daily", "2025-12"): 1,
        ("storage_snapshot_p202601", "daily", "2026-01"): 1,
        ("storage_snapshot_p202602", "raw", "2026-02"): 1,
    }
    insert(scratch_engine, dt.datetime(2024, 6, 1, tzinfo=dt.UTC), "raw", 1)  # the default partition is back

    migrate.upgrade(scratch_engine, REVISION)
    with scratch_engine.begin() as conn:  # the foreign key still cascades through every partition
        conn.execute(text("DELETE FROM google_account WHERE id = :id"), {"id": ACCOUNT})
    assert rows_by_partition(scratch_engine) == {}
