"""Authenticated encryption of Google tokens at rest (AES-256-GCM) with key rotation.

Blob layout (bytes): ``b"DGv1" | len(key_id) | key_id | nonce(12) | ciphertext+tag``.
The key id travels in the header so old ciphertexts decrypt after a new key is put first in
DRIVEGUARD_ENCRYPTION_KEYS. The associated data binds each blob to its header, the account it
belongs to and the column it sits in: a blob copied to another account or swapped between the
access and refresh columns fails to decrypt instead of handing one user's token to another.

Error messages name key ids and fields only, never plaintext or ciphertext.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import ColumnElement, Engine, func, select

from driveguard.config import EncryptionKey
from driveguard.db.engine import transaction
from driveguard.db.models import GoogleAccount

logger = logging.getLogger(__name__)

MAGIC = b"DGv1"
NONCE_BYTES = 12
Field = Literal["access_token", "refresh_token", "notify_targets", "monitoring_apprise_urls", "outbox_target"]
"""Where a blob sits: Google tokens (bound to their account), a person's own apprise targets
(`monitoring_setting`, bound to the account), the run-time apprise targets (`monitoring_config`,
bound to NIL_OWNER) and an outbox row's target (bound to the row's id)."""
FIELDS: tuple[Field, ...] = ("access_token", "refresh_token")
"""The token columns of `google_account` (what `reencrypt_all` re-seals)."""
NIL_OWNER = uuid.UUID(int=0)
"""The owner id of blobs that belong to the installation, not to one account or row."""


class VaultError(Exception):
    """A blob could not be decrypted: unknown key, tampering, or the wrong account/field."""


@dataclass(frozen=True)
class ReencryptReport:
    """What `reencrypt_all` did; re-running it after success reports zero `reencrypted`."""

    examined: int
    reencrypted: int
    failed: int
    newest_key_id: str


class Vault:
    """Encrypts with the first (newest) key and decrypts with whichever key a blob names."""

    def __init__(self, keys: Sequence[EncryptionKey]) -> None:
        if not keys:
            raise ValueError("the vault needs at least one key")
        self._ciphers = {key.key_id: AESGCM(key.secret) for key in keys}
        self.newest_key_id = keys[0].key_id

    @staticmethod
    def _header(key_id: str) -> bytes:
        encoded = key_id.encode("ascii")
        return MAGIC + bytes([len(encoded)]) + encoded

    @staticmethod
    def _associated_data(header: bytes, account_id: uuid.UUID, field: Field) -> bytes:
        return header + b"|" + account_id.bytes + b"|" + field.encode("ascii")

    def encrypt(self, plaintext: str, *, account_id: uuid.UUID, field: Field) -> bytes:
        header = self._header(self.newest_key_id)
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.newest_key_id].encrypt(
            nonce, plaintext.encode("utf-8"), self._associated_data(header, account_id, field)
        )
        return header + nonce + sealed

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        """The id of the key a blob was sealed with (read from its header, nothing decrypted)."""
        if len(blob) < len(MAGIC) + 1 or not blob.startswith(MAGIC):
            raise VaultError("not a vault blob")
        size = blob[len(MAGIC)]
        key_id = blob[len(MAGIC) + 1 : len(MAGIC) + 1 + size]
        if len(key_id) != size:
            raise VaultError("truncated vault blob")
        try:
            return key_id.decode("ascii")
        except UnicodeDecodeError:
            raise VaultError("malformed key id in vault blob") from None

    def decrypt(self, blob: bytes, *, account_id: uuid.UUID, field: Field) -> str:
        key_id = self.key_id_of(bytes(blob))
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise VaultError(f"{field} is sealed with key {key_id!r}, which is not configured")
        header = self._header(key_id)
        body = bytes(blob)[len(header) :]
        if len(body) < NONCE_BYTES + 16:
            raise VaultError(f"{field} blob is truncated")
        nonce, sealed = body[:NONCE_BYTES], body[NONCE_BYTES:]
        try:
            plaintext = cipher.decrypt(nonce, sealed, self._associated_data(header, account_id, field))
        except InvalidTag:
            raise VaultError(f"{field} failed authentication (tampered, or not this account's)") from None
        return plaintext.decode("utf-8")

    @property
    def newest_header(self) -> bytes:
        """The header every blob sealed now starts with (lets SQL find blobs under older keys)."""
        return self._header(self.newest_key_id)

    def needs_reencryption(self, blob: bytes | None) -> bool:
        return blob is not None and self.key_id_of(bytes(blob)) != self.newest_key_id


def _sealed_under_an_older_key(vault: Vault) -> ColumnElement[bool]:
    """Accounts holding a token whose row is not yet marked with the newest key: `reencrypt_all`'s work."""
    access, refresh = GoogleAccount.access_token_ciphertext, GoogleAccount.refresh_token_ciphertext
    has_tokens = access.is_not(None) | refresh.is_not(None)
    return has_tokens & GoogleAccount.token_key_id.is_distinct_from(vault.newest_key_id)


def count_pending_reencryption(engine: Engine, vault: Vault) -> int:
    """How many accounts `reencrypt_all` would examine now (the total of an operator's progress bar)."""
    with transaction(engine) as db:
        return db.scalar(select(func.count()).select_from(GoogleAccount).where(_sealed_under_an_older_key(vault))) or 0


def reencrypt_all(
    engine: Engine,
    vault: Vault,
    *,
    batch_size: int = 200,
    on_batch: Callable[[int], None] | None = None,
) -> ReencryptReport:
    """Re-seal every stored token under the newest key, one short transaction per batch.

    Idempotent and restartable: rows already under the newest key are skipped by the query, and
    keyset pagination on the id means an undecryptable row is counted once and never loops.
    Rows are locked (`FOR UPDATE`) so a concurrent refresh cannot be overwritten with stale
    tokens; a refresh writes under the newest key anyway. `on_batch` hears how many accounts each
    committed batch examined (the CLI's progress bar).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    examined = reencrypted = failed = 0
    last_id: uuid.UUID | None = None
    while True:
        with transaction(engine) as db:
            query = (
                select(GoogleAccount)
                .where(_sealed_under_an_older_key(vault))
                .order_by(GoogleAccount.id)
                .limit(batch_size)
                .with_for_update(of=GoogleAccount)
            )
            if last_id is not None:
                query = query.where(GoogleAccount.id > last_id)
            accounts = db.scalars(query).unique().all()
            if not accounts:
                break
            for account in accounts:
                examined += 1
                last_id = account.id
                resealed: dict[str, bytes] = {}
                try:
                    for field in FIELDS:
                        blob = getattr(account, f"{field}_ciphertext")
                        if blob is not None:
                            plain = vault.decrypt(blob, account_id=account.id, field=field)
                            resealed[f"{field}_ciphertext"] = vault.encrypt(plain, account_id=account.id, field=field)
                except VaultError as exc:
                    failed += 1
                    logger.warning("cannot re-encrypt tokens of account %s: %s", account.id, exc)
                    continue
                for column, blob in resealed.items():
                    setattr(account, column, blob)
                account.token_key_id = vault.newest_key_id
                reencrypted += 1
        if on_batch is not None:
            on_batch(len(accounts))
    return ReencryptReport(examined, reencrypted, failed, vault.newest_key_id)
