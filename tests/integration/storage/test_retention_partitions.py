"""Retention on the partition tree: a raw month wholly past the window is downsampled to daily rows
and dropped as a partition, the boundary month goes row by row, daily rows stay, a crash between
the daily upsert and the drop loses nothing, and partitions are created ahead for both series.
Real PostgreSQL; the dates are in 2001-2003 so no other test's partitions are in reach."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from support.clock import FakeClock
from support.settings import settings_for

from driveguard.config import Settings
from driveguard.storage.collection import ensure_partition
from driveguard.storage.retention import Retention

GIB = 1024**3
NOW = dt.datetime(2002, 3, 15, 12, tzinfo=dt.UTC)  # retention 30 days: raw rows before 2002-02-13 go


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def era_partitions(engine: Engine) -> list[str]:
    """This file's leaf partitions (raw months and daily years of 2000-2004), by name."""
    with engine.connect() as conn:
        return list(
            conn.scalars(
                text(
                    "SELECT c.relname FROM pg_partition_tree(CAST('storage_snapshot' AS regclass)) t "
                    "JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf AND c.relname ~ '_p200[0-4]' ORDER BY 1"
                )
            )
        )


@pytest.fixture
def era(clean_db: Engine) -> Iterator[Engine]:
    """No partition of this file's years before or after the test (other retention runs drop old months)."""

    def drop_all() -> None:
        with clean_db.begin() as conn:
            for name in era_partitions(clean_db):
                conn.execute(text(f'DROP TABLE "{name}"'))

    drop_all()
    yield clean_db
    drop_all()


@pytest.fixture
def small_chunks(base_env: dict[str, str]) -> Settings:
    return settings_for(base_env, RETENTION_CHUNK_SIZE="2", SNAPSHOT_RAW_RETENTION_DAYS="30")


def seed(engine: Engine, hours: list[dt.datetime]) -> list[uuid.UUID]:
    """Three accounts, a raw row each at every given hour; account i's usage at hour h is
    i GiB + the hour's index (so the day's last row is recognisable)."""
    ids = [uuid.UUID(int=n) for n in (11, 12, 13)]
    for at in hours:  # first: attaching a partition waits for open writes to google_account
        ensure_partition(engine, at)
    with engine.begin() as conn:
        for n, account_id in enumerate(ids):
            conn.execute(
                text(
                    "INSERT INTO google_account (id, google_sub, email, created_at, updated_at) "
                    "VALUES (:id, :sub, :email, now(), now())"
                ),
                {"id": account_id, "sub": f"sub-{n}", "email": f"user{n}@example.com"},
            )
        for index, at in enumerate(hours):
            for n, account_id in enumerate(ids):
                conn.execute(
                    text(
                        "INSERT INTO storage_snapshot (account_id, interval_start, interval_end, collected_at, "
                        "usage_bytes, limit_bytes) VALUES (:a, :s, :e, :e, :u, :l)"
                    ),
                    {"a": account_id, "s": at, "e": at + dt.timedelta(hours=1), "u": n * GIB + index, "l": 15 * GIB},
                )
    return ids


HOURS = [
    utc(2001, 12, 31, 22), utc(2001, 12, 31, 23),  # December 2001: a whole month past retention (and another year)
    utc(2002, 1, 10, 0), utc(2002, 1, 10, 6), utc(2002, 1, 31, 23),  # January 2002: whole
    utc(2002, 2, 12, 0), utc(2002, 2, 12, 23),  # February 2002, the boundary month: past retention...
    utc(2002, 2, 13, 1), utc(2002, 2, 20, 5),  # ...and inside it
    utc(2002, 3, 15, 11),  # this month
]  # fmt: skip


def daily_rows(engine: Engine) -> list[tuple[str, int, str, dt.timedelta]]:
    with engine.connect() as conn:
        return [
            (row.day, row.usage_bytes, row.part, row.width)
            for row in conn.execute(
                text(
                    "SELECT to_char(interval_start AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, usage_bytes, "
                    "tableoid::regclass::text AS part, interval_end - interval_start AS width "
                    "FROM storage_snapshot WHERE granularity = 'daily' AND account_id = :a ORDER BY interval_start"
                ),
                {"a": uuid.UUID(int=12)},
            )
        ]


def raw_left(engine: Engine) -> list[dt.datetime]:
    with engine.connect() as conn:
        return list(
            conn.scalars(
                text("SELECT DISTINCT interval_start FROM storage_snapshot WHERE granularity = 'raw' ORDER BY 1")
            )
        )


EXPECTED_DAILY = [  # account 1 (usage GiB + hour index): each day closes on its last raw row
    ("2001-12-31", GIB + 1, "storage_snapshot_daily_p2001", dt.timedelta(days=1)),
    ("2002-01-10", GIB + 3, "storage_snapshot_daily_p2002", dt.timedelta(days=1)),
    ("2002-01-31", GIB + 4, "storage_snapshot_daily_p2002", dt.timedelta(days=1)),
    ("2002-02-12", GIB + 6, "storage_snapshot_daily_p2002", dt.timedelta(days=1)),
]


