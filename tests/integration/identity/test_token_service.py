"""The token service against the emulator and real PostgreSQL: exactly one refresh under
concurrency, retries with backoff, exhausted retries, invalid_grant, and refresh-token rotation."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select
from support.signin import Stack

from driveguard.backoff import FULL_JITTER, Backoff
from driveguard.db.engine import make_engine, transaction
from driveguard.db.models import AccountStatus, AuditLog
from driveguard.identity.tokens import (
    AccessToken,
    ReauthRequired,
    RefreshOutcome,
    TokenService,
    TokenUnavailable,
    UnknownAccount,
)

EMAIL = "carol@gmail.com"


def test_twenty_five_concurrent_callers_cause_exactly_one_refresh(stack: Stack):
    account_id = stack.seed_account(EMAIL)
    stack.advance(3600)  # expired on both sides
    stack.emu.call("POST", "/stats/reset")
    # Slow the token endpoint down so every caller is queued while the one refresh is in flight.
    stack.emu.faults({"group": "token", "latency_ms": 400})
    url = stack.engine.url.render_as_string(hide_password=False)
    # Five "processes": separate engines (own connection pools) and token services.
    engines = [make_engine(url, pool_size=5) for _ in range(5)]
    services = [TokenService(stack.settings, engine, clock=stack.clock) for engine in engines]
    callers = 25
    barrier = threading.Barrier(callers)

    def call(index: int) -> AccessToken:
        barrier.wait()
        return services[index % len(services)].get_access_token(account_id)

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
    assert stack.emu.stats()["grants"].get("refresh_token") == 1
    assert stack.account(EMAIL).refresh_failure_count == 0


def test_google_5xx_on_a_refresh_is_not_resent_at_once_and_the_next_attempt_after_the_backoff_succeeds(stack: Stack):
    # A 5xx may come after the provider acted (and rotated): the same refresh token is not resent in
    # the same call; the next attempt waits for the backoff and then succeeds (this 503 came early).
    account_id = stack.seed_account(EMAIL)
    stack.advance(3600)
    stack.emu.faults({"group": "token", "error_burst": {"status": 503, "count": 1}})
    service = stack.token_service(backoff=Backoff(max_attempts=4, base_seconds=0.5, cap_seconds=4, jitter=FULL_JITTER))
    with pytest.raises(TokenUnavailable, match="uncertain"):
        service.get_access_token(account_id)
    assert stack.sleeps.calls == []
    assert stack.emu.stats()["statuses"]["token"] == {"503": 1}
    with pytest.raises(TokenUnavailable, match="next attempt at"):  # inside the backoff: no call to Google
        service.get_access_token(account_id)
    assert stack.emu.stats()["requests"]["token"] == 1
    stack.advance(15)
    token = service.get_access_token(account_id)
    assert token.expires_at > stack.clock()
    assert stack.emu.refresh_grants(EMAIL) == 1
    account = stack.account(EMAIL)
    assert account.refresh_failure_count == 0 and account.last_refresh_error is None
    assert account.refresh_uncertain_since is None and account.refresh_retry_at is None


def test_rate_limit_exhausting_the_retries_raises_token_unavailable_and_counts_the_failure(stack: Stack):
    account_id = stack.seed_account(EMAIL)
    before = stack.account(EMAIL)
    stack.advance(3600)
    stack.emu.faults({"group": "token", "rate_limit_rps": 0.001, "rate_limit_burst": 1})
    # Use up the one request the bucket allows, so every refresh attempt now gets a 429.
    httpx.post(f"{stack.emu.url}/token", data={"client_id": stack.emu.client_id, "grant_type": "none"})
    service = stack.token_service(backoff=Backoff(max_attempts=3, base_seconds=0.1, cap_seconds=1))
    with pytest.raises(TokenUnavailable) as failure:
        service.get_access_token(account_id)
    assert "rate_limit_exceeded" in str(failure.value)
    assert len(stack.sleeps.calls) == 2
    assert all(1 <= wait <= 1.0 + 1e-9 for wait in stack.sleeps.calls)  # Retry-After (1 s) honoured, capped
    account = stack.account(EMAIL)
    assert account.refresh_failure_count == 1
    assert account.status == AccountStatus.ACTIVE  # transient: the grant is fine
    assert "rate_limit_exceeded" in (account.last_refresh_error or "")
    assert account.refresh_token_ciphertext == before.refresh_token_ciphertext  # nothing half-written
    assert account.access_token_ciphertext == before.access_token_ciphertext
    assert account.access_token_expires_at == before.access_token_expires_at
    assert stack.audit_actions()[-1] == "token_refresh_failed"
    assert service.refresh_if_expiring(account_id, within_seconds=600) == RefreshOutcome.FAILED
    assert stack.account(EMAIL).refresh_failure_count == 2
    stack.emu.clear_faults()
    assert service.refresh_if_expiring(account_id, within_seconds=600) == RefreshOutcome.REFRESHED
    assert stack.account(EMAIL).refresh_failure_count == 0


def test_invalid_grant_marks_reauth_required_once_and_is_not_retried(stack: Stack):
    account_id = stack.seed_account(EMAIL)
    stack.emu.call("POST", "/tokens/expire", {"email": EMAIL, "kind": "refresh"})
    stack.advance(3600)
    service = stack.token_service()
    with pytest.raises(ReauthRequired):
        service.get_access_token(account_id)
    assert stack.sleeps.calls == []
    assert stack.emu.stats()["grant_errors"] == {"refresh_token:invalid_grant": 1}
    with pytest.raises(ReauthRequired):  # no second call to Google
        service.get_access_token(account_id)
    assert stack.emu.stats()["grant_errors"] == {"refresh_token:invalid_grant": 1}
    account = stack.account(EMAIL)
    assert account.status == AccountStatus.REAUTH_REQUIRED
    with transaction(stack.engine) as db:
        row = db.scalars(select(AuditLog).where(AuditLog.action == "reauth_required")).one()
        assert row.subject == EMAIL and row.details["account_id"] == str(account_id)
        assert "invalid_grant" in row.details["reason"]


def test_rotated_refresh_token_is_stored_in_the_same_step(stack: Stack):
    stack.emu.call("PATCH", f"/accounts/{EMAIL}", {"rotate_refresh_tokens": True})
    account_id = stack.seed_account(EMAIL)
    first_blob = stack.account(EMAIL).refresh_token_ciphertext
    service = stack.token_service()
    for _ in range(3):  # each refresh invalidates the previous refresh token at "Google"
        stack.advance(3600)
        assert service.refresh_if_expiring(account_id, within_seconds=600) == RefreshOutcome.REFRESHED
    assert stack.account(EMAIL).refresh_token_ciphertext != first_blob
    assert stack.emu.refresh_grants(EMAIL) == 3
    assert stack.account(EMAIL).status == AccountStatus.ACTIVE


def test_refresh_outcomes_and_margins(stack: Stack):
    account_id = stack.seed_account(EMAIL)
    service = stack.token_service()
    assert service.refresh_if_expiring(account_id, within_seconds=600) == RefreshOutcome.SKIPPED
    assert service.refresh_if_expiring(uuid.uuid4(), within_seconds=600) == RefreshOutcome.SKIPPED
    stack.advance(3599 - 240)  # 240 s left: inside the 300 s default margin
    assert service.list_expiring(300) == [account_id]
    token = service.get_access_token(account_id)
    assert (token.expires_at - stack.clock()).total_seconds() > 3000
    assert stack.emu.refresh_grants(EMAIL) == 1
    # A caller asking for less than google-auth's 225 s threshold still gets >= 225 s.
    stack.advance(3599 - 200)
    service.get_access_token(account_id, min_valid_seconds=60)
    assert stack.emu.refresh_grants(EMAIL) == 2
    with pytest.raises(ValueError, match="min_valid_seconds"):
        service.get_access_token(account_id, min_valid_seconds=4000)
    with pytest.raises(UnknownAccount):
        service.get_access_token(uuid.uuid4())


def test_revoking_the_grant_is_idempotent_and_survives_google_outages(stack: Stack):
    account_id = stack.seed_account(EMAIL)
    service = stack.token_service(backoff=Backoff(max_attempts=2))
    stack.emu.faults({"group": "revoke", "error_rate": 1.0, "error_rate_status": 500})
    with pytest.raises(TokenUnavailable):
        service.revoke_grant(account_id)
    assert stack.account(EMAIL).status == AccountStatus.ACTIVE  # nothing changed
    stack.emu.clear_faults()
    first = service.revoke_grant(account_id)
    assert first.google_revoked and first.changed
    second = service.revoke_grant(account_id)
    assert not second.google_revoked and not second.changed
    assert bool(first) and not bool(second)  # truthy = "Google revoked a live grant now"
    assert stack.emu.stats()["revocations"] == 1
    assert service.refresh_if_expiring(account_id, within_seconds=600) == RefreshOutcome.SKIPPED
