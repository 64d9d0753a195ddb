"""Read side of storage monitoring for the API: the overview and the pipelines' status.

`monitoring_status` combines Airflow's view (DAG states, last and next runs, through the REST
API) with the database's (per-run counts from `pipeline_run`, outbox and account states). When
Airflow cannot be reached it says so in `airflow.available`/`airflow.error` and still returns
everything the database knows. Byte counts are integers everywhere (PostgreSQL's `sum` is a
numeric, which JSON would otherwise carry as a string).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, TextClause, text

from driveguard.airflow_api import PIPELINE_DAGS, AirflowApiError, AirflowClient, AirflowUnavailable
from driveguard.config import Settings
from driveguard.errors import InvalidInput
from driveguard.storage.cursors import decode_cursor, encode_cursor
from driveguard.storage.monitoring import MonitoringConfig, effective_config
from driveguard.storage.sql import load_sql, queries

logger = logging.getLogger(__name__)
LEVELS = ("normal", "warning", "critical")


@dataclass(frozen=True)
class AccountUsage:
    """One account's latest usage, level and growth."""

    account_id: uuid.UUID
    email: str
    account_status: str
    interval_start: dt.datetime
    interval_end: dt.datetime
    collected_at: dt.datetime
    usage_bytes: int
    usage_in_drive_bytes: int | None
    usage_in_trash_bytes: int | None
    limit_bytes: int | None
    usage_percent: float | None
    level: str
    growth_24h_bytes: int | None
    growth_7d_bytes: int | None


@dataclass(frozen=True)
class UsageTotals:
    accounts: int
    normal: int
    warning: int
    critical: int
    unlimited: int
    usage_bytes: int
    latest_interval_end: dt.datetime | None


@dataclass(frozen=True)
class StorageOverview:
    totals: UsageTotals
    accounts: list[AccountUsage]
    limit: int
    offset: int
    next_cursor: str | None
    """Pass as `cursor` for the page after this one; None on the last page."""


MAX_OFFSET = 10_000
"""Offsets walk the rows they skip: deep pages go by `cursor`, which costs the same on any page."""
_COUNTS = ("accounts", "normal", "warning", "critical", "unlimited", "usage_bytes")


@cache
def _overview_sql(level: bool, after: bool) -> TextClause:
    """The page query for one combination of filters; only fixed fragments go in."""
    where = ["TRUE"]
    if level:
        where.append("l.level = CAST(:level AS warning_level)")
    if after:
        where.append(
            "(coalesce(l.usage_percent, -1), l.account_id)"
            " < (CAST(:after_key AS double precision), CAST(:after_id AS uuid))"
        )
    return text(queries.text("storage_overview").replace("/*WHERE*/", " AND ".join(where)))


def _overview_position(cursor: str, level: str | None) -> tuple[float, uuid.UUID]:
    """(sort key, account id) of the row a cursor points after; checked against the query."""
    payload = decode_cursor(cursor)
    if len(payload) != 4 or payload[0] != "overview":
        raise InvalidInput("cursor is not one of the overview", code="invalid-cursor")
    if payload[1] != level:
        raise InvalidInput("cursor was issued for another level filter", code="invalid-cursor")
    key, raw_id = payload[2], payload[3]
    if isinstance(key, bool) or not isinstance(key, int | float) or not isinstance(raw_id, str):
        raise InvalidInput("cursor is not one this API issued", code="invalid-cursor")
    try:
        return float(key), uuid.UUID(raw_id)
    except ValueError:
        raise InvalidInput("cursor is not one this API issued", code="invalid-cursor") from None


def _totals(row: Any) -> UsageTotals:
    return UsageTotals(**{**row, **{name: int(row[name]) for name in _COUNTS}})


