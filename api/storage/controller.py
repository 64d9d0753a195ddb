"""Storage monitoring over HTTP: overview, status, configuration and control. Admin only.

Thin over `driveguard.storage.monitoring_service.MonitoringService`. Airflow being down degrades
`status` (a clear field, not a 500) and makes `control` answer 503.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter

from api.openapi import ADMIN, with_problems
from api.storage.schemas import (
    CONFIGURE_BODY,
    ConfigureResponse,
    ControlRequest,
    ControlResponse,
    Level,
    MonitoringStatusResponse,
    OverviewResponse,
    control_response,
)
from driveguard.audit import RequestContext
from driveguard.identity.caller import Caller
from driveguard.storage.monitoring_service import MonitoringService
from driveguard.storage.overview import MAX_OFFSET


class StorageController(Controller):
    path = "/api/storage"
    tags = ["storage"]

    @get(
        "/overview",
        sync_to_thread=True,
        summary="Each account's latest usage and level, fullest first",
        description=(
            "Fullest first, accounts without a quota last. Page with `cursor`: each answer's `next_cursor` "
            "(opaque; null on the last page) fetches the page after it, at the same cost however deep. "
            "`offset` remains for shallow pages (at most 10,000); a cursor from another `level` is a 400."
        ),
        **with_problems(ADMIN, 400),
    )
    def get_overview(
        self,
        monitoring: MonitoringService,
        level: Level | None = Parameter(default=None, description="Only accounts at this warning level"),
        limit: int = Parameter(default=100, ge=1, le=1000),
        offset: int = Parameter(default=0, ge=0, le=MAX_OFFSET, description="Rows to skip; prefer `cursor`"),
        cursor: str | None = Parameter(
            default=None, max_length=2000, description="`next_cursor` of the previous page (same level)"
        ),
    ) -> OverviewResponse:
        result = monitoring.overview(level=level, limit=limit, offset=offset, cursor=cursor)
        return msgspec.convert(result, OverviewResponse, from_attributes=True)

    @get(
        "/monitoring/status",
        sync_to_thread=True,
        summary="Pipelines: Airflow DAG states and runs, counts",
        **ADMIN,
    )
    def get_status(self, monitoring: MonitoringService) -> MonitoringStatusResponse:
        return msgspec.convert(monitoring.status(), MonitoringStatusResponse, from_attributes=True)

    @post(
        "/monitoring/configure",
        sync_to_thread=True,
        status_code=200,
        summary="Change monitoring settings",
        **with_problems(ADMIN, 400),
    )
    def configure(
        self,
        monitoring: MonitoringService,
        caller: Caller,
        context: RequestContext,
        data: Annotated[dict[str, Any], CONFIGURE_BODY],
    ) -> ConfigureResponse:
        """Thresholds, hysteresis, repeat interval, collection cadence, refresh margin, raw retention
        and apprise targets; stored in `monitoring_config` and read by the DAGs when they run."""
        change = monitoring.configure(caller.subject, context, data)
        return msgspec.convert(change, ConfigureResponse, from_attributes=True)

    @post(
        "/monitoring/control",
        sync_to_thread=True,
        status_code=202,
        summary="Pause, resume, trigger, backfill",
        **with_problems(ADMIN, 400, 409, 502, 503),
    )
    def control(
        self, monitoring: MonitoringService, caller: Caller, context: RequestContext, data: ControlRequest
    ) -> ControlResponse:
        return control_response(monitoring.control(caller.subject, context, data.command()))
