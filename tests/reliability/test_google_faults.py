"""Google misbehaving during a collection and during a token refresh pass: latency, 429s, 403 rate
limits (project and per user), 500/503 bursts, dropped connections, timeouts and `invalid_grant`.
Every run ends with exact counts: one snapshot per account and interval with the figures the
emulator served, only dead grants `reauth_required`, nothing locked, and the next run catching up."""

from __future__ import annotations

import os

import pytest
from support.airflow_harness import RunResult, World, account, hour
from support.clock import FakeTime
from support.reliability import LEDGER

from driveguard.config import load_settings
from driveguard.pipelines import Runtime, use_runtime

GIB = 1024**3


def served(accounts: list[dict]) -> dict[str, tuple[int, int | None]]:
    return {a["email"]: (a["usage"], a["limit"]) for a in accounts}


def test_collection_through_every_kind_of_google_fault_loses_and_duplicates_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("COLLECT_SHARD_SIZE", "50")  # three mapped shards
    monkeypatch.setenv("GOOGLE_REQUEST_TIMEOUT_SECONDS", "1")
    accounts = [
        account(f"c{i:03d}@example.com", usage=(i + 1) * 10**8, limit=None if i % 40 == 0 else 15 * GIB)
        for i in range(150)
    ]
    slow = "c007@example.com"  # its token refresh hangs past the client's timeout once: an uncertain refresh
    limited = ["c011@example.com", "c061@example.com", "c111@example.com"]
    revoked = "c140@example.com"  # revoked Driveguard at Google: its refresh answers invalid_grant
    world.seed(accounts, expiring={slow, "c073@example.com", revoked})
    world.emu.revoke(revoked)
    world.emu.faults(
        {
            "group": "batch",
            "latency_ms": 20,
            "jitter_ms": 20,
            "drop_connections": 2,
            "error_burst": {"status": 503, "count": 2},
            "timeout": 1.5,
            "timeout_count": 1,
        },
        {  # the project's budget: 429 rateLimitExceeded
            "group": "about",
            "error_burst": {"status": 500, "count": 12},
            "rate_limit_rps": 40,
            "rate_limit_burst": 30,
        },
        # Three people: their own budget is empty at first (403 userRateLimitExceeded, once each),
        # then a budget of theirs shared at 0.5/s may answer 403 rateLimitExceeded.
        {
            "group": "*",
            "user_rate_limit_rps": 2,
            "user_rate_limit_burst": 0,
            "rate_limit_rps": 0.5,
            "rate_limit_burst": 1,
            "rate_limit_status": 403,
            "fail_emails": limited,
        },
        # Not resent in the same try (the provider may have rotated the token): the retry refreshes.
        {"group": "token", "timeout": 1.5, "timeout_count": 1, "fail_emails": [slow]},
    )
    world.emu.reset_stats()

    result = world.harness.run("storage_collect", logical_date=hour(20, 10))

    stats = world.emu.stats()
    LEDGER.faults_from(stats)
    assert result.state == "success", result.tasks
    about = stats["statuses"]["about"]
    assert about["500"] == 12 and about["429"] > 0 and about["403"] >= len(limited), about
    assert all(stats["about_by_account"][email] >= 2 for email in limited), "refused first, then collected"
    assert stats["statuses"]["batch"]["dropped"] == 2 and stats["statuses"]["batch"]["503"] == 2
    assert stats["statuses"]["batch"]["504"] == 1 and stats["statuses"]["token"]["504"] == 1
    tries = sorted(t["try_number"] for (task, _), t in result.tasks.items() if task == "collect")
    assert set(tries) <= {1, 2} and 2 in tries, f"shards left with gaps took a second try, no more: {tries}"
    alive = [a for a in accounts if a["email"] != revoked]
    LEDGER.check_snapshots(world.engine, hour(20, 9), served(alive))
    LEDGER.check_accounts(world.engine, reauth_required={revoked})
    summary = result.xcom("summarize")
    assert summary["inserted"] == len(alive) and summary["missing"] == 0, summary

    # The next hour, Google well again: every account once more, the first hour untouched.
    world.emu.clear_faults()
    following = world.harness.run("storage_collect", logical_date=hour(20, 11))
    assert following.state == "success", following.tasks
    LEDGER.check_snapshots(world.engine, hour(20, 10), served(alive))
    LEDGER.check_snapshots(world.engine, hour(20, 9), served(alive))
    LEDGER.check_accounts(world.engine, reauth_required={revoked})


