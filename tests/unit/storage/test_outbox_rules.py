"""Outbox dispatcher rules the mutation run (docs/mutation.md) found unpinned: a failed row waits its
backoff, gives up after the last attempt and counts that once; a crashing sender or an unopenable
target fails the row without leaking credentials; one run is bounded; slow targets hand the rest
of their batch back. Real PostgreSQL, a fake clock, the dispatcher's own sender seam (and apprise
itself against a closed port)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, text
from support.clock import FakeClock
from support.outbox import DEAD_TARGET, enqueue, insert_row, outbox
from support.settings import settings_for

from driveguard.config import Settings
from driveguard.storage.notifications import Dispatcher, OutboxMessage, apprise_send

START = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
CREDENTIAL_TARGET = "json://ops:hunter2-secret@127.0.0.1:9/hook"


def small_settings(**overrides: str) -> Settings:
    defaults = {
        "NOTIFY_MAX_ATTEMPTS": "2",
        "NOTIFY_BACKOFF_BASE_SECONDS": "60",
        "NOTIFY_BACKOFF_MAX_SECONDS": "600",
        "NOTIFY_LEASE_SECONDS": "300",
    }
    return settings_for(**{**defaults, **overrides})


class TickingClock(FakeClock):
    """A second passes each time the dispatcher looks at the clock."""

    def __call__(self) -> dt.datetime:
        return self.advance(1)


def failing(message: OutboxMessage) -> tuple[bool, str | None]:
    return False, "503 from the target"


def delivered(message: OutboxMessage) -> tuple[bool, str | None]:
    return True, None


def last_error(engine: Engine, key: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT last_error FROM notification_outbox WHERE idempotency_key = :k"), {"k": key}
        ).scalar_one()


def next_attempt_in(engine: Engine, key: str, now: dt.datetime) -> float:
    with engine.connect() as conn:
        due = conn.execute(
            text("SELECT next_attempt_at FROM notification_outbox WHERE idempotency_key = :k"), {"k": key}
        ).scalar_one()
    return (due - now).total_seconds()


def test_a_failed_row_waits_its_backoff_then_gives_up_after_the_last_attempt(clean_db: Engine):
    settings, clock = small_settings(NOTIFY_MAX_ATTEMPTS="3"), FakeClock(START)
    enqueue(clean_db, clock, "k", settings=settings)
    long_error = "503 from the target: " + "x" * 3000

    def failing_at_length(message: OutboxMessage) -> tuple[bool, str | None]:
        return False, long_error

    first = Dispatcher(settings, clean_db, clock=clock, sender=failing_at_length).run()
    assert (first["claimed"], first["failed"], first["exhausted"]) == (1, 1, 0)
    assert 30 <= next_attempt_in(clean_db, "k", clock()) <= 60  # the base, with equal jitter
    assert last_error(clean_db, "k") == long_error[:2000]
    assert Dispatcher(settings, clean_db, clock=clock, sender=failing).run()["claimed"] == 0  # not due yet

    clock.advance(61)
    second = Dispatcher(settings, clean_db, clock=clock, sender=failing).run()
    assert (second["claimed"], second["reclaimed"], second["failed"]) == (1, 0, 1)  # a retry is not a reclaim
    assert 60 <= next_attempt_in(clean_db, "k", clock()) <= 120  # doubled

    clock.advance(121)
    last = Dispatcher(settings, clean_db, clock=clock, sender=failing).run()
    assert (last["claimed"], last["failed"], last["exhausted"]) == (1, 1, 1)
    clock.advance(days=1)
    assert Dispatcher(settings, clean_db, clock=clock, sender=delivered).run()["claimed"] == 0
    assert outbox(clean_db) == [{"key": "k", "status": "failed", "attempts": 3}]
    assert last_error(clean_db, "k") == "503 from the target"


def test_rows_failing_with_no_backoff_are_tried_once_more_per_run_not_until_exhausted(clean_db: Engine):
    settings = small_settings(
        NOTIFY_MAX_ATTEMPTS="5", NOTIFY_BACKOFF_BASE_SECONDS="0.001", NOTIFY_BACKOFF_MAX_SECONDS="0.001"
    )
    clock = TickingClock(START)
    enqueue(clean_db, clock, "k", settings=settings)
    counts = Dispatcher(settings, clean_db, clock=clock, sender=failing).run()
    assert (counts["claimed"], counts["failed"]) == (2, 2)
    assert outbox(clean_db) == [{"key": "k", "status": "failed", "attempts": 2}]


def test_a_run_stops_after_the_batch_that_reached_its_limit(clean_db: Engine):
    settings, clock = small_settings(NOTIFY_BATCH_SIZE="3"), FakeClock(START)
    enqueue(clean_db, clock, *(f"k{n}" for n in range(5)), settings=settings)
    counts = Dispatcher(settings, clean_db, clock=clock, sender=delivered).run(max_messages=1)
    assert (counts["claimed"], counts["sent"]) == (3, 3)
    assert [row["status"] for row in outbox(clean_db)].count("pending") == 2


def test_a_delivery_that_succeeds_on_its_last_attempt_is_sent_not_exhausted(clean_db: Engine):
    settings, clock = small_settings(), FakeClock(START)
    enqueue(clean_db, clock, "k", settings=settings)
    Dispatcher(settings, clean_db, clock=clock, sender=failing).run()
    clock.advance(61)
    counts = Dispatcher(settings, clean_db, clock=clock, sender=delivered).run()
    assert (counts["sent"], counts["failed"], counts["exhausted"]) == (1, 0, 0)
    assert outbox(clean_db) == [{"key": "k", "status": "sent", "attempts": 2}]


def test_a_crashing_sender_fails_the_row_and_the_error_keeps_no_credentials(clean_db: Engine):
    settings, clock = small_settings(), FakeClock(START)
    with clean_db.begin() as conn:
        insert_row(conn, settings, key="k", at=START - dt.timedelta(minutes=1), target=CREDENTIAL_TARGET)

    def crashing(message: OutboxMessage) -> tuple[bool, str | None]:
        raise ConnectionError(f"cannot reach {message.target} as ops / hunter2-secret")

    counts = Dispatcher(settings, clean_db, clock=clock, sender=crashing).run()
    assert (counts["sent"], counts["failed"]) == (0, 1)
    assert outbox(clean_db) == [{"key": "k", "status": "failed", "attempts": 1}]
    error = last_error(clean_db, "k")
    assert error is not None and error.startswith("ConnectionError: cannot reach")
    assert "hunter2-secret" not in error and "ops" not in error


def test_a_target_the_vault_cannot_open_fails_without_any_send(clean_db: Engine):
    settings, clock = small_settings(), FakeClock(START)
    with clean_db.begin() as conn:  # sealed under a key this installation does not hold
        insert_row(conn, small_settings(), key="k", at=START - dt.timedelta(minutes=1))
    sends: list[str] = []

    def record(message: OutboxMessage) -> tuple[bool, str | None]:
        sends.append(message.idempotency_key)
        return True, None

    counts = Dispatcher(settings, clean_db, clock=clock, sender=record).run()
    assert sends == [] and (counts["sent"], counts["failed"]) == (0, 1)
    assert outbox(clean_db) == [{"key": "k", "status": "failed", "attempts": 1}]
    assert "cannot be opened" in (last_error(clean_db, "k") or "")


def test_one_run_claims_at_most_twenty_batches(clean_db: Engine):
    settings, clock = small_settings(NOTIFY_BATCH_SIZE="1"), FakeClock(START)
    enqueue(clean_db, clock, *(f"k{n:02d}" for n in range(21)), settings=settings)
    counts = Dispatcher(settings, clean_db, clock=clock, sender=delivered).run()
    assert (counts["claimed"], counts["sent"]) == (20, 20)
    assert [row["status"] for row in outbox(clean_db)].count("pending") == 1
    assert Dispatcher(settings, clean_db, clock=clock, sender=delivered).run(max_messages=5)["sent"] == 1


def test_a_slow_target_hands_the_rest_of_its_batch_back_for_the_next_run(clean_db: Engine):
    settings, clock = small_settings(NOTIFY_BATCH_SIZE="3"), FakeClock(START)
    enqueue(clean_db, clock, "k0", "k1", "k2", settings=settings)

    def slow(message: OutboxMessage) -> tuple[bool, str | None]:
        clock.advance(0.8 * 300 + 1)  # this send ate more than 80 % of the lease
        return True, None

    counts = Dispatcher(settings, clean_db, clock=clock, sender=slow).run(max_messages=1)
    assert (counts["claimed"], counts["sent"], counts["released"]) == (1, 1, 2)
    assert sorted((row["status"], row["attempts"]) for row in outbox(clean_db)) == [
        ("pending", 0),
        ("pending", 0),
        ("sent", 1),
    ]
    assert Dispatcher(settings, clean_db, clock=clock, sender=delivered).run()["sent"] == 2


@pytest.mark.timeout(60)
def test_apprise_reports_a_refused_delivery_as_a_failure_with_its_reason_and_no_credentials():
    message = OutboxMessage(
        id=1, idempotency_key="k", target=CREDENTIAL_TARGET, title="t", body="b", attempts=1, previous_status="pending"
    )
    ok, error = apprise_send(message)
    assert ok is False and error is not None
    assert error != "apprise reported a delivery failure" and len(error) <= 1000  # apprise's own words, cut
    assert "hunter2-secret" not in error
    assert apprise_send(OutboxMessage(**{**message.__dict__, "target": DEAD_TARGET}))[0] is False
    unusable, reason = apprise_send(OutboxMessage(**{**message.__dict__, "target": "nosuchscheme://x"}))
    assert unusable is False and reason is not None and "cannot use the target" in reason


def test_a_send_that_used_exactly_eighty_percent_of_the_lease_still_lets_the_next_one_go(clean_db: Engine):
    settings, clock = small_settings(NOTIFY_BATCH_SIZE="2"), FakeClock(START)
    enqueue(clean_db, clock, "k0", "k1", settings=settings)

    def just_in_time(message: OutboxMessage) -> tuple[bool, str | None]:
        clock.advance(0.8 * 300)
        return True, None

    counts = Dispatcher(settings, clean_db, clock=clock, sender=just_in_time).run(max_messages=2)
    assert (counts["sent"], counts["released"]) == (2, 0)
