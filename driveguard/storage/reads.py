"""What people and admins read about storage: one's own usage and forecast, the account list, an
account's history and its alerts. The API's `/api/storage/*` read routes and the pages use this.

Costs are chosen for large installations (issue 14):

- usage now, the account list and its sorting come from the read model `storage_latest` (one row
  per account, refreshed by the collect DAG's `read_model` step), never from the history; the
  list pages with a keyset cursor (no OFFSET, no count over all accounts), each sort order has an
  index, and the email search has a trigram index (migration 0008);
- history reads one account's range through the snapshot key `(account_id, interval_start)`;
  hourly and daily points are `date_trunc` buckets over that range (see `history`), so a year
  at daily resolution reads one account's rows of that year and nothing else;
- every snapshot read goes through `history_buckets.sql` / `history_raw.sql`, the one place to
  adapt when the snapshot table's key changes.

Who may read what is decided here too (`check_access`): a person their own account, an admin any.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, get_args

from sqlalchemy import Connection, Engine, TextClause, text

from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.db.engine import RequestUnit
from driveguard.errors import Forbidden, InvalidInput, NotFound
from driveguard.identity.caller import Caller
from driveguard.storage.alerts import Thresholds
from driveguard.storage.cursors import decode_cursor, encode_cursor
from driveguard.storage.monitoring import effective_config
from driveguard.storage.sql import load_sql, queries
from driveguard.storage.trends import Forecast, Trend, TrendOptions, UsagePoint, fit_trend, project

Resolution = Literal["raw", "hourly", "daily"]
SortKey = Literal["usage_percent", "used_bytes", "email", "last_collected", "growth_24h", "growth_7d"]
Direction = Literal["asc", "desc"]
Level = Literal["normal", "warning", "critical"]
AccountStatus = Literal["active", "reauth_required", "revoked"]

RESOLUTIONS: tuple[str, ...] = get_args(Resolution)
SORT_KEYS: tuple[str, ...] = get_args(SortKey)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
LEVELS: tuple[str, ...] = get_args(Level)
STATUSES: tuple[str, ...] = get_args(AccountStatus)

MAX_PAGE = 500
MAX_SEARCH_CHARS = 320
MAX_RANGE = {"raw": dt.timedelta(days=31), "hourly": dt.timedelta(days=93), "daily": dt.timedelta(days=1100)}
"""The longest range one history request may ask for, per resolution (bounds the rows read)."""
DEFAULT_RANGE = {"raw": dt.timedelta(days=2), "hourly": dt.timedelta(days=7), "daily": dt.timedelta(days=90)}
ME_HISTORY_DAYS = 30
"""`me` carries this many days of daily points (the chart) and fits the trend on hourly points."""


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountThresholds:
    """The thresholds that apply to one account: its own settings over the global ones."""

    warning_percent: float
    critical_percent: float
    alerts_enabled: bool


@dataclass(frozen=True)
class UsageNow:
    """The newest collected usage of an account (from the read model)."""

    used_bytes: int
    limit_bytes: int | None
    """None: unlimited."""
    percent: float | None
    level: Level
    usage_in_drive_bytes: int | None
    usage_in_trash_bytes: int | None
    interval_start: dt.datetime
    interval_end: dt.datetime
    collected_at: dt.datetime
    growth_24h_bytes: int | None
    growth_7d_bytes: int | None


@dataclass(frozen=True)
class HistoryPoint:
    """One point of a history: a raw snapshot, or an hour's or a day's bucket (its closing value,
    its lowest and highest, the quota at its close, and how many snapshots it holds)."""

    at: dt.datetime
    """The snapshot's interval start, or the bucket's start (UTC)."""
    used_bytes: int
    min_used_bytes: int
    max_used_bytes: int
    limit_bytes: int | None
    samples: int


@dataclass(frozen=True)
class History:
    account_id: uuid.UUID
    resolution: Resolution
    from_: dt.datetime
    to: dt.datetime
    """Half-open: points with `from_ <= at < to`."""
    points: tuple[HistoryPoint, ...]


@dataclass(frozen=True)
class AccountStorage:
    """One account's storage as its person sees it on `/me` (and an admin on the account's page)."""

    account_id: uuid.UUID
    email: str
    account_status: AccountStatus
    usage: UsageNow | None
    """None until the first snapshot is collected."""
    thresholds: AccountThresholds
    history: History
    """The last `ME_HISTORY_DAYS` days, daily."""
    forecast: Forecast
    generated_at: dt.datetime


@dataclass(frozen=True)
class AccountsQuery:
    """One page of the admin's account list. `search` matches anywhere in the email, case-insensitively."""

    sort: SortKey = "usage_percent"
    direction: Direction = "desc"
    level: Level | None = None
    status: AccountStatus | None = None
    search: str | None = None
    limit: int = 50
    cursor: str | None = None
    """From the previous page's `next_cursor`, with the same sort and direction."""
    collected_before: dt.datetime | None = None
    """Only accounts whose newest snapshot was collected before this (stale), or never."""


