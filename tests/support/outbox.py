"""Outbox rows for dispatcher tests: queue some by idempotency key, read back their state; and the
sealed forms the product stores (targets through the vault), for tests that write rows by hand."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text

from driveguard.config import Settings
from driveguard.identity.vault import Vault
from driveguard.storage.targets import mask_target, seal_outbox_target, seal_personal
from support.clock import FakeClock

DEAD_TARGET = "json://127.0.0.1:9/x"
"""A target nobody listens on."""


def insert_row(
    conn: Connection,
    settings: Settings,
    *,
    key: str,
    at: dt.datetime,
    target: str = DEAD_TARGET,
    status: str = "pending",
    sent_at: dt.datetime | None = None,
) -> uuid.UUID:
    """One outbox row as the product writes it: the target sealed to the row id, its mask in `target`."""
    row_id = uuid.uuid4()
    conn.execute(
        text(
            "INSERT INTO notification_outbox (id, idempotency_key, target, target_ciphertext, title, body, status,"
            " sent_at, next_attempt_at, created_at, updated_at)"
            " VALUES (:id, :k, :masked, :blob, 't', 'b', :status, :sent, :at, :at, :at)"
        ),
        {
            "id": row_id,
            "k": key,
            "masked": mask_target(target),
            "blob": seal_outbox_target(Vault(settings.security.encryption_keys), target, row_id),
            "status": status,
            "sent": sent_at,
            "at": at,
        },
    )
    return row_id


def enqueue(engine: Engine, clock: FakeClock, *keys: str, settings: Settings) -> None:
    """Due rows (a minute ago) aimed at a target nobody listens on."""
    with engine.begin() as conn:
        for key in keys:
            insert_row(conn, settings, key=key, at=clock() - dt.timedelta(minutes=1))


def set_personal_targets(conn: Connection, settings: Settings, account_id: uuid.UUID, targets: Sequence[str]) -> None:
    """A person's own targets, sealed as the preferences service stores them."""
    conn.execute(
        text(
            "INSERT INTO monitoring_setting (account_id, notify_targets_ciphertext) VALUES (:id, :blob)"
            " ON CONFLICT (account_id) DO UPDATE SET notify_targets_ciphertext = EXCLUDED.notify_targets_ciphertext"
        ),
        {"id": account_id, "blob": seal_personal(Vault(settings.security.encryption_keys), list(targets), account_id)},
    )


def outbox(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT idempotency_key AS key, status, attempts FROM notification_outbox ORDER BY idempotency_key")
        )
        return [dict(r) for r in rows.mappings()]


@contextmanager
def outbox_inserts_crash(engine: Engine) -> Iterator[None]:
    """The database refuses every outbox insert, as if the process died right before it."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION rule_pin_outbox_crash() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'simulated crash before the outbox write'; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER rule_pin_outbox_crash BEFORE INSERT ON notification_outbox "
                "FOR EACH ROW EXECUTE FUNCTION rule_pin_outbox_crash()"
            )
        )
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER IF EXISTS rule_pin_outbox_crash ON notification_outbox"))
            conn.execute(text("DROP FUNCTION IF EXISTS rule_pin_outbox_crash()"))
