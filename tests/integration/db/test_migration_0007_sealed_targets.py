"""Migration 0007 seals the apprise URLs that sat in plain text: rows written at the previous
revision (a person's targets, the run-time targets, outbox rows) are encrypted on upgrade, read back
through the vault by the product, and the dispatcher still delivers the old row; downgrading opens
them again."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, inspect, text
from support.database import PostgresForTests
from support.receivers import HttpReceiver

from driveguard.config import Settings
from driveguard.db import migrate
from driveguard.db.engine import make_engine
from driveguard.identity.vault import Vault
from driveguard.storage.monitoring import effective_config
from driveguard.storage.notifications import Dispatcher
from driveguard.storage.targets import open_personal

PREVIOUS = "0008_storage_read_indexes"
PERSONAL = ["json://hooks.example.com/personal-secret-token", "mailto://bob:mail-password@example.com"]
RUNTIME = ["slack://T000/B000/runtime-secret"]


@pytest.fixture
def scratch_engine(pg_server: PostgresForTests) -> Iterator[Engine]:
    name = pg_server.create_database("dg_mig7")
    engine = make_engine(pg_server.url_for(name), pool_size=1)
    yield engine
    engine.dispose()
    pg_server.drop_database(name)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    http = HttpReceiver().start()
    yield http
    http.stop()


def plain_rows(engine: Engine, outbox_target: str) -> dict[str, uuid.UUID]:
    """What a deployment at the previous revision holds: apprise URLs in plain text."""
    account_id, outbox_id = uuid.uuid4(), uuid.uuid4()
    now = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO google_account (id, google_sub, email, created_at, updated_at)"
                " VALUES (:id, 'sub-bob', 'bob@example.com', :now, :now)"
            ),
            {"id": account_id, "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO monitoring_setting (account_id, warning_threshold_percent, notify_targets)"
                " VALUES (:id, 70, CAST(:targets AS jsonb))"
            ),
            {"id": account_id, "targets": json.dumps(PERSONAL)},
        )
        conn.execute(
            text("INSERT INTO monitoring_config (key, value) VALUES ('apprise_urls', CAST(:v AS jsonb))"),
            {"v": json.dumps(RUNTIME)},
        )
        conn.execute(
            text(
                "INSERT INTO notification_outbox (id, idempotency_key, target, title, body, next_attempt_at,"
                " created_at, updated_at) VALUES (:id, 'old-key', :target, 'queued before 0007', 'b', :now, :now, :now)"
            ),
            {"id": outbox_id, "target": outbox_target, "now": now},
        )
    return {"account": account_id, "outbox": outbox_id}


def test_upgrading_seals_plain_targets_and_the_product_reads_them_through_the_vault(
    scratch_engine: Engine, settings: Settings, receiver: HttpReceiver
):
    vault = Vault(settings.security.encryption_keys)
    migrate.upgrade(scratch_engine, PREVIOUS)
    old_target = receiver.url("/queued-before-0007")
    ids = plain_rows(scratch_engine, old_target)

    migrate.upgrade(scratch_engine, "head", vault=vault)

    columns = {c["name"] for c in inspect(scratch_engine).get_columns("monitoring_setting")}
    assert "notify_targets" not in columns and "notify_targets_ciphertext" in columns
    with scratch_engine.connect() as conn:
        personal = conn.execute(text("SELECT notify_targets_ciphertext FROM monitoring_setting")).scalar_one()
        runtime = conn.execute(text("SELECT value FROM monitoring_config WHERE key = 'apprise_urls'")).scalar_one()
        outbox = conn.execute(text("SELECT target, target_ciphertext FROM notification_outbox")).one()
        dump = conn.execute(
            text(
                "SELECT concat_ws('|', (SELECT string_agg(value::text, '|') FROM monitoring_config),"
                " (SELECT string_agg(encode(notify_targets_ciphertext, 'escape'), '|') FROM monitoring_setting),"
                " (SELECT string_agg(target || encode(target_ciphertext, 'escape'), '|') FROM notification_outbox))"
            )
        ).scalar_one()
    for secret in ("personal-secret-token", "mail-password", "runtime-secret", "queued-before-0007"):
        assert secret not in dump
    assert set(runtime) == {"sealed"}
    assert outbox.target == f"json://127.0.0.1:{receiver.port}"  # the mask stays readable for people
    # Every reader opens them through the vault.
    assert open_personal(vault, personal, ids["account"]) == PERSONAL
    assert list(effective_config(settings, scratch_engine).apprise_urls) == RUNTIME
    dispatched = Dispatcher(settings, scratch_engine).run()
    assert (dispatched["claimed"], dispatched["sent"]) == (1, 1)
    [delivery] = receiver.unique()
    assert (delivery.key, delivery.subject, delivery.headers["path"]) == ("old-key", "queued before 0007",
                                                                           "/queued-before-0007")  # fmt: skip

    # Down again: the plain values come back as they were.
    migrate.downgrade(scratch_engine, PREVIOUS, vault=vault)
    with scratch_engine.connect() as conn:
        assert conn.execute(text("SELECT notify_targets FROM monitoring_setting")).scalar_one() == PERSONAL
        assert conn.execute(text("SELECT value FROM monitoring_config WHERE key = 'apprise_urls'")).scalar() == RUNTIME
        assert conn.execute(text("SELECT target FROM notification_outbox")).scalar_one() == old_target


def test_a_fresh_database_needs_no_keys_to_migrate(scratch_engine: Engine):
    """Keys are read only when a plain row needs sealing: nothing here, so no settings are asked for."""
    migrate.upgrade(scratch_engine, "head")
    migrate.downgrade(scratch_engine, PREVIOUS)
    assert migrate.current_revision(scratch_engine) == PREVIOUS