@dataclass(frozen=True)
class AccountRow:
    account_id: uuid.UUID
    email: str
    account_status: AccountStatus
    used_bytes: int | None
    limit_bytes: int | None
    usage_percent: float | None
    level: Level | None
    """None until the first snapshot."""
    collected_at: dt.datetime | None
    growth_24h_bytes: int | None
    growth_7d_bytes: int | None


@dataclass(frozen=True)
class AccountsPage:
    items: tuple[AccountRow, ...]
    next_cursor: str | None
    """None on the last page."""
    sort: SortKey
    direction: Direction
    limit: int


@dataclass(frozen=True)
class Delivery:
    """One outbox message of an alert (the target itself is a secret and is not shown)."""

    id: uuid.UUID
    status: Literal["pending", "sending", "sent", "failed"]
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None


@dataclass(frozen=True)
class AlertEntry:
    id: uuid.UUID
    kind: Literal["warning", "critical", "critical_repeat", "resolved"]
    interval_start: dt.datetime
    created_at: dt.datetime
    usage_percent: float | None
    usage_bytes: int
    limit_bytes: int | None
    delivery: Literal["none", "pending", "sent", "failed", "partial"]
    """Summary: no message (alerts off, no target), all sent, any still pending/sending, all failed,
    or some sent and some failed."""
    deliveries: tuple[Delivery, ...]


@dataclass(frozen=True)
class AlertsPage:
    account_id: uuid.UUID
    items: tuple[AlertEntry, ...]
    """Newest first."""
    next_cursor: str | None
    limit: int


# -- input ------------------------------------------------------------------------------------


