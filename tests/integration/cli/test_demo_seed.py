"""`driveguard demo seed` against the emulator's demo seed and the API served over real HTTP: real
sign-ins through the consent page, weeks of Reports history through the backfill, one collection;
a second run adds nothing, and anything but the local demo is refused before a row is written."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, text
from support.emulator import GoogleEmulator
from support.servers import free_port, serve_asgi

from api.app import create_app
from driveguard.cli import cli
from driveguard.config import PROJECT_ROOT, get_settings, load_settings
from driveguard.db.engine import get_engine
from driveguard.db.models import (
    Alert,
    AuditLog,
    GoogleAccount,
    NotificationOutbox,
    StorageLatest,
    StorageSnapshot,
    UserSession,
)
from driveguard.storage.trends import UsagePoint, forecast

ADMIN = "erin@northwind.example"
DEMO_ACCOUNTS = [
    "alice@gmail.com",
    "bob@gmail.com",
    "carol@gmail.com",
    "dave@northwind.example",
    "erin@northwind.example",
    "frank@northwind.example",
    "grace@northwind.example",
]
WORKSPACE_LIMIT = 2048 * 1024**3
WORKSPACE = [email for email in DEMO_ACCOUNTS if email.endswith("@northwind.example")]


@pytest.fixture
def demo_env(google_emulator: GoogleEmulator, clean_db: Engine, base_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """What `make run` hands the demo: the local environment, the emulator at its demo seed, the API up."""
    google_emulator.reset()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **base_env,
        "DRIVEGUARD_ENV": "local",
        "GOOGLE_EMULATOR_URL": google_emulator.url,
        "GOOGLE_REDIRECT_URI": f"{url}/auth/callback",
        "GOOGLE_WORKSPACE_ADMIN_EMAIL": ADMIN,
        "API_PUBLIC_URL": url,
        "GOOGLE_RATE_LIMIT_PER_MINUTE": "12000",
    }
    google_emulator.register_client(f"{url}/auth/callback")
    with serve_asgi(create_app(load_settings(env, env_file="/dev/null"), clean_db), port=port):
        get_settings.cache_clear()
        yield env
        get_settings.cache_clear()
        get_engine(load_settings(env, env_file="/dev/null")).dispose()


def seed(env: dict[str, Any]) -> Any:
    get_settings.cache_clear()
    result = CliRunner(env=env).invoke(cli, ["demo", "seed", "--json"])
    get_settings.cache_clear()
    return result


def console_script(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "DRIVEGUARD_", "DATABASE_"))}
    inherited = {k: v for k, v in inherited.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR")}
    return subprocess.run(
        [str(Path(sys.executable).with_name("driveguard")), *args],
        env={**inherited, **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            model.__tablename__: int(conn.scalar(select(func.count()).select_from(model)) or 0)
            for model in (
                GoogleAccount,
                UserSession,
                StorageSnapshot,
                StorageLatest,
                Alert,
                NotificationOutbox,
                AuditLog,
            )
        }


def test_demo_seed_signs_in_backfills_weeks_collects_and_adds_nothing_twice(demo_env: dict[str, str], clean_db: Engine):
    first = seed(demo_env)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["accounts"] == DEMO_ACCOUNTS
    assert report["signed_in"] == DEMO_ACCOUNTS and report["already_signed_in"] == []
    assert report["reports_granted"] is True
    assert report["backfill"]["days"] >= 42 and report["backfill"]["inserted"] == 4 * report["backfill"]["days"]
    assert report["collection"]["collected"] == len(DEMO_ACCOUNTS)

    with clean_db.connect() as conn:
        accounts = dict(conn.execute(select(GoogleAccount.email, GoogleAccount.status)).all())
        assert accounts == dict.fromkeys(DEMO_ACCOUNTS, "active")
        live_sessions = conn.scalar(select(func.count()).where(UserSession.revoked_at.is_(None)))
        assert live_sessions == 0, "the demo signs out again: it needs the grants, not live sessions"
        daily = dict(
            conn.execute(
                select(GoogleAccount.email, func.count(func.distinct(StorageSnapshot.interval_start)))
                .join(GoogleAccount, GoogleAccount.id == StorageSnapshot.account_id)
                .where(StorageSnapshot.granularity == "daily")
                .group_by(GoogleAccount.email)
            ).all()
        )
        levels = dict(
            conn.execute(
                select(GoogleAccount.email, StorageLatest.level).join(
                    GoogleAccount, GoogleAccount.id == StorageLatest.account_id
                )
            ).all()
        )
        alerted = set(
            conn.execute(
                select(GoogleAccount.email, Alert.kind).join(GoogleAccount, GoogleAccount.id == Alert.account_id)
            ).all()
        )
        history = {
            email: [
                UsagePoint(row.interval_start, row.usage_bytes)
                for row in conn.execute(
                    text(
                        "SELECT s.interval_start, s.usage_bytes FROM storage_snapshot s "
                        "JOIN google_account a ON a.id = s.account_id WHERE a.email = :email ORDER BY 1"
                    ),
                    {"email": email},
                )
            ]
            for email in ("frank@northwind.example", "grace@northwind.example")
        }
    # Reports covers the Workspace domain only (as at Google): six weeks of days for each of its people.
    assert set(daily) == set(WORKSPACE) and min(daily.values()) >= 42
    assert sorted(email for email, level in levels.items() if level == "warning") == [
        "bob@gmail.com",
        "frank@northwind.example",
    ]
    assert sorted(email for email, level in levels.items() if level == "critical") == [
        "carol@gmail.com",
        "grace@northwind.example",
    ]
    assert {("frank@northwind.example", "warning"), ("grace@northwind.example", "critical")} <= alerted
    # The product's forecast (driveguard.storage.trends) has a date for each Workspace account near full.
    frank = forecast(history["frank@northwind.example"], limit_bytes=WORKSPACE_LIMIT, warning_percent=80,
                     critical_percent=90, now=dt.datetime.now(dt.UTC))  # fmt: skip
    assert frank.trend.status == "ok" and frank.trend.points >= 20 and frank.trend.bytes_per_day > 0
    assert (frank.warning.status, frank.critical.status) == ("reached", "forecast")
    grace = forecast(history["grace@northwind.example"], limit_bytes=WORKSPACE_LIMIT, warning_percent=80,
                     critical_percent=90, now=dt.datetime.now(dt.UTC))  # fmt: skip
    assert grace.trend.status == "ok" and grace.critical.status == "reached"
    assert grace.full.status == "forecast" and 0 < grace.full.days < 365

    before = counts(clean_db)
    again = seed(demo_env)
    assert again.exit_code == 0, again.output
    repeat = json.loads(again.stdout)
    assert repeat["signed_in"] == [] and repeat["already_signed_in"] == DEMO_ACCOUNTS
    assert repeat["reports_granted"] is False
    assert repeat["backfill"]["inserted"] == 0 and repeat["backfill"]["updated"] == 0
    assert repeat["collection"]["collected"] == 0
    assert counts(clean_db) == before

    # A person at a terminal (the installed console script) watches a progress bar per phase.
    shown = console_script(["demo", "seed"], {**demo_env, "TTY_COMPATIBLE": "1"})
    assert shown.returncode == 0, shown.stderr
    days = repeat["backfill"]["days"] + len(repeat["backfill"]["days_not_ready"])
    assert "signing in" in shown.stderr and "7/7" in shown.stderr
    assert "backfilling" in shown.stderr and f"{days}/{days}" in shown.stderr
    assert shown.stdout.startswith("demo: 7 accounts (0 signed in now, 7 already)")
    assert shown.stdout.rstrip().endswith("levels: 2 critical, 2 warning, 3 normal")
    assert counts(clean_db) == before


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"DRIVEGUARD_ENV": "production"}, "DRIVEGUARD_ENV='production'"),
        ({"DRIVEGUARD_ENV": None}, "DRIVEGUARD_ENV='production'"),
        ({"DRIVEGUARD_ENV": "test"}, "DRIVEGUARD_ENV='test'"),
        ({"GOOGLE_EMULATOR_URL": None}, "Google to be the local emulator"),
        ({"GOOGLE_EMULATOR_URL": "http://emulator.example.com:8090"}, "Google to be the local emulator"),
        ({"GOOGLE_TOKEN_URI": "https://oauth2.googleapis.com/token"}, "every Google endpoint on the emulator"),
    ],
)
def test_demo_seed_is_refused_outside_the_local_demo(
    demo_env: dict[str, str], clean_db: Engine, override: dict[str, str | None], reason: str
):
    result = seed({**demo_env, **override})
    assert result.exit_code == 2, result.output
    assert "refused" in result.stderr and reason in result.stderr
    assert counts(clean_db)["google_account"] == 0
