"""A thin client for Airflow 3's REST API v2 (httpx; Driveguard's core never imports airflow).

Authentication is Airflow 3's: `POST /auth/token` with username and password returns a JWT,
sent as `Authorization: Bearer …`; the token is cached until shortly before it expires and
fetched again once after a 401. Connection problems raise `AirflowUnavailable` (callers
degrade gracefully); error answers raise `AirflowApiError` with Airflow's status and detail.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from driveguard.config import Settings

PIPELINE_DAGS = ("token_refresh", "storage_collect", "storage_backfill", "alert_dispatch", "cleanup")


class AirflowUnavailable(Exception):
    """Airflow's API server could not be reached (or timed out)."""


class AirflowApiError(Exception):
    def __init__(self, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"Airflow answered {status}: {str(detail)[:300]}")


def _jwt_expiry(token: str) -> float | None:
    """The `exp` claim (no verification: Airflow checks the token, this is only for caching)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, ValueError, TypeError):
        return None


class AirflowClient:
    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self.clock = clock
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        self._token: str | None = None
        self._token_expires = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> AirflowClient:
        a = settings.airflow
        return cls(a.api_url, a.username, a.password, **kwargs)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise AirflowUnavailable(f"Airflow at {self.base_url} timed out") from exc
        except httpx.TransportError as exc:
            raise AirflowUnavailable(f"Airflow at {self.base_url} is unreachable: {type(exc).__name__}") from exc

    def token(self, *, force: bool = False) -> str:
        with self._lock:
            if not force and self._token and self.clock() < self._token_expires - 30:
                return self._token
            response = self._send("POST", "/auth/token", json={"username": self.username, "password": self._password})
            if response.status_code not in (200, 201):
                raise AirflowApiError(response.status_code, _detail(response))
            token = str(response.json()["access_token"])
            self._token = token
            self._token_expires = _jwt_expiry(token) or self.clock() + 300
            return token

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token(force=attempt == 2)}", "Accept": "application/json"}
            response = self._send(method, path, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 1:
                continue
            if response.status_code >= 400:
                raise AirflowApiError(response.status_code, _detail(response))
            return response.json() if response.content else None
        raise AssertionError("unreachable")

    # -- the calls Driveguard makes --------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Airflow's own health (no login needed): `ok` when it answers 200 and its metadata database
        is healthy, with each component's status. The one probe `GET /api/health` reports."""
        response = self._send("GET", "/api/v2/monitor/health")
        is_json = response.headers.get("content-type", "").startswith("application/json")
        body = response.json() if is_json else {}
        parts = body.items() if isinstance(body, dict) else ()
        components = {name: part.get("status") for name, part in parts if isinstance(part, dict)}
        healthy = response.status_code == 200 and components.get("metadatabase") == "healthy"
        return {"ok": healthy, "url": self.base_url, "status_code": response.status_code, "components": components}

    def get_dag(self, dag_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/api/v2/dags/{quote(dag_id)}")
        return result

    def dag_runs(self, dag_id: str, *, limit: int = 5) -> list[dict[str, Any]]:
        result = self.request(
            "GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns", params={"order_by": "-run_after", "limit": limit}
        )
        return list(result.get("dag_runs", [])) if isinstance(result, dict) else []

    def set_paused(self, dag_id: str, paused: bool) -> dict[str, Any]:
        result: dict[str, Any] = self.request(
            "PATCH", f"/api/v2/dags/{quote(dag_id)}", params={"update_mask": "is_paused"}, json={"is_paused": paused}
        )
        return result

    def trigger(
        self, dag_id: str, *, conf: dict[str, Any] | None = None, logical_date: dt.datetime | None = None
    ) -> dict[str, Any]:
        """A run now; with a logical date (default: now) so interval DAGs get a data interval."""
        moment = (logical_date or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        body = {"logical_date": moment.isoformat(), "conf": conf or {}}
        result: dict[str, Any] = self.request("POST", f"/api/v2/dags/{quote(dag_id)}/dagRuns", json=body)
        return result

    def create_backfill(
        self,
        dag_id: str,
        from_date: dt.datetime,
        to_date: dt.datetime,
        *,
        max_active_runs: int | None = None,
        reprocess_behavior: str = "none",
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "dag_id": dag_id,
            "from_date": from_date.isoformat(),
            "to_date": to_date.isoformat(),
            "run_backwards": False,
            "dag_run_conf": {},
            "reprocess_behavior": reprocess_behavior,
        }
        if max_active_runs is not None:
            body["max_active_runs"] = max_active_runs
        result: dict[str, Any] = self.request("POST", "/api/v2/backfills", json=body)
        return result


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return body.get("detail", body) if isinstance(body, dict) else body