def test_refresh_pass_through_google_faults_refreshes_each_account_once_and_buries_only_dead_grants(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TOKEN_REFRESH_SHARD_SIZE", "10")
    monkeypatch.setenv("GOOGLE_REQUEST_TIMEOUT_SECONDS", "1")
    # No window in which an invalid_grant after a lost answer still counts as uncertain (that window
    # is pinned in tests/integration/identity/test_grants_refresh.py): the next pass buries a dead
    # grant whose first answer was lost, and this scenario checks that it buries only those.
    monkeypatch.setenv("TOKEN_REFRESH_UNCERTAIN_SECONDS", "0")
    emails = [f"r{i:02d}@example.com" for i in range(30)]
    world.seed([account(e, usage=10**9) for e in emails], expiring=set(emails))
    dead = {"r03@example.com", "r17@example.com"}  # revoked at Google: invalid_grant
    for email in dead:
        world.emu.revoke(email)
    world.emu.faults(
        {
            "group": "token",
            "latency_ms": 10,
            "drop_connections": 3,
            "error_burst": {"status": 500, "count": 3},
            "rate_limit_rps": 40,
            "rate_limit_burst": 12,
        },
        {"group": "*", "timeout": 1.5, "fail_emails": ["r09@example.com"]},
    )
    world.emu.reset_stats()
    fake = FakeTime()  # the token endpoint's backoff waits instantly

    with use_runtime(lambda: _runtime(world, fake)):
        result = world.harness.run("token_refresh")
    stats = world.emu.stats()
    LEDGER.faults_from(stats)
    summary = recorded_counts(world, result)
    buried = {r["email"] for r in world.rows("SELECT email FROM google_account WHERE status = 'reauth_required'")}
    assert buried <= dead and summary["reauth_required"] == len(buried), summary  # a lost answer buries no one
    assert summary["refreshed"] + summary["failed"] + len(buried) == len(emails), summary
    assert stats["statuses"]["token"]["dropped"] == 3 and stats["statuses"]["token"]["500"] == 3
    refreshed = stats["refresh_by_account"]
    # A lost answer (dropped connection, 500, r09's timeout) is uncertain: not resent in this pass.
    assert summary["failed"] >= 1 and "r09@example.com" not in refreshed, summary
    assert set(refreshed) <= set(emails) - dead and len(refreshed) == summary["refreshed"], (refreshed, summary)
    assert set(refreshed.values()) == {1}, "one successful refresh per account, never two"
    LEDGER.check_accounts(world.engine, reauth_required=buried)
    assert result.state == "failed", "a pass that left accounts unrefreshed is not green"

    # The next pass, Google well again: whoever was missed is refreshed, the dead stay dead.
    world.emu.clear_faults()
    with use_runtime(lambda: _runtime(world, fake)):
        again = world.harness.run("token_refresh")
    assert again.state == "success", again.tasks
    assert (again.xcom("summarize") or {}).get("failed", 0) == 0
    LEDGER.check_accounts(world.engine, reauth_required=dead)
    assert (
        world.scalar(
            "SELECT count(*) FROM google_account WHERE access_token_expires_at < now() + interval '30 minutes'"
        )
        == 0
    )


def test_token_endpoint_down_for_a_whole_refresh_pass_fails_the_run_and_the_next_catches_up(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TOKEN_REFRESH_SHARD_SIZE", "4")
    emails = [f"d{i:02d}@example.com" for i in range(10)]
    world.seed([account(e, usage=10**9) for e in emails], expiring=set(emails))
    world.emu.faults({"group": "token", "error_rate": 1.0, "error_rate_status": 503})
    world.emu.reset_stats()
    fake = FakeTime()

    with use_runtime(lambda: _runtime(world, fake)):
        down = world.harness.run("token_refresh")
    stats = world.emu.stats()
    LEDGER.faults_from(stats)
    # One try per account: a 5xx may come after the provider acted (rotated), so it is not resent.
    assert stats["statuses"]["token"] == {"503": len(emails)}, "one try per account, no more"
    assert recorded_counts(world, down) == {
        "accounts": 10,
        "failed": 10,
        "reauth_required": 0,
        "refreshed": 0,
        "skipped": 0,
    }
    assert down.state == "failed", "a pass that refreshed nobody is not green"
    LEDGER.check_accounts(world.engine)  # a down endpoint kills no grant and leaves no lock

    world.emu.clear_faults()
    world.emu.reset_stats()
    with use_runtime(lambda: _runtime(world, fake)):
        again = world.harness.run("token_refresh")
    assert again.state == "success", again.tasks
    assert again.xcom("summarize")["refreshed"] == len(emails)
    assert world.emu.stats()["refresh_by_account"] == dict.fromkeys(emails, 1)
    LEDGER.check_accounts(world.engine)


def recorded_counts(world: World, result: RunResult) -> dict:
    """What the run's `summarize` stored in `pipeline_run` (a failed summarize leaves no XCom)."""
    return world.scalar(
        "SELECT counts FROM pipeline_run WHERE run_id = :run AND task_id = 'summarize'", run=result.run_id
    )


def _runtime(world: World, fake: FakeTime) -> Runtime:
    """Settings as the tasks would read them now (the scenario's variables) and an instant backoff sleep."""
    return Runtime(load_settings(dict(os.environ), env_file=os.devnull), world.engine, sleep=fake.sleep)
