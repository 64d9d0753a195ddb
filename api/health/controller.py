"""`GET /api/health`: 200 when the database is usable, 503 otherwise, with every check's detail."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from sqlalchemy import Engine

from driveguard.config import Settings
from driveguard.health import run_checks


class HealthController(Controller):
    path = "/api/health"
    tags = ["health"]

    @get("/", sync_to_thread=True, summary="Reachability of the database, migrations, Airflow and Google")
    def health(self, settings: Settings, engine: Engine) -> Response[dict[str, Any]]:
        report = run_checks(settings, engine)
        return Response(report, status_code=200 if report["healthy"] else 503)
