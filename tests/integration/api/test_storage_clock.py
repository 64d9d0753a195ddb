"""Storage control judges "the past" and stamps audit rows by the application's clock, not the wall clock.

Airflow is unreachable here, so a request that passes Driveguard's own checks answers 503, and one
that fails them answers 400 before Airflow is asked: which of the two proves which clock decided.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, text
from support.clock import FakeClock
from support.servers import serve_asgi
from support.signin import ADMIN_HASH, ADMIN_PASSWORD, ADMIN_USER

from api.app import create_app
from driveguard.config import load_settings

CONTROL = "/api/storage/monitoring/control"


def admin_api(base_url: str) -> httpx.Client:
    answer = httpx.post(
        f"{base_url}/api/auth/token",
        json={"grant_type": "password", "username": ADMIN_USER, "password": ADMIN_PASSWORD},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2031, 3, 15, 12, 0, tzinfo=dt.UTC))


@pytest.fixture
def api(base_env: dict[str, str], clean_db: Engine, clock: FakeClock) -> Iterator[httpx.Client]:
    settings = load_settings({**base_env, "DRIVEGUARD_ADMIN_USERS": f"{ADMIN_USER}:{ADMIN_HASH}"}, env_file="/dev/null")
    with serve_asgi(create_app(settings, clean_db, clock=clock)) as base_url, admin_api(base_url) as client:
        yield client


def backfill(api: httpx.Client, day: dt.date) -> httpx.Response:
    return api.post(CONTROL, json={"action": "backfill", "from_date": str(day), "to_date": str(day)})


def test_a_backfill_must_end_before_the_applications_today(api: httpx.Client, clock: FakeClock):
    today = clock().date()  # 2031-03-15: years ahead of the wall clock
    refused = backfill(api, today)
    assert refused.status_code == 400
    assert "to_date must be in the past" in refused.json()["detail"]
    # A day the wall clock has not reached yet, but the application's clock has: accepted, then Airflow is down.
    accepted = backfill(api, today - dt.timedelta(days=1))
    assert accepted.status_code == 503, accepted.text
    assert accepted.json()["title"] == "Airflow is unavailable"


def test_a_day_past_by_the_wall_clock_is_still_today_for_the_application(api: httpx.Client, clock: FakeClock):
    clock.set(dt.datetime(2021, 6, 1, 8, 0, tzinfo=dt.UTC))
    with admin_api(str(api.base_url)) as admin:  # a token issued at the application's new time
        assert backfill(admin, dt.date(2021, 6, 1)).status_code == 400
        assert backfill(admin, dt.date(2021, 5, 31)).status_code == 503


def test_configuration_changes_are_audited_at_the_applications_time(
    api: httpx.Client, clock: FakeClock, clean_db: Engine
):
    changed = api.post("/api/storage/monitoring/configure", json={"critical_repeat_hours": 6})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"changed": ["critical_repeat_hours"], "config": changed.json()["config"]}
    assert changed.json()["config"]["critical_repeat_hours"] == 6
    with clean_db.connect() as conn:
        row = conn.execute(
            text("SELECT actor, occurred_at, details FROM audit_log WHERE action = 'admin_action'")
        ).one()
    assert row.actor == f"user:{ADMIN_USER}" and row.occurred_at == clock()
    assert row.details == {"operation": "configure", "changed": ["critical_repeat_hours"]}
