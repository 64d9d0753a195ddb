"""Sessions in PostgreSQL with a controllable clock: absolute and idle expiry, sliding activity
(written at most once a minute), rotation, logout, revoke-all, cross-site protection."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest
from sqlalchemy import Engine, select
from support.clock import FakeClock
from support.emulator import sign_in
from support.signin import Stack

from driveguard.audit import RequestContext
from driveguard.config import Settings
from driveguard.db.engine import transaction
from driveguard.db.models import GoogleAccount, UserSession
from driveguard.identity.sessions import RevokeReason, SessionService, hash_token

CONTEXT = RequestContext.of("203.0.113.7", "pytest/1.0")


@pytest.fixture
def account_id(clean_db: Engine) -> uuid.UUID:
    with transaction(clean_db) as db:
        account = GoogleAccount(google_sub="1" * 21, email="dana@example.com")
        db.add(account)
        db.flush()
        return account.id


def authenticate(engine: Engine, service: SessionService, token: str):
    with transaction(engine) as db:
        return service.authenticate(db, token)


def test_session_lifecycle_with_a_controllable_clock(clean_db: Engine, settings: Settings, account_id: uuid.UUID):
    clock = FakeClock()
    service = SessionService(settings, clock=clock)  # 30 days absolute, 7 days idle
    with transaction(clean_db) as db:
        issued = service.issue(db, account_id, context=CONTEXT)
    with transaction(clean_db) as db:
        row = db.get(UserSession, issued.session_id)
        assert row.token_hash == hash_token(issued.token) and issued.token.encode() not in row.token_hash
        assert str(row.ip_address) == "203.0.113.7" and row.user_agent == "pytest/1.0"
        assert row.expires_at == clock() + dt.timedelta(days=30)
    assert issued.token not in repr(issued)

    # Activity is written at most once a minute...
    clock.advance(30)
    assert authenticate(clean_db, service, issued.token).last_activity_at == clock() - dt.timedelta(seconds=30)
    clock.advance(31)
    info = authenticate(clean_db, service, issued.token)
    assert info.last_activity_at == clock() and info.idle_expires_at == clock() + dt.timedelta(days=7)
    # ...and slides the idle expiry: 6 days idle at a time, 4 times, is fine.
    for _ in range(4):
        clock.advance(days=6)
        assert authenticate(clean_db, service, issued.token) is not None
    clock.advance(days=7)
    assert authenticate(clean_db, service, issued.token) is None  # idle too long

    # Absolute lifetime: a new session used daily still ends after 30 days.
    with transaction(clean_db) as db:
        busy = service.issue(db, account_id, context=CONTEXT)
    for _ in range(29):
        clock.advance(days=1)
        assert authenticate(clean_db, service, busy.token) is not None
    clock.advance(days=1)
    assert authenticate(clean_db, service, busy.token) is None


def test_rotation_logout_and_revoke_all(clean_db: Engine, settings: Settings, account_id: uuid.UUID):
    clock = FakeClock()
    service = SessionService(settings, clock=clock)
    with transaction(clean_db) as db:
        first = service.issue(db, account_id, context=CONTEXT)
        other_device = service.issue(db, account_id, context=CONTEXT)
    with transaction(clean_db) as db:
        rotated = service.issue(db, account_id, context=CONTEXT, replaces=first.token)
    assert rotated.token != first.token and rotated.session_id != first.session_id
    assert authenticate(clean_db, service, first.token) is None
    with transaction(clean_db) as db:
        assert db.get(UserSession, first.session_id).revoked_reason == "rotated"
        assert len(service.active_sessions(db, account_id)) == 2
        assert service.revoke_token(db, rotated.token, reason=RevokeReason.LOGOUT) == rotated.session_id
        assert service.revoke_token(db, rotated.token, reason=RevokeReason.LOGOUT) is None  # idempotent
        assert service.revoke_all(db, account_id) == 1
        assert service.revoke_all(db, account_id) == 0
    assert authenticate(clean_db, service, other_device.token) is None
    assert authenticate(clean_db, service, "not-a-token") is None


def test_logout_over_http_and_cross_site_requests_are_ignored(stack: Stack):
    assert sign_in(stack.browser, stack.url, "alice@gmail.com").status_code == 303
    token = stack.session_token()
    # A form on another site posting to /auth/logout with the browser's cookie: ignored.
    evil = httpx.post(
        f"{stack.url}/auth/logout",
        headers={"Cookie": f"dg_session={token}", "Origin": "https://evil.example", "Accept": "application/json"},
    )
    assert evil.status_code == 200 and evil.json() == {"signed_out": False}
    assert "set-cookie" not in evil.headers
    fetch_meta = httpx.post(
        f"{stack.url}/api/oauth/revoke",
        json={"target": "all_sessions", "confirm": True},
        headers={"Cookie": f"dg_session={token}", "Sec-Fetch-Site": "cross-site"},
    )
    assert fetch_meta.status_code == 401
    assert stack.browser.get(f"{stack.url}/api/oauth/status").status_code == 200
    # Other apps on 127.0.0.1 (any port) may set cookies http.cookies would choke on.
    crowded = httpx.get(
        f"{stack.url}/api/oauth/status", headers={"Cookie": f'prefs={{"a":[1,2]}}; x=y z; dg_session={token}'}
    )
    assert crowded.status_code == 200

    out = stack.browser.post(f"{stack.url}/auth/logout", headers={"Accept": "application/json"})
    assert out.status_code == 200 and out.json() == {"signed_out": True}
    assert "dg_session=" in out.headers["set-cookie"] and "max-age=0" in out.headers["set-cookie"].lower()
    with stack.api(token) as api:
        assert api.get("/api/oauth/status").status_code == 401
    assert "logout" in stack.audit_actions()
    page = stack.browser.post(f"{stack.url}/auth/logout", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Signed out" in page.text


def test_idle_expiry_is_enforced_by_the_api(make_stack):
    stack = make_stack(SESSION_IDLE_TIMEOUT_MINUTES="30")
    assert sign_in(stack.browser, stack.url, "alice@gmail.com").status_code == 303
    stack.clock.advance(29 * 60)
    assert stack.browser.get(f"{stack.url}/api/oauth/status").status_code == 200  # slides
    stack.clock.advance(29 * 60)
    assert stack.browser.get(f"{stack.url}/api/oauth/status").status_code == 200
    stack.clock.advance(31 * 60)
    expired = stack.browser.get(f"{stack.url}/api/oauth/status")
    assert expired.status_code == 401 and "session_expired" in expired.json()["detail"]
    with transaction(stack.engine) as db:
        assert db.scalars(select(UserSession)).one().revoked_at is None  # expired, not revoked
