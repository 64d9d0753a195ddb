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
from typing import Any

from sqlalchemy import Connection, Engine

from driveguard.airflow_api import PIPELINE_DAGS, AirflowApiError, AirflowClient, AirflowUnavailable
from driveguard.config import Settings
from driveguard.errors import InvalidInput
from driveguard.storage.monitoring import MonitoringConfig, effective_config
from driveguard.storage.sql import load_sql

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


def overview(engine: Engine, *, level: str | None = None, limit: int = 100, offset: int = 0) -> StorageOverview:
    """Accounts fullest first (optionally of one level), with totals over all accounts."""
    if level is not None and level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}")
    with engine.connect() as conn:
        rows = conn.execute(load_sql("storage_overview"), {"level": level, "limit": limit, "offset": offset}).mappings()
        accounts = [
            AccountUsage(
                **{
                    **row,
                    "account_status": str(row["account_status"]),
                    "level": str(row["level"]),
                    "usage_percent": None if row["usage_percent"] is None else round(float(row["usage_percent"]), 2),
                }
            )
            for row in rows
        ]
        totals = conn.execute(load_sql("storage_overview_totals")).mappings().one()
    return StorageOverview(
        totals=UsageTotals(**{**totals, "usage_bytes": int(totals["usage_bytes"])}),
        accounts=accounts,
        limit=limit,
        offset=offset,
    )


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
