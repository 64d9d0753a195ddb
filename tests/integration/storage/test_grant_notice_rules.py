"""The exactly-once rules of grant notices against real PostgreSQL and a real receiver: a crash before
the outbox write loses nothing (the episode is not opened either, so the next sweep does both), and
sweeps running at the same time open one episode and queue one notice per target."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from support.clock import FakeClock
from support.outbox import outbox_inserts_crash
from support.receivers import HttpReceiver

from driveguard.config import Settings, load_settings
from driveguard.storage.grant_notices import GrantNoticeService
from driveguard.storage.notifications import Dispatcher


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    http = HttpReceiver().start()
    yield http
    http.stop()


@pytest.fixture
def ops_settings(base_env: dict[str, str], receiver: HttpReceiver) -> Settings:
    """Ops hear grant notices on one webhook; there is no mail target, so a person without their
    own target cannot be reached (counted)."""
    receiver.clear()
    return load_settings({**base_env, "APPRISE_URLS": receiver.url("/ops")}, env_file="/dev/null")


def lost_grants(engine: Engine, *emails: str) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in emails]
    with engine.begin() as conn:
        for account_id, email in zip(ids, emails, strict=True):
            conn.execute(
                text(
                    "INSERT INTO google_account (id, google_sub, email, status, last_refresh_error, created_at,"
                    " updated_at) VALUES (:id, :sub, :email, 'reauth_required', 'invalid_grant', now(), now())"
                ),
                {"id": account_id, "sub": f"sub-{email}", "email": email},
            )
    return ids


def count(engine: Engine, query: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(query)).scalar_one())


def test_a_crash_before_the_outbox_write_opens_no_episode_and_the_next_sweep_notifies(
    clean_db: Engine, ops_settings: Settings, receiver: HttpReceiver
):
    lost_grants(clean_db, "gina@example.com", "hal@example.com")
    clock = FakeClock(dt.datetime(2026, 11, 28, 9, tzinfo=dt.UTC))
    service = GrantNoticeService(ops_settings, clean_db, clock=clock)

    with outbox_inserts_crash(clean_db), pytest.raises(DBAPIError, match="simulated crash"):
        service.sweep()
    assert count(clean_db, "SELECT count(*) FROM grant_episode") == 0
    assert count(clean_db, "SELECT count(*) FROM notification_outbox") == 0

    assert service.sweep() == {"opened": 2, "recovered": 0, "outbox_rows": 2, "person_unreachable": 2}
    assert service.sweep() == {"opened": 0, "recovered": 0, "outbox_rows": 0, "person_unreachable": 0}
    assert Dispatcher(ops_settings, clean_db, clock=clock).run()["sent"] == 2
    assert sorted(d.subject for d in receiver.unique()) == [
        "Driveguard lost access to gina@example.com's Google Drive: please sign in again",
        "Driveguard lost access to hal@example.com's Google Drive: please sign in again",
    ]
    assert sum(receiver.raw_count_by_key().values()) == 2


def test_sweeps_at_the_same_time_open_one_episode_and_queue_one_notice(clean_db: Engine, ops_settings: Settings):
    [account_id] = lost_grants(clean_db, "ida@example.com")
    service = GrantNoticeService(ops_settings, clean_db)
    start = threading.Barrier(4)
    results: list[dict[str, int]] = []

    def sweep() -> None:
        start.wait()
        results.append(service.sweep())

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 4
    assert sum(r["opened"] for r in results) == 1
    assert sum(r["outbox_rows"] for r in results) == 1
    assert count(clean_db, "SELECT count(*) FROM grant_episode") == 1

    # Back to active: one close, however many sweeps race for it.
    with clean_db.begin() as conn:
        conn.execute(text("UPDATE google_account SET status = 'active' WHERE id = :id"), {"id": account_id})
    results.clear()
    start.reset()
    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r["recovered"] for r in results) == 1
    assert count(clean_db, "SELECT count(*) FROM notification_outbox") == 2
    assert count(clean_db, "SELECT count(*) FROM grant_episode WHERE recovered_at IS NOT NULL") == 1
