"""One backoff policy and one classification of Google failures, shared by every caller: the token
endpoint, Drive batches, Reports pages and the outbox's next attempt (no network beyond an httpx
MockTransport at the token endpoint)."""

from __future__ import annotations

import datetime as dt
import random

import httpx
import pytest
from support.settings import settings_for

from driveguard.backoff import EQUAL_JITTER, FULL_JITTER, Backoff
from driveguard.google.drive import DriveQuotaClient
from driveguard.google.oauth import TOKEN_ENDPOINT_BACKOFF, GoogleOAuthClient, TransientGoogleError
from driveguard.google.reports import ReportsClient
from driveguard.storage.notifications import Dispatcher

SETTINGS = settings_for(
    GOOGLE_BACKOFF_BASE_SECONDS="2",
    GOOGLE_BACKOFF_MAX_SECONDS="30",
    GOOGLE_MAX_ATTEMPTS="5",
    NOTIFY_BACKOFF_BASE_SECONDS="30",
    NOTIFY_BACKOFF_MAX_SECONDS="600",
)


def test_equal_jitter_waits_at_least_half_of_each_doubling_ceiling_and_full_jitter_may_not_wait():
    top = Backoff(1.0, 10.0, jitter=EQUAL_JITTER, rng=lambda: 1.0)
    bottom = Backoff(1.0, 10.0, jitter=EQUAL_JITTER, rng=lambda: 0.0)
    assert [top.delay(n) for n in range(5)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert [bottom.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert Backoff(1.0, 10.0, jitter=FULL_JITTER, rng=lambda: 0.0).delay(4) == 0.0
    assert bottom.delay(0, lambda: 1.0) == 1.0  # one call's own random source wins


def test_retry_after_is_a_floor_that_never_passes_the_cap():
    backoff = Backoff(1.0, 10.0, rng=lambda: 0.0)
    assert backoff.delay(0, retry_after=3.5) == 3.5
    assert backoff.delay(3, retry_after=1) == 4.0  # our own ceiling is already longer
    assert backoff.delay(0, retry_after=3600) == 10.0


def test_the_outbox_schedules_its_next_attempt_with_the_same_policy():
    dispatcher = Dispatcher(SETTINGS, engine=None, rng=random.Random(11))  # type: ignore[arg-type]  # noqa: S311
    reference = Backoff(30, 600, jitter=EQUAL_JITTER, rng=random.Random(11).random)  # noqa: S311
    waits = [dispatcher.backoff(attempts) for attempts in range(1, 8)]
    assert waits == [dt.timedelta(seconds=reference.delay(n)) for n in range(7)]
    assert dt.timedelta(seconds=15) <= waits[0] <= dt.timedelta(seconds=30)  # after the first failed delivery
    assert dt.timedelta(seconds=300) <= waits[-1] <= dt.timedelta(seconds=600)  # capped by NOTIFY_BACKOFF_MAX


def test_drive_and_reports_take_their_policy_from_the_google_settings():
    drive = DriveQuotaClient(SETTINGS)
    reports = ReportsClient(SETTINGS, "ya29.token")
    for client in (drive, reports):
        policy = client.backoff
        assert (policy.base_seconds, policy.cap_seconds, policy.jitter) == (2.0, 30.0, EQUAL_JITTER)
        assert client.max_attempts == 5


def _token_endpoint(*answers: httpx.Response) -> tuple[GoogleOAuthClient, list[float]]:
    queue = list(answers)
    sleeps: list[float] = []
    http = httpx.Client(transport=httpx.MockTransport(lambda request: queue.pop(0)))
    return GoogleOAuthClient(SETTINGS, http, sleep=sleeps.append, rng=lambda: 0.0), sleeps


def test_the_token_endpoint_retries_what_drive_and_reports_retry():
    rate_limited = {"error": {"code": 403, "message": "slow down", "errors": [{"reason": "rateLimitExceeded"}]}}
    client, sleeps = _token_endpoint(
        httpx.Response(403, json=rate_limited, headers={"Retry-After": "1.5"}),
        httpx.Response(429, json={"error": "rate_limit_exceeded"}, headers={"Retry-After": "0"}),
        httpx.Response(200, json={"access_token": "ya29.ok", "expires_in": 3599}),
    )
    assert client.refresh("1//0g").access_token == "ya29.ok"
    assert sleeps == [1.5, 0.0]  # Retry-After read like Drive reads it (seconds, fractions too)
    # A 5xx may come after the provider acted on the refresh: it is not resent (test_google_oauth.py).


def test_the_token_endpoint_gives_up_after_its_policys_attempts():
    client, sleeps = _token_endpoint(*[httpx.Response(429, json={"error": "rate_limit_exceeded"})] * 4)
    with pytest.raises(TransientGoogleError) as failure:
        client.refresh("1//0g")
    assert failure.value.error == "rate_limit_exceeded" and failure.value.status == 429
    assert len(sleeps) == TOKEN_ENDPOINT_BACKOFF.max_attempts - 1
