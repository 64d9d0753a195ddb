"""Apprise targets are credentials (webhook tokens, SMTP passwords, chat keys): sealed at rest, masked on show.

Where they sit and what each blob is bound to (the vault's associated data):

- a person's own targets: `monitoring_setting.notify_targets_ciphertext` (a JSON list), bound to the account;
- the run-time targets: `monitoring_config` key `apprise_urls`, stored as `{"sealed": <base64>}` and bound
  to the installation (`NIL_OWNER`);
- an outbox row's target: `notification_outbox.target_ciphertext`, bound to the row id; the row's
  `target` column keeps only the masked form (scheme and host), for people reading delivery state.

A blob moved to another account or row fails to open instead of sending one person's alerts elsewhere.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import Engine

from driveguard.identity.vault import NIL_OWNER, Vault, VaultError
from driveguard.storage.sql import load_sql

logger = logging.getLogger(__name__)

SEALED = "sealed"
"""The JSON key of a sealed `monitoring_config` value."""


def mask_target(url: str) -> str:
    """Scheme, a hint of the user and the host only: `mailto://a***@example.com`, `json://hooks.example:8080`.

    Never the password, path, query or fragment (where apprise URLs carry their tokens)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed host or port: the scheme alone
        return f"{url.strip().split(':', 1)[0].lower()}://"
    user = unquote(parts.username or "")
    hint = f"{user[:1]}***@" if user else ""
    return f"{parts.scheme.lower()}://{hint}{host}{port}"


def apprise_refusal(url: str) -> str | None:
    """None when apprise itself can build a notifier from `url` (the product's scheme list is checked
    first by `monitoring.check_apprise_url`), else why not."""
    import apprise

    try:
        plugin = apprise.Apprise.instantiate(url.strip(), suppress_exceptions=True)
    except Exception:  # apprise's parsers raise on some malformed URLs despite the flag
        plugin = None
    return None if plugin else "apprise cannot build a notifier from this URL"


def seal_list(vault: Vault, targets: Sequence[str], *, owner: uuid.UUID, field: Any) -> bytes | None:
    """A JSON list sealed under the newest key; None for an empty list (nothing to keep)."""
    if not targets:
        return None
    return vault.encrypt(json.dumps(list(targets)), account_id=owner, field=field)


def open_list(vault: Vault, blob: bytes | None, *, owner: uuid.UUID, field: Any) -> list[str]:
    """The targets in a sealed list; an unreadable blob (unknown key, tampered, moved) yields none and a
    warning naming the owner and the reason, never the contents."""
    if blob is None:
        return []
    try:
        value = json.loads(vault.decrypt(bytes(blob), account_id=owner, field=field))
    except (VaultError, ValueError) as exc:
        logger.warning("cannot open the %s of %s: %s", field, owner, exc)
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def open_personal(vault: Vault, blob: bytes | None, account_id: uuid.UUID) -> list[str]:
    return open_list(vault, blob, owner=account_id, field="notify_targets")


def seal_personal(vault: Vault, targets: Sequence[str], account_id: uuid.UUID) -> bytes | None:
    return seal_list(vault, targets, owner=account_id, field="notify_targets")


def seal_config_urls(vault: Vault, urls: Sequence[str]) -> dict[str, str]:
    """The JSONB value stored for `monitoring_config.apprise_urls`."""
    blob = vault.encrypt(json.dumps(list(urls)), account_id=NIL_OWNER, field="monitoring_apprise_urls")
    return {SEALED: base64.b64encode(blob).decode("ascii")}


def open_config_urls(vault: Vault, value: Any) -> list[str] | None:
    """The stored run-time targets, or None when the value is not a readable sealed list (a plain list
    left from before migration 0007 is not trusted: it is ignored like any other bad row)."""
    if not isinstance(value, dict) or not isinstance(value.get(SEALED), str):
        logger.warning("ignoring a monitoring_config apprise_urls value that is not sealed")
        return None
    try:
        blob = base64.b64decode(value[SEALED], validate=True)
    except ValueError:
        return None
    try:
        urls = json.loads(vault.decrypt(blob, account_id=NIL_OWNER, field="monitoring_apprise_urls"))
    except (VaultError, ValueError) as exc:
        logger.warning("cannot open the run-time apprise_urls: %s", exc)
        return None
    return [str(u) for u in urls] if isinstance(urls, list) else None


def seal_outbox_target(vault: Vault, target: str, row_id: uuid.UUID) -> bytes:
    return vault.encrypt(target, account_id=row_id, field="outbox_target")


def open_outbox_target(vault: Vault, blob: bytes, row_id: uuid.UUID) -> str:
    """Raises VaultError (the dispatcher records it as the row's failure)."""
    return vault.decrypt(bytes(blob), account_id=row_id, field="outbox_target")


def reencrypt_targets(engine: Engine, vault: Vault, *, batch_size: int = 200) -> dict[str, int]:
    """Re-seal every stored apprise target under the newest key (the `reencrypt-tokens` command).

    Idempotent and restartable like `vault.reencrypt_all`: blobs already under the newest key are not
    selected (their header says so), one short transaction per batch, keyset pagination so an
    unreadable blob is counted once (and left as it is, with a warning naming its owner)."""
    counts = {"examined": 0, "reencrypted": 0, "failed": 0}
    header = {"header": vault.newest_header, "header_length": len(vault.newest_header)}
    stores = (
        ("sealed_personal_targets", "reseal_personal_targets", "notify_targets"),
        ("sealed_outbox_targets", "reseal_outbox_target", "outbox_target"),
    )
    for select_name, update_name, field in stores:
        after = NIL_OWNER
        while True:
            with engine.begin() as conn:
                rows = conn.execute(load_sql(select_name), {**header, "after": after, "limit": batch_size}).all()
                for owner, blob in rows:
                    counts["examined"] += 1
                    after = owner
                    try:
                        plain = vault.decrypt(bytes(blob), account_id=owner, field=field)
                    except VaultError as exc:
                        counts["failed"] += 1
                        logger.warning("cannot re-encrypt the %s of %s: %s", field, owner, exc)
                        continue
                    resealed = vault.encrypt(plain, account_id=owner, field=field)
                    conn.execute(load_sql(update_name), {"owner": owner, "blob": resealed})
                    counts["reencrypted"] += 1
            if len(rows) < batch_size:
                break
    with engine.begin() as conn:
        value = conn.execute(load_sql("sealed_config_urls")).scalar()
        if isinstance(value, dict) and isinstance(value.get(SEALED), str):
            blob = base64.b64decode(value[SEALED])
            if vault.needs_reencryption(blob):
                counts["examined"] += 1
                urls = open_config_urls(vault, value)
                if urls is None:
                    counts["failed"] += 1
                else:
                    sealed = json.dumps(seal_config_urls(vault, urls))
                    conn.execute(load_sql("reseal_config_urls"), {"value": sealed})
                    counts["reencrypted"] += 1
    return counts
