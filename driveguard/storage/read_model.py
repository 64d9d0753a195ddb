"""The overview's read model, `storage_latest`: one row per account with its newest snapshot, its
level and the usage a day and a week earlier, so the overview never scans the partitioned history.

It is refreshed on its own after each collected interval, whatever the quality gate said: the gate
holds back the alerts of quarantined rows, not the view of what was measured. The level comes from
`alert_state` as it is at refresh time (the alerts of the interval, when they ran). A row only moves forward in time, so
refreshing an older interval again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Engine

from driveguard.storage.interval import Interval
from driveguard.storage.sql import load_sql

NIL_UUID = uuid.UUID(int=0)


def refresh_latest(engine: Engine, interval: Interval, *, now: dt.datetime, chunk_size: int = 1000) -> dict[str, int]:
    """Bring `storage_latest` up to the interval's snapshots, one transaction per chunk of accounts."""
    counts = {"accounts": 0, "refreshed": 0}
    after = NIL_UUID
    while True:
        with engine.begin() as conn:
            ids = list(
                conn.scalars(
                    load_sql("interval_snapshot_accounts"),
                    {"interval_start": interval.start, "after": after, "limit": max(1, chunk_size)},
                )
            )
            if not ids:
                break
            result = conn.execute(
                load_sql("refresh_storage_latest"),
                {"interval_start": interval.start, "account_ids": ids, "now": now},
            )
        counts["accounts"] += len(ids)
        counts["refreshed"] += max(0, result.rowcount)
        after = ids[-1]
        if len(ids) < chunk_size:
            break
    return counts
