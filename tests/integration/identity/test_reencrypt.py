"""Re-encryption under the newest key: in batches, idempotent, and through the operator's CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from sqlalchemy import Engine, select
from support.settings import settings_for

from driveguard.config import PROJECT_ROOT, EncryptionKey, generate_encryption_key, load_settings
from driveguard.db.engine import transaction
from driveguard.db.models import AuditLog, GoogleAccount
from driveguard.identity.vault import Vault, reencrypt_all

K1 = EncryptionKey("k1", os.urandom(32))
K2 = EncryptionKey("k2", os.urandom(32))


def seed(engine: Engine, vault: Vault, count: int) -> dict[uuid.UUID, tuple[str, str]]:
    plain: dict[uuid.UUID, tuple[str, str]] = {}
    with transaction(engine) as db:
        for index in range(count):
            account = GoogleAccount(google_sub=f"{index:021d}", email=f"user{index}@example.com")
            db.add(account)
            db.flush()
            access, refresh = f"ya29.access-{uuid.uuid4()}", f"1//0g-refresh-{uuid.uuid4()}"
            account.access_token_ciphertext = vault.encrypt(access, account_id=account.id, field="access_token")
            account.refresh_token_ciphertext = vault.encrypt(refresh, account_id=account.id, field="refresh_token")
            account.token_key_id = vault.newest_key_id
            plain[account.id] = (access, refresh)
    return plain


def test_reencrypt_moves_everything_to_the_newest_key_in_batches(clean_db: Engine):
    plain = seed(clean_db, Vault([K1]), 7)
    with transaction(clean_db) as db:  # one account without tokens (never affected)
        db.add(GoogleAccount(google_sub="9" * 21, email="empty@example.com"))
    rotated = Vault([K2, K1])
    report = reencrypt_all(clean_db, rotated, batch_size=3)
    assert (report.examined, report.reencrypted, report.failed) == (7, 7, 0)
    only_new = Vault([K2])
    with transaction(clean_db) as db:
        for account in db.scalars(select(GoogleAccount).where(GoogleAccount.access_token_ciphertext.is_not(None))):
            assert account.token_key_id == "k2"
            access = only_new.decrypt(account.access_token_ciphertext, account_id=account.id, field="access_token")
            refresh = only_new.decrypt(account.refresh_token_ciphertext, account_id=account.id, field="refresh_token")
            assert (access, refresh) == plain[account.id]
    again = reencrypt_all(clean_db, rotated, batch_size=3)
    assert (again.examined, again.reencrypted, again.failed) == (0, 0, 0)


def test_an_undecryptable_row_is_counted_once_and_left_alone(clean_db: Engine):
    plain = seed(clean_db, Vault([K1]), 3)
    broken_id = next(iter(plain))
    with transaction(clean_db) as db:
        db.get(GoogleAccount, broken_id).refresh_token_ciphertext = b"DGv1\x02k1" + os.urandom(40)
    report = reencrypt_all(clean_db, Vault([K2, K1]), batch_size=1)
    assert (report.examined, report.reencrypted, report.failed) == (3, 2, 1)
    with transaction(clean_db) as db:
        assert db.get(GoogleAccount, broken_id).token_key_id == "k1"


def test_cli_reencrypt_tokens(clean_db: Engine, base_env: dict[str, str]):
    old_key = base_env["DRIVEGUARD_ENCRYPTION_KEYS"]
    old_vault = Vault(load_settings(base_env, env_file="/dev/null").security.encryption_keys)
    seed(clean_db, old_vault, 4)
    new_key = generate_encryption_key("k9")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "DRIVEGUARD_", "DATABASE_"))},
        **base_env,
        "DRIVEGUARD_ENCRYPTION_KEYS": f"{new_key},{old_key}",
        "DRIVEGUARD_ENV_FILE": "/dev/null",
    }
    command = [sys.executable, "-m", "driveguard.cli", "reencrypt-tokens", "--batch-size", "2"]
    first = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "re-encrypted 4 of 4 accounts under key 'k9'" in first.stdout
    second = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and "re-encrypted 0 of 0" in second.stdout
    with transaction(clean_db) as db:
        assert set(db.scalars(select(GoogleAccount.token_key_id))) == {"k9"}
        assert len(db.scalars(select(AuditLog).where(AuditLog.action == "tokens_reencrypted")).all()) == 2
    bad = subprocess.run(
        [*command[:-2], "--batch-size", "0"], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2


def test_cli_hash_password_makes_a_config_entry():
    answer = subprocess.run(
        [sys.executable, "-m", "driveguard.cli", "hash-password", "--name", "ops", "--password-stdin"],
        input="a long enough password\n",
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 0, answer.stderr
    entry = answer.stdout.strip()
    assert entry.startswith("ops:scrypt$") and "a long enough password" not in entry
    user = settings_for(DRIVEGUARD_ADMIN_USERS=entry).security.admin_user("ops")
    assert user is not None
    from driveguard.identity.passwords import verify_password

    assert verify_password("a long enough password", user.password_hash)
    short = subprocess.run(
        [sys.executable, "-m", "driveguard.cli", "hash-password", "--password-stdin"],
        input="short\n",
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert short.returncode == 2
