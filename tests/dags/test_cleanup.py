"""cleanup: sessions, downsampling, outbox and audit pruning, partitions, GDPR erasure — with counts."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid

from sqlalchemy import text
from support.airflow_harness import World, account
from support.outbox import insert_row

GIB = 1024**3


def insert_snapshots(world: World, account_id: uuid.UUID, day: dt.datetime, hours: range, base: int) -> None:
    with world.engine.begin() as conn:
        conn.execute(text("SELECT ensure_storage_snapshot_partition(:at)"), {"at": day})
        for h in hours:
            start = day + dt.timedelta(hours=h)
            conn.execute(
                text(
                    "INSERT INTO storage_snapshot (account_id, interval_start, interval_end, usage_bytes, limit_bytes) "
                    "VALUES (:a, :s, :e, :u, :l)"
                ),
                {"a": account_id, "s": start, "e": start + dt.timedelta(hours=1), "u": base + h, "l": 15 * GIB},
            )


def month_after(day: dt.datetime) -> dt.datetime:
    """The start of the month after `day`'s (where its raw partition ends)."""
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def insert_session(world: World, account_id: uuid.UUID, *, expires: dt.datetime, active: dt.datetime,
                   revoked: dt.datetime | None = None) -> None:  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    with world.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO user_session (id, account_id, token_hash, expires_at, last_activity_at, revoked_at, "
                "created_at, updated_at) VALUES (:id, :a, :h, :e, :la, :r, :now, :now)"
            ),
            {"id": uuid.uuid4(), "a": account_id, "h": os.urandom(32), "e": expires, "la": active, "r": revoked,
             "now": now},
        )  # fmt: skip