def parse_instant(value: str | None, name: str) -> dt.datetime | None:
    """A query parameter as a UTC instant: `YYYY-MM-DD` (midnight UTC) or ISO 8601 (no zone = UTC)."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 date-time", code="invalid-date"
        ) from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


# -- the account list's SQL: one template, filled only from the fixed fragments below ---------------


@dataclass(frozen=True)
class _Sort:
    key: str
    """The sorted expression."""
    tie: str
    """The account id column the index pairs with `key` (keyset tie-break)."""
    nullable: bool
    cast: str


_SORTS: dict[str, _Sort] = {
    "usage_percent": _Sort("l.usage_percent", "l.account_id", True, "double precision"),
    "used_bytes": _Sort("l.usage_bytes", "l.account_id", True, "bigint"),
    "last_collected": _Sort("l.collected_at", "l.account_id", True, "timestamptz"),
    "email": _Sort("a.email", "a.id", False, "text"),
    # Fastest growing: the read model's usage a day and a week earlier (expression indexes, migration 0008).
    "growth_24h": _Sort("(l.usage_bytes - l.usage_bytes_24h_ago)", "l.account_id", True, "bigint"),
    "growth_7d": _Sort("(l.usage_bytes - l.usage_bytes_7d_ago)", "l.account_id", True, "bigint"),
}


@cache
def _accounts_sql(
    sort: str,
    direction: str,
    part: str,
    after: bool,
    level: bool,
    status: bool,
    search: bool,
    stale: bool = False,
    all_collected: bool = False,
) -> TextClause:
    """The list query for one combination of sort, direction and filters. `part` "valued": rows whose
    sort key is set, in key order (an index range); "unvalued": rows without one (no snapshot yet,
    or no quota), by id — nulls come last in either direction. With `all_collected` (every account
    has a read model row) the unvalued rows are the read model's own, an index range too, instead
    of an anti-join over every account. Only fixed fragments go in."""
    spec = _SORTS[sort]
    by_id = "l.account_id" if all_collected else "a.id"
    op = "<" if direction == "desc" else ">"
    where = [f"{spec.key} IS NOT NULL" if part == "valued" else f"{spec.key} IS NULL"]
    if level:
        where.append("l.level = CAST(:level AS warning_level)")
    if status:
        where.append("a.status = CAST(:status AS account_status)")
    if search:
        where.append("lower(a.email) LIKE :search ESCAPE '\\'")
    if stale:
        where.append("(l.collected_at < CAST(:collected_before AS timestamptz) OR l.collected_at IS NULL)")
    if after and part == "valued":
        where.append(f"({spec.key}, {spec.tie}) {op} (CAST(:after_value AS {spec.cast}), CAST(:after_id AS uuid))")
    elif after:
        where.append(f"{by_id} {op} CAST(:after_id AS uuid)")
    order = f"{spec.key} {direction}, {spec.tie} {direction}" if part == "valued" else f"{by_id} {direction}"
    sql = queries.text("accounts_page").replace("/*WHERE*/", " AND ".join(where)).replace("/*ORDER*/", order)
    if all_collected:
        sql = sql.replace("LEFT JOIN storage_latest l", "JOIN storage_latest l")
    return text(sql)


def _like_pattern(search: str) -> str:
    escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class _TrendCache:
    """Fitted trends by (account, newest snapshot, quota): a fit only changes when new data arrives, so
    `me` reads the hourly window and fits it once per collection, not once per request."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Trend] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Trend | None:
        with self._lock:
            trend = self._items.get(key)
            if trend is not None:
                self._items.move_to_end(key)
            return trend

    def put(self, key: Hashable, trend: Trend) -> None:
        with self._lock:
            self._items[key] = trend
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


# -- the service ------------------------------------------------------------------------------


