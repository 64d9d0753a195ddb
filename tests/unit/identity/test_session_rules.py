"""Session rules at their edges, against real PostgreSQL and a fake clock: which sessions count as
live at the exact second they expire, who may revoke what, and that concurrent requests never move
a session's activity time backwards. (The mutation run, docs/mutation.md, uses these to check that
the session rules are pinned.)"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest
from sqlalchemy import Engine
from support.clock import FakeClock
from support.database import backends_waiting_for_a_lock

from driveguard.audit import RequestContext
from driveguard.config import Settings
from driveguard.db.engine import transaction
from driveguard.db.models import GoogleAccount, UserSession
from driveguard.identity.sessions import RevokeReason, SessionService, hash_token, new_token

CONTEXT = RequestContext.of("198.51.100.4", "pytest/1.0")
START = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)


def add_account(engine: Engine, email: str) -> uuid.UUID:
    with transaction(engine) as db:
        account = GoogleAccount(google_sub=str(uuid.uuid4().int)[:21], email=email)
        db.add(account)
        db.flush()
        return account.id


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def service(settings: Settings, clock: FakeClock) -> SessionService:
    return SessionService(settings, clock=clock)


@pytest.fixture
def erin(clean_db: Engine) -> uuid.UUID:
    return add_account(clean_db, "erin@example.com")


def issue(engine: Engine, service: SessionService, account_id: uuid.UUID, replaces: str | None = None):
    with transaction(engine) as db:
        return service.issue(db, account_id, context=CONTEXT, replaces=replaces)


def row(engine: Engine, session_id: uuid.UUID) -> UserSession:
    with transaction(engine) as db:
        found = db.get(UserSession, session_id)
        assert found is not None
        db.expunge(found)
        return found


def active_ids(engine: Engine, service: SessionService, account_id: uuid.UUID) -> list[uuid.UUID]:
    with transaction(engine) as db:
        return [s.id for s in service.active_sessions(db, account_id)]


def test_a_new_sign_in_revokes_the_browsers_previous_session_and_only_that_one(clean_db, service, clock, erin):
    other_browser = issue(clean_db, service, erin)
    # The rotated session is the middle one by stored hash: others sort both below and above it.
    by_hash = sorted((issue(clean_db, service, erin) for _ in range(5)), key=lambda s: hash_token(s.token))
    first, others = by_hash[2], by_hash[:2] + by_hash[3:]
    clock.advance(minutes=5)
    second = issue(clean_db, service, erin, replaces=first.token)

    rotated = row(clean_db, first.session_id)
    assert rotated.revoked_at == clock() and rotated.revoked_reason == RevokeReason.ROTATED.value
    assert row(clean_db, other_browser.session_id).revoked_at is None
    assert all(row(clean_db, o.session_id).revoked_at is None for o in others)
    assert second.expires_at == clock() + dt.timedelta(days=30)
    assert second.token not in repr(second)  # an issued session can be logged without its token
    assert second.idle_expires_at == clock() + dt.timedelta(days=7)
    with transaction(clean_db) as db:
        assert service.authenticate(db, first.token) is None
        assert service.authenticate(db, second.token) is not None

    # A session already logged out keeps the reason and time it ended with.
    with transaction(clean_db) as db:
        service.revoke_token(db, other_browser.token, reason=RevokeReason.LOGOUT)
    clock.advance(minutes=5)
    issue(clean_db, service, erin, replaces=other_browser.token)
    ended = row(clean_db, other_browser.session_id)
    assert ended.revoked_reason == RevokeReason.LOGOUT.value and ended.revoked_at == clock() - dt.timedelta(minutes=5)


def test_activity_is_written_at_exactly_one_minute_and_slides_the_idle_expiry(clean_db, service, clock, erin):
    issued = issue(clean_db, service, erin)
    clock.advance(59)
    with transaction(clean_db) as db:
        info = service.authenticate(db, issued.token)
    assert info is not None and info.last_activity_at == START
    assert row(clean_db, issued.session_id).last_activity_at == START

    clock.advance(1)  # exactly one minute after the last write
    with transaction(clean_db) as db:
        info = service.authenticate(db, issued.token)
    assert info is not None and info.idle_expires_at == clock() + dt.timedelta(days=7)
    assert row(clean_db, issued.session_id).last_activity_at == clock()
    assert info.account_id == erin and info.email == "erin@example.com" and info.session_id == issued.session_id


def test_using_one_session_never_touches_another(clean_db, service, clock, erin):
    frank = add_account(clean_db, "frank@example.com")
    first = issue(clean_db, service, erin)
    second = issue(clean_db, service, frank)  # issued later: a larger id
    clock.advance(minutes=2)
    with transaction(clean_db) as db:
        service.authenticate(db, second.token)
    assert row(clean_db, first.session_id).last_activity_at == START
    clock.advance(minutes=2)
    with transaction(clean_db) as db:
        service.authenticate(db, first.token)
    assert row(clean_db, second.session_id).last_activity_at == START + dt.timedelta(minutes=2)
    assert row(clean_db, first.session_id).last_activity_at == clock()


def test_sessions_stop_counting_as_active_at_the_exact_second_they_expire(clean_db, service, clock, erin):
    idle_one = issue(clean_db, service, erin)
    clock.advance(days=6)
    busy = issue(clean_db, service, erin)
    clock.advance(days=1)  # idle_one: exactly 7 days without activity
    assert active_ids(clean_db, service, erin) == [busy.session_id]
    with transaction(clean_db) as db:
        assert service.authenticate(db, idle_one.token) is None
        assert service.count_active(db, [erin]) == {erin: 1}
    clock.advance(days=1)  # and it stays ended, though its absolute lifetime has weeks left
    assert active_ids(clean_db, service, erin) == [busy.session_id]
    with transaction(clean_db) as db:
        assert service.authenticate(db, idle_one.token) is None
        assert service.count_active(db, [erin]) == {erin: 1}

    # Kept busy, a session still ends at its absolute lifetime, to the second.
    for _ in range(6):
        clock.advance(days=4)
        with transaction(clean_db) as db:
            assert service.authenticate(db, busy.token) is not None
    clock.set(busy.expires_at - dt.timedelta(seconds=1))
    with transaction(clean_db) as db:
        assert service.authenticate(db, busy.token) is not None
        assert service.count_active(db, [erin]) == {erin: 1}
    clock.set(busy.expires_at)
    assert active_ids(clean_db, service, erin) == []
    with transaction(clean_db) as db:
        assert service.count_active(db, [erin]) == {}
        assert service.authenticate(db, busy.token) is None
    clock.advance(days=1)  # past its lifetime, though used a day ago
    assert active_ids(clean_db, service, erin) == []
    with transaction(clean_db) as db:
        assert service.count_active(db, [erin]) == {}
        assert service.authenticate(db, busy.token) is None


def test_active_sessions_list_the_most_recently_used_first_and_count_per_account(clean_db, service, clock, erin):
    frank = add_account(clean_db, "frank@example.com")
    older = issue(clean_db, service, erin)
    clock.advance(hours=1)
    newer = issue(clean_db, service, erin)
    issue(clean_db, service, frank)
    clock.advance(hours=1)
    with transaction(clean_db) as db:
        service.authenticate(db, older.token)  # used again: now the most recent
    assert active_ids(clean_db, service, erin) == [older.session_id, newer.session_id]
    assert len(active_ids(clean_db, service, frank)) == 1  # never another account's sessions
    with transaction(clean_db) as db:
        assert service.count_active(db, [erin, frank]) == {erin: 2, frank: 1}
        assert service.count_active(db, []) == {}
        service.revoke(db, newer.session_id, reason=RevokeReason.REVOKED)
        assert service.count_active(db, [erin]) == {erin: 1}


def test_only_the_owner_revokes_a_session_and_revoking_twice_changes_nothing(clean_db, service, clock, erin):
    mallory = add_account(clean_db, "mallory@example.com")
    issued = issue(clean_db, service, erin)
    mallorys = issue(clean_db, service, mallory)
    with transaction(clean_db) as db:  # each way round: account ids are ordered, ownership is not
        assert service.revoke(db, issued.session_id, reason=RevokeReason.REVOKED, account_id=mallory) is False
        assert service.revoke(db, mallorys.session_id, reason=RevokeReason.REVOKED, account_id=erin) is False
    assert row(clean_db, issued.session_id).revoked_at is None
    assert row(clean_db, mallorys.session_id).revoked_at is None
    clock.advance(10)
    with transaction(clean_db) as db:
        assert service.revoke(db, issued.session_id, reason=RevokeReason.REVOKED, account_id=erin) is True
    clock.advance(10)
    with transaction(clean_db) as db:
        assert service.revoke(db, issued.session_id, reason=RevokeReason.REVOKED_ALL) is False
    revoked = row(clean_db, issued.session_id)
    assert revoked.revoked_at == clock() - dt.timedelta(seconds=10)
    assert revoked.revoked_reason == RevokeReason.REVOKED.value


def test_logout_and_revoke_all_touch_only_live_sessions(clean_db, service, clock, erin):
    frank = add_account(clean_db, "frank@example.com")
    phone, laptop, tablet = (issue(clean_db, service, erin) for _ in range(3))
    franks = issue(clean_db, service, frank)
    with transaction(clean_db) as db:
        assert service.revoke_token(db, "not a token", reason=RevokeReason.LOGOUT) is None
        assert service.revoke_token(db, new_token(), reason=RevokeReason.LOGOUT) is None
        assert service.revoke_token(db, phone.token, reason=RevokeReason.LOGOUT) == phone.session_id
        assert service.revoke_token(db, phone.token, reason=RevokeReason.LOGOUT) is None
    clock.advance(30)
    with transaction(clean_db) as db:
        assert service.revoke_all(db, erin) == 2
        assert service.revoke_all(db, erin) == 0
    for session in (laptop, tablet):
        revoked = row(clean_db, session.session_id)
        assert revoked.revoked_reason == RevokeReason.REVOKED_ALL.value and revoked.revoked_at == clock()
    assert row(clean_db, phone.session_id).revoked_reason == RevokeReason.LOGOUT.value
    assert row(clean_db, franks.session_id).revoked_at is None


def test_a_late_request_never_moves_the_activity_time_backwards(clean_db, settings, erin):
    """Two requests on one session: the later one writes its time first; the earlier one, whose
    read came before that write, must not overwrite it with an older time."""
    issued = issue(clean_db, SessionService(settings, clock=FakeClock(START)), erin)
    late = SessionService(settings, clock=FakeClock(START + dt.timedelta(minutes=2)))
    early = SessionService(settings, clock=FakeClock(START + dt.timedelta(seconds=61)))
    results: list[object] = []

    with transaction(clean_db) as db:
        assert late.authenticate(db, issued.token) is not None  # row locked until this commits

        def early_request() -> None:
            with transaction(clean_db) as other:
                results.append(early.authenticate(other, issued.token))

        worker = threading.Thread(target=early_request)
        worker.start()
        deadline = time.monotonic() + 10
        while backends_waiting_for_a_lock(clean_db) < 1:
            assert time.monotonic() < deadline, "the early request never reached the row lock"
            time.sleep(0.01)
    worker.join(10)
    assert results and results[0] is not None
    assert row(clean_db, issued.session_id).last_activity_at == START + dt.timedelta(minutes=2)
