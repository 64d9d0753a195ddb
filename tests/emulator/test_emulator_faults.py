"""Fault injection: rate limits, error bursts, error rates, latency, timeouts, per-account faults."""

from __future__ import annotations

import time

import httpx
import pytest
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2.credentials import Credentials
from support.emulator_admin import RunningEmulator


def about(emu: RunningEmulator, token: object) -> httpx.Response:
    return httpx.get(emu.url("/drive/v3/about?fields=storageQuota"), headers={"Authorization": f"Bearer {token}"})


def test_rate_limit_answers_429_above_the_budget_and_200_below(emu: RunningEmulator) -> None:
    token = emu.grant("alice@gmail.com")["access_token"]
    emu.admin.faults({"group": "about", "rate_limit_rps": 0.5, "rate_limit_burst": 3})
    statuses = [about(emu, token).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    limited = about(emu, token)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json() == {
        "error": {
            "code": 429,
            "message": "Rate Limit Exceeded",
            "errors": [{"message": "Rate Limit Exceeded", "domain": "usageLimits", "reason": "rateLimitExceeded"}],
            "status": "RESOURCE_EXHAUSTED",
        }
    }
    emu.admin.advance_clock(10)  # the bucket refills with the emulator's clock
    assert about(emu, emu.grant("alice@gmail.com")["access_token"]).status_code == 200
    assert emu.admin.stats()["rate_limited"] == {"about": 3}


def test_rate_limit_as_403_rate_limit_exceeded(emu: RunningEmulator) -> None:
    token = emu.grant("alice@gmail.com")["access_token"]
    emu.admin.faults({"group": "about", "rate_limit_rps": 0.01, "rate_limit_burst": 1, "rate_limit_status": 403})
    assert about(emu, token).status_code == 200
    denied = about(emu, token)
    assert denied.status_code == 403 and denied.json()["error"]["errors"][0]["reason"] == "rateLimitExceeded"


def test_per_user_budget_is_403_user_rate_limit_exceeded(emu: RunningEmulator) -> None:
    alice = emu.grant("alice@gmail.com")["access_token"]
    bob = emu.grant("bob@gmail.com")["access_token"]
    emu.admin.faults({"group": "about", "user_rate_limit_rps": 0.01, "user_rate_limit_burst": 2})
    assert [about(emu, alice).status_code for _ in range(3)] == [200, 200, 403]
    assert about(emu, bob).status_code == 200, "another user's budget is untouched"
    emu.admin.faults({"group": "about", "user_rate_limit_rps": 0.01, "user_rate_limit_burst": 0})
    assert about(emu, bob).status_code == 403, "a burst of 0 refuses even the first call"
    body = about(emu, alice).json()["error"]
    assert body["errors"][0] == {
        "message": "User Rate Limit Exceeded",
        "domain": "usageLimits",
        "reason": "userRateLimitExceeded",
    }


def test_error_burst_fails_exactly_n_calls_then_recovers(emu: RunningEmulator) -> None:
    token = emu.grant("bob@gmail.com")["access_token"]
    emu.admin.faults({"group": "about", "error_burst": {"status": 503, "count": 3}})
    statuses = [about(emu, token).status_code for _ in range(5)]
    assert statuses == [503, 503, 503, 200, 200]
    failed = emu.admin.faults({"group": "about", "error_burst": {"status": 500, "count": 1}})
    assert failed["faults"]["about"]["error_burst"]["count"] == 1
    error = about(emu, token).json()["error"]
    assert error["code"] == 500 and error["errors"][0]["reason"] == "backendError"
    assert emu.admin.call("GET", "/faults")["faults"]["about"]["error_burst"]["count"] == 0


def test_error_rate_is_deterministic_for_a_seed(emu: RunningEmulator) -> None:
    token = emu.grant("bob@gmail.com")["access_token"]
    spec = {"group": "about", "error_rate": 0.5, "error_rate_status": 500, "seed": 7}
    runs = []
    for _ in range(2):
        emu.admin.faults(spec)
        runs.append([about(emu, token).status_code for _ in range(12)])
    assert runs[0] == runs[1]
    assert {200, 500} == set(runs[0])


def test_latency_is_applied(emu: RunningEmulator) -> None:
    token = emu.grant("carol@gmail.com")["access_token"]
    started = time.monotonic()
    about(emu, token)
    baseline = time.monotonic() - started
    emu.admin.faults({"group": "about", "latency_ms": 300, "jitter_ms": 50})
    started = time.monotonic()
    assert about(emu, token).status_code == 200
    elapsed = time.monotonic() - started
    assert elapsed >= 0.3
    assert elapsed < 0.35 + baseline + 1.0


def test_timeout_holds_then_answers_504(emu: RunningEmulator) -> None:
    token = emu.grant("carol@gmail.com")["access_token"]
    emu.admin.faults({"group": "about", "timeout": 0.4})
    started = time.monotonic()
    response = about(emu, token)
    assert time.monotonic() - started >= 0.4
    assert response.status_code == 504
    assert response.json()["error"]["status"] == "DEADLINE_EXCEEDED"


def test_timeout_count_holds_only_the_next_n_requests(emu: RunningEmulator) -> None:
    token = emu.grant("carol@gmail.com")["access_token"]
    emu.admin.faults({"group": "about", "timeout": 0.2, "timeout_count": 1})
    assert [about(emu, token).status_code for _ in range(2)] == [504, 200]
    assert emu.admin.call("GET", "/faults")["faults"]["about"]["timeout_count"] == 0


def test_faults_can_target_only_some_accounts(emu: RunningEmulator) -> None:
    alice = emu.grant("alice@gmail.com")["access_token"]
    bob = emu.grant("bob@gmail.com")["access_token"]
    emu.admin.faults({"group": "*", "error_rate": 1.0, "fail_emails": ["bob@gmail.com"]})
    assert about(emu, alice).status_code == 200
    assert about(emu, bob).status_code == 503
    userinfo = httpx.get(emu.url("/v1/userinfo"), headers={"Authorization": f"Bearer {bob}"})
    assert userinfo.status_code == 503, "`*` covers every group"
    emu.admin.clear_faults()
    assert about(emu, bob).status_code == 200


def test_token_endpoint_5xx_is_retried_by_google_auth(emu: RunningEmulator) -> None:
    tokens = emu.grant("dave@northwind.example")
    emu.admin.faults({"group": "token", "error_burst": {"status": 503, "count": 1}})
    creds = Credentials(
        None,
        refresh_token=str(tokens["refresh_token"]),
        token_uri=emu.url("/token"),
        client_id=emu.client_id,
        client_secret=emu.client_secret,
    )
    creds.refresh(Request())
    assert creds.token
    stats = emu.admin.stats()
    assert stats["statuses"]["token"] == {"503": 1, "200": 1}
    assert stats["refresh_by_account"] == {"dave@northwind.example": 1}


def test_token_endpoint_rate_limit_body_is_oauth_shaped(emu: RunningEmulator) -> None:
    tokens = emu.grant("dave@northwind.example")
    emu.admin.faults({"group": "token", "rate_limit_rps": 0.01, "rate_limit_burst": 1})
    form = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
    }
    assert httpx.post(emu.url("/token"), data=form).status_code == 200
    limited = httpx.post(emu.url("/token"), data=form)
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limit_exceeded"
    assert "retry-after" in limited.headers


