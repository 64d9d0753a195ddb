"""Collection rules the mutation run found unpinned: which hours a cadence collects, how a shard is
cut into growing chunks, the cap on listed failures, and the counts a snapshot upsert reports
(inserted, updated, unchanged). Real PostgreSQL for the upsert."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import Engine
from support.storage_seed import add_account

from driveguard.google.drive import StorageQuota
from driveguard.storage.collection import (
    MAX_LISTED_FAILURES,
    SnapshotRow,
    _chunks,
    _list_failure,
    ensure_partition,
    is_due,
    upsert_snapshots,
)
from driveguard.storage.interval import Interval

START = dt.datetime(2026, 11, 24, 0, tzinfo=dt.UTC)


def hour(h: int, width: int = 1) -> Interval:
    return Interval(START + dt.timedelta(hours=h), START + dt.timedelta(hours=h + width))


@pytest.mark.parametrize(
    ("interval", "every_hours", "due"),
    [
        (hour(5), 1, True),  # hourly: every hour
        (hour(6), 3, True),  # on the cadence
        (hour(7), 3, False),  # between two collections
        (hour(8), 3, False),
        (hour(7, width=3), 3, True),  # an interval as wide as the cadence is collected whatever its hour
        (hour(7, width=2), 3, False),
    ],
)
def test_a_cadence_collects_its_hours_only(interval, every_hours, due):
    assert is_due(interval, every_hours) is due


def test_a_shard_leaves_in_chunks_that_double_up_to_the_chunk_size():
    items = [uuid.UUID(int=i) for i in range(20)]
    sizes = [len(chunk) for chunk in _chunks(items, size=6, first=2)]
    assert sizes == [2, 4, 6, 6, 2]
    assert [a for chunk in _chunks(items, size=6, first=2) for a in chunk] == items  # each once, in order
    assert [len(c) for c in _chunks(items[:3], size=10, first=0)] == [1, 2]  # at least one at a time
    assert [len(c) for c in _chunks(items[:5], size=2, first=8)] == [2, 2, 1]  # first never above size


def test_listed_failures_stop_at_the_cap():
    failures: dict[str, str] = {}
    for i in range(MAX_LISTED_FAILURES + 5):
        _list_failure(failures, uuid.UUID(int=i), "drive rate_limited")
    assert len(failures) == MAX_LISTED_FAILURES
    assert failures[str(uuid.UUID(int=0))] == "drive rate_limited"


def test_an_upsert_counts_inserted_updated_and_unchanged_rows(clean_db: Engine):
    interval = hour(9)
    ensure_partition(clean_db, interval.start)
    a, b, c = (add_account(clean_db, f"{n}@example.com") for n in "abc")

    def quota(usage: int) -> StorageQuota:
        return StorageQuota(usage=usage, limit=100, usage_in_drive=usage, usage_in_trash=0)

    at = interval.end
    with clean_db.begin() as conn:
        first = upsert_snapshots(conn, [SnapshotRow(a, quota(1)), SnapshotRow(b, quota(2))], interval, collected_at=at)
    assert dict(first) == {"inserted": 2, "unchanged": 0}
    with clean_db.begin() as conn:
        again = upsert_snapshots(
            conn,
            [SnapshotRow(a, quota(1)), SnapshotRow(b, quota(3)), SnapshotRow(c, quota(4))],
            interval,
            collected_at=at,
        )
    assert (again["inserted"], again["updated"], again["unchanged"], again["kept_drive"]) == (1, 1, 1, 0)
    with clean_db.begin() as conn:
        assert upsert_snapshots(conn, [], interval, collected_at=at) == {}
