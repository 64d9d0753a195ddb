"""Reachability of everything Driveguard depends on, for `GET /api/health` and the launcher.

Two questions, answered apart: does sign-in work (the database, its migrations, Google's token
endpoint) and do the pipelines work (Airflow). Airflow being down stops collection, not sign-in.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from sqlalchemy import Engine, text

from driveguard.airflow_api import AirflowClient
from driveguard.config import Settings, insecure_cookie_warning
from driveguard.db import migrate


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    latency_ms: float
    detail: dict[str, Any]


def _timed(name: str, probe: Any) -> Check:
    started = time.perf_counter()
    try:
        detail = probe()
        ok = bool(detail.pop("ok", True))
    except Exception as exc:  # a health check reports failures, it never raises
        ok, detail = False, {"error": type(exc).__name__, "message": str(exc)[:200]}
    return Check(name, ok, round((time.perf_counter() - started) * 1000, 1), detail)


def check_database(engine: Engine) -> Check:
    def probe() -> dict[str, Any]:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
        return {"server_version": version}

    return _timed("database", probe)


def check_migrations(engine: Engine) -> Check:
    def probe() -> dict[str, Any]:
        current, head = migrate.current_revision(engine), migrate.head_revision()
        return {"ok": current == head, "current": current, "head": head}

    return _timed("migrations", probe)


def check_http(name: str, url: str, timeout: float = 2.0, *, ok_below: int = 400) -> Check:
    def probe() -> dict[str, Any]:
        response = httpx.get(url, timeout=timeout)
        return {"ok": response.status_code < ok_below, "url": url, "status_code": response.status_code}

    return _timed(name, probe)


def check_airflow(settings: Settings, timeout: float = 3.0) -> Check:
    """Airflow's own health: reachable, metadata database healthy, and each component's status."""

    def probe() -> dict[str, Any]:
        with AirflowClient.from_settings(settings, timeout=timeout) as client:
            return client.health()

    return _timed("airflow", probe)


def check_cookies(settings: Settings) -> Check:
    """Secure cookies over plain http leave everyone signed out: shown here as well as at startup."""
    warning = insecure_cookie_warning(settings)
    return Check(
        "cookies",
        warning is None,
        0.0,
        {"warning": warning} if warning else {"secure": settings.security.session_cookie_secure},
    )


SIGNIN_CHECKS = ("database", "migrations", "google_token_endpoint", "cookies")
PIPELINE_CHECKS = ("database", "airflow")


def run_checks(settings: Settings, engine: Engine) -> dict[str, Any]:
    """All checks. `status` (HTTP 200 or 503) is "up" while the database works; `signin` and
    `pipelines` say whether each of the two works, so Airflow down never reads as broken sign-in."""
    checks = [
        check_database(engine),
        check_migrations(engine),
        check_airflow(settings),
        # The token endpoint only takes POSTs: any answer below 500 (405, 400) means it is reachable.
        check_http("google_token_endpoint", settings.google.endpoints.token_uri, ok_below=500),
        check_cookies(settings),
    ]
    by_name = {check.name: check for check in checks}
    return {
        "status": "up" if by_name["database"].ok else "down",
        "signin": "ok" if all(by_name[name].ok for name in SIGNIN_CHECKS) else "down",
        "pipelines": "ok" if all(by_name[name].ok for name in PIPELINE_CHECKS) else "down",
        "checks": {c.name: {k: v for k, v in asdict(c).items() if k != "name"} for c in checks},
    }
