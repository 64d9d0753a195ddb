"""Session lifetimes as pure functions of a row and a controllable clock."""

from __future__ import annotations

import datetime as dt

from support.clock import FakeClock

from driveguard.identity.sessions import SessionPolicy, hash_token, new_token, well_formed

POLICY = SessionPolicy(lifetime=dt.timedelta(days=30), idle_timeout=dt.timedelta(hours=2))


def test_tokens_are_256_bit_urlsafe_and_only_their_hash_is_kept():
    token = new_token()
    assert len(token) == 43 and well_formed(token)
    assert len(hash_token(token)) == 32 and hash_token(token) != token.encode()
    assert new_token() != token
    for bad in (None, "", "short", "has space" * 10, "x" * 129, "ü" * 40, "a.b.c" * 10):
        assert not well_formed(bad)


def test_idle_timeout_slides_with_activity_until_the_absolute_limit():
    clock = FakeClock()
    created = clock()
    expires_at = created + POLICY.lifetime
    last = created

    def state() -> str | None:
        return POLICY.why_invalid(expires_at=expires_at, last_activity_at=last, revoked_at=None, now=clock())

    assert state() is None
    clock.advance(hours=1, minutes=59)
    assert state() is None
    # Used every 90 minutes, the session lives on for days...
    for _ in range(16 * 29):
        last = clock()
        clock.advance(minutes=90)
        assert state() is None, clock()
    # ...but never past the absolute lifetime, however busy.
    clock.set(expires_at - dt.timedelta(seconds=1))
    last = clock()
    assert state() is None
    clock.advance(1)
    assert state() == "expired"


def test_idle_session_expires():
    clock = FakeClock()
    last = clock()
    clock.advance(hours=2)
    assert (
        POLICY.why_invalid(expires_at=last + POLICY.lifetime, last_activity_at=last, revoked_at=None, now=clock())
        == "idle_timeout"
    )
    assert POLICY.effective_expiry(last + POLICY.lifetime, last) == last + POLICY.idle_timeout


def test_revoked_wins_and_activity_writes_are_throttled():
    clock = FakeClock()
    now = clock()
    assert POLICY.why_invalid(expires_at=now + POLICY.lifetime, last_activity_at=now, revoked_at=now, now=now) == (
        "revoked"
    )
    assert not POLICY.should_touch(now, now + dt.timedelta(seconds=59))
    assert POLICY.should_touch(now, now + dt.timedelta(seconds=60))