def test_whole_raw_months_are_dropped_as_partitions_and_the_boundary_month_row_by_row(
    era: Engine, small_chunks: Settings
):
    seed(era, HOURS)
    retention = Retention(small_chunks, era, clock=FakeClock(NOW))

    counts = retention.downsample_snapshots()

    # December and January went as partitions; February's rows before the 13th one by one
    # (2 hours x 3 accounts); 4 days x 3 accounts of daily rows, written in chunks of 2 accounts.
    assert counts == {
        "daily_rows_upserted": 12, "raw_rows_deleted": 6, "chunks": 6,
        "raw_partitions_dropped": 2, "raw_partitions_busy": 0,
    }  # fmt: skip
    assert era_partitions(era) == [
        "storage_snapshot_daily_p2001", "storage_snapshot_daily_p2002",
        "storage_snapshot_raw_p200202", "storage_snapshot_raw_p200203",
    ]  # fmt: skip
    assert daily_rows(era) == EXPECTED_DAILY
    assert raw_left(era) == [utc(2002, 2, 13, 1), utc(2002, 2, 20, 5), utc(2002, 3, 15, 11)]

    # Idempotent: the next run finds nothing to do and changes nothing.
    assert retention.downsample_snapshots() == {
        "daily_rows_upserted": 0, "raw_rows_deleted": 0, "chunks": 0,
        "raw_partitions_dropped": 0, "raw_partitions_busy": 0,
    }  # fmt: skip
    assert daily_rows(era) == EXPECTED_DAILY


class Crash(BaseException):
    """The process dies (not an exception the code could handle)."""


def test_a_crash_between_the_daily_upsert_and_the_drop_loses_nothing(era: Engine, small_chunks: Settings):
    seed(era, HOURS)
    crashing = Retention(small_chunks, era, clock=FakeClock(NOW))

    def die(name: str) -> str | None:
        raise Crash(name)

    crashing._drop_partition = die  # type: ignore[method-assign]
    with pytest.raises(Crash, match="storage_snapshot_raw_p200112"):
        crashing.downsample_snapshots()

    # December's daily rows are committed and its raw rows are all still there.
    assert daily_rows(era) == EXPECTED_DAILY[:1]
    assert "storage_snapshot_raw_p200112" in era_partitions(era)
    assert raw_left(era)[:2] == [utc(2001, 12, 31, 22), utc(2001, 12, 31, 23)]

    # The rerun upserts December's daily rows again (same figures, no duplicates) and drops it.
    counts = Retention(small_chunks, era, clock=FakeClock(NOW)).downsample_snapshots()

    assert counts["raw_partitions_dropped"] == 2
    assert counts["daily_rows_upserted"] == 12
    assert daily_rows(era) == EXPECTED_DAILY
    with era.connect() as conn:
        per_day = conn.execute(
            text(
                "SELECT count(*) FROM storage_snapshot WHERE granularity = 'daily' GROUP BY account_id, interval_start"
            )
        ).scalars()
        assert set(per_day) == {1}
    assert raw_left(era) == [utc(2002, 2, 13, 1), utc(2002, 2, 20, 5), utc(2002, 3, 15, 11)]


def test_partitions_are_created_ahead_for_both_series_across_a_year_end(era: Engine, base_env: dict[str, str]):
    settings = settings_for(base_env, SNAPSHOT_PARTITION_MONTHS_AHEAD="2")
    retention = Retention(settings, era, clock=FakeClock(utc(2003, 11, 20, 8)))

    first = retention.ensure_partitions()
    again = retention.ensure_partitions()

    # This month and two ahead, raw; the daily years they fall in.
    assert era_partitions(era) == [
        "storage_snapshot_daily_p2003", "storage_snapshot_daily_p2004",
        "storage_snapshot_raw_p200311", "storage_snapshot_raw_p200312", "storage_snapshot_raw_p200401",
    ]  # fmt: skip
    assert first == {"partitions_created": 5, "months_covered": 3}
    assert again == {"partitions_created": 0, "months_covered": 3}


def test_a_row_whose_partition_is_missing_is_refused_not_parked(era: Engine):
    account_id = seed(era, [])[0]
    with pytest.raises(IntegrityError, match="no partition of relation") as refused, era.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO storage_snapshot (account_id, interval_start, interval_end, usage_bytes) "
                "VALUES (:a, '2003-06-01T00:00Z', '2003-06-01T01:00Z', 1)"
            ),
            {"a": account_id},
        )
    assert getattr(refused.value.orig, "sqlstate", None) == "23514"  # check_violation: the writer's task fails
    with era.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM storage_snapshot")).scalar_one() == 0


def test_a_month_held_by_a_long_read_is_left_for_the_next_run_not_waited_for(era: Engine, small_chunks: Settings):
    seed(era, HOURS)
    retention = Retention(small_chunks, era, clock=FakeClock(NOW))
    with era.connect() as reader:  # a long history read holds December's raw partition
        reader.execute(text("SELECT count(*) FROM storage_snapshot_raw_p200112")).scalar_one()
        busy = retention.downsample_snapshots()  # waits the drop's 5 s lock_timeout on December, then goes on
        reader.rollback()

    assert (busy["raw_partitions_busy"], busy["raw_partitions_dropped"]) == (1, 1)  # December waits, January went
    assert "storage_snapshot_raw_p200112" in era_partitions(era)
    assert daily_rows(era) == EXPECTED_DAILY  # December's daily rows are written all the same

    after = retention.downsample_snapshots()

    assert (after["raw_partitions_busy"], after["raw_partitions_dropped"]) == (0, 1)
    assert "storage_snapshot_raw_p200112" not in era_partitions(era)
    assert daily_rows(era) == EXPECTED_DAILY
