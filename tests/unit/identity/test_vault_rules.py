"""Vault rules the mutation run (docs/mutation.md) found unpinned: the stored blob format stays
readable, truncation and key rotation are told apart precisely, and re-encryption reports and
progress add up, batch after batch, against real PostgreSQL."""

from __future__ import annotations

import os
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, select

from driveguard.config import EncryptionKey
from driveguard.db.engine import transaction
from driveguard.db.models import GoogleAccount
from driveguard.identity.vault import NIL_OWNER, Vault, VaultError, count_pending_reencryption, reencrypt_all

OLD = EncryptionKey("old", bytes(range(32)))
NEW = EncryptionKey("new", bytes(range(100, 132)))  # "new" sorts before "old": rotation is not alphabetical
ACCOUNT = uuid.UUID("01900000-0000-7000-8000-0000000000aa")


def sealed_by_hand(key: EncryptionKey, plaintext: str, owner: uuid.UUID, field: str) -> bytes:
    """A blob written to the documented format (what rows stored by earlier releases hold):
    b"DGv1" + key id length + key id + 12-byte nonce + AES-GCM(plaintext, aad=header|owner|field)."""
    header = b"DGv1" + bytes([len(key.key_id)]) + key.key_id.encode()
    nonce = os.urandom(12)
    aad = header + b"|" + owner.bytes + b"|" + field.encode()
    return header + nonce + AESGCM(key.secret).encrypt(nonce, plaintext.encode(), aad)


def test_blobs_stored_in_the_documented_format_stay_readable():
    vault = Vault([OLD])
    assert (
        vault.decrypt(
            sealed_by_hand(OLD, "1//0g-refresh", ACCOUNT, "refresh_token"), account_id=ACCOUNT, field="refresh_token"
        )
        == "1//0g-refresh"
    )
    # The installation's own apprise targets are bound to the all-zero owner id.
    stored = sealed_by_hand(OLD, "json://hooks.example.com/ops", uuid.UUID(int=0), "monitoring_apprise_urls")
    assert (
        vault.decrypt(stored, account_id=NIL_OWNER, field="monitoring_apprise_urls") == "json://hooks.example.com/ops"
    )
    # And what the vault writes is that format: header, 12-byte nonce, ciphertext plus 16-byte tag.
    blob = vault.encrypt("abc", account_id=ACCOUNT, field="access_token")
    assert blob.startswith(vault.newest_header) and vault.newest_header == b"DGv1\x03old"
    assert len(blob) == len(b"DGv1\x03old") + 12 + 3 + 16


def test_an_empty_secret_round_trips_and_a_shorter_body_is_called_truncated():
    vault = Vault([OLD])
    empty = vault.encrypt("", account_id=ACCOUNT, field="access_token")  # body: nonce + tag, nothing else
    assert vault.decrypt(empty, account_id=ACCOUNT, field="access_token") == ""
    with pytest.raises(VaultError, match="truncated"):
        vault.decrypt(empty[:-1], account_id=ACCOUNT, field="access_token")
    with pytest.raises(VaultError, match="truncated"):
        Vault.key_id_of(b"DGv1\x05old")  # the header promises a longer key id than it holds
    with pytest.raises(VaultError, match="malformed key id"):
        Vault.key_id_of(b"DGv1\x02\xff\xfe" + bytes(40))


def test_rotation_marks_blobs_under_any_other_key_whatever_the_key_names():
    rotated = Vault([NEW, OLD])
    old_blob = Vault([OLD]).encrypt("ya29.token", account_id=ACCOUNT, field="access_token")
    assert rotated.needs_reencryption(old_blob)
    assert not rotated.needs_reencryption(rotated.encrypt("ya29.token", account_id=ACCOUNT, field="access_token"))
    assert not rotated.needs_reencryption(None)


def seed(engine: Engine, vault: Vault, count: int, *, tokens: bool = True) -> list[uuid.UUID]:
    ids = []
    with transaction(engine) as db:
        for _ in range(count):
            account = GoogleAccount(google_sub=str(uuid.uuid4().int)[:21], email=f"{uuid.uuid4().hex[:8]}@example.com")
            db.add(account)
            db.flush()
            if tokens:
                account.refresh_token_ciphertext = vault.encrypt("1//0g", account_id=account.id, field="refresh_token")
                account.token_key_id = vault.newest_key_id
            ids.append(account.id)
    return ids


def test_reencryption_progress_counts_every_account_once_and_refuses_empty_batches(clean_db: Engine):
    seed(clean_db, Vault([OLD]), 5)
    only_access = seed(clean_db, Vault([OLD]), 1, tokens=False)[0]
    with transaction(clean_db) as db:  # an account with only an access token still counts
        account = db.get(GoogleAccount, only_access)
        account.access_token_ciphertext = Vault([OLD]).encrypt("ya29", account_id=only_access, field="access_token")
        account.token_key_id = "old"
    seed(clean_db, Vault([OLD]), 2, tokens=False)  # no tokens: nothing to re-seal
    rotated = Vault([NEW, OLD])
    assert count_pending_reencryption(clean_db, rotated) == 6
    with pytest.raises(ValueError, match="positive"):
        reencrypt_all(clean_db, rotated, batch_size=0)

    batches: list[int] = []
    report = reencrypt_all(clean_db, rotated, batch_size=2, on_batch=batches.append)
    assert (report.examined, report.reencrypted, report.failed, report.newest_key_id) == (6, 6, 0, "new")
    assert batches == [2, 2, 2]
    assert count_pending_reencryption(clean_db, rotated) == 0
    with transaction(clean_db) as db:
        account = db.get(GoogleAccount, only_access)
        assert account.refresh_token_ciphertext is None
        assert (
            Vault([NEW]).decrypt(account.access_token_ciphertext, account_id=only_access, field="access_token")
            == "ya29"
        )
        keys = set(db.scalars(select(GoogleAccount.token_key_id).where(GoogleAccount.token_key_id.is_not(None))))
    assert keys == {"new"}
    assert reencrypt_all(clean_db, rotated, batch_size=1).examined == 0  # one batch of size 1 works too


def test_a_row_that_fails_leaves_the_rest_of_its_batch_to_be_resealed(clean_db: Engine):
    ids = sorted(seed(clean_db, Vault([OLD]), 4))
    with transaction(clean_db) as db:  # the first row of the only batch is sealed under a key we no longer hold
        db.get(GoogleAccount, ids[0]).refresh_token_ciphertext = Vault([EncryptionKey("gone", os.urandom(32))]).encrypt(
            "x", account_id=ids[0], field="refresh_token"
        )
    batches: list[int] = []
    report = reencrypt_all(clean_db, Vault([NEW, OLD]), batch_size=10, on_batch=batches.append)
    assert (report.examined, report.reencrypted, report.failed) == (4, 3, 1)
    assert batches == [4]  # one pass over the batch: progress never counts an account twice
    assert count_pending_reencryption(clean_db, Vault([NEW, OLD])) == 1
