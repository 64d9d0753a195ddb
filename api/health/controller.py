"""`GET /api/health`: 200 when the database is usable, 503 otherwise, with every check's detail."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Controller, Response, get
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy import Engine

from api.openapi import PUBLIC
from driveguard.config import Settings
from driveguard.health import run_checks


class CheckView(msgspec.Struct):
    ok: bool
    latency_ms: float
    detail: dict[str, Any]
    """What the check found (versions, URLs, status codes), or the error when it failed."""


class HealthResponse(msgspec.Struct):
    status: Literal["ok", "degraded", "down"]
    """ok: everything answers; degraded: the database works but a dependency does not; down: no database."""
    healthy: bool
    checks: dict[str, CheckView]


class HealthController(Controller):
    path = "/api/health"
    tags = ["health"]

    @get(
        "/",
        sync_to_thread=True,
        summary="Reachability of the database, migrations, Airflow and Google",
        **{
            **PUBLIC,
            "responses": {503: ResponseSpec(HealthResponse, description="The database is unusable: `status` is down")},
        },
    )
    def health(self, settings: Settings, engine: Engine) -> Response[HealthResponse]:
        report = msgspec.convert(run_checks(settings, engine), HealthResponse)
        return Response(report, status_code=200 if report.healthy else 503)

    @get("/live", summary="Liveness: the process answers (no dependency is asked)", **PUBLIC)
    async def live(self) -> dict[str, str]:
        """For process supervisors, and the benchmark's ceiling: the framework's cost and nothing else."""
        return {"status": "ok"}
