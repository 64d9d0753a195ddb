"""Outbox rules the code must keep wherever it moves: an alert and its outbox rows commit together,
two dispatchers never hold the same row, and a dispatcher whose lease was taken over cannot mark
the row sent. Real PostgreSQL; deliveries through apprise to a real HTTP receiver."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from support.clock import FakeClock
from support.database import backends_waiting_for_a_lock
from support.outbox import enqueue, outbox, outbox_inserts_crash, set_personal_targets
from support.receivers import HttpReceiver

from driveguard.config import Settings, load_settings
from driveguard.storage.alerts import AlertEvaluator
from driveguard.storage.collection import ensure_partition
from driveguard.storage.interval import Interval
from driveguard.storage.notifications import Dispatcher, OutboxMessage

GIB = 1024**3
INTERVAL = Interval(dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC), dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC))


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver().start()
    yield server
    server.stop()


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


# -- an alert and its outbox rows: one transaction ----------------------------------------------


def critical_account(conn: Connection, settings: Settings, target: str) -> uuid.UUID:
    account_id = uuid.uuid4()
    conn.execute(
        text(
            "INSERT INTO google_account (id, google_sub, email, created_at, updated_at) "
            "VALUES (:id, :sub, 'fiona@example.com', now(), now())"
        ),
        {"id": account_id, "sub": "sub-fiona"},
    )
    set_personal_targets(conn, settings, account_id, [target])
    conn.execute(
        text(
            "INSERT INTO storage_snapshot (account_id, interval_start, interval_end, usage_bytes, limit_bytes) "
            "VALUES (:id, :start, :end, :usage, :limit)"
        ),
        {"id": account_id, "start": INTERVAL.start, "end": INTERVAL.end, "usage": 95 * GIB, "limit": 100 * GIB},
    )
    return account_id


def test_a_crash_before_the_outbox_write_loses_no_notice(clean_db: Engine, settings: Settings, receiver: HttpReceiver):
    receiver.clear()
    ensure_partition(clean_db, INTERVAL.start)
    with clean_db.begin() as conn:
        critical_account(conn, settings, receiver.url("/fiona"))
    clock = FakeClock(INTERVAL.end + dt.timedelta(minutes=5))
    evaluator = AlertEvaluator(settings, clean_db, clock=clock)

    with outbox_inserts_crash(clean_db), pytest.raises(DBAPIError, match="simulated crash"):
        evaluator.evaluate(INTERVAL)
    # Nothing of the evaluation committed: no alert, no state change, no outbox row.
    tables = ("alert", "alert_state", "notification_outbox")
    assert {table: count(clean_db, table) for table in tables} == dict.fromkeys(tables, 0)

    # The rerun (the task's retry) raises the alert and enqueues its notice...
    rerun = evaluator.evaluate(INTERVAL)
    assert (rerun.get("alert_critical"), rerun.get("outbox_rows")) == (1, 1)
    dispatched = Dispatcher(settings, clean_db, clock=clock).run()
    assert dispatched["sent"] == 1
    # ...and further runs add nothing: the notice reached its target exactly once.
    assert evaluator.evaluate(INTERVAL).get("outbox_rows", 0) == 0
    assert Dispatcher(settings, clean_db, clock=clock).run()["claimed"] == 0
    assert len(receiver.deliveries) == 1
    assert "CRITICAL" in receiver.deliveries[0].subject and "fiona@example.com" in receiver.deliveries[0].subject


# -- claims: two dispatchers never hold the same row -------------------------------------------


class HeldOpen:
    """An engine whose `begin()` blocks before committing until released: a dispatcher caught
    between taking its claim and committing it (its row locks held)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.holding = threading.Event()
        self.release = threading.Event()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn
            self.holding.set()
            assert self.release.wait(60), "never released"


def test_two_concurrent_claims_never_return_the_same_row(clean_db: Engine, base_env: dict[str, str]):
    settings = load_settings({**base_env, "NOTIFY_BATCH_SIZE": "2"}, env_file="/dev/null")
    clock = FakeClock(dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC))
    enqueue(clean_db, clock, "key-0", "key-1", "key-2", "key-3", settings=settings)
    held = HeldOpen(clean_db)
    first = Dispatcher(settings, held, clock=clock)  # type: ignore[arg-type]
    second = Dispatcher(settings, clean_db, clock=clock)
    claims: dict[str, list[OutboxMessage]] = {}
    second_done = threading.Event()

    def claim(name: str, dispatcher: Dispatcher, done: threading.Event | None = None) -> None:
        claims[name] = dispatcher.claim()
        if done is not None:
            done.set()

    a = threading.Thread(target=claim, args=("first", first), daemon=True)
    a.start()
    try:
        assert held.holding.wait(30), "the first claim never ran"
        b = threading.Thread(target=claim, args=("second", second, second_done), daemon=True)
        b.start()
        # The second claim either finishes while the first still holds its rows, or queues behind them.
        deadline = time.monotonic() + 30
        while not second_done.is_set() and backends_waiting_for_a_lock(clean_db) == 0:
            assert time.monotonic() < deadline, "the second claim neither finished nor waited"
            time.sleep(0.01)
        finished_while_first_held = second_done.is_set()
    finally:
        held.release.set()
    a.join(30)
    b.join(30)

    first_keys = {m.idempotency_key for m in claims["first"]}
    second_keys = {m.idempotency_key for m in claims["second"]}
    assert first_keys & second_keys == set(), f"both dispatchers claimed {sorted(first_keys & second_keys)}"
    assert first_keys | second_keys == {"key-0", "key-1", "key-2", "key-3"}
    assert finished_while_first_held  # locked rows are skipped, not waited for
    assert outbox(clean_db) == [{"key": f"key-{n}", "status": "sending", "attempts": 1} for n in range(4)]


# -- fencing: a stale dispatcher's "sent" is refused --------------------------------------------


def test_a_stale_sent_cannot_overwrite_a_newer_claim(clean_db: Engine, settings: Settings):
    clock = FakeClock(dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC))
    enqueue(clean_db, clock, "key-0", settings=settings)
    newer = Dispatcher(settings, clean_db, clock=clock)
    taken_over: list[OutboxMessage] = []

    def slow_but_successful_send(message: OutboxMessage) -> tuple[bool, str | None]:
        # The send outlasts the lease; meanwhile another dispatcher claims the row again.
        clock.advance(seconds=newer.lease.total_seconds() + 1)
        taken_over.extend(newer.claim())
        return True, None  # ...and then the stale send reports success

    counts = Dispatcher(settings, clean_db, clock=clock, sender=slow_but_successful_send).run()
    assert [m.idempotency_key for m in taken_over] == ["key-0"]
    assert (counts["sent"], counts["lost_claim"]) == (0, 1)
    assert outbox(clean_db) == [{"key": "key-0", "status": "sending", "attempts": 2}]  # the newer claim holds it
    # The newer claim decides the outcome: its failure is recorded and retried later.
    [message] = taken_over
    assert newer._mark(message, False, "connection refused") is True
    assert outbox(clean_db) == [{"key": "key-0", "status": "failed", "attempts": 2}]
