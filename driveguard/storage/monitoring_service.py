"""Storage monitoring as the API uses it: the overview, the pipelines' status, changing the
monitoring settings, and driving the pipeline DAGs through Airflow's REST API.

Each method owns its transaction and audit row and takes the time from the injected clock; failures
are `driveguard.errors` (the door maps them). Input is checked before Airflow is asked anything,
so a bad request is refused even when Airflow is down.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from driveguard import audit
from driveguard.airflow_api import PIPELINE_DAGS, AirflowApiError, AirflowClient, AirflowUnavailable
from driveguard.audit import RequestContext
from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.errors import Conflict, InvalidInput, Unavailable, UpstreamFailed
from driveguard.identity.vault import Vault
from driveguard.storage.monitoring import MonitoringConfig, effective_config, store, validate_patch
from driveguard.storage.overview import MonitoringStatus, StorageOverview, monitoring_status, overview

ControlAction = Literal["pause", "resume", "trigger", "backfill"]
AIRFLOW_DETAIL_CHARS = 300


@dataclass(frozen=True)
class ControlCommand:
    """pause/resume: one DAG or all (`dag_id` None); trigger: a run now (default storage_collect,
    `recollect` only for it); backfill: storage_backfill (or `dag_id`) over whole past days."""

    action: ControlAction
    dag_id: str | None = None
    from_date: dt.date | None = None
    to_date: dt.date | None = None
    recollect: bool | None = None
    max_active_runs: int | None = None


@dataclass(frozen=True)
class PauseOutcome:
    action: Literal["pause", "resume"]
    is_paused: dict[str, bool | None]


@dataclass(frozen=True)
class TriggerOutcome:
    dag_id: str
    dag_run_id: str | None
    state: str | None
    data_interval_start: str | None
    data_interval_end: str | None


@dataclass(frozen=True)
class BackfillOutcome:
    dag_id: str
    backfill_id: int | str | None
    from_date: dt.date
    to_date: dt.date


ControlOutcome = PauseOutcome | TriggerOutcome | BackfillOutcome


@dataclass(frozen=True)
class ConfigChange:
    changed: list[str]
    config: MonitoringConfig
    """The effective configuration after the change, without secrets."""


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _airflow_detail(exc: AirflowApiError) -> str:
    return str(exc.detail)[:AIRFLOW_DETAIL_CHARS]


class MonitoringService:
    """Built once per API process (see the module docstring); `close` releases the Airflow client."""

    def __init__(self, settings: Settings, engine: Engine, airflow: AirflowClient, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.engine = engine
        self.airflow = airflow
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine, *, clock: Clock = utcnow) -> MonitoringService:
        return cls(settings, engine, AirflowClient.from_settings(settings), clock=clock)

    def close(self) -> None:
        self.airflow.close()

    def overview(self, *, level: str | None, limit: int, offset: int = 0, cursor: str | None = None) -> StorageOverview:
        return overview(self.engine, level=level, limit=limit, offset=offset, cursor=cursor)

    def status(self) -> MonitoringStatus:
        return monitoring_status(self.settings, self.engine, self.airflow)

    def _audit(self, actor: str, context: RequestContext, subject: str, details: dict[str, Any], conn: Any) -> None:
        with Session(bind=conn) as db:
            audit.record(
                db,
                action=audit.Action.ADMIN_ACTION,
                actor=actor,
                subject=subject,
                context=context,
                details=details,
                at=self.clock(),
            )
            db.flush()

    def configure(self, actor: str, context: RequestContext, patch: Mapping[str, Any]) -> ConfigChange:
        """Validate a partial settings update against the rules and the current values, store it, audit it.

        The DAGs read the stored values when their next task runs.
        """
        if not patch:
            raise InvalidInput("send at least one setting to change")
        clean = validate_patch(patch, effective_config(self.settings, self.engine))
        with self.engine.begin() as conn:
            store(conn, clean, updated_by=actor, vault=Vault(self.settings.security.encryption_keys))
            self._audit(actor, context, "monitoring_config", {"operation": "configure", "changed": sorted(clean)}, conn)
        return ConfigChange(sorted(clean), effective_config(self.settings, self.engine).public())

    def control(self, actor: str, context: RequestContext, command: ControlCommand) -> ControlOutcome:
        """Pause, resume, trigger or backfill pipeline DAGs in Airflow; audited once Airflow has done it."""
        self._check(command)
        try:
            outcome = self._drive_airflow(command)
        except AirflowUnavailable as exc:
            raise Unavailable(str(exc), title="Airflow is unavailable", code="airflow-unavailable") from None
        except AirflowApiError as exc:
            if exc.status in (400, 422):  # Airflow refused the request itself: the caller's to fix
                raise InvalidInput(f"Airflow: {_airflow_detail(exc)}", code="airflow-rejected") from None
            if exc.status == 409:  # e.g. a run for that logical date or a backfill already exists
                raise Conflict(f"Airflow: {_airflow_detail(exc)}", code="airflow-conflict") from None
            raise UpstreamFailed(
                f"Airflow refused: HTTP {exc.status}: {_airflow_detail(exc)}", code="airflow-error"
            ) from None
        with self.engine.begin() as conn:
            details = {"operation": command.action, "dag_id": command.dag_id}
            self._audit(actor, context, command.dag_id or "all", details, conn)
        return outcome

    def _check(self, command: ControlCommand) -> None:
        """Refuse contradictory or impossible commands before Airflow is asked anything."""
        if command.dag_id is not None and command.dag_id not in PIPELINE_DAGS:
            raise InvalidInput(f"dag_id must be one of {', '.join(PIPELINE_DAGS)}")
        if command.action != "backfill" and (command.from_date or command.to_date or command.max_active_runs):
            raise InvalidInput("from_date, to_date and max_active_runs apply only to a backfill")
        if command.action != "trigger" and command.recollect is not None:
            raise InvalidInput("conf applies only to a trigger")
        if command.recollect is not None and (command.dag_id or "storage_collect") != "storage_collect":
            raise InvalidInput("conf (recollect) applies only to storage_collect")
        if command.action == "backfill":
            if command.from_date is None or command.to_date is None:
                raise InvalidInput("a backfill needs from_date and to_date (YYYY-MM-DD, inclusive)")
            if command.from_date > command.to_date:
                raise InvalidInput("from_date must not be after to_date")
            if command.to_date >= self.clock().date():
                raise InvalidInput("to_date must be in the past (a day is complete only after it ends)")

    def _drive_airflow(self, command: ControlCommand) -> ControlOutcome:
        if command.action in ("pause", "resume"):
            paused = command.action == "pause"
            dag_ids = [command.dag_id] if command.dag_id else list(PIPELINE_DAGS)
            return PauseOutcome(
                command.action, {dag_id: self.airflow.set_paused(dag_id, paused).get("is_paused") for dag_id in dag_ids}
            )
        if command.action == "trigger":
            dag_id = command.dag_id or "storage_collect"
            conf = {"recollect": command.recollect} if command.recollect is not None else None
            run = self.airflow.trigger(dag_id, conf=conf, logical_date=self.clock())
            return TriggerOutcome(
                dag_id, run.get("dag_run_id"), run.get("state"), run.get("data_interval_start"),
                run.get("data_interval_end"),
            )  # fmt: skip
        dag_id = command.dag_id or "storage_backfill"
        assert command.from_date is not None and command.to_date is not None  # checked in _check
        backfill = self.airflow.create_backfill(
            dag_id, _midnight(command.from_date), _midnight(command.to_date), max_active_runs=command.max_active_runs
        )
        return BackfillOutcome(dag_id, backfill.get("id"), command.from_date, command.to_date)
