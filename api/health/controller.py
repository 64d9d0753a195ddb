"""`GET /api/health`: up (200) while the database works, down (503) otherwise.

Anyone learns up/down and whether sign-in and the pipelines work; only an admin sees the checks'
details (versions, URLs, status codes, error text), which would map the deployment for an attacker.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Controller, Response, get
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy import Engine

from api.openapi import ADMIN_BEARER, PUBLIC, SESSION_BEARER, SESSION_COOKIE
from driveguard.config import Settings
from driveguard.health import run_checks
from driveguard.identity.caller import Caller


class CheckView(msgspec.Struct):
    ok: bool
    latency_ms: float
    detail: dict[str, Any]
    """What the check found (versions, URLs, status codes), or the error when it failed."""


class HealthResponse(msgspec.Struct, omit_defaults=True):
    status: Literal["up", "down"]
    """up: the database answers (HTTP 200); down: it does not (HTTP 503)."""
    signin: Literal["ok", "down"]
    """Google sign-in works: the database, its migrations and Google's token endpoint answer."""
    pipelines: Literal["ok", "down"]
    """The pipelines can run: the database and Airflow answer. Down here leaves sign-in working."""
    checks: dict[str, CheckView] | None = None
    """Each check's detail: admins only (an admin JWT)."""


class HealthController(Controller):
    path = "/api/health"
    tags = ["health"]

    @get(
        "/",
        sync_to_thread=True,
        summary="Up or down; whether sign-in and the pipelines work; details for admins",
        **{
            **PUBLIC,
            "security": [{}, {ADMIN_BEARER: []}, {SESSION_COOKIE: []}, {SESSION_BEARER: []}],
            "responses": {503: ResponseSpec(HealthResponse, description="The database is unusable: `status` is down")},
        },
    )
    def health(self, settings: Settings, engine: Engine, maybe_caller: Caller | None) -> Response[HealthResponse]:
        report = msgspec.convert(run_checks(settings, engine), HealthResponse)
        if maybe_caller is None or not maybe_caller.is_admin:
            report = HealthResponse(status=report.status, signin=report.signin, pipelines=report.pipelines)
        return Response(report, status_code=200 if report.status == "up" else 503)

    @get("/live", summary="Liveness: the process answers (no dependency is asked)", **PUBLIC)
    async def live(self) -> dict[str, str]:
        """For process supervisors, and the benchmark's ceiling: the framework's cost and nothing else."""
        return {"status": "ok"}