def test_cleanup_steps_report_their_counts_and_are_idempotent(world: World):
    now = dt.datetime.now(dt.UTC)
    ids = world.seed(
        [
            account("ann@example.com", usage=GIB),
            account("ben@example.com", usage=GIB),
            account("gone@example.com", usage=GIB),
        ]
    )
    ann, ben, gone = ids["ann@example.com"], ids["ben@example.com"], ids["gone@example.com"]
    old_day = (now - dt.timedelta(days=40)).replace(hour=0, minute=0, second=0, microsecond=0)
    recent_day = (now - dt.timedelta(days=5)).replace(hour=0, minute=0, second=0, microsecond=0)
    for account_id, base in ((ann, 1000), (ben, 5000)):
        insert_snapshots(world, account_id, old_day, range(24), base)
        insert_snapshots(world, account_id, old_day + dt.timedelta(days=1), range(24), base + 100)
        insert_snapshots(world, account_id, recent_day, range(2), base + 200)
    insert_snapshots(world, gone, recent_day, range(3), 9000)

    insert_session(world, ann, expires=now + dt.timedelta(days=20), active=now)  # alive
    insert_session(world, ann, expires=now - dt.timedelta(days=10), active=now - dt.timedelta(days=11))
    insert_session(world, ann, expires=now + dt.timedelta(days=20), active=now - dt.timedelta(days=9),
                   revoked=now - dt.timedelta(days=9))  # fmt: skip
    insert_session(world, ben, expires=now + dt.timedelta(days=20), active=now - dt.timedelta(days=15))  # idle
    insert_session(world, gone, expires=now + dt.timedelta(days=20), active=now)
    with world.engine.begin() as conn:
        for expires in (now - dt.timedelta(days=2), now + dt.timedelta(minutes=10)):
            conn.execute(
                text(
                    "INSERT INTO oauth_login_state (id, state_hash, browser_hash, expires_at, created_at, updated_at) "
                    "VALUES (:id, :s, :b, :e, :now, :now)"
                ),
                {"id": uuid.uuid4(), "s": os.urandom(32), "b": os.urandom(32), "e": expires, "now": now},
            )
        for status, sent_at in (("sent", now - dt.timedelta(days=40)), ("sent", now - dt.timedelta(days=1)),
                                ("failed", None)):  # fmt: skip
            insert_row(conn, world.settings, key=uuid.uuid4().hex, at=now, target="json://x", status=status,
                       sent_at=sent_at)  # fmt: skip
        for occurred, subject in ((now - dt.timedelta(days=400), "old@example.com"), (now, "gone@example.com")):
            conn.execute(
                text(
                    "INSERT INTO audit_log (occurred_at, actor, action, subject, details) "
                    "VALUES (:at, 'system', 'login', :subject, CAST(:details AS jsonb))"
                ),
                {"at": occurred, "subject": subject, "details": json.dumps({"account_id": str(gone)})},
            )
        conn.execute(
            text("UPDATE google_account SET erasure_requested_at = :now WHERE id = :id"), {"now": now, "id": gone}
        )

    result = world.harness.run("cleanup")

    assert result.state == "success", result.tasks
    assert result.xcom("delete_dead_sessions") == {"sessions_deleted": 3, "login_states_deleted": 1}
    # Every old raw row goes, the 00:00 ones too: the daily series has its own key (account, day, 'daily').
    # A month wholly past retention (30 days) goes as a partition, the boundary month's rows one by one.
    cutoff = (now - dt.timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    old_days = (old_day, old_day + dt.timedelta(days=1))
    whole = {day.strftime("%Y%m") for day in old_days if month_after(day) <= cutoff}
    downsampled = result.xcom("downsample_snapshots")
    assert downsampled["daily_rows_upserted"] == 4
    assert downsampled["raw_rows_deleted"] == 48 * sum(day.strftime("%Y%m") not in whole for day in old_days)
    assert downsampled["raw_partitions_dropped"] >= len(whole) and downsampled["raw_partitions_busy"] == 0
    for month in whole:
        assert world.scalar(f"SELECT to_regclass('storage_snapshot_raw_p{month}') IS NULL")
    assert result.xcom("prune_outbox") == {"outbox_rows_deleted": 1}
    assert result.xcom("prune_audit") == {"audit_rows_deleted": 1}
    partitions = result.xcom("ensure_partitions")
    assert partitions["months_covered"] == 3
    erased = result.xcom("erase_requested_accounts")
    assert (erased["accounts_erased"], erased["grants_revoked"], erased["erasures_deferred"]) == (1, 1, 0)
    assert erased["audit_rows_anonymised"] >= 2  # the seeded row and the revocation's own row
    recorded = {r["task_id"] for r in world.rows("SELECT task_id FROM pipeline_run WHERE dag_id = 'cleanup'")}
    assert recorded == {
        "delete_dead_sessions", "downsample_snapshots", "prune_outbox", "prune_audit", "ensure_partitions",
        "erase_requested_accounts",
    }  # fmt: skip

    # Downsampled: one daily row per account and old day, holding the day's last figures.
    daily = world.rows(
        "SELECT account_id, interval_start, interval_end, usage_bytes FROM storage_snapshot "
        "WHERE granularity = 'daily' ORDER BY usage_bytes"
    )
    assert [(r["usage_bytes"], r["interval_end"] - r["interval_start"]) for r in daily] == [
        (1023, dt.timedelta(days=1)), (1123, dt.timedelta(days=1)),
        (5023, dt.timedelta(days=1)), (5123, dt.timedelta(days=1)),
    ]  # fmt: skip
    assert world.scalar("SELECT count(*) FROM storage_snapshot WHERE granularity = 'raw'") == 4  # the recent ones
    for months_ahead in range(3):
        month = (now.replace(day=1) + dt.timedelta(days=32 * months_ahead)).strftime("%Y%m")
        assert world.scalar(f"SELECT to_regclass('storage_snapshot_raw_p{month}') IS NOT NULL")
        assert world.scalar(f"SELECT to_regclass('storage_snapshot_daily_p{month[:4]}') IS NOT NULL")

    # Erased: grant revoked at Google, account and its data gone, audit anonymised, erasure noted.
    assert world.emu.stats()["revocations"] == 1
    assert world.scalar("SELECT count(*) FROM google_account WHERE id = :id", id=gone) == 0
    assert world.scalar("SELECT count(*) FROM storage_snapshot WHERE account_id = :id", id=gone) == 0
    assert world.scalar("SELECT count(*) FROM user_session WHERE account_id = :id", id=gone) == 0
    assert world.scalar("SELECT count(*) FROM audit_log WHERE subject = 'gone@example.com'") == 0
    assert world.scalar("SELECT count(*) FROM audit_log WHERE details::text LIKE :id", id=f"%{gone}%") == 0
    note = world.rows("SELECT actor, subject, details FROM audit_log WHERE action = 'account_erased'")
    assert len(note) == 1 and note[0]["subject"] is None and "erased_ref" in note[0]["details"]

    # A second pass finds nothing left to do.
    again = world.harness.run("cleanup")
    assert again.state == "success"
    assert again.xcom("delete_dead_sessions") == {"sessions_deleted": 0, "login_states_deleted": 0}
    assert again.xcom("downsample_snapshots") == {
        "daily_rows_upserted": 0, "raw_rows_deleted": 0, "chunks": 0,
        "raw_partitions_dropped": 0, "raw_partitions_busy": 0,
    }  # fmt: skip
    assert again.xcom("prune_outbox") == {"outbox_rows_deleted": 0}
    assert again.xcom("ensure_partitions")["partitions_created"] == 0
    assert again.xcom("erase_requested_accounts")["accounts_erased"] == 0
