"""Storage monitoring over HTTP: overview, status, configuration and control. Admin only.

Thin: reading and validating live in `driveguard.storage.overview` and `driveguard.storage.monitoring`,
Airflow is driven through `driveguard.airflow_api`. Airflow being down degrades `status` (a
clear field, not a 500) and makes `control` answer 503.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.security import principal_of, problem, request_context, requires_admin
from api.storage.schemas import ControlRequest
from driveguard import audit
from driveguard.airflow_api import PIPELINE_DAGS, AirflowApiError, AirflowClient, AirflowUnavailable
from driveguard.config import Settings
from driveguard.storage.monitoring import ConfigValidationError, effective_config, store, validate_patch
from driveguard.storage.overview import monitoring_status, overview


def storage_dependencies(settings: Settings) -> tuple[dict[str, Provide], Any]:
    """The Airflow client shared by the storage controllers, and its closer for on_shutdown."""
    client = AirflowClient.from_settings(settings)
    return {"airflow": Provide(lambda: client, use_cache=True, sync_to_thread=False)}, client.close


def _actor(request: Request[Any, Any, Any]) -> str:
    principal = principal_of(request)
    return principal.subject if principal else audit.ANONYMOUS_ACTOR


class StorageController(Controller):
    path = "/api/storage"
    tags = ["storage"]
    guards = [requires_admin]

    @get("/overview", sync_to_thread=True, summary="Each account's latest usage and level, fullest first")
    def get_overview(
        self,
        engine: Engine,
        level: str | None = Parameter(default=None, description="normal, warning or critical"),
        limit: int = Parameter(default=100, ge=1, le=1000),
        offset: int = Parameter(default=0, ge=0, le=10_000_000),
    ) -> dict[str, Any]:
        try:
            return overview(engine, level=level, limit=limit, offset=offset)
        except ValueError as exc:
            raise problem(400, str(exc)) from None

    @get("/monitoring/status", sync_to_thread=True, summary="Pipelines: Airflow DAG states and runs, counts")
    def get_status(self, settings: Settings, engine: Engine, airflow: AirflowClient) -> dict[str, Any]:
        return monitoring_status(settings, engine, airflow)

    @post("/monitoring/configure", sync_to_thread=True, status_code=200, summary="Change monitoring settings")
    def configure(
        self, request: Request[Any, Any, Any], settings: Settings, engine: Engine, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Thresholds, hysteresis, repeat interval, collection cadence, refresh margin, raw retention
        and apprise targets; stored in `monitoring_config` and read by the DAGs when they run."""
        if not data:
            raise problem(400, "send at least one setting to change")
        current = effective_config(settings, engine)
        try:
            clean = validate_patch(data, current)
        except ConfigValidationError as exc:
            raise problem(400, str(exc), title="Invalid monitoring settings", code="invalid-config") from None
        with engine.begin() as conn:
            store(conn, clean, updated_by=_actor(request))
            with Session(bind=conn) as db:
                audit.record(
                    db,
                    action=audit.Action.ADMIN_ACTION,
                    actor=_actor(request),
                    subject="monitoring_config",
                    context=request_context(request),
                    details={"operation": "configure", "changed": sorted(clean)},
                )
                db.flush()
        return {"changed": sorted(clean), "config": effective_config(settings, engine).public()}

    @post("/monitoring/control", sync_to_thread=True, status_code=202, summary="Pause, resume, trigger, backfill")
    def control(
        self, request: Request[Any, Any, Any], engine: Engine, airflow: AirflowClient, data: ControlRequest
    ) -> dict[str, Any]:
        try:
            result = self._control(airflow, data)
        except AirflowUnavailable as exc:
            raise problem(503, str(exc), title="Airflow is unavailable", code="airflow-unavailable") from None
        except AirflowApiError as exc:
            if exc.status in (400, 422):  # Airflow refused the request itself: the caller's to fix
                raise problem(400, f"Airflow: {str(exc.detail)[:300]}", code="airflow-rejected") from None
            if exc.status == 409:  # e.g. a run for that logical date or a backfill already exists
                detail = f"Airflow: {str(exc.detail)[:300]}"
                raise problem(409, detail, title="Conflict", code="airflow-conflict") from None
            raise problem(
                502, f"Airflow refused: HTTP {exc.status}: {str(exc.detail)[:300]}", code="airflow-error"
            ) from None
        with engine.begin() as conn, Session(bind=conn) as db:
            audit.record(
                db,
                action=audit.Action.ADMIN_ACTION,
                actor=_actor(request),
                subject=data.dag_id or "all",
                context=request_context(request),
                details={"operation": data.action, "dag_id": data.dag_id},
            )
            db.flush()
        return {"action": data.action, **result}

    @staticmethod
    def _control(airflow: AirflowClient, data: ControlRequest) -> dict[str, Any]:
        if data.action != "backfill" and (data.from_date or data.to_date or data.max_active_runs):
            raise problem(400, "from_date, to_date and max_active_runs apply only to a backfill")
        if data.action != "trigger" and data.conf is not None:
            raise problem(400, "conf applies only to a trigger")
        if data.action in ("pause", "resume"):
            dag_ids = [data.dag_id] if data.dag_id else list(PIPELINE_DAGS)
            paused = data.action == "pause"
            done = {dag_id: airflow.set_paused(dag_id, paused).get("is_paused") for dag_id in dag_ids}
            return {"is_paused": done}
        if data.action == "trigger":
            dag_id = data.dag_id or "storage_collect"
            if data.conf is not None and dag_id != "storage_collect":
                raise problem(400, "conf (recollect) applies only to storage_collect")
            conf = msgspec.structs.asdict(data.conf) if data.conf is not None else None
            run = airflow.trigger(dag_id, conf=conf)
            return {"dag_id": dag_id, "dag_run_id": run.get("dag_run_id"), "state": run.get("state"),
                    "data_interval_start": run.get("data_interval_start"),
                    "data_interval_end": run.get("data_interval_end")}  # fmt: skip
        dag_id = data.dag_id or "storage_backfill"
        if data.from_date is None or data.to_date is None:
            raise problem(400, "a backfill needs from_date and to_date (YYYY-MM-DD, inclusive)")
        if data.from_date > data.to_date:
            raise problem(400, "from_date must not be after to_date")
        if data.to_date >= dt.datetime.now(dt.UTC).date():
            raise problem(400, "to_date must be in the past (a day is complete only after it ends)")

        def midnight(day: dt.date) -> dt.datetime:
            return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)

        backfill = airflow.create_backfill(
            dag_id, midnight(data.from_date), midnight(data.to_date), max_active_runs=data.max_active_runs
        )
        return {"dag_id": dag_id, "backfill_id": backfill.get("id"), "from_date": str(data.from_date),
                "to_date": str(data.to_date)}  # fmt: skip
