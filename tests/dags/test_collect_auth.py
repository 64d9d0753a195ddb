"""A Drive 401 during collection: Google expired or revoked an access token that Driveguard still
believed valid. One forced refresh and one re-send of that part collect the account; a grant that
turns out dead marks the account `reauth_required` without making Airflow retry the shard forever.
The task bodies run directly against real PostgreSQL and the emulator, with injected time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import Engine
from support.airflow_harness import World, account
from support.clock import FakeClock, FakeTime
from support.emulator_admin import AdminClient

from driveguard import pipelines
from driveguard.config import Settings
from driveguard.identity.tokens import AccessToken, TokenService
from driveguard.pipelines import Interval, Runtime
from driveguard.storage.collection import ShardCollector

GIB = 1024**3
INTERVAL = Interval(dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC), dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC))


@pytest.fixture
def shop(clean_db: Engine, emu: AdminClient, dag_settings: Settings) -> World:
    """A clean database and an empty emulator; no Airflow (task bodies are called directly)."""
    emu.reset(seed="none")
    return World(dag_settings, clean_db, emu, harness=None, receivers={})  # type: ignore[arg-type]


def runtime(settings: Settings, engine: Engine) -> Runtime:
    fake = FakeTime()
    return Runtime(settings, engine, clock=FakeClock(), sleep=fake.sleep, monotonic=fake.clock)


def collect(rt: Runtime) -> dict[str, Any]:
    """What one storage_collect run's collect tasks do for the interval (all shards)."""
    plan = pipelines.collect_plan(rt, INTERVAL)
    return pipelines.sum_counts(pipelines.collect_shard(rt, shard) for shard in plan["shards"])


def usage_by_email(world: World) -> dict[str, int]:
    rows = world.rows(
        "SELECT a.email, s.usage_bytes FROM storage_snapshot s JOIN google_account a ON a.id = s.account_id "
        "WHERE s.interval_start = :start",
        start=INTERVAL.start,
    )
    return {r["email"]: r["usage_bytes"] for r in rows}


def account_row(world: World, email: str) -> dict[str, Any]:
    return dict(
        world.rows(
            "SELECT status, access_token_ciphertext, last_refresh_error, refresh_failure_count "
            "FROM google_account WHERE email = :email",
            email=email,
        )[0]
    )


def test_a_token_google_expired_early_is_refreshed_once_and_its_part_resent_once(shop: World):
    shop.seed([account("ann@example.com", usage=3 * GIB), account("bea@example.com", usage=7 * GIB)])
    before = account_row(shop, "bea@example.com")
    # Google expired bea's access token early; Driveguard still holds it as valid for an hour.
    assert shop.emu.expire_tokens("bea@example.com") == 1
    shop.emu.reset_stats()

    counts = collect(runtime(shop.settings, shop.engine))

    pipelines.check_shard(counts)  # nothing missing: the task is green
    assert usage_by_email(shop) == {"ann@example.com": 3 * GIB, "bea@example.com": 7 * GIB}
    stats = shop.emu.stats()
    assert stats["refresh_by_account"] == {"bea@example.com": 1}  # exactly one refresh, for bea only
    assert stats["statuses"]["about"] == {"200": 2, "401": 1}  # bea's part: the 401, then one re-send
    assert stats["about_by_account"] == {"ann@example.com": 1, "bea@example.com": 1}
    assert (counts["collected"], counts["inserted"], counts["auth_error_parts"], counts["auth_renewed_parts"]) == (
        2,
        2,
        1,
        1,
    )
    assert "failed_auth" not in counts and "reauth_required" not in counts
    after = account_row(shop, "bea@example.com")
    assert after["status"] == "active" and after["last_refresh_error"] is None
    assert after["access_token_ciphertext"] != before["access_token_ciphertext"]  # the dead token is gone

    # The next interval's run sends the new token: no 401, no refresh.
    shop.emu.reset_stats()
    rt = runtime(shop.settings, shop.engine)
    plan = pipelines.collect_plan(rt, INTERVAL)
    again = pipelines.sum_counts(pipelines.collect_shard(rt, shard, recollect=True) for shard in plan["shards"])
    stats = shop.emu.stats()
    assert stats["statuses"]["about"] == {"200": 2} and stats["refresh_by_account"] == {}
    assert (again["collected"], again["unchanged"], again["auth_error_parts"]) == (2, 2, 0)


