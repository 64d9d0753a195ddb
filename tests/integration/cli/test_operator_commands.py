"""The operator's reading and key commands against the real test database: exact `--json` for scripts
(stable keys, integer bytes, UTC times), tables for people, one clear error for a wrong account."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from driveguard.cli import cli, next_key_id
from driveguard.config import Settings, get_settings, load_settings
from driveguard.db.engine import get_engine, transaction
from driveguard.db.models import (
    AccountStatus,
    Alert,
    AlertKind,
    GoogleAccount,
    NotificationOutbox,
    OutboxStatus,
    StorageLatest,
    StorageSnapshot,
    WarningLevel,
)
from driveguard.identity.vault import Vault
from driveguard.storage.collection import ensure_partition
from driveguard.storage.targets import mask_target, seal_outbox_target

GIB = 1024**3
FULL = uuid.UUID("0192f000-0000-7000-8000-000000000001")
OK = uuid.UUID("0192f000-0000-7000-8000-000000000002")
NEW = uuid.UUID("0192f000-0000-7000-8000-000000000003")
ALERT = uuid.UUID("0192f000-0000-7000-8000-0000000000a1")
DAY = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def at(days: int, hours: int = 0) -> dt.datetime:
    return DAY + dt.timedelta(days=days, hours=hours)


@pytest.fixture
def seeded(clean_db: Engine, settings: Settings) -> Engine:
    """Three accounts: one critical with three days of history and an alert, one normal, one never collected."""
    ensure_partition(clean_db, DAY)  # the raw month and the daily year (there is no default partition)
    with transaction(clean_db) as db:
        db.add_all(
            [
                GoogleAccount(id=FULL, google_sub="1001", email="full@example.com"),
                GoogleAccount(id=OK, google_sub="1002", email="ok@example.com"),
                GoogleAccount(id=NEW, google_sub="1003", email="new@example.com", status=AccountStatus.REAUTH_REQUIRED),
            ]
        )
        db.flush()
        for day, usage in ((0, 9 * GIB), (1, int(9.2 * GIB))):  # two daily Reports rows
            db.add(
                StorageSnapshot(
                    account_id=FULL, interval_start=at(day), interval_end=at(day + 1), usage_bytes=usage,
                    limit_bytes=10 * GIB, source="reports_usage", granularity="daily", collected_at=at(day + 3),
                )
            )  # fmt: skip
        for hour, usage in ((9, int(9.4 * GIB)), (10, int(9.5 * GIB))):  # two collections on day 3: the last counts
            db.add(
                StorageSnapshot(
                    account_id=FULL, interval_start=at(2, hour), interval_end=at(2, hour + 1), usage_bytes=usage,
                    limit_bytes=10 * GIB, collected_at=at(2, hour + 1),
                )
            )  # fmt: skip
        db.add_all(
            [
                StorageLatest(
                    account_id=FULL, interval_start=at(2, 10), interval_end=at(2, 11), collected_at=at(2, 11),
                    usage_bytes=int(9.5 * GIB), limit_bytes=10 * GIB, usage_percent=95.0,
                    level=WarningLevel.CRITICAL, usage_bytes_7d_ago=9 * GIB,
                ),
                StorageLatest(
                    account_id=OK, interval_start=at(2, 10), interval_end=at(2, 11), collected_at=at(2, 11),
                    usage_bytes=GIB, limit_bytes=None, usage_percent=None, level=WarningLevel.NORMAL,
                ),
                Alert(
                    id=ALERT, account_id=FULL, kind=AlertKind.CRITICAL, interval_start=at(2, 10),
                    usage_percent=95.0, usage_bytes=int(9.5 * GIB), limit_bytes=10 * GIB, created_at=at(2, 11),
                ),
            ]
        )  # fmt: skip
        db.flush()
        vault = Vault(settings.security.encryption_keys)
        for index, status in enumerate((OutboxStatus.SENT, OutboxStatus.PENDING)):
            row_id, target = uuid.uuid4(), f"json://receiver/{index}"
            db.add(
                NotificationOutbox(
                    id=row_id, alert_id=ALERT, idempotency_key=f"alert-{index}", target=mask_target(target),
                    target_ciphertext=seal_outbox_target(vault, target, row_id),
                    title="critical", body="95 %", status=status,
                )
            )  # fmt: skip
    return clean_db


@pytest.fixture
def runner(base_env: dict[str, str]) -> Iterator[CliRunner]:
    get_settings.cache_clear()
    yield CliRunner(env=base_env)
    get_settings.cache_clear()
    get_engine(load_settings(base_env, env_file="/dev/null")).dispose()


def run_json(runner: CliRunner, *args: str) -> Any:
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


FULL_LINE = {
    "account_id": str(FULL),
    "email": "full@example.com",
    "status": "active",
    "level": "critical",
    "usage_bytes": int(9.5 * GIB),
    "limit_bytes": 10 * GIB,
    "usage_percent": 95.0,
    "collected_at": "2026-11-03T11:00:00+00:00",
}


def test_accounts_list_json_is_exact_fullest_first_and_never_collected_last(seeded: Engine, runner: CliRunner):
    assert run_json(runner, "accounts", "list") == {
        "accounts": [
            FULL_LINE,
            {
                "account_id": str(OK),
                "email": "ok@example.com",
                "status": "active",
                "level": "normal",
                "usage_bytes": GIB,
                "limit_bytes": None,
                "usage_percent": None,
                "collected_at": "2026-11-03T11:00:00+00:00",
            },
            {
                "account_id": str(NEW),
                "email": "new@example.com",
                "status": "reauth_required",
                "level": None,
                "usage_bytes": None,
                "limit_bytes": None,
                "usage_percent": None,
                "collected_at": None,
            },
        ],
        "count": 3,
    }
    assert run_json(runner, "accounts", "list", "--level", "critical") == {"accounts": [FULL_LINE], "count": 1}


def test_accounts_list_table_for_people(seeded: Engine, runner: CliRunner):
    result = runner.invoke(cli, ["accounts", "list"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "@example.com" in line]
    assert [row.split()[1] for row in rows] == ["full@example.com", "ok@example.com", "new@example.com"]
    assert "9.5 GiB" in rows[0] and "10.0 GiB" in rows[0] and "95.0 %" in rows[0] and "critical" in rows[0]
    assert "unlimited" in rows[1]
    assert "reauth_required" in rows[2] and "not collected" in rows[2]


def test_storage_show_by_email_or_id_gives_one_point_per_day(seeded: Engine, runner: CliRunner):
    expected = {
        "account": FULL_LINE,
        "growth_7d_bytes": int(9.5 * GIB) - 9 * GIB,
        "history": [
            {"date": "2026-11-01", "usage_bytes": 9 * GIB, "limit_bytes": 10 * GIB, "source": "reports_usage"},
            {"date": "2026-11-02", "usage_bytes": int(9.2 * GIB), "limit_bytes": 10 * GIB, "source": "reports_usage"},
            {"date": "2026-11-03", "usage_bytes": int(9.5 * GIB), "limit_bytes": 10 * GIB, "source": "drive_about"},
        ],
    }
    assert run_json(runner, "storage", "show", "FULL@example.com", "--days", "3650") == expected
    assert run_json(runner, "storage", "show", str(FULL), "--days", "3650") == expected
    table = runner.invoke(cli, ["storage", "show", "full@example.com", "--days", "3650"], env={"COLUMNS": "160"})
    assert table.exit_code == 0, table.output
    assert "9.5 GiB of 10.0 GiB (95.0 %, critical, 512.0 MiB in 7 days)" in table.stdout
    assert "2026-11-02" in table.stdout and "3 points" in table.stdout


def test_storage_show_of_an_unknown_account_is_one_error_line(seeded: Engine, runner: CliRunner):
    result = runner.invoke(cli, ["storage", "show", "nobody@example.com"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: no account 'nobody@example.com'"


def test_alerts_list_json_carries_the_delivery_state(seeded: Engine, runner: CliRunner):
    expected_alert = {
        "alert_id": str(ALERT),
        "email": "full@example.com",
        "kind": "critical",
        "interval_start": "2026-11-03T10:00:00+00:00",
        "usage_percent": 95.0,
        "usage_bytes": int(9.5 * GIB),
        "limit_bytes": 10 * GIB,
        "created_at": "2026-11-03T11:00:00+00:00",
        "deliveries": {"sent": 1, "pending": 1, "failed": 0},
    }
    assert run_json(runner, "alerts", "list") == {"alerts": [expected_alert], "count": 1}
    assert run_json(runner, "alerts", "list", "--account", "ok@example.com") == {"alerts": [], "count": 0}
    assert run_json(runner, "alerts", "list", "--kind", "warning") == {"alerts": [], "count": 0}
    table = runner.invoke(cli, ["alerts", "list"], env={"COLUMNS": "160"})
    assert table.exit_code == 0 and "full@example.com" in table.stdout and "critical" in table.stdout


def test_keys_rotate_prints_a_new_key_and_the_steps_never_an_existing_key(
    clean_db: Engine, runner: CliRunner, base_env: dict[str, str]
):
    current = base_env["DRIVEGUARD_ENCRYPTION_KEYS"]
    result = run_json(runner, "keys", "rotate")
    assert result["key_id"] == "k2" and result["current_key_ids"] == ["k1"]
    new_key = result["key"]
    deployed = load_settings({**base_env, "DRIVEGUARD_ENCRYPTION_KEYS": f"{new_key},{current}"}, env_file="/dev/null")
    assert [key.key_id for key in deployed.security.encryption_keys] == ["k2", "k1"]
    assert any("driveguard reencrypt-tokens" in step for step in result["steps"])
    people = runner.invoke(cli, ["keys", "rotate", "--key-id", "spring-2027"])
    assert people.exit_code == 0, people.output
    assert people.stdout.startswith("spring-2027:")
    secret = current.split(":", 1)[1]
    assert secret not in people.output and secret not in json.dumps(result)
    taken = runner.invoke(cli, ["keys", "rotate", "--key-id", "k1"])
    assert taken.exit_code == 2 and "already in use" in taken.stderr


def test_next_key_id_follows_the_numbered_ids():
    assert next_key_id(["k1"]) == "k2"
    assert next_key_id(["k9", "k10", "old"]) == "k11"
    assert next_key_id(["primary"]) == "k1"


def test_run_without_airflow_says_so_and_exits_1(clean_db: Engine, runner: CliRunner):
    """The suite's AIRFLOW_API_URL is a closed port: the trigger fails as one message, not a traceback."""
    result = runner.invoke(cli, ["run", "storage_collect"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: Airflow at http://127.0.0.1:9 is unreachable")
    unknown = runner.invoke(cli, ["run", "nightly_magic"])
    assert unknown.exit_code == 2 and "dag_id must be one of" in unknown.stderr
