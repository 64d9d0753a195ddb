"""One Google budget in PostgreSQL, shared by every client: no one-second window over it, all of it
for a lone client, and one adaptive rate (a 429 slows everyone, recovery is steady)."""

from __future__ import annotations

import bisect
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text
from support.airflow_harness import CLIENT_ID, LOGIN_SCOPES
from support.clock import SharedFakeTime
from support.emulator_admin import AdminClient

from driveguard.config import Settings
from driveguard.google.budget import WINDOW_SECONDS, SharedBudget
from driveguard.google.drive import DriveQuotaClient

BUDGET_PER_MINUTE = 3000  # 50 parts a second


def max_in_any_second(sends: list[tuple[float, int]]) -> int:
    """The most parts sent within any one second (every window ending at a send is checked)."""
    sends = sorted(sends)
    times = [t for t, _ in sends]
    return max(sum(n for _, n in sends[bisect.bisect_right(times, t - 1.0) : j + 1]) for j, (t, _) in enumerate(sends))


def budget(engine: Engine, fake: SharedFakeTime, name: str) -> SharedBudget:
    return SharedBudget(engine, BUDGET_PER_MINUTE, name=name, batch_size=100, clock=fake.clock, sleep=fake.sleep)


def run_in_threads(*jobs: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def guard(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guard, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def test_two_clients_in_two_threads_share_one_budget_and_no_second_exceeds_it(clean_db: Engine):
    fake = SharedFakeTime(1_000.0)
    name = f"test-{uuid.uuid4()}"
    sends: list[tuple[float, int]] = []
    lock = threading.Lock()

    def shard(parts: int) -> Callable[[], None]:
        def run() -> None:
            limiter = budget(clean_db, fake, name)
            left = parts
            while left:
                n = min(left, limiter.parts_allowed())
                at = limiter.reserve(n)
                with lock:
                    sends.append((at, n))
                wait = at - fake.clock()
                if wait > 0:
                    fake.sleep(wait)
                left -= n

        return run

    run_in_threads(shard(500), shard(500))
    assert sum(n for _, n in sends) == 1000
    assert max_in_any_second(sends) == 50, "the two never add up past the budget in any second"
    span = max(t for t, _ in sends) - 1_000.0
    assert span == pytest.approx(19 * WINDOW_SECONDS), "together they still get exactly the whole budget"
    with clean_db.connect() as conn:
        row = conn.execute(
            text("SELECT multiplier, cardinality(sent_at) AS held FROM google_rate_budget WHERE name = :n"),
            {"n": name},
        ).one()
    assert tuple(row) == (1.0, 1)  # only the last window's bookings are kept


def test_a_lone_client_gets_the_whole_budget(clean_db: Engine):
    fake = SharedFakeTime(5_000.0)
    limiter = budget(clean_db, fake, f"test-{uuid.uuid4()}")
    assert limiter.parts_allowed() == 50  # GOOGLE_BATCH_SIZE 100 is cut to one second's worth
    for _ in range(20):
        limiter.acquire(limiter.parts_allowed())
    assert fake.now - 5_000.0 == pytest.approx(19 * WINDOW_SECONDS)  # 1000 parts, 50 a window, no idle window
    assert limiter.stats.acquired == 1000 and limiter.stats.waits == 19


def test_a_429_cuts_the_rate_for_every_client_and_it_recovers_steadily(clean_db: Engine):
    fake = SharedFakeTime(9_000.0)
    name = f"test-{uuid.uuid4()}"
    first, second = budget(clean_db, fake, name), budget(clean_db, fake, name)
    first.throttle()
    assert (first.multiplier, second.multiplier) == (0.7, 0.7)
    assert second.parts_allowed() == 35, "the other client slowed down too"
    second.throttle()  # the same overrun's 429s, seen by the other client within the window
    assert second.multiplier == 0.7 and second.stats.throttles == 0
    for expected in (0.8, 0.9, 1.0):
        second.recover(25)  # half a second's worth of clean parts gives back a tenth
        assert first.multiplier == pytest.approx(expected)
    first.recover(50)
    assert first.multiplier == 1.0 and first.parts_allowed() == 50
    for _ in range(10):
        fake.sleep(2.0)
        second.throttle()
    assert first.multiplier == 0.05 and first.parts_allowed() == 2, "slowed to the floor, never starved"


def test_two_drive_clients_at_the_emulators_budget_draw_no_429(
    clean_db: Engine, emu: AdminClient, dag_settings: Settings
):
    """Real time, real HTTP: "Google" allows 50 parts in any second; two clients share our 50/s."""
    emu.reset(seed="none")
    emails = [f"b{i:03d}@example.com" for i in range(200)]
    emu.upsert_accounts([{"email": e, "name": e, "usage": 7 + i, "limit": 10**9} for i, e in enumerate(emails)])
    grants = emu.grants(emails, client_id=CLIENT_ID, scopes=LOGIN_SCOPES, offline=False)
    tokens = {g["email"]: g["access_token"] for g in grants}
    emu.faults({"group": "about", "rate_budget_per_second": 50})
    emu.reset_stats()
    name = f"test-{uuid.uuid4()}"
    results = []

    def shard(part: dict[str, str]) -> Callable[[], None]:
        def run() -> None:
            limiter = SharedBudget(clean_db, BUDGET_PER_MINUTE, name=name, batch_size=100)
            results.append(DriveQuotaClient(dag_settings, limiter=limiter).fetch(part))

        return run

    items = list(tokens.items())
    started = time.monotonic()
    run_in_threads(shard(dict(items[:100])), shard(dict(items[100:])))
    wall = time.monotonic() - started
    stats = emu.stats()
    assert sum(len(r.quotas) for r in results) == 200 and all(r.errors == {} for r in results)
    assert stats["statuses"]["about"] == {"200": 200}, "no 429: the two never burst past the budget"
    assert stats["max_1s_window"]["about"] <= 50
    assert max(r.stats.max_parts for r in results) == 50
    assert wall < 200 / 50 * WINDOW_SECONDS + 2.0  # 3 windows of waiting plus round trips