def test_revoke_then_refresh_is_invalid_grant_even_with_faults_cleared(emu: RunningEmulator) -> None:
    tokens = emu.grant("erin@northwind.example")
    emu.admin.faults({"group": "revoke", "error_burst": {"status": 500, "count": 1}})
    failed = httpx.post(emu.url("/revoke"), data={"token": tokens["refresh_token"]})
    assert failed.status_code == 500 and failed.json()["error"] == "internal_failure"
    assert httpx.post(emu.url("/revoke"), data={"token": tokens["refresh_token"]}).status_code == 200
    creds = Credentials(
        None,
        refresh_token=str(tokens["refresh_token"]),
        token_uri=emu.url("/token"),
        client_id=emu.client_id,
        client_secret=emu.client_secret,
    )
    with pytest.raises(RefreshError, match="invalid_grant"):
        creds.refresh(Request())


def test_auth_page_fault_and_invalid_specs(emu: RunningEmulator) -> None:
    emu.admin.faults({"group": "auth", "error_burst": {"status": 503, "count": 1}})
    page = httpx.get(emu.url("/o/oauth2/v2/auth"), params={"client_id": emu.client_id})
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    for bad in (
        {"group": "nope"},
        {"group": "about", "error_burst": {"status": 418}},
        {"group": "about", "surprise": 1},
        {"group": "about", "rate_limit_status": 500},
    ):
        response = emu.admin.http.post("/_emulator/faults", json=bad)
        assert response.status_code == 400, bad


def test_dropped_connections_cut_the_next_n_requests_without_an_answer(emu: RunningEmulator) -> None:
    tokens = emu.grant("frank@northwind.example")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
    }
    emu.admin.faults({"group": "token", "drop_connections": 2})
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(emu.url("/token"), data=form)
    assert httpx.post(emu.url("/token"), data=form).status_code == 200
    stats = emu.admin.stats()
    assert stats["statuses"]["token"] == {"dropped": 2, "200": 1}
    assert stats["refresh_by_account"] == {"frank@northwind.example": 1}, "a dropped request is not processed"
    assert emu.admin.call("GET", "/faults")["faults"]["token"]["drop_connections"] == 0
    refused = emu.admin.http.post("/_emulator/faults", json={"group": "about", "drop_connections": 1})
    assert refused.status_code == 400, "a batch part cannot drop its connection"