class StorageReads:
    """Read-only storage queries for people and admins; each method is one short read transaction."""

    def __init__(
        self, settings: Settings, engine: Engine, *, clock: Clock = utcnow, trend_options: TrendOptions | None = None
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.trend_options = trend_options or TrendOptions()
        self._trends = _TrendCache()

    # who may read what

    def check_access(self, caller: Caller, account_id: uuid.UUID) -> None:
        """A person may read their own account, an admin any. To anyone but an admin every other
        account is simply forbidden, known or not (no existence oracle); for an admin the read
        itself answers 404 for an unknown account."""
        if not caller.is_admin and caller.account_id != account_id:
            raise Forbidden("You may only read your own account's storage.", code="not-your-account")

    def own_account(self, caller: Caller) -> uuid.UUID:
        """The caller's own Google account (a session's; an admin token signed in with Google has one too)."""
        if caller.account_id is None:
            raise NotFound("This caller has no Google account of its own; sign in with Google.", code="no-own-account")
        return caller.account_id

    # the reads

    def me(
        self, account_id: uuid.UUID, now: dt.datetime | None = None, *, unit: RequestUnit | None = None
    ) -> AccountStorage:
        """An account's usage now, thresholds, last 30 days (daily) and forecast (fitted on hourly points).

        With the request's `unit` (its session lookup's), the reads run in that same transaction and
        end it: one transaction per request."""
        now = now or self.clock()
        with self._reading(unit) as conn:
            head = conn.execute(load_sql("account_usage_now"), {"account_id": account_id}).mappings().first()
            if head is None:
                raise NotFound("No such account.", code="account-not-found")
            config = effective_config(self.settings, conn)
            thresholds = Thresholds.for_account(
                config, head["warning_threshold_percent"], head["critical_threshold_percent"]
            )
            start = now - dt.timedelta(days=ME_HISTORY_DAYS)
            daily = self._buckets(conn, account_id, start, now, "daily")
            usage = _usage_now(head)
            limit = usage.limit_bytes if usage is not None else None
            key = (account_id, usage.interval_start, usage.collected_at, limit) if usage is not None else None
            trend = self._trends.get(key) if key is not None else None
            if trend is None:
                window = now - dt.timedelta(days=self.trend_options.window_days)
                points = [
                    UsagePoint(p.at, p.used_bytes) for p in self._buckets(conn, account_id, window, now, "hourly")
                ]
                trend = fit_trend(points, limit_bytes=limit, options=self.trend_options)
                if key is not None:
                    self._trends.put(key, trend)
        outlook = project(
            trend,
            limit_bytes=limit,
            warning_percent=thresholds.warning,
            critical_percent=thresholds.critical,
            now=now,
            used_bytes=usage.used_bytes if usage is not None else None,
            as_of=usage.interval_end if usage is not None else None,  # Drive reports usage as of the interval's end
            options=self.trend_options,
        )
        return AccountStorage(
            account_id=account_id,
            email=head["email"],
            account_status=str(head["account_status"]),  # type: ignore[arg-type]
            usage=usage,
            thresholds=AccountThresholds(thresholds.warning, thresholds.critical, bool(head["alerts_enabled"])),
            history=History(account_id, "daily", start, now, tuple(daily)),
            forecast=outlook,
            generated_at=now,
        )

    def accounts(self, query: AccountsQuery) -> AccountsPage:
        """One page of accounts in the requested order, filtered; keyset-paginated."""
        q = _check_query(query)
        spec = _SORTS[q.sort]
        params: dict[str, Any] = {"limit": q.limit + 1, "level": q.level, "status": q.status}
        if q.search:
            params["search"] = _like_pattern(q.search)
        part, after = "valued", False
        if q.cursor is not None:
            part, value, after_id = _cursor_position(q, spec)
            params["after_id"], after = after_id, True
            if part == "valued":
                params["after_value"] = value
        flags = (q.level is not None, q.status is not None, bool(q.search), q.collected_before is not None)
        if q.collected_before is not None:
            params["collected_before"] = q.collected_before
        rows: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            if part == "valued":
                rows += _fetch(conn, _accounts_sql(q.sort, q.direction, "valued", after, *flags), params)
            if spec.nullable and len(rows) <= q.limit:
                unvalued_after = after and part == "unvalued"
                params["limit"] = q.limit + 1 - len(rows)
                all_collected = conn.execute(load_sql("uncollected_accounts")).scalar_one() == 0
                unvalued = _accounts_sql(q.sort, q.direction, "unvalued", unvalued_after, *flags, all_collected)
                rows += _fetch(conn, unvalued, params)
        page = [_account_row(row) for row in rows[: q.limit]]
        next_cursor = None
        if len(rows) > q.limit and page:
            next_cursor = _cursor_after(q, page[-1])
        return AccountsPage(tuple(page), next_cursor, q.sort, q.direction, q.limit)

    def history(
        self,
        account_id: uuid.UUID,
        from_: dt.datetime | None,
        to: dt.datetime | None,
        resolution: Resolution = "daily",
    ) -> History:
        """Points with `from_ <= at < to` (defaults: up to now, over `DEFAULT_RANGE[resolution]`).

        Hourly and daily points are computed with `date_trunc` over the account's range of the
        snapshot key, not kept in a rollup table: the range read is one account's rows (at most
        ~2,200 raw rows plus the downsampled days for a year), it stays correct whatever wrote the
        rows (collection, backfill, downsampling, deletion), and nothing else has to keep it fresh."""
        if resolution not in RESOLUTIONS:
            raise InvalidInput(f"resolution must be one of {', '.join(RESOLUTIONS)}", code="invalid-resolution")
        to = to or self.clock()
        from_ = from_ or to - DEFAULT_RANGE[resolution]
        if from_ >= to:
            raise InvalidInput("from must be before to", code="invalid-range")
        if to - from_ > MAX_RANGE[resolution]:
            raise InvalidInput(
                f"a {resolution} history covers at most {MAX_RANGE[resolution].days} days; ask for a coarser "
                "resolution or a shorter range",
                code="range-too-long",
            )
        with self.engine.connect() as conn:
            if conn.execute(load_sql("account_exists"), {"account_id": account_id}).first() is None:
                raise NotFound("No such account.", code="account-not-found")
            points = self._buckets(conn, account_id, from_, to, resolution)
        return History(account_id, resolution, from_, to, tuple(points))

    def alerts(self, account_id: uuid.UUID, *, limit: int = 50, cursor: str | None = None) -> AlertsPage:
        """The account's alerts, newest first, each with the delivery state of its outbox messages."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", code="invalid-limit")
        params: dict[str, Any] = {"account_id": account_id, "limit": limit + 1, "before_at": None, "before_id": None}
        if cursor is not None:
            payload = decode_cursor(cursor)
            if len(payload) != 3 or payload[0] != "alerts":
                raise InvalidInput("cursor is not one of this list", code="invalid-cursor")
            try:
                params["before_at"] = dt.datetime.fromisoformat(payload[1])
                params["before_id"] = uuid.UUID(payload[2])
            except (TypeError, ValueError):
                raise InvalidInput("cursor is not one this API issued", code="invalid-cursor") from None
        with self.engine.connect() as conn:
            if conn.execute(load_sql("account_exists"), {"account_id": account_id}).first() is None:
                raise NotFound("No such account.", code="account-not-found")
            alerts = list(conn.execute(load_sql("account_alerts"), params).mappings())
            page = alerts[:limit]
            ids = [row["id"] for row in page]
            deliveries: dict[uuid.UUID, list[Delivery]] = {}
            if ids:
                for row in conn.execute(load_sql("alert_deliveries"), {"alert_ids": ids}).mappings():
                    deliveries.setdefault(row["alert_id"], []).append(
                        Delivery(
                            row["id"],
                            str(row["status"]),  # type: ignore[arg-type]
                            row["attempts"],
                            row["created_at"],
                            row["next_attempt_at"],
                            row["sent_at"],
                        )
                    )
        items = tuple(_alert_entry(row, tuple(deliveries.get(row["id"], ()))) for row in page)
        next_cursor = None
        if len(alerts) > limit and items:
            last = items[-1]
            next_cursor = encode_cursor(["alerts", last.created_at.isoformat(), str(last.id)])
        return AlertsPage(account_id, items, next_cursor, limit)

    # helpers

    @contextmanager
    def _reading(self, unit: RequestUnit | None) -> Iterator[Connection]:
        """The request's own transaction when the route continues the session lookup's, else a
        connection of its own that never commits (a read is not a write)."""
        if unit is None:
            with self.engine.connect() as conn:
                yield conn
        else:
            with unit.last_step() as session:
                yield session.connection()

    def _buckets(
        self, conn: Connection, account_id: uuid.UUID, from_: dt.datetime, to: dt.datetime, resolution: str
    ) -> list[HistoryPoint]:
        params = {"account_id": account_id, "from": from_, "to": to}
        if resolution == "raw":
            rows = conn.execute(load_sql("history_raw"), params)
        else:
            unit = "hour" if resolution == "hourly" else "day"
            rows = conn.execute(load_sql("history_buckets"), {**params, "unit": unit})
        # Columns in HistoryPoint's order; bigint and count(*) arrive as Python ints.
        return [HistoryPoint(*row) for row in rows]


def _fetch(conn: Connection, clause: TextClause, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(clause, params).mappings()]


def _check_query(query: AccountsQuery) -> AccountsQuery:
    if query.sort not in SORT_KEYS:
        raise InvalidInput(f"sort must be one of {', '.join(SORT_KEYS)}", code="invalid-sort")
    if query.direction not in DIRECTIONS:
        raise InvalidInput("direction must be asc or desc", code="invalid-sort")
    if query.level is not None and query.level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}", code="invalid-filter")
    if query.status is not None and query.status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", code="invalid-filter")
    if not 1 <= query.limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", code="invalid-limit")
    if query.search is not None and len(query.search) > MAX_SEARCH_CHARS:
        raise InvalidInput(f"search is at most {MAX_SEARCH_CHARS} characters", code="invalid-filter")
    return query


def _cursor_after(query: AccountsQuery, row: AccountRow) -> str:
    value: Any = {
        "usage_percent": row.usage_percent,
        "used_bytes": row.used_bytes,
        "last_collected": row.collected_at.isoformat() if row.collected_at else None,
        "email": row.email,
        "growth_24h": row.growth_24h_bytes,
        "growth_7d": row.growth_7d_bytes,
    }[query.sort]
    return encode_cursor(["accounts", query.sort, query.direction, value, str(row.account_id)])


def _cursor_position(query: AccountsQuery, spec: _Sort) -> tuple[str, Any, uuid.UUID]:
    """(part, key value, account id) of the row a cursor points after; checked against the query."""
    payload = decode_cursor(query.cursor or "")
    if len(payload) != 5 or payload[0] != "accounts":
        raise InvalidInput("cursor is not one of this list", code="invalid-cursor")
    _, sort, direction, value, raw_id = payload
    if (sort, direction) != (query.sort, query.direction):
        raise InvalidInput("cursor was issued for another sort order", code="invalid-cursor")
    try:
        after_id = uuid.UUID(raw_id)
        if value is None:
            if not spec.nullable:
                raise ValueError
            return "unvalued", None, after_id
        if query.sort == "last_collected":
            value = dt.datetime.fromisoformat(value)
        elif query.sort == "usage_percent":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError
            value = float(value)
        elif query.sort in ("used_bytes", "growth_24h", "growth_7d"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError
        elif not isinstance(value, str):
            raise ValueError
    except (TypeError, ValueError, AttributeError):
        raise InvalidInput("cursor is not one this API issued", code="invalid-cursor") from None
    return "valued", value, after_id


def _usage_now(head: Any) -> UsageNow | None:
    if head["usage_bytes"] is None:
        return None
    percent = head["usage_percent"]
    return UsageNow(
        used_bytes=int(head["usage_bytes"]),
        limit_bytes=None if head["limit_bytes"] is None else int(head["limit_bytes"]),
        percent=None if percent is None else round(float(percent), 2),
        level=str(head["level"]),  # type: ignore[arg-type]
        usage_in_drive_bytes=head["usage_in_drive_bytes"],
        usage_in_trash_bytes=head["usage_in_trash_bytes"],
        interval_start=head["interval_start"],
        interval_end=head["interval_end"],
        collected_at=head["collected_at"],
        growth_24h_bytes=head["growth_24h_bytes"],
        growth_7d_bytes=head["growth_7d_bytes"],
    )


def _account_row(row: dict[str, Any]) -> AccountRow:
    percent = row["usage_percent"]
    return AccountRow(
        account_id=row["account_id"],
        email=row["email"],
        account_status=str(row["account_status"]),  # type: ignore[arg-type]
        used_bytes=row["used_bytes"],
        limit_bytes=row["limit_bytes"],
        usage_percent=None if percent is None else float(percent),
        level=None if row["level"] is None else str(row["level"]),  # type: ignore[arg-type]
        collected_at=row["collected_at"],
        growth_24h_bytes=row["growth_24h_bytes"],
        growth_7d_bytes=row["growth_7d_bytes"],
    )


def _alert_entry(row: Any, deliveries: tuple[Delivery, ...]) -> AlertEntry:
    states = {d.status for d in deliveries}
    summary: Literal["none", "pending", "sent", "failed", "partial"]
    if not deliveries:
        summary = "none"
    elif states & {"pending", "sending"}:
        summary = "pending"
    elif states == {"sent"}:
        summary = "sent"
    elif states == {"failed"}:
        summary = "failed"
    else:
        summary = "partial"
    return AlertEntry(
        id=row["id"],
        kind=str(row["kind"]),  # type: ignore[arg-type]
        interval_start=row["interval_start"],
        created_at=row["created_at"],
        usage_percent=row["usage_percent"],
        usage_bytes=int(row["usage_bytes"]),
        limit_bytes=None if row["limit_bytes"] is None else int(row["limit_bytes"]),
        delivery=summary,
        deliveries=deliveries,
    )
