"""The installed `driveguard` console script against the real database: key rotation for scripts and people."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, text

from driveguard.cli import cli
from driveguard.config import PROJECT_ROOT, generate_encryption_key, get_settings, load_settings
from driveguard.db.engine import get_engine, transaction
from driveguard.db.models import AuditLog, GoogleAccount
from driveguard.identity.vault import FIELDS, Vault
from driveguard.storage.targets import (
    open_config_urls,
    open_outbox_target,
    open_personal,
    seal_config_urls,
    seal_outbox_target,
    seal_personal,
)

CONSOLE_SCRIPT = Path(sys.executable).with_name("driveguard")  # what `make install` puts on the PATH


def seed(engine: Engine, vault: Vault, count: int) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    with transaction(engine) as db:
        for index in range(count):
            account = GoogleAccount(google_sub=f"{index:021d}", email=f"user{index}@example.com")
            db.add(account)
            db.flush()
            sealed = {field: vault.encrypt(f"{field}-{index}", account_id=account.id, field=field) for field in FIELDS}
            account.access_token_ciphertext = sealed["access_token"]
            account.refresh_token_ciphertext = sealed["refresh_token"]
            account.token_key_id = vault.newest_key_id
            ids.append(account.id)
    return ids


def seed_targets(engine: Engine, vault: Vault, account_id: uuid.UUID) -> uuid.UUID:
    """One of each sealed apprise target under `vault`'s key: a person's, the run-time ones, an outbox row's."""
    outbox_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO monitoring_setting (account_id, notify_targets_ciphertext) VALUES (:id, :blob)"),
            {"id": account_id, "blob": seal_personal(vault, ["json://own.example/t0k3n"], account_id)},
        )
        conn.execute(
            text("INSERT INTO monitoring_config (key, value) VALUES ('apprise_urls', CAST(:v AS jsonb))"),
            {"v": json.dumps(seal_config_urls(vault, ["json://ops.example/s3cret"]))},
        )
        conn.execute(
            text(
                "INSERT INTO notification_outbox (id, idempotency_key, target, target_ciphertext, title, body,"
                " created_at, updated_at) VALUES (:id, 'k', 'json://out.example', :blob, 't', 'b', now(), now())"
            ),
            {"id": outbox_id, "blob": seal_outbox_target(vault, "json://out.example/p4ss", outbox_id)},
        )
    return outbox_id


NO_TARGETS = {"examined": 0, "reencrypted": 0, "failed": 0}


@pytest.fixture
def rotated_env(base_env: dict[str, str]) -> dict[str, str]:
    """The test deployment after an operator put a new key `k9` in front of the old one."""
    return {
        **base_env,
        "DRIVEGUARD_ENCRYPTION_KEYS": f"{generate_encryption_key('k9')},{base_env['DRIVEGUARD_ENCRYPTION_KEYS']}",
        "DRIVEGUARD_ENV_FILE": "/dev/null",
    }


@pytest.fixture
def old_vault(base_env: dict[str, str]) -> Vault:
    return Vault(load_settings(base_env, env_file="/dev/null").security.encryption_keys)


