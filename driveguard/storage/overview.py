"""Read side of storage monitoring for the API: the overview and the pipelines' status.

`monitoring_status` combines Airflow's view (DAG states, last and next runs, through the REST
API) with the database's (per-run counts from `pipeline_run`, outbox and account states). When
Airflow cannot be reached it says so in `airflow.available`/`airflow.error` and still returns
everything the database knows.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, text

from driveguard.airflow_api import PIPELINE_DAGS, AirflowApiError, AirflowClient, AirflowUnavailable
from driveguard.config import Settings
from driveguard.storage.monitoring import effective_config
from driveguard.storage.sql import load_sql

logger = logging.getLogger(__name__)
LEVELS = ("normal", "warning", "critical")


def overview(engine: Engine, *, level: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    if level is not None and level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    with engine.connect() as conn:
        rows = conn.execute(load_sql("storage_overview"), {"level": level, "limit": limit, "offset": offset}).mappings()
        accounts = [dict(r) for r in rows]
        totals = dict(conn.execute(load_sql("storage_overview_totals")).mappings().one())
    for row in accounts:
        if row["usage_percent"] is not None:
            row["usage_percent"] = round(float(row["usage_percent"]), 2)
    return {"totals": totals, "accounts": accounts, "limit": limit, "offset": offset}


def _database_status(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        runs = conn.execute(
            text(
                "SELECT DISTINCT ON (dag_id, task_id) dag_id, task_id, run_id, interval_start, interval_end, counts, "
                "recorded_at FROM pipeline_run ORDER BY dag_id, task_id, recorded_at DESC"
            )
        ).mappings()
        pipelines: dict[str, dict[str, Any]] = {}
        for r in runs:
            pipelines.setdefault(r["dag_id"], {})[r["task_id"]] = {
                "run_id": r["run_id"],
                "interval_start": r["interval_start"],
                "interval_end": r["interval_end"],
                "counts": r["counts"],
                "recorded_at": r["recorded_at"],
            }
        outbox = dict(conn.execute(text("SELECT status::text, count(*) FROM notification_outbox GROUP BY 1")).all())
        accounts = dict(conn.execute(text("SELECT status::text, count(*) FROM google_account GROUP BY 1")).all())
        levels = dict(conn.execute(text("SELECT level::text, count(*) FROM storage_latest GROUP BY 1")).all())
    return {"pipelines": pipelines, "outbox": outbox, "accounts": accounts, "levels": levels}


def _run_view(run: dict[str, Any]) -> dict[str, Any]:
    keys = ("dag_run_id", "state", "run_type", "logical_date", "data_interval_start", "data_interval_end",
            "run_after", "start_date", "end_date")  # fmt: skip
    return {k: run.get(k) for k in keys}


def _airflow_status(client: AirflowClient) -> dict[str, Any]:
    dags: dict[str, Any] = {}
    for dag_id in PIPELINE_DAGS:
        try:
            dag = client.get_dag(dag_id)
            runs = client.dag_runs(dag_id, limit=5)
        except AirflowApiError as exc:
            if exc.status in (401, 403):  # Driveguard's Airflow credentials are wrong: nothing will work
                raise
            dags[dag_id] = {"error": f"HTTP {exc.status}: {str(exc.detail)[:200]}"}
            continue
        dags[dag_id] = {
            "is_paused": dag.get("is_paused"),
            "has_import_errors": dag.get("has_import_errors"),
            "timetable": dag.get("timetable_summary"),
            "next_run_after": dag.get("next_dagrun_run_after"),
            "next_data_interval_start": dag.get("next_dagrun_data_interval_start"),
            "next_data_interval_end": dag.get("next_dagrun_data_interval_end"),
            "last_run": _run_view(runs[0]) if runs else None,
            "recent_runs": [_run_view(r) for r in runs],
        }
    return dags


def monitoring_status(settings: Settings, engine: Engine, client: AirflowClient) -> dict[str, Any]:
    status: dict[str, Any] = {
        "config": effective_config(settings, engine).public(),
        **_database_status(engine),
    }
    try:
        status["airflow"] = {"available": True, "error": None, "url": settings.airflow.api_url,
                             "dags": _airflow_status(client)}  # fmt: skip
    except (AirflowUnavailable, AirflowApiError) as exc:
        logger.warning("Airflow status unavailable: %s", exc)
        status["airflow"] = {"available": False, "error": str(exc)[:300], "url": settings.airflow.api_url, "dags": {}}
    return status
