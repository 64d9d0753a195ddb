"""The Airflow health probe, once: `GET /api/health`'s airflow check is `AirflowClient.health()`,
read against a stand-in for Airflow's `/api/v2/monitor/health` over real HTTP."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from support.servers import serve_asgi

from driveguard.config import Settings
from driveguard.health import check_airflow


def airflow_answering(status: int, body: Any) -> Any:
    """A minimal ASGI app answering every request like Airflow's health endpoint would."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        payload = json.dumps(body).encode() if body is not None else b"<html>down</html>"
        kind = b"application/json" if body is not None else b"text/html"
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", kind)]})
        await send({"type": "http.response.body", "body": payload})

    return app


def probe(settings: Settings, status: int, body: Any) -> dict[str, Any]:
    with serve_asgi(airflow_answering(status, body)) as url:
        airflow = dataclasses.replace(settings.airflow, api_url=url)
        check = check_airflow(dataclasses.replace(settings, airflow=airflow))
    return {"ok": check.ok, **check.detail}


def test_airflow_is_healthy_only_when_its_metadata_database_is(settings: Settings):
    healthy = {"metadatabase": {"status": "healthy"}, "scheduler": {"status": "healthy"}}
    report = probe(settings, 200, healthy)
    assert report["ok"] is True
    assert report["components"] == {"metadatabase": "healthy", "scheduler": "healthy"}

    sick = {"metadatabase": {"status": "unhealthy"}, "scheduler": {"status": "healthy"}}
    assert probe(settings, 200, sick)["ok"] is False


def test_an_error_page_instead_of_json_is_unhealthy_not_a_crash(settings: Settings):
    report = probe(settings, 503, None)
    assert (report["ok"], report["status_code"], report["components"]) == (False, 503, {})