def run_console_script(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "DRIVEGUARD_", "DATABASE_"))}
    inherited = {k: v for k, v in inherited.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR")}
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        env={**inherited, **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_reencrypt_json_report_from_the_installed_console_script(
    clean_db: Engine, rotated_env: dict[str, str], old_vault: Vault
):
    assert CONSOLE_SCRIPT.is_file(), "run `make install` so the console script exists"
    first_account, *_ = seed(clean_db, old_vault, 3)
    outbox_id = seed_targets(clean_db, old_vault, first_account)
    first = run_console_script(["reencrypt-tokens", "--json", "--batch-size", "2"], rotated_env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {
        "examined": 3, "reencrypted": 3, "failed": 0, "newest_key_id": "k9",
        "targets": {"examined": 3, "reencrypted": 3, "failed": 0},
    }  # fmt: skip
    again = run_console_script(["reencrypt-tokens", "--json"], rotated_env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {
        "examined": 0, "reencrypted": 0, "failed": 0, "newest_key_id": "k9", "targets": NO_TARGETS,
    }  # fmt: skip
    with transaction(clean_db) as db:
        assert set(db.scalars(select(GoogleAccount.token_key_id))) == {"k9"}
    # The old key can go now: the new key alone opens every target.
    new_only = Vault([load_settings(rotated_env, env_file="/dev/null").security.encryption_keys[0]])
    with clean_db.connect() as conn:
        personal = conn.execute(text("SELECT notify_targets_ciphertext FROM monitoring_setting")).scalar_one()
        runtime = conn.execute(text("SELECT value FROM monitoring_config WHERE key = 'apprise_urls'")).scalar_one()
        outbox = conn.execute(text("SELECT target_ciphertext FROM notification_outbox")).scalar_one()
    assert open_personal(new_only, personal, first_account) == ["json://own.example/t0k3n"]
    assert open_config_urls(new_only, runtime) == ["json://ops.example/s3cret"]
    assert open_outbox_target(new_only, outbox, outbox_id) == "json://out.example/p4ss"


def test_a_person_at_a_terminal_sees_the_progress_bar_reach_the_total(
    clean_db: Engine, rotated_env: dict[str, str], old_vault: Vault
):
    seed(clean_db, old_vault, 5)
    shown = run_console_script(["reencrypt-tokens", "--batch-size", "2"], {**rotated_env, "TTY_COMPATIBLE": "1"})
    assert shown.returncode == 0, shown.stderr
    assert "re-encrypted 5 of 5 accounts under key 'k9'; 0 could not be decrypted" in shown.stdout
    assert "5/5" in shown.stderr


@pytest.fixture
def runner(rotated_env: dict[str, str]) -> Iterator[CliRunner]:
    """In-process runs read `rotated_env`; the engine they open is closed again so no connection lingers."""
    get_settings.cache_clear()
    yield CliRunner(env=rotated_env)
    get_settings.cache_clear()
    get_engine(load_settings(rotated_env, env_file="/dev/null")).dispose()


def test_undecryptable_accounts_make_the_json_report_exit_1_and_are_audited(
    clean_db: Engine, runner: CliRunner, old_vault: Vault
):
    broken, *_ = seed(clean_db, old_vault, 3)
    with transaction(clean_db) as db:
        db.get(GoogleAccount, broken).refresh_token_ciphertext = b"DGv1\x02k1" + os.urandom(40)
    result = runner.invoke(cli, ["reencrypt-tokens", "--json", "--batch-size", "1"])
    assert result.exit_code == 1, result.output
    report = {"examined": 3, "reencrypted": 2, "failed": 1, "newest_key_id": "k9", "targets": NO_TARGETS}
    assert json.loads(result.stdout) == report
    with transaction(clean_db) as db:
        audited = db.scalars(select(AuditLog).where(AuditLog.action == "tokens_reencrypted")).one()
        assert (audited.actor, audited.details) == ("cli", report)


def test_undecryptable_accounts_are_explained_to_a_person(clean_db: Engine, runner: CliRunner, old_vault: Vault):
    broken, *_ = seed(clean_db, old_vault, 2)
    with transaction(clean_db) as db:
        db.get(GoogleAccount, broken).access_token_ciphertext = b"DGv1\x02k1" + os.urandom(40)
    result = runner.invoke(cli, ["reencrypt-tokens"])
    assert result.exit_code == 1, result.output
    assert "re-encrypted 1 of 2 accounts under key 'k9'; 1 could not be decrypted" in result.stdout
    assert "DRIVEGUARD_ENCRYPTION_KEYS" in result.stderr


def test_an_undecryptable_target_makes_the_report_exit_1_and_is_left_as_it_is(
    clean_db: Engine, runner: CliRunner, old_vault: Vault
):
    first_account, *_ = seed(clean_db, old_vault, 1)
    outbox_id = seed_targets(clean_db, old_vault, first_account)
    broken = b"DGv1\x02k1" + os.urandom(40)
    with clean_db.begin() as conn:
        conn.execute(text("UPDATE notification_outbox SET target_ciphertext = :b WHERE id = :id"),
                     {"b": broken, "id": outbox_id})  # fmt: skip
    result = runner.invoke(cli, ["reencrypt-tokens", "--json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["targets"] == {"examined": 3, "reencrypted": 2, "failed": 1}
    with clean_db.connect() as conn:
        assert bytes(conn.execute(text("SELECT target_ciphertext FROM notification_outbox")).scalar_one()) == broken