def overview(
    engine: Engine, *, level: str | None = None, limit: int = 100, offset: int = 0, cursor: str | None = None
) -> StorageOverview:
    """Accounts fullest first (optionally of one level), with totals over all accounts. Pages go by
    keyset `cursor` (the previous page's `next_cursor`); a shallow `offset` is still accepted."""
    if level is not None and level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}; use cursor for deeper pages")
    if cursor and offset:
        raise InvalidInput("give either cursor or offset, not both", code="invalid-cursor")
    params: dict[str, Any] = {"level": level, "limit": limit + 1, "offset": offset}
    if cursor:
        params["after_key"], params["after_id"] = _overview_position(cursor, level)
    with engine.connect() as conn:
        rows = list(conn.execute(_overview_sql(level is not None, bool(cursor)), params).mappings())
        totals = conn.execute(load_sql("storage_overview_totals")).mappings().one()
    accounts = [
        AccountUsage(
            **{
                **row,
                "account_status": str(row["account_status"]),
                "level": str(row["level"]),
                "usage_percent": None if row["usage_percent"] is None else round(float(row["usage_percent"]), 2),
            }
        )
        for row in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        key = -1.0 if last["usage_percent"] is None else float(last["usage_percent"])
        next_cursor = encode_cursor(["overview", level, key, str(last["account_id"])])
    return StorageOverview(_totals(totals), accounts, limit, offset, next_cursor)


def recount(engine: Engine) -> UsageTotals:
    """The totals counted over the whole read model: what `overview`'s pre-aggregate must equal."""
    with engine.connect() as conn:
        return _totals(conn.execute(load_sql("storage_overview_recount")).mappings().one())


@dataclass(frozen=True)
class TaskRun:
    """What one DAG task last recorded in `pipeline_run`."""

    run_id: str
    interval_start: dt.datetime | None
    interval_end: dt.datetime | None
    counts: dict[str, Any]
    recorded_at: dt.datetime


@dataclass(frozen=True)
class DagRunView:
    """One Airflow DAG run, as Airflow's REST API reports it (dates are Airflow's ISO strings)."""

    dag_run_id: str | None
    state: str | None
    run_type: str | None
    logical_date: str | None
    data_interval_start: str | None
    data_interval_end: str | None
    run_after: str | None
    start_date: str | None
    end_date: str | None

    @classmethod
    def of(cls, run: dict[str, Any]) -> DagRunView:
        return cls(**{name: run.get(name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class DagView:
    """One pipeline DAG in Airflow; `error` (and nothing else) when Airflow could not describe it."""

    is_paused: bool | None = None
    has_import_errors: bool | None = None
    timetable: str | None = None
    next_run_after: str | None = None
    next_data_interval_start: str | None = None
    next_data_interval_end: str | None = None
    last_run: DagRunView | None = None
    recent_runs: tuple[DagRunView, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class AirflowView:
    available: bool
    error: str | None
    url: str
    dags: dict[str, DagView]


@dataclass(frozen=True)
class MonitoringStatus:
    config: MonitoringConfig
    """Without secrets (see `MonitoringConfig.public`)."""
    pipelines: dict[str, dict[str, TaskRun]]
    """dag_id -> task_id -> its latest run."""
    outbox: dict[str, int]
    accounts: dict[str, int]
    levels: dict[str, int]
    airflow: AirflowView


def _counts(conn: Connection, name: str) -> dict[str, int]:
    """`(key, count)` rows as a mapping."""
    return {str(key): int(count) for key, count in conn.execute(load_sql(name)).all()}


Counts = dict[str, int]


def _database_status(engine: Engine) -> tuple[dict[str, dict[str, TaskRun]], Counts, Counts, Counts]:
    with engine.connect() as conn:
        pipelines: dict[str, dict[str, TaskRun]] = {}
        for r in conn.execute(load_sql("latest_pipeline_runs")).mappings():
            pipelines.setdefault(r["dag_id"], {})[r["task_id"]] = TaskRun(
                r["run_id"], r["interval_start"], r["interval_end"], dict(r["counts"] or {}), r["recorded_at"]
            )
        outbox = _counts(conn, "outbox_by_status")
        accounts = _counts(conn, "accounts_by_status")
        levels = _counts(conn, "accounts_by_level")
    return pipelines, outbox, accounts, levels


def _airflow_dags(client: AirflowClient) -> dict[str, DagView]:
    dags: dict[str, DagView] = {}
    for dag_id in PIPELINE_DAGS:
        try:
            dag = client.get_dag(dag_id)
            runs = [DagRunView.of(run) for run in client.dag_runs(dag_id, limit=5)]
        except AirflowApiError as exc:
            if exc.status in (401, 403):  # Driveguard's Airflow credentials are wrong: nothing will work
                raise
            dags[dag_id] = DagView(error=f"HTTP {exc.status}: {str(exc.detail)[:200]}")
            continue
        dags[dag_id] = DagView(
            is_paused=dag.get("is_paused"),
            has_import_errors=dag.get("has_import_errors"),
            timetable=dag.get("timetable_summary"),
            next_run_after=dag.get("next_dagrun_run_after"),
            next_data_interval_start=dag.get("next_dagrun_data_interval_start"),
            next_data_interval_end=dag.get("next_dagrun_data_interval_end"),
            last_run=runs[0] if runs else None,
            recent_runs=tuple(runs),
        )
    return dags


def monitoring_status(settings: Settings, engine: Engine, client: AirflowClient) -> MonitoringStatus:
    """The pipelines as Airflow and the database see them; Airflow being down degrades, never fails."""
    pipelines, outbox, accounts, levels = _database_status(engine)
    url = settings.airflow.api_url
    try:
        airflow = AirflowView(available=True, error=None, url=url, dags=_airflow_dags(client))
    except (AirflowUnavailable, AirflowApiError) as exc:
        logger.warning("Airflow status unavailable: %s", exc)
        airflow = AirflowView(available=False, error=str(exc)[:300], url=url, dags={})
    return MonitoringStatus(
        config=effective_config(settings, engine).public(),
        pipelines=pipelines,
        outbox=outbox,
        accounts=accounts,
        levels=levels,
        airflow=airflow,
    )
