"""The Drive batch client against the emulator, with injected time (fault suite: no real waiting)."""

from __future__ import annotations

from typing import Any

import httplib2
import pytest
from support.airflow_harness import CLIENT_ID, LOGIN_SCOPES
from support.clock import FakeTime
from support.emulator_admin import AdminClient

from driveguard.config import Settings
from driveguard.google.drive import DriveQuotaClient
from driveguard.google.ratelimit import TokenBucket
from driveguard.google.retry import Failure


@pytest.fixture
def tokens(emu: AdminClient) -> dict[str, str]:
    emu.reset(seed="none")
    emails = [f"d{i:03d}@example.com" for i in range(250)]
    emu.upsert_accounts([{"email": e, "name": e, "usage": 1000 + i, "limit": 10**9} for i, e in enumerate(emails)])
    grants = emu.grants(emails, client_id=CLIENT_ID, scopes=LOGIN_SCOPES, offline=False)
    emu.reset_stats()
    return {g["email"]: g["access_token"] for g in grants}


def client(settings: Settings, fake: FakeTime, **kwargs: Any) -> DriveQuotaClient:
    limiter = TokenBucket(settings.google.rate_limit_per_minute, clock=fake.clock, sleep=fake.sleep)
    return DriveQuotaClient(settings, limiter=limiter, sleep=fake.sleep, clock=fake.clock, **kwargs)


def test_parts_go_in_batches_of_at_most_100_and_a_failed_round_trip_retries_all_its_parts(
    emu: AdminClient, dag_settings: Settings, tokens: dict[str, str]
):
    emu.faults({"group": "batch", "error_burst": {"status": 503, "count": 2}})
    fake = FakeTime()
    result = client(dag_settings, fake).fetch(tokens)
    assert len(result.quotas) == 250 and result.errors == {}
    assert result.quotas["d007@example.com"].usage == 1007
    assert result.stats.failed_round_trips == 2
    stats = emu.stats()
    assert stats["batch"]["max_parts"] <= 100
    assert stats["statuses"]["batch"] == {"503": 2, "200": 3}
    assert stats["statuses"]["about"] == {"200": 250}
    assert fake.slept  # backoff happened on the injected clock, not in real time


def test_exhausted_retries_are_reported_per_account_and_never_exceed_max_attempts(
    emu: AdminClient, dag_settings: Settings, tokens: dict[str, str]
):
    emu.faults({"group": "about", "error_rate": 1.0, "error_rate_status": 500})
    some = dict(list(tokens.items())[:30])
    fake = FakeTime()
    result = client(dag_settings, fake, max_attempts=3).fetch(some)
    assert result.quotas == {}
    assert {e.kind for e in result.errors.values()} == {Failure.TRANSIENT}
    assert emu.stats()["statuses"]["about"] == {"500": 90}  # 30 accounts x 3 attempts, no more
    assert result.stats.retried_parts == 60


def test_one_dead_token_or_missing_scope_fails_alone(emu: AdminClient, dag_settings: Settings, tokens: dict[str, str]):
    no_drive = emu.grants(["d000@example.com"], client_id=CLIENT_ID, scopes=["openid", "email"], offline=False)[0]
    some = {**dict(list(tokens.items())[1:5]), "dead": "ya29.not-a-token", "no_scope": no_drive["access_token"]}
    result = client(dag_settings, FakeTime()).fetch(some)
    assert len(result.quotas) == 4
    assert result.errors["dead"].kind is Failure.AUTH and result.errors["dead"].status == 401
    assert result.errors["no_scope"].kind is Failure.PERMANENT and result.errors["no_scope"].status == 403
    assert result.stats.auth_error_parts == 1 and result.stats.http_round_trips == 2  # the library re-sent the 401


class ClosedOnceHttp(httplib2.Http):
    """The first round trip meets a kept-alive connection the server already closed (its idle timeout
    passed while the task waited for the budget): the write fails with a broken pipe, nothing arrives."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.broken = 0

    def request(self, *args: Any, **kwargs: Any) -> Any:
        if self.broken == 0:
            self.broken += 1
            raise BrokenPipeError(32, "Broken pipe")
        return super().request(*args, **kwargs)


def test_a_batch_whose_kept_alive_connection_was_closed_goes_again_at_once_not_into_backoff(
    emu: AdminClient, dag_settings: Settings, tokens: dict[str, str]
):
    fake = FakeTime()
    transports: list[ClosedOnceHttp] = []

    def factory() -> ClosedOnceHttp:
        transports.append(ClosedOnceHttp(timeout=10))
        return transports[-1]

    result = client(dag_settings, fake, transport_factory=factory).fetch(dict(list(tokens.items())[:40]))
    assert len(result.quotas) == 40 and result.errors == {}
    assert result.stats.stale_connection_resends == 1 and result.stats.failed_round_trips == 0
    assert result.stats.backoff_seconds == 0 and result.stats.retried_parts == 0
    assert emu.stats()["statuses"]["about"] == {"200": 40}, "each part reached Google once"


def test_parts_waiting_out_a_backoff_are_handed_back_and_finish_in_the_next_fetch(
    emu: AdminClient, dag_settings: Settings, tokens: dict[str, str]
):
    emu.faults({"group": "about", "error_burst": {"status": 503, "count": 2}})
    fake = FakeTime()
    drive = client(dag_settings, fake)
    first, second = dict(list(tokens.items())[:20]), dict(list(tokens.items())[20:40])
    early = drive.fetch(first, defer=True)
    assert len(early.quotas) == 18 and early.errors == {} and len(early.deferred) == 2
    assert fake.slept == [], "no sleeping out a backoff while other accounts could use the budget"
    later = drive.fetch(second, carried=early.deferred)
    assert len(later.quotas) == 22 and later.errors == {} and later.deferred == []
    assert set(early.quotas) | set(later.quotas) == set(first) | set(second)
    assert emu.stats()["statuses"]["about"] == {"503": 2, "200": 40}
