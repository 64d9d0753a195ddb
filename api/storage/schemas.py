"""Request shapes of `/api/storage/*` (msgspec). Values are checked again by the core."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

from driveguard.airflow_api import PIPELINE_DAGS

DagId = Literal["token_refresh", "storage_collect", "storage_backfill", "alert_dispatch", "cleanup"]
assert set(DagId.__args__) == set(PIPELINE_DAGS)  # type: ignore[attr-defined]


class ControlRequest(msgspec.Struct, forbid_unknown_fields=True):
    """pause/resume: one DAG or all (`dag_id` omitted); trigger: a run now (default storage_collect);
    backfill: storage_backfill (or `dag_id`) from `from_date` to `to_date`, both inclusive."""

    action: Literal["pause", "resume", "trigger", "backfill"]
    dag_id: DagId | None = None
    from_date: dt.date | None = None
    to_date: dt.date | None = None
    conf: dict[str, Any] | None = None
    max_active_runs: int | None = None
