"""Grants survive faults (issue 15 item 2), against the emulator with refresh-token rotation, reuse
detection and 60 s access tokens switched on: a refresh whose answer was lost is never resent with
the same refresh token and an `invalid_grant` right after it is uncertain (retried with backoff,
shown to ops) until TOKEN_REFRESH_UNCERTAIN_SECONDS; one refresh serves 20 concurrent callers of a
60 s token."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from support.settings import settings_for
from support.signin import Stack

from driveguard.db.engine import make_engine, transaction
from driveguard.db.models import AccountStatus, AuditLog
from driveguard.identity.tokens import AccessToken, ReauthRequired, TokenService, TokenUnavailable

EMAIL = "carol@gmail.com"
UNCERTAIN_BOUND = 1800  # TOKEN_REFRESH_UNCERTAIN_SECONDS of the `rotating` fixture


def uncertain_audits(stack: Stack) -> list[dict[str, object]]:
    with transaction(stack.engine) as db:
        rows = db.scalars(select(AuditLog).where(AuditLog.action == "token_refresh_failed").order_by(AuditLog.id))
        return [row.details for row in rows if row.details.get("uncertain")]


def admin_view(stack: Stack) -> dict[str, object]:
    with stack.api(stack.admin_token()) as client:
        answer = client.get("/api/oauth/detailed-status", params={"email": EMAIL})
    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["items"]
    return dict(item["grant"])


def test_a_refresh_answered_after_the_timeout_is_not_resent_and_invalid_grant_after_it_is_uncertain_until_the_bound(
    rotating: Stack, caplog: pytest.LogCaptureFixture
):
    stack = rotating
    account_id = stack.seed_account(EMAIL)
    stored = stack.account(EMAIL)
    stack.advance(61)  # the 60 s token is dead on both sides
    stack.emu.call("POST", "/stats/reset")
    # The provider rotates the refresh token, then answers 2 s later: after Driveguard's 1 s timeout.
    stack.emu.faults({"group": "token", "late_answer": {"ms": 2000, "count": 1}})
    service = stack.token_service()

    with (
        caplog.at_level(logging.WARNING, logger="driveguard.identity.tokens"),
        pytest.raises(TokenUnavailable, match="uncertain: timeout"),
    ):
        service.get_access_token(account_id)
    stats = stack.emu.stats()
    assert stats["requests"]["token"] == 1  # sent once, never resent with the consumed refresh token
    assert stats["grants"]["refresh_token"] == 1 and stats["late_answers"] == {"token": 1}  # it did rotate
    assert stack.sleeps.calls == []
    account = stack.account(EMAIL)
    assert account.status == AccountStatus.ACTIVE
    assert account.refresh_token_ciphertext == stored.refresh_token_ciphertext  # the stored grant is kept
    since = account.refresh_uncertain_since
    assert since is not None and stack.clock() - dt.timedelta(seconds=10) < since <= stack.clock()
    assert account.refresh_retry_at is not None and (account.refresh_retry_at - since).total_seconds() == 15
    assert any(str(account_id) in r.getMessage() and "uncertain" in r.getMessage() for r in caplog.records)
    view = admin_view(stack)
    assert view["status"] == "active" and view["refresh_uncertain_since"] is not None
    assert str(view["last_refresh_error"]).startswith("uncertain: timeout")

    # Inside the backoff nobody calls the provider, however many callers ask.
    for _ in range(3):
        with pytest.raises(TokenUnavailable, match="next attempt at"):
            service.get_access_token(account_id)
    assert stack.emu.stats()["requests"]["token"] == 1

    # After the backoff the stored grant is read again and tried: the provider sees a rotated token
    # reused and revokes the grant. That invalid_grant follows a lost answer: uncertain, not dead yet.
    stack.advance(15)
    with pytest.raises(TokenUnavailable, match="uncertain: invalid_grant right after an uncertain refresh"):
        service.get_access_token(account_id)
    assert stack.emu.stats()["refresh_reuse_detected"] == 1
    account = stack.account(EMAIL)
    assert account.status == AccountStatus.ACTIVE and account.refresh_token_ciphertext is not None
    assert account.refresh_uncertain_since == since  # still the first lost answer's time
    assert account.refresh_retry_at is not None and account.refresh_retry_at - stack.clock() > dt.timedelta(seconds=25)
    assert account.refresh_retry_at - stack.clock() <= dt.timedelta(seconds=30)  # the backoff doubled
    assert [a["failure_count"] for a in uncertain_audits(stack)] == [1, 2]

    # Past the stated bound the same answer is believed: the grant is dead, the person must sign in.
    stack.advance(UNCERTAIN_BOUND)
    with pytest.raises(ReauthRequired):
        service.get_access_token(account_id)
    account = stack.account(EMAIL)
    assert account.status == AccountStatus.REAUTH_REQUIRED and account.refresh_uncertain_since is None
    assert stack.emu.stats()["requests"]["token"] == 3  # one call per attempt, no more


def test_a_grant_stored_meanwhile_ends_the_uncertainty_and_the_next_refresh_uses_it(rotating: Stack):
    stack = rotating
    account_id = stack.seed_account(EMAIL)
    stack.advance(61)
    stack.emu.faults({"group": "token", "late_answer": {"ms": 2000, "count": 1}})
    service = stack.token_service()
    with pytest.raises(TokenUnavailable, match="uncertain"):
        service.get_access_token(account_id)
    # The person signs in again (another process stores a new grant) before the backoff ends.
    stack.seed_account(EMAIL)
    account = stack.account(EMAIL)
    assert account.refresh_uncertain_since is None and account.refresh_retry_at is None
    stack.advance(61)
    token = service.get_access_token(account_id)
    assert token.expires_at > stack.clock()
    assert stack.account(EMAIL).status == AccountStatus.ACTIVE
    assert stack.emu.stats()["refresh_reuse_detected"] == 0


def test_a_5xx_from_the_token_endpoint_is_not_resent_in_the_same_call(rotating: Stack):
    stack = rotating
    account_id = stack.seed_account(EMAIL)
    stack.advance(61)
    stack.emu.call("POST", "/stats/reset")
    stack.emu.faults({"group": "token", "error_burst": {"status": 500, "count": 3}})
    with pytest.raises(TokenUnavailable, match="uncertain"):
        stack.token_service().get_access_token(account_id)
    assert stack.emu.stats()["statuses"]["token"] == {"500": 1}
    assert stack.account(EMAIL).refresh_uncertain_since is not None


def test_the_token_endpoint_timeout_is_a_generous_setting():
    assert settings_for().google.token_timeout_seconds == 30
    assert settings_for(GOOGLE_TOKEN_TIMEOUT_SECONDS="45").google.token_timeout_seconds == 45
    assert settings_for().security.token_refresh_uncertain_seconds == 3600


def test_twenty_concurrent_callers_of_a_60_second_token_cause_exactly_one_refresh(rotating: Stack):
    stack = rotating
    account_id = stack.seed_account(EMAIL)
    stack.advance(61)
    stack.emu.call("POST", "/stats/reset")
    stack.emu.faults({"group": "token", "latency_ms": 300})  # every caller queues behind the one refresh
    url = stack.engine.url.render_as_string(hide_password=False)
    engines = [make_engine(url, pool_size=5) for _ in range(4)]  # four "processes"
    services = [TokenService(stack.settings, engine, clock=stack.clock) for engine in engines]
    callers = 20
    barrier = threading.Barrier(callers)

    def call(index: int) -> AccessToken:
        barrier.wait()
        return services[index % len(services)].get_access_token(account_id)  # the default 300 s margin

    try:
        with ThreadPoolExecutor(max_workers=callers) as pool:
            tokens = list(pool.map(call, range(callers)))
    finally:
        for service in services:
            service.close()
        for engine in engines:
            engine.dispose()
    assert len({t.token for t in tokens}) == 1
    assert stack.emu.refresh_grants(EMAIL) == 1
    stack.emu.clear_faults()

    # The margin is half the token's 60 s life: 40 s left is fresh, 25 s left is not.
    service = stack.token_service()
    stack.advance(20)
    assert service.get_access_token(account_id).token == tokens[0].token
    assert stack.emu.refresh_grants(EMAIL) == 1
    stack.advance(15)
    assert service.get_access_token(account_id).token != tokens[0].token
    assert stack.emu.refresh_grants(EMAIL) == 2
