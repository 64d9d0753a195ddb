"""storage_backfill as a service account with domain-wide delegation (BACKFILL_AUTH=service_account):
the keyfile JSON sits in Airflow's Google connection, GoogleBaseHook builds the credentials, and the
emulator checks the JWT-bearer grant like Google. A misconfiguration fails the task, never falls back."""

from __future__ import annotations

import datetime as dt
import importlib
import json
from typing import Any

import pytest
from google.oauth2 import service_account
from support.airflow_harness import ADMIN_EMAIL, World, account

from driveguard import pipelines
from driveguard.config import SCOPE_DRIVE_METADATA, SCOPE_REPORTS_USAGE
from driveguard.pipelines import Runtime
from driveguard.storage.interval import Interval

MIB = 1024**2
GIB = 1024**3
DOMAIN = "acme.example"
USERS = [f"u{i}@{DOMAIN}" for i in range(1, 7)]
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def emulator_today(world: World) -> dt.date:
    return dt.date.fromisoformat(world.emu.call("GET", "/clock")["reports_today"])


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def seed(world: World, day: dt.date) -> None:
    """Six users signed in to Driveguard; the admin exists at Google but never signed in here."""
    history = {day.isoformat(): {"usage": 300 * MIB, "usage_in_drive": 200 * MIB, "usage_in_gmail": 0}}
    admin = account(ADMIN_EMAIL, usage=GIB, limit=30 * GIB, domain=DOMAIN, is_admin=True, created="2020-01-01")
    world.emu.upsert_accounts([admin])
    users = [account(e, usage=GIB, limit=30 * GIB, domain=DOMAIN, created="2020-01-01", history=history) for e in USERS]
    world.seed(users)


def use_connection(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], conn_id: str = "google_cloud_default"
) -> None:
    """Airflow's Google connection, as an operator would define it (here through the environment)."""
    connection = {"conn_type": "google_cloud_platform", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


def test_service_account_backfills_as_the_admin_end_to_end(world: World, monkeypatch: pytest.MonkeyPatch):
    day = emulator_today(world) - dt.timedelta(days=3)
    seed(world, day)
    created = world.emu.create_service_account("driveguard-backfill", delegated_scopes=[SCOPE_REPORTS_USAGE])
    monkeypatch.setenv("BACKFILL_AUTH", "service_account")
    use_connection(monkeypatch, {"keyfile_dict": json.dumps(created["keyfile"])})
    world.emu.reset_stats()

    result = world.harness.run("storage_backfill", logical_date=day_start(day + dt.timedelta(days=1)))

    assert result.state == "success", result.tasks
    counts = result.xcom("backfill_day")
    assert (counts["auth"], counts["day_status"], counts["series"]) == ("service_account", "complete", "daily")
    assert (counts["reported_users"], counts["matched_accounts"], counts["unknown_users"]) == (7, 6, 1)
    assert (counts["inserted"], counts["updated"], counts["unchanged"]) == (6, 0, 0)
    stats = world.emu.stats()
    assert stats["requests"]["token"] == 1 and stats["requests"]["reports"] == 1
    assert stats["grant_errors"] == {}
    # The token the emulator issued acts as the admin, through the service account's client id.
    [grant] = [g for g in world.emu.call("GET", "/grants")["grants"] if g["email"] == ADMIN_EMAIL]
    assert (grant["client_id"], grant["scopes"]) == (created["client_id"], [SCOPE_REPORTS_USAGE])
    rows = world.rows("SELECT usage_bytes, source, granularity FROM storage_snapshot")
    assert len(rows) == 6
    assert {(r["usage_bytes"], r["source"], r["granularity"]) for r in rows} == {(300 * MIB, "reports_usage", "daily")}
    assert world.scalar("SELECT count(*) FROM google_account WHERE email = :e", e=ADMIN_EMAIL) == 0


def test_without_delegation_the_task_fails_with_the_fix_and_stores_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    day = emulator_today(world) - dt.timedelta(days=3)
    seed(world, day)
    created = world.emu.create_service_account("driveguard-backfill", delegated_scopes=[SCOPE_DRIVE_METADATA])
    monkeypatch.setenv("BACKFILL_AUTH", "service_account")
    use_connection(monkeypatch, {"keyfile_dict": json.dumps(created["keyfile"])})
    world.emu.reset_stats()

    result = world.harness.run("storage_backfill", logical_date=day_start(day + dt.timedelta(days=1)))

    assert result.state == "failed"
    assert result.tasks[("backfill_day", -1)]["try_number"] == 1  # a setup error is not retried
    stats = world.emu.stats()
    assert stats["grant_errors"] == {f"{JWT_BEARER}:unauthorized_client": 1}
    assert stats["requests"].get("reports", 0) == 0
    assert world.scalar("SELECT count(*) FROM storage_snapshot") == 0
    assert world.scalar("SELECT count(*) FROM backfill_day") == 0
    # What the task failed with (ops get it too: tests/dags/test_ops_notifier.py): the same use case,
    # called directly, names the service account and the fix.
    keyfile_credentials = service_account.Credentials.from_service_account_info(created["keyfile"])
    window = Interval.of(day_start(day), day_start(day + dt.timedelta(days=1)))
    with pytest.raises(pipelines.DelegationFailed, match="has no domain-wide delegation") as failed:
        pipelines.backfill_day(Runtime(world.settings, world.engine), window, credentials=keyfile_credentials)
    assert created["email"] in str(failed.value) and SCOPE_REPORTS_USAGE in str(failed.value)


@pytest.mark.parametrize(
    "extra",
    [None, {"project": "acme-project"}],
    ids=["no connection", "connection without a key"],
)
def test_service_account_mode_fails_closed_on_a_missing_key(
    world: World, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any] | None
):
    day = emulator_today(world) - dt.timedelta(days=3)
    seed(world, day)
    monkeypatch.setenv("BACKFILL_AUTH", "service_account")
    monkeypatch.setenv("BACKFILL_GCP_CONN_ID", "driveguard_workspace")
    if extra is not None:
        use_connection(monkeypatch, extra, "driveguard_workspace")
    world.emu.reset_stats()

    result = world.harness.run("storage_backfill", logical_date=day_start(day + dt.timedelta(days=1)))

    assert result.state == "failed"
    assert result.tasks[("backfill_day", -1)]["try_number"] == 1
    assert world.emu.stats()["requests"] == {}
    assert world.scalar("SELECT count(*) FROM storage_snapshot") == 0
    from airflow.sdk.exceptions import AirflowFailException

    common = importlib.import_module("_common")  # the DAG folder's helpers, as the task imported them
    with pytest.raises(AirflowFailException, match="connection 'driveguard_workspace'"):
        common.google_connection_credentials("driveguard_workspace")