def test_a_401_whose_refresh_finds_the_grant_dead_marks_reauth_required_and_keeps_the_task_green(shop: World):
    shop.seed([account("ann@example.com", usage=3 * GIB), account("bea@example.com", usage=7 * GIB)])
    # Google expired bea's access token and revoked her refresh token; Driveguard believes both valid.
    assert shop.emu.expire_tokens("bea@example.com", kind="all") == 2
    shop.emu.reset_stats()

    counts = collect(runtime(shop.settings, shop.engine))

    pipelines.check_shard(counts)  # a dead grant is not a transient gap: Airflow does not retry it
    assert usage_by_email(shop) == {"ann@example.com": 3 * GIB}  # no row for bea, not a zero
    assert (counts["collected"], counts["reauth_required"]) == (1, 1)
    assert "failed_auth" not in counts and "failed_transient" not in counts and "token_unavailable" not in counts
    stats = shop.emu.stats()
    assert stats["refresh_errors_by_account"] == {"bea@example.com": 1}  # one refresh tried: invalid_grant
    assert stats["refresh_by_account"] == {}
    assert stats["grant_errors"] == {"refresh_token:invalid_grant": 1}
    # bea's part: the 401, then the library's one re-send (still the dead token: there was no other).
    assert stats["statuses"]["about"] == {"200": 1, "401": 2}
    bea = account_row(shop, "bea@example.com")
    assert bea["status"] == "reauth_required" and bea["access_token_ciphertext"] is None
    assert "invalid_grant" in bea["last_refresh_error"]

    # A rerun leaves bea alone: no token sent to Drive, no refresh tried again.
    shop.emu.reset_stats()
    rerun = collect(runtime(shop.settings, shop.engine))
    assert rerun.get("accounts", 0) == 0
    assert shop.emu.stats()["requests"].get("token", 0) == 0


class InFlight(TokenService):
    """The real token service, noting how many `get_access_token` calls run at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def get_access_token(self, *args: Any, **kwargs: Any) -> AccessToken:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            return super().get_access_token(*args, **kwargs)
        finally:
            with self.lock:
                self.now -= 1


def test_tokens_of_a_chunk_are_refreshed_by_a_bounded_pool_each_exactly_once(shop: World):
    settings = dataclasses.replace(
        shop.settings, pipelines=dataclasses.replace(shop.settings.pipelines, collect_token_threads=3)
    )
    emails = [f"u{i:02d}@example.com" for i in range(10)]
    shop.seed([account(e, usage=(i + 1) * GIB) for i, e in enumerate(emails)], expiring=set(emails))
    shop.emu.faults({"group": "token", "latency_ms": 100})  # refreshes overlap while Google answers
    shop.emu.reset_stats()
    rt = runtime(settings, shop.engine)
    shard = pipelines.collect_plan(rt, INTERVAL)["shards"]
    assert len(shard) == 1

    tokens = InFlight(settings, shop.engine, clock=rt.clock, sleep=rt.sleep)
    try:
        counts = ShardCollector(settings, shop.engine, tokens, rt.drive_client(), clock=rt.clock).run(
            shard[0], INTERVAL
        )
    finally:
        tokens.close()

    pipelines.check_shard(counts)
    assert 1 < tokens.peak <= 3  # concurrent, and never beyond COLLECT_TOKEN_THREADS
    assert usage_by_email(shop) == {e: (i + 1) * GIB for i, e in enumerate(emails)}
    assert shop.emu.stats()["refresh_by_account"] == dict.fromkeys(emails, 1)
    assert counts["collected"] == 10 and counts.get("auth_error_parts", 0) == 0
