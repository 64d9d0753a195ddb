"""The token vault: AES-256-GCM with key ids in the header and blobs bound to account and field."""

from __future__ import annotations

import uuid

import pytest

from driveguard.config import EncryptionKey
from driveguard.identity.vault import Vault, VaultError

K1 = EncryptionKey("k1", bytes(range(32)))
K2 = EncryptionKey("k2", bytes(range(32, 64)))
ACCOUNT = uuid.UUID("01900000-0000-7000-8000-000000000001")
OTHER = uuid.UUID("01900000-0000-7000-8000-000000000002")
SECRET = "1//0gRefreshTokenThatMustNeverLeak"


def test_round_trip_hides_the_plaintext_and_names_the_key():
    vault = Vault([K1])
    blob = vault.encrypt(SECRET, account_id=ACCOUNT, field="refresh_token")
    assert SECRET.encode() not in blob
    assert Vault.key_id_of(blob) == "k1"
    assert vault.decrypt(blob, account_id=ACCOUNT, field="refresh_token") == SECRET
    assert vault.encrypt(SECRET, account_id=ACCOUNT, field="refresh_token") != blob  # fresh nonce each time


def test_rotation_new_writes_use_the_first_key_and_old_blobs_still_decrypt():
    old_blob = Vault([K1]).encrypt(SECRET, account_id=ACCOUNT, field="access_token")
    rotated = Vault([K2, K1])
    assert rotated.newest_key_id == "k2"
    assert rotated.decrypt(old_blob, account_id=ACCOUNT, field="access_token") == SECRET
    assert rotated.needs_reencryption(old_blob)
    new_blob = rotated.encrypt(SECRET, account_id=ACCOUNT, field="access_token")
    assert Vault.key_id_of(new_blob) == "k2" and not rotated.needs_reencryption(new_blob)
    # Once k1 is dropped from the configuration, its blobs fail loudly, naming only the key id.
    with pytest.raises(VaultError, match="'k1'") as failure:
        Vault([K2]).decrypt(old_blob, account_id=ACCOUNT, field="access_token")
    assert SECRET not in str(failure.value)


@pytest.mark.parametrize("position", [0, 5, 8, 12, 20, -1])
def test_any_tampered_byte_fails_authentication(position: int):
    vault = Vault([K1, EncryptionKey("k2", K2.secret)])
    blob = bytearray(vault.encrypt(SECRET, account_id=ACCOUNT, field="refresh_token"))
    blob[position] ^= 0x01
    with pytest.raises(VaultError):
        vault.decrypt(bytes(blob), account_id=ACCOUNT, field="refresh_token")


def test_blobs_cannot_be_swapped_between_accounts_or_fields():
    vault = Vault([K1])
    blob = vault.encrypt(SECRET, account_id=ACCOUNT, field="refresh_token")
    with pytest.raises(VaultError, match="not this account"):
        vault.decrypt(blob, account_id=OTHER, field="refresh_token")
    with pytest.raises(VaultError):
        vault.decrypt(blob, account_id=ACCOUNT, field="access_token")


def test_a_key_id_forged_in_the_header_does_not_help():
    """Relabelling a k1 blob as k2 (both configured) fails: the header is authenticated data."""
    vault = Vault([K2, K1])
    blob = Vault([K1]).encrypt(SECRET, account_id=ACCOUNT, field="access_token")
    forged = blob.replace(b"k1", b"k2", 1)
    with pytest.raises(VaultError):
        vault.decrypt(forged, account_id=ACCOUNT, field="access_token")


@pytest.mark.parametrize("blob", [b"", b"DGv1", b"DGv1\x05k1", b"plaintext-token", b"DGv1\x02k1" + b"\x00" * 10])
def test_malformed_blobs_are_vault_errors(blob: bytes):
    with pytest.raises(VaultError):
        Vault([K1]).decrypt(blob, account_id=ACCOUNT, field="access_token")


def test_a_vault_needs_keys():
    with pytest.raises(ValueError, match="at least one key"):
        Vault([])
