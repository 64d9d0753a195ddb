"""Outbox rows for dispatcher tests: queue some by idempotency key, read back their state."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Engine, text

from support.clock import FakeClock


def enqueue(engine: Engine, clock: FakeClock, *keys: str) -> None:
    """Due rows (a minute ago) aimed at a target nobody listens on."""
    with engine.begin() as conn:
        for key in keys:
            conn.execute(
                text(
                    "INSERT INTO notification_outbox (id, idempotency_key, target, title, body, next_attempt_at, "
                    "created_at, updated_at) VALUES (:id, :k, 'json://127.0.0.1:9/x', 't', 'b', :at, :at, :at)"
                ),
                {"id": uuid.uuid4(), "k": key, "at": clock() - dt.timedelta(minutes=1)},
            )


def outbox(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT idempotency_key AS key, status, attempts FROM notification_outbox ORDER BY idempotency_key")
        )
        return [dict(r) for r in rows.mappings()]
