"""Outbox claims are fenced by their attempt number: a dispatcher that outlived its lease cannot
change a row another dispatcher has claimed since (no overwrite, no second delivery)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine
from support.clock import FakeClock
from support.outbox import enqueue, outbox

from driveguard.config import Settings
from driveguard.storage.notifications import Dispatcher, OutboxMessage


def test_a_stale_failure_cannot_overwrite_a_newer_claim(clean_db: Engine, settings: Settings):
    clock = FakeClock(dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC))
    enqueue(clean_db, clock, "key-0", settings=settings)
    delivered: list[str] = []
    stale_updates: list[object] = []

    # Dispatcher A claims the row, then its send outlasts the lease.
    stale = Dispatcher(settings, clean_db, clock=clock)
    [claimed_by_a] = stale.claim()
    clock.advance(seconds=stale.lease.total_seconds() + 1)

    def send_while_a_reports_its_timeout(message: OutboxMessage) -> tuple[bool, str | None]:
        # B holds the row now; A's late "failed" arrives in the middle of B's send.
        stale_updates.append(stale._mark(claimed_by_a, False, "timed out"))
        stale_updates.append(stale._release(claimed_by_a))
        delivered.append(message.idempotency_key)
        return True, None

    counts = Dispatcher(settings, clean_db, clock=clock, sender=send_while_a_reports_its_timeout).run()
    assert outbox(clean_db) == [{"key": "key-0", "status": "sent", "attempts": 2}]
    assert (counts["claimed"], counts["reclaimed"], counts["sent"], counts.get("lost_claim")) == (1, 1, 1, 0)
    assert stale_updates == [False, False]  # neither matched B's claim

    # A's failure arriving after B's "sent" changes nothing either.
    assert stale._mark(claimed_by_a, False, "timed out") is False
    assert outbox(clean_db) == [{"key": "key-0", "status": "sent", "attempts": 2}]

    # Nothing is due again, however long we wait: delivered once.
    clock.advance(seconds=settings.pipelines.notify_backoff_max_seconds * 2)

    def record(message: OutboxMessage) -> tuple[bool, str | None]:
        delivered.append(message.idempotency_key)
        return True, None

    assert Dispatcher(settings, clean_db, clock=clock, sender=record).run()["claimed"] == 0
    assert delivered == ["key-0"]


def test_a_dispatcher_that_lost_its_claims_counts_them_and_changes_nothing(clean_db: Engine, settings: Settings):
    clock = FakeClock(dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC))
    enqueue(clean_db, clock, "key-0", "key-1", settings=settings)
    newer = Dispatcher(settings, clean_db, clock=clock)
    taken_over: list[OutboxMessage] = []

    def slow_send(message: OutboxMessage) -> tuple[bool, str | None]:
        # The first send takes longer than the lease; meanwhile B claims both rows.
        clock.advance(seconds=newer.lease.total_seconds() + 1)
        taken_over.extend(newer.claim())
        return False, "timed out"

    counts = Dispatcher(settings, clean_db, clock=clock, sender=slow_send).run()
    # A's "failed" for the row it sent and its hand-back of the other belong to claims it no
    # longer holds: neither touches B's claims.
    assert sorted(m.idempotency_key for m in taken_over) == ["key-0", "key-1"]
    assert outbox(clean_db) == [
        {"key": "key-0", "status": "sending", "attempts": 2},
        {"key": "key-1", "status": "sending", "attempts": 2},
    ]
    assert (counts.get("lost_claim"), counts["failed"], counts["released"]) == (2, 0, 0)
    # B still holds both claims and completes them.
    for message in taken_over:
        assert newer._mark(message, True, None) is True
    assert outbox(clean_db) == [
        {"key": "key-0", "status": "sent", "attempts": 2},
        {"key": "key-1", "status": "sent", "attempts": 2},
    ]
