"""What the operator's command line reads: accounts with their latest usage, one account's daily
history, and recent alerts with their delivery state.

Plain data for `driveguard/cli.py` to format (tables for people, JSON for scripts); byte counts
are integers, times timezone-aware. Reads come from the read model (`storage_latest`) and go
through the snapshot and alert keys, so their cost does not grow with the number of accounts' history.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row

from driveguard.db.models import AlertKind
from driveguard.errors import InvalidInput, NotFound
from driveguard.storage.overview import LEVELS
from driveguard.storage.sql import load_sql

ALERT_KINDS = tuple(kind.value for kind in AlertKind)


@dataclass(frozen=True)
class AccountLine:
    account_id: uuid.UUID
    email: str
    status: str
    usage_bytes: int | None
    limit_bytes: int | None
    usage_percent: float | None
    level: str | None
    """None until the account's first collection."""
    collected_at: dt.datetime | None


@dataclass(frozen=True)
class DayPoint:
    day: dt.date
    usage_bytes: int
    limit_bytes: int | None
    source: str


@dataclass(frozen=True)
class AccountStorage:
    account: AccountLine
    growth_7d_bytes: int | None
    history: list[DayPoint]


@dataclass(frozen=True)
class AlertLine:
    alert_id: uuid.UUID
    email: str
    kind: str
    interval_start: dt.datetime
    usage_percent: float | None
    usage_bytes: int
    limit_bytes: int | None
    created_at: dt.datetime
    sent: int
    pending: int
    failed: int


def _percent(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _line(row: Row[Any]) -> AccountLine:
    return AccountLine(
        account_id=row.account_id,
        email=row.email,
        status=row.status,
        usage_bytes=row.usage_bytes,
        limit_bytes=row.limit_bytes,
        usage_percent=_percent(row.usage_percent),
        level=row.level,
        collected_at=row.collected_at,
    )


def _find(conn: Connection, ref: str) -> Row[Any]:
    """The one account `ref` names: its id, or its email (any case)."""
    try:
        account_id: uuid.UUID | None = uuid.UUID(ref)
    except ValueError:
        account_id = None
    rows = conn.execute(
        load_sql("operator_account"), {"account_id": account_id, "email": None if account_id else ref}
    ).all()
    if not rows:
        raise NotFound(f"no account {ref!r}")
    if len(rows) > 1:  # the same email behind two Google identities: ask for the id
        ids = ", ".join(str(row.account_id) for row in rows)
        raise InvalidInput(f"{ref!r} names {len(rows)} accounts ({ids}); give the account id")
    return rows[0]


def accounts(engine: Engine, *, level: str | None = None) -> list[AccountLine]:
    """Every account, fullest first (never collected last), optionally only those at `level`."""
    if level is not None and level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}")
    with engine.connect() as conn:
        return [_line(row) for row in conn.execute(load_sql("operator_accounts"), {"level": level})]


def account_storage(engine: Engine, ref: str, *, since: dt.datetime) -> AccountStorage:
    """One account, named by its id or its email, with one point per day since `since`."""
    with engine.connect() as conn:
        row = _find(conn, ref)
        history = [
            DayPoint(point.day, point.usage_bytes, point.limit_bytes, point.source)
            for point in conn.execute(
                load_sql("operator_daily_history"), {"account_id": row.account_id, "since": since}
            )
        ]
    return AccountStorage(_line(row), row.growth_7d_bytes, history)


def alerts(engine: Engine, *, account: str | None = None, kind: str | None = None, limit: int = 50) -> list[AlertLine]:
    """The newest alerts first, with their notifications' delivery state; `account` is an id or an email."""
    if kind is not None and kind not in ALERT_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(ALERT_KINDS)}")
    with engine.connect() as conn:
        account_id = _find(conn, account).account_id if account else None
        rows = conn.execute(load_sql("operator_alerts"), {"account_id": account_id, "kind": kind, "limit": limit})
        return [
            AlertLine(
                alert_id=row.alert_id,
                email=row.email,
                kind=row.kind,
                interval_start=row.interval_start,
                usage_percent=_percent(row.usage_percent),
                usage_bytes=row.usage_bytes,
                limit_bytes=row.limit_bytes,
                created_at=row.created_at,
                sent=int(row.sent),
                pending=int(row.pending),
                failed=int(row.failed),
            )
            for row in rows
        ]
