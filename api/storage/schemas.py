"""Request and response shapes of `/api/storage/*` (msgspec; OpenAPI is generated from them).

Request values are checked again by the core. Byte counts are integers everywhere.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import Body

from driveguard.airflow_api import PIPELINE_DAGS
from driveguard.storage.monitoring import COLLECT_EVERY_HOURS
from driveguard.storage.monitoring_service import BackfillOutcome, ControlCommand, ControlOutcome, PauseOutcome

DagId = Literal["token_refresh", "storage_collect", "storage_backfill", "alert_dispatch", "cleanup"]
assert set(DagId.__args__) == set(PIPELINE_DAGS)  # type: ignore[attr-defined]
Level = Literal["normal", "warning", "critical"]


class RunConf(msgspec.Struct, forbid_unknown_fields=True):
    """Parameters a triggered run accepts (storage_collect's `recollect`: ask Google again for
    accounts already collected in the interval)."""

    recollect: bool = False


class ControlRequest(msgspec.Struct, forbid_unknown_fields=True):
    """pause/resume: one DAG or all (`dag_id` omitted); trigger: a run now (default storage_collect);
    backfill: storage_backfill (or `dag_id`) from `from_date` to `to_date`, both inclusive."""

    action: Literal["pause", "resume", "trigger", "backfill"]
    dag_id: DagId | None = None
    from_date: dt.date | None = None
    to_date: dt.date | None = None
    conf: RunConf | None = None
    max_active_runs: Annotated[int, msgspec.Meta(ge=1, le=16)] | None = None

    def command(self) -> ControlCommand:
        return ControlCommand(
            action=self.action,
            dag_id=self.dag_id,
            from_date=self.from_date,
            to_date=self.to_date,
            recollect=self.conf.recollect if self.conf is not None else None,
            max_active_runs=self.max_active_runs,
        )


# -- overview ------------------------------------------------------------------------------


class AccountUsageView(msgspec.Struct):
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
    """None: the account's storage is unlimited."""
    usage_percent: float | None
    level: Level
    growth_24h_bytes: int | None
    growth_7d_bytes: int | None


class UsageTotalsView(msgspec.Struct):
    accounts: int
    normal: int
    warning: int
    critical: int
    unlimited: int
    usage_bytes: int
    latest_interval_end: dt.datetime | None


class OverviewResponse(msgspec.Struct):
    totals: UsageTotalsView
    accounts: list[AccountUsageView]
    limit: int
    offset: int
    next_cursor: str | None = None
    """Opaque: pass it back as `cursor` for the next page (same `level`); null on the last page."""


# -- monitoring status and configuration ----------------------------------------------------


class MonitoringConfigView(msgspec.Struct):
    """The effective monitoring settings; apprise URLs only as scheme and host (they hold secrets)."""

    warning_threshold_percent: float
    critical_threshold_percent: float
    hysteresis_margin_percent: float
    critical_repeat_hours: int
    alerts_enabled: bool
    apprise_urls: list[str]
    collect_every_hours: int
    refresh_margin_minutes: int
    raw_retention_days: int


class TaskRunView(msgspec.Struct):
    run_id: str
    interval_start: dt.datetime | None
    interval_end: dt.datetime | None
    counts: dict[str, Any]
    recorded_at: dt.datetime


class DagRunView(msgspec.Struct):
    dag_run_id: str | None
    state: str | None
    run_type: str | None
    logical_date: str | None
    data_interval_start: str | None
    data_interval_end: str | None
    run_after: str | None
    start_date: str | None
    end_date: str | None


class DagView(msgspec.Struct, omit_defaults=True):
    """A pipeline DAG as Airflow describes it, or only `error` when Airflow could not."""

    is_paused: bool | None = None
    has_import_errors: bool | None = None
    timetable: str | None = None
    next_run_after: str | None = None
    next_data_interval_start: str | None = None
    next_data_interval_end: str | None = None
    last_run: DagRunView | None = None
    recent_runs: list[DagRunView] = msgspec.field(default_factory=list)
    error: str | None = None


class AirflowView(msgspec.Struct):
    available: bool
    error: str | None
    url: str
    dags: dict[str, DagView]


class MonitoringStatusResponse(msgspec.Struct):
    config: MonitoringConfigView
    pipelines: dict[str, dict[str, TaskRunView]]
    """dag_id -> task_id -> the latest run Driveguard recorded."""
    outbox: dict[str, int]
    """Notification messages per status."""
    accounts: dict[str, int]
    """Google accounts per status."""
    levels: dict[str, int]
    """Accounts per warning level."""
    airflow: AirflowView


class ConfigureResponse(msgspec.Struct):
    changed: list[str]
    config: MonitoringConfigView


# -- control --------------------------------------------------------------------------------


class PausedResponse(msgspec.Struct, tag_field="action", tag="pause"):
    is_paused: dict[str, bool | None]


class ResumedResponse(msgspec.Struct, tag_field="action", tag="resume"):
    is_paused: dict[str, bool | None]


class TriggeredResponse(msgspec.Struct, tag_field="action", tag="trigger"):
    dag_id: str
    dag_run_id: str | None
    state: str | None
    data_interval_start: str | None
    data_interval_end: str | None


class BackfillResponse(msgspec.Struct, tag_field="action", tag="backfill"):
    dag_id: str
    backfill_id: int | str | None
    from_date: dt.date
    to_date: dt.date


ControlResponse = PausedResponse | ResumedResponse | TriggeredResponse | BackfillResponse


