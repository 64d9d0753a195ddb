"""`/api/storage/*` end to end: Driveguard's API drives Airflow's real REST API v2 (served from
this session's Airflow) and reads the pipelines' results; Airflow down degrades, never a 500."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import httpx
import pytest
from support.airflow_harness import AIRFLOW_PASSWORD, AIRFLOW_USER, World, account, hour
from support.servers import serve_asgi

from api.app import create_app
from driveguard.config import AirflowSettings, Settings, load_settings
from driveguard.identity.passwords import hash_password

GIB = 1024**3
OPS_PASSWORD = "ops-password-for-tests"


@pytest.fixture(scope="module")
def ops_hash() -> str:
    return hash_password(OPS_PASSWORD)


def api_settings(world: World, airflow_url: str, ops_hash: str) -> Settings:
    env = {**world.harness.env, "DRIVEGUARD_ADMIN_USERS": f"ops:{ops_hash}"}
    settings = load_settings(env, env_file="/dev/null")
    return dataclasses.replace(settings, airflow=AirflowSettings(airflow_url, AIRFLOW_USER, AIRFLOW_PASSWORD))


def admin_client(base_url: str) -> httpx.Client:
    token = httpx.post(
        f"{base_url}/api/auth/token", json={"grant_type": "password", "username": "ops", "password": OPS_PASSWORD}
    ).json()["access_token"]
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def airflow_dag(dag_id: str) -> Any:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id)
        session.expunge(model)
        return model


def test_storage_api_reads_the_pipelines_and_controls_airflow(world: World, airflow_api: str, ops_hash: str):
    world.seed([account("full@example.com", usage=int(9.5 * GIB), limit=10 * GIB), account("ok@example.com", GIB)])
    assert world.harness.run("storage_collect", logical_date=hour(19, 10)).state == "success"

    app = create_app(api_settings(world, airflow_api, ops_hash), world.engine)
    with serve_asgi(app) as base_url:
        assert httpx.get(f"{base_url}/api/storage/overview").status_code == 401
        api = admin_client(base_url)

        overview = api.get("/api/storage/overview").json()
        assert overview["totals"]["accounts"] == 2 and overview["totals"]["critical"] == 1
        first = overview["accounts"][0]
        assert (first["email"], first["level"], first["usage_percent"]) == ("full@example.com", "critical", 95.0)
        assert api.get("/api/storage/overview", params={"level": "normal"}).json()["accounts"][0]["email"] == (
            "ok@example.com"
        )
        assert api.get("/api/storage/overview", params={"level": "bogus"}).status_code == 400

        status = api.get("/api/storage/monitoring/status").json()
        assert status["airflow"]["available"] is True
        assert set(status["airflow"]["dags"]) == {
            "token_refresh", "storage_collect", "storage_backfill", "alert_dispatch", "cleanup",
        }  # fmt: skip
        collect = status["airflow"]["dags"]["storage_collect"]
        assert collect["last_run"]["state"] == "success"
        assert collect["last_run"]["data_interval_start"].startswith("2026-11-19T09:00")
        assert status["pipelines"]["storage_collect"]["summarize"]["counts"]["collected"] == 2
        assert status["pipelines"]["storage_collect"]["alerts"]["counts"]["alert_critical"] == 1
        assert status["outbox"] == {"pending": 2}  # the critical alert, to both APPRISE_URLS targets
        assert status["config"]["warning_threshold_percent"] == 80

        # Configure: validated, stored, read back by the DAGs' configuration.
        bad = api.post(
            "/api/storage/monitoring/configure",
            json={"warning_threshold_percent": 95, "apprise_urls": ["ftp://nope"], "surprise": 1},
        )
        assert bad.status_code == 400
        detail = bad.json()["detail"]
        assert "apprise_urls" in detail and "surprise" in detail
        crossed = api.post("/api/storage/monitoring/configure", json={"warning_threshold_percent": 95})
        assert crossed.status_code == 400 and "critical_threshold_percent" in crossed.json()["detail"]
        good = api.post(
            "/api/storage/monitoring/configure",
            json={"warning_threshold_percent": 70, "critical_threshold_percent": 85, "collect_every_hours": 2,
                  "apprise_urls": ["json://hooks.example.com/driveguard"]},
        )  # fmt: skip
        assert good.status_code == 200, good.text
        assert good.json()["config"]["warning_threshold_percent"] == 70
        assert good.json()["config"]["apprise_urls"] == ["json://hooks.example.com"]  # no paths or secrets echoed
        stored = {r["key"] for r in world.rows("SELECT key FROM monitoring_config")}
        assert stored == {"warning_threshold_percent", "critical_threshold_percent", "collect_every_hours",
                          "apprise_urls"}  # fmt: skip

        # Control: through Airflow's REST API.
        paused = api.post("/api/storage/monitoring/control", json={"action": "pause", "dag_id": "storage_collect"})
        assert paused.status_code == 202 and paused.json()["is_paused"] == {"storage_collect": True}
        assert airflow_dag("storage_collect").is_paused is True
        resumed = api.post("/api/storage/monitoring/control", json={"action": "resume"})
        assert all(v is False for v in resumed.json()["is_paused"].values())
        assert airflow_dag("storage_collect").is_paused is False

        triggered = api.post("/api/storage/monitoring/control", json={"action": "trigger"}).json()
        assert triggered["dag_id"] == "storage_collect" and triggered["state"] == "queued"
        assert triggered["data_interval_end"] is not None  # a real data interval, not a zero-width run

        yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        backfill = api.post(
            "/api/storage/monitoring/control",
            json={"action": "backfill", "from_date": str(yesterday - dt.timedelta(days=2)), "to_date": str(yesterday)},
        )
        assert backfill.status_code == 202, backfill.text
        assert backfill.json()["dag_id"] == "storage_backfill" and backfill.json()["backfill_id"]
        future = api.post(
            "/api/storage/monitoring/control",
            json={"action": "backfill", "from_date": str(yesterday), "to_date": str(yesterday + dt.timedelta(days=5))},
        )
        assert future.status_code == 400
        actions = world.rows("SELECT details FROM audit_log WHERE action = 'admin_action' ORDER BY id")
        assert [a["details"]["operation"] for a in actions] == ["configure", "pause", "resume", "trigger", "backfill"]


def test_status_degrades_and_control_refuses_when_airflow_is_down(world: World, ops_hash: str):
    app = create_app(api_settings(world, "http://127.0.0.1:9", ops_hash), world.engine)
    with serve_asgi(app) as base_url:
        api = admin_client(base_url)
        status = api.get("/api/storage/monitoring/status")
        assert status.status_code == 200
        body = status.json()
        assert body["airflow"]["available"] is False and "unreachable" in body["airflow"]["error"]
        assert body["pipelines"] == {} and "config" in body
        control = api.post("/api/storage/monitoring/control", json={"action": "trigger"})
        assert control.status_code == 503
        assert control.json()["title"] == "Airflow is unavailable"


@pytest.mark.parametrize(
    ("method", "path", "body", "params"),
    [
        ("GET", "/api/storage/overview", None, {"offset": "99999999999999999999"}),
        ("POST", "/api/storage/monitoring/control", {"action": "backfill", "max_active_runs": 0}, None),
        ("POST", "/api/storage/monitoring/control", {"action": "trigger", "conf": {"anything": 1}}, None),
        ("POST", "/api/storage/monitoring/control", {"action": "trigger", "from_date": "2026-11-01"}, None),
        ("POST", "/api/storage/monitoring/control", {"action": "pause", "conf": {"recollect": True}}, None),
        (
            "POST",
            "/api/storage/monitoring/control",
            {"action": "trigger", "dag_id": "cleanup", "conf": {"recollect": True}},
            None,
        ),
        ("POST", "/api/storage/monitoring/configure", {"warning_threshold_percent": 10**400}, None),
        ("POST", "/api/storage/monitoring/configure", {"refresh_margin_minutes": 60}, None),
    ],
)
def test_bad_storage_input_is_a_precise_400_before_airflow_is_asked(
    world: World, ops_hash: str, method: str, path: str, body: object, params: dict | None
):
    # Airflow is unreachable here: a 400 proves the request was refused before any call to it.
    app = create_app(api_settings(world, "http://127.0.0.1:9", ops_hash), world.engine)
    with serve_asgi(app) as base_url:
        answer = admin_client(base_url).request(method, path, json=body, params=params)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
