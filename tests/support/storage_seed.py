"""Seed storage data through the product's own write paths: accounts, snapshots (the collector's
upsert, into on-demand partitions), levels, and the read model (`refresh_latest`, as the collect
DAG's read_model step runs it); sessions for signed-in people."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy import Engine, text

from driveguard.audit import RequestContext
from driveguard.config import Settings
from driveguard.db.engine import transaction
from driveguard.identity.sessions import SessionService
from driveguard.storage.interval import Interval
from driveguard.storage.read_model import refresh_latest
from driveguard.storage.sql import load_sql

GIB = 1024**3


def add_account(engine: Engine, email: str, *, status: str = "active", created: dt.datetime | None = None) -> uuid.UUID:
    account_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO google_account (id, google_sub, email, status, created_at, updated_at)"
                " VALUES (:id, :sub, :email, CAST(:status AS account_status), :at, :at)"
            ),
            {
                "id": account_id,
                "sub": f"sub-{account_id}",
                "email": email,
                "status": status,
                "at": created or dt.datetime.now(dt.UTC),
            },
        )
    return account_id


def write_snapshots(
    engine: Engine,
    interval: Interval,
    rows: Iterable[tuple[uuid.UUID, int, int | None]],
    *,
    granularity: str = "raw",
    source: str = "drive_about",
) -> None:
    """(account, used bytes, limit bytes) for one interval, written like the collector writes them."""
    rows = list(rows)
    with engine.begin() as conn:
        conn.execute(load_sql("ensure_partition"), {"at": interval.start})
        conn.execute(
            load_sql("upsert_snapshots"),
            {
                "account_ids": [r[0] for r in rows],
                "usage_bytes": [r[1] for r in rows],
                "usage_in_drive_bytes": [r[1] for r in rows],
                "usage_in_trash_bytes": [0 for _ in rows],
                "limit_bytes": [r[2] for r in rows],
                "interval_start": interval.start,
                "interval_end": interval.end,
                "collected_at": interval.end,
                "source": source,
                "granularity": granularity,
            },
        ).all()


def set_level(engine: Engine, account_id: uuid.UUID, level: str, at: dt.datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO alert_state (account_id, level, level_since, updated_at)"
                " VALUES (:id, CAST(:level AS warning_level), :at, :at)"
                " ON CONFLICT (account_id) DO UPDATE SET level = EXCLUDED.level"
            ),
            {"id": account_id, "level": level, "at": at},
        )


def set_thresholds(engine: Engine, account_id: uuid.UUID, warning: float | None, critical: float | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO monitoring_setting (account_id, warning_threshold_percent, critical_threshold_percent)"
                " VALUES (:id, :w, :c)"
            ),
            {"id": account_id, "w": warning, "c": critical},
        )


def refresh_read_model(engine: Engine, interval: Interval) -> None:
    refresh_latest(engine, interval, now=interval.end)


def session_token(settings: Settings, engine: Engine, account_id: uuid.UUID, clock) -> str:  # type: ignore[no-untyped-def]
    """A session as sign-in issues it (the token goes to the client; only its hash is stored)."""
    with transaction(engine) as db:
        issued = SessionService(settings, clock=clock).issue(db, account_id, context=RequestContext.of(None, None))
    return issued.token