def control_response(outcome: ControlOutcome) -> ControlResponse:
    if isinstance(outcome, PauseOutcome):
        kind = PausedResponse if outcome.action == "pause" else ResumedResponse
        return kind(is_paused=outcome.is_paused)
    if isinstance(outcome, BackfillOutcome):
        return msgspec.convert(outcome, BackfillResponse, from_attributes=True)
    return msgspec.convert(outcome, TriggeredResponse, from_attributes=True)


# -- reads: /me, the account list, an account's history and alerts (driveguard.storage.reads) ------

Resolution = Literal["raw", "hourly", "daily"]
SortKey = Literal["usage_percent", "used_bytes", "email", "last_collected", "growth_24h", "growth_7d"]
Direction = Literal["asc", "desc"]
AccountStatus = Literal["active", "reauth_required", "revoked"]


class UsageNowView(msgspec.Struct):
    used_bytes: int
    limit_bytes: int | None
    """None: the account's storage is unlimited."""
    percent: float | None
    level: Level
    usage_in_drive_bytes: int | None
    usage_in_trash_bytes: int | None
    interval_start: dt.datetime
    interval_end: dt.datetime
    collected_at: dt.datetime
    growth_24h_bytes: int | None
    growth_7d_bytes: int | None


class ThresholdsView(msgspec.Struct):
    warning_percent: float
    critical_percent: float
    alerts_enabled: bool


class HistoryPointView(msgspec.Struct):
    at: dt.datetime
    used_bytes: int
    """The closing usage of the point (a bucket's newest snapshot)."""
    min_used_bytes: int
    max_used_bytes: int
    limit_bytes: int | None
    samples: int


class HistoryResponse(msgspec.Struct):
    account_id: uuid.UUID
    resolution: Resolution
    from_: dt.datetime = msgspec.field(name="from")
    to: dt.datetime
    """Points with from <= at < to."""
    points: list[HistoryPointView]


class TrendView(msgspec.Struct):
    status: Literal["ok", "unknown"]
    reason: str | None
    """When unknown: no-data, too-few-points, too-short-span, level-shift, flat or shrinking."""
    bytes_per_day: int | None
    bytes_per_week: int | None
    points: int
    fitted_from: dt.datetime | None
    fitted_to: dt.datetime | None
    level_shift_at: dt.datetime | None
    fitted_bytes: int | None


class EtaView(msgspec.Struct):
    name: Literal["warning", "critical", "full"]
    percent: float
    threshold_bytes: int | None
    status: Literal["reached", "forecast", "unknown"]
    days: float | None
    date: dt.date | None
    reason: str | None
    """When unknown: the trend's reason, unlimited, or beyond-horizon."""


class ForecastView(msgspec.Struct):
    trend: TrendView
    warning: EtaView
    critical: EtaView
    full: EtaView


class MyStorageResponse(msgspec.Struct):
    account_id: uuid.UUID
    email: str
    account_status: AccountStatus
    usage: UsageNowView | None
    """None until the first snapshot is collected."""
    thresholds: ThresholdsView
    history: HistoryResponse
    """The last 30 days, daily."""
    forecast: ForecastView
    generated_at: dt.datetime


class AccountRowView(msgspec.Struct):
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


class AccountsResponse(msgspec.Struct):
    items: list[AccountRowView]
    next_cursor: str | None
    """Pass as `cursor` (with the same sort and direction) for the next page; null on the last."""
    sort: SortKey
    direction: Direction
    limit: int


class DeliveryView(msgspec.Struct):
    id: uuid.UUID
    status: Literal["pending", "sending", "sent", "failed"]
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None


class AlertView(msgspec.Struct):
    id: uuid.UUID
    kind: Literal["warning", "critical", "critical_repeat", "resolved"]
    interval_start: dt.datetime
    created_at: dt.datetime
    usage_percent: float | None
    usage_bytes: int
    limit_bytes: int | None
    delivery: Literal["none", "pending", "sent", "failed", "partial"]
    deliveries: list[DeliveryView]


class AlertsResponse(msgspec.Struct):
    account_id: uuid.UUID
    items: list[AlertView]
    """Newest first."""
    next_cursor: str | None
    limit: int


# -- the monitoring settings a configure request may change ----------------------------------


def _number(low: float, high: float) -> Schema:
    return Schema(type=OpenAPIType.NUMBER, minimum=low, maximum=high)


def _whole(low: int, high: int) -> Schema:
    return Schema(type=OpenAPIType.INTEGER, minimum=low, maximum=high)


CONFIGURABLE_SETTINGS: dict[str, Schema] = {
    "warning_threshold_percent": _number(1, 100),
    "critical_threshold_percent": _number(1, 100),
    "hysteresis_margin_percent": _number(0, 50),
    "critical_repeat_hours": _whole(1, 24 * 30),
    "alerts_enabled": Schema(type=OpenAPIType.BOOLEAN),
    "apprise_urls": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING), max_items=50),
    "collect_every_hours": Schema(type=OpenAPIType.INTEGER, enum=list(COLLECT_EVERY_HOURS)),
    "refresh_margin_minutes": _whole(4, 45),
    "raw_retention_days": _whole(1, 3650),
}
"""How `POST /api/storage/monitoring/configure` documents its body. The rules themselves are
`driveguard.storage.monitoring.validate_patch`'s (also: warning < critical, margin < warning, an
apprise URL apprise accepts); tests/unit/api/test_configure_schema.py holds the two together."""

CONFIGURE_BODY = Body(
    description="The settings to change (at least one); the others keep their values.",
    schema_extra={"properties": CONFIGURABLE_SETTINGS, "additional_properties": False, "min_properties": 1},
)
