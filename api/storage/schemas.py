"""Request shapes of `/api/storage/*` (msgspec). Values are checked again by the core."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from driveguard.airflow_api import PIPELINE_DAGS

DagId = Literal["token_refresh", "storage_collect", "storage_backfill", "alert_dispatch", "cleanup"]
assert set(DagId.__args__) == set(PIPELINE_DAGS)  # type: ignore[attr-defined]


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
