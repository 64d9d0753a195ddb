"""`get_access_token(reject=…)`: Google answered 401 to a token Driveguard still held as valid.
The rejected token is never handed out again, and however many callers reject it at once, Google
sees one refresh (against the emulator and real PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from support.signin import Stack

from driveguard.db.engine import make_engine
from driveguard.db.models import AccountStatus
from driveguard.identity.tokens import AccessToken, ReauthRequired, TokenService

EMAIL = "carol@gmail.com"


def drive_status(stack: Stack, token: str) -> int:
    """What Google's Drive says to the token right now (200, or 401 for a dead one)."""
    response = httpx.get(
        stack.emu.url + "/drive/v3/about",
        params={"fields": "storageQuota"},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status_code


def test_a_token_google_rejected_is_refreshed_although_it_looks_valid(stack: Stack):
    account_id = stack.seed_account(EMAIL)
    service = stack.token_service()
    held = service.get_access_token(account_id)
    stack.emu.call("POST", "/tokens/expire", {"email": EMAIL, "kind": "access"})  # Google expired it early
    stack.emu.call("POST", "/stats/reset")
    assert service.get_access_token(account_id).token == held.token  # still believed valid here
    assert drive_status(stack, held.token) == 401

    fresh = service.get_access_token(account_id, reject=held.token)

    assert fresh.token != held.token and drive_status(stack, fresh.token) == 200
    assert stack.emu.refresh_grants(EMAIL) == 1
    assert service.get_access_token(account_id).token == fresh.token  # stored: later callers get it
    account = stack.account(EMAIL)
    assert account.status == AccountStatus.ACTIVE and account.last_refresh_error is None


def test_rejecting_a_token_someone_already_replaced_causes_no_refresh(stack: Stack):
    account_id = stack.seed_account(EMAIL)
    service = stack.token_service()
    old = service.get_access_token(account_id)
    current = service.get_access_token(account_id, reject=old.token)  # the first caller refreshed
    stack.emu.call("POST", "/stats/reset")

    again = service.get_access_token(account_id, reject=old.token)  # a late caller with the old token

    assert again.token == current.token
    assert stack.emu.refresh_grants(EMAIL) == 0


def test_twenty_callers_rejecting_the_same_token_cause_exactly_one_refresh(stack: Stack):
    account_id = stack.seed_account(EMAIL)
    dead = stack.token_service().get_access_token(account_id).token
    stack.emu.call("POST", "/tokens/expire", {"email": EMAIL, "kind": "access"})
    stack.emu.call("POST", "/stats/reset")
    stack.emu.faults({"group": "token", "latency_ms": 300})  # callers queue behind the one refresh
    url = stack.engine.url.render_as_string(hide_password=False)
    engines = [make_engine(url, pool_size=5) for _ in range(4)]  # four "processes"
    services = [TokenService(stack.settings, engine, clock=stack.clock) for engine in engines]
    callers = 20
    barrier = threading.Barrier(callers)

    def call(index: int) -> AccessToken:
        barrier.wait()
        return services[index % len(services)].get_access_token(account_id, reject=dead)

    try:
        with ThreadPoolExecutor(max_workers=callers) as pool:
            tokens = list(pool.map(call, range(callers)))
    finally:
        for service in services:
            service.close()
        for engine in engines:
            engine.dispose()
    assert len({t.token for t in tokens}) == 1 and tokens[0].token != dead
    assert stack.emu.refresh_grants(EMAIL) == 1


def test_a_rejected_token_whose_refresh_hits_invalid_grant_marks_reauth_required(stack: Stack):
    account_id = stack.seed_account(EMAIL)
    service = stack.token_service()
    dead = service.get_access_token(account_id).token
    stack.emu.call("POST", "/tokens/expire", {"email": EMAIL, "kind": "all"})  # grant gone at Google

    with pytest.raises(ReauthRequired):
        service.get_access_token(account_id, reject=dead)

    account = stack.account(EMAIL)
    assert account.status == AccountStatus.REAUTH_REQUIRED
    assert account.access_token_ciphertext is None and account.refresh_token_ciphertext is None
    assert "invalid_grant" in (account.last_refresh_error or "")
    assert "reauth_required" in stack.audit_actions()
