"""Alert rules the mutation run found unpinned: how usage and sizes read in a notice, and what one
evaluation of an interval does to several accounts in several chunks (levels, transitions, muted
alerts, one outbox row per target), and that a repeated, older or quarantined evaluation moves
nothing. Real PostgreSQL for the evaluator."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import Connection, Engine, text
from support.clock import FakeClock
from support.outbox import set_personal_targets
from support.settings import settings_for

from driveguard.config import Settings
from driveguard.db.models import AlertKind, WarningLevel
from driveguard.storage.alerts import (
    AlertEvaluator,
    Thresholds,
    compose,
    decide,
    human_bytes,
    idempotency_key,
    next_level,
    targets_for,
    usage_percent,
)
from driveguard.storage.collection import ensure_partition
from driveguard.storage.interval import Interval
from driveguard.storage.monitoring import defaults

GIB = 1024**3
HOUR = dt.timedelta(hours=1)
FIRST = Interval(dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC), dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC))
SECOND = Interval(FIRST.end, FIRST.end + HOUR)
T = Thresholds(warning=80, critical=90, margin=2)


def test_a_zero_limit_has_no_percentage_and_a_positive_one_does():
    assert usage_percent(5, 0) is None
    assert usage_percent(5, None) is None
    assert usage_percent(1, 1) == 100.0
    assert usage_percent(5, 10) == 50.0


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "unlimited"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (5 * GIB, "5.0 GiB"),
        (3 * 1024**5, "3072.0 TiB"),  # nothing beyond TiB
    ],
)
def test_sizes_in_notices_are_binary_units(value, shown):
    assert human_bytes(value) == shown


def test_a_resolved_notice_names_the_threshold_minus_margin_and_the_usage():
    title, body = compose(AlertKind.RESOLVED, "ann@example.com", 50.0, 50 * GIB, 100 * GIB, T, FIRST)
    assert title == "Resolved: ann@example.com's Google Drive storage is back to normal (50.0%)"
    assert body.startswith("Usage fell below 78% (warning threshold minus margin).\n")
    assert "Used: 50.0 GiB of 100.0 GiB (50.0%)\n" in body


def test_the_idempotency_key_is_the_alert_id_and_24_hex_digits_of_the_targets_hash():
    alert_id = uuid.uuid4()
    key = idempotency_key(alert_id, "json://example.com/a")
    prefix, digest = key.rsplit(":", 1)
    assert prefix == str(alert_id)
    assert len(digest) == 24 and int(digest, 16) >= 0
    assert digest != idempotency_key(alert_id, "json://example.com/b").rsplit(":", 1)[1]


def test_critical_is_kept_down_to_exactly_the_threshold_minus_margin():
    assert next_level(WarningLevel.CRITICAL, 88.0, T) is WarningLevel.CRITICAL
    assert next_level(WarningLevel.CRITICAL, 87.9, T) is WarningLevel.WARNING
    assert next_level(WarningLevel.WARNING, 78.0, T) is WarningLevel.WARNING  # same for warning
    assert next_level(WarningLevel.WARNING, 77.9, T) is WarningLevel.NORMAL


def test_per_account_thresholds_that_are_equal_fall_back_to_the_global_ones():
    config = defaults(settings_for())
    fallback = Thresholds.for_account(config, 85.0, 85.0)
    globals_ = (config.warning_threshold_percent, config.critical_threshold_percent)
    assert (fallback.warning, fallback.critical) == globals_ != (85.0, 85.0)


def test_an_unresolved_critical_level_repeats_once_the_repeat_time_has_passed_not_only_at_it():
    day = dt.timedelta(hours=24)
    for since_notice in (day, day + HOUR * 6):
        repeat = decide(
            WarningLevel.CRITICAL, 95.0, T, at=FIRST.end, level_since=FIRST.start,
            last_notified_at=FIRST.end - since_notice, repeat_after=day,
        )  # fmt: skip
        assert repeat.alert is AlertKind.CRITICAL_REPEAT and repeat.last_notified_at == FIRST.end


def test_a_level_keeps_the_time_it_was_entered_until_it_changes():
    entered = FIRST.start - dt.timedelta(days=3)
    later = dict(repeat_after=dt.timedelta(hours=24), last_notified_at=FIRST.start)
    kept = decide(WarningLevel.WARNING, 85.0, T, at=FIRST.end, level_since=entered, **later)
    assert (kept.level, kept.level_since) == (WarningLevel.WARNING, entered)
    unknown = decide(WarningLevel.WARNING, 85.0, T, at=FIRST.end, level_since=None, **later)
    assert unknown.level_since == FIRST.end
    moved = decide(WarningLevel.WARNING, 95.0, T, at=FIRST.end, level_since=entered, **later)
    assert (moved.level, moved.level_since) == (WarningLevel.CRITICAL, FIRST.end)


def test_a_title_is_cut_at_the_255_characters_the_outbox_column_holds():
    email = "x" * 300 + "@example.com"
    title, _ = compose(AlertKind.WARNING, email, 85.0, 85, 100, T, FIRST)
    assert len(title) == 255 and title.startswith("Google Drive storage warning: xxx")


def test_an_invalid_target_is_skipped_and_the_ones_after_it_are_kept():
    config = defaults(settings_for())
    assert targets_for(settings_for(), config, ["ftp://nope", "json://own.example/a", "json://own.example/b"]) == [
        "json://own.example/a",
        "json://own.example/b",
    ]


# -- the evaluator over several chunks ----------------------------------------------------------


def account(
    conn: Connection,
    settings: Settings,
    name: str,
    usage: int,
    limit: int | None,
    *,
    alerts_enabled: bool = True,
    targets: tuple[str, ...] = (),
) -> uuid.UUID:
    account_id = uuid.uuid4()
    conn.execute(
        text(
            "INSERT INTO google_account (id, google_sub, email, created_at, updated_at) "
            "VALUES (:id, :sub, :email, now(), now())"
        ),
        {"id": account_id, "sub": f"sub-{name}", "email": f"{name}@example.com"},
    )
    set_personal_targets(conn, settings, account_id, list(targets))
    conn.execute(
        text("UPDATE monitoring_setting SET alerts_enabled = :on WHERE account_id = :id"),
        {"id": account_id, "on": alerts_enabled},
    )
    for interval in (FIRST, SECOND):
        conn.execute(
            text(
                "INSERT INTO storage_snapshot (account_id, interval_start, interval_end, usage_bytes, limit_bytes) "
                "VALUES (:id, :start, :end, :usage, :limit)"
            ),
            {"id": account_id, "start": interval.start, "end": interval.end, "usage": usage, "limit": limit},
        )
    return account_id


def table_count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_one_evaluation_covers_every_chunk_and_a_repeated_older_or_quarantined_one_moves_nothing(
    clean_db: Engine, settings: Settings
):
    ensure_partition(clean_db, FIRST.start)
    with clean_db.begin() as conn:
        account(conn, settings, "normal", 50 * GIB, 100 * GIB)
        account(conn, settings, "warned", 85 * GIB, 100 * GIB, targets=("json://127.0.0.1:9/w",))
        critical = account(
            conn, settings, "full", 95 * GIB, 100 * GIB, targets=("json://127.0.0.1:9/c1", "json://127.0.0.1:9/c2")
        )
        account(conn, settings, "unlimited", 500 * GIB, None, targets=("json://127.0.0.1:9/u",))
        account(conn, settings, "muted", 95 * GIB, 100 * GIB, alerts_enabled=False, targets=("json://127.0.0.1:9/m",))
    evaluator = AlertEvaluator(settings, clean_db, clock=FakeClock(SECOND.end + HOUR), chunk_size=2)

    # The newer interval first (a late run of the older one comes after it).
    assert evaluator.evaluate(SECOND) == {
        "alert_critical": 1,
        "alert_warning": 1,
        "alerts_muted": 1,
        "evaluated": 5,
        "level_critical": 2,
        "level_normal": 2,
        "level_warning": 1,
        "outbox_rows": 3,  # one per target of each notified account
        "transitions": 3,
    }
    assert (table_count(clean_db, "alert"), table_count(clean_db, "notification_outbox")) == (2, 3)
    with clean_db.connect() as conn:
        level_since = conn.execute(
            text("SELECT level, level_since, last_notified_at FROM alert_state WHERE account_id = :id"),
            {"id": critical},
        ).one()
    assert tuple(level_since) == ("critical", SECOND.end, SECOND.end)

    # The same interval again, and the older one late: counted as already evaluated, nothing written.
    for interval in (SECOND, FIRST):
        assert evaluator.evaluate(interval) == {"already_evaluated": 5, "evaluated": 5}
    assert (table_count(clean_db, "alert"), table_count(clean_db, "notification_outbox")) == (2, 3)


def test_quarantined_rows_are_left_out_and_counted(clean_db: Engine, settings: Settings):
    ensure_partition(clean_db, FIRST.start)
    with clean_db.begin() as conn:
        held = account(conn, settings, "held", 95 * GIB, 100 * GIB, targets=("json://127.0.0.1:9/h",))
        account(conn, settings, "normal", 10 * GIB, 100 * GIB)
    evaluator = AlertEvaluator(settings, clean_db, clock=FakeClock(FIRST.end), chunk_size=1)
    assert evaluator.evaluate(FIRST, quarantined=[held]) == {
        "evaluated": 1,
        "level_normal": 1,
        "quarantined_skipped": 1,
    }
    assert table_count(clean_db, "alert") == 0
