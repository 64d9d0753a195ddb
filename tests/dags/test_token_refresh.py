"""token_refresh: due accounts refreshed through the token service, sharded, counted."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from support.airflow_harness import World, account
from support.clock import FakeClock

from driveguard import pipelines
from driveguard.identity import refresh
from driveguard.pipelines import Runtime


def test_refreshes_due_accounts_over_mapped_shards_and_records_counts(world: World, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TOKEN_REFRESH_SHARD_SIZE", "4")
    accounts = [account(f"user{i:02d}@example.com", usage=10**9) for i in range(30)]
    expiring = {f"user{i:02d}@example.com" for i in range(12)}
    ids = world.seed(accounts, expiring=expiring)
    # Two of the expiring accounts revoked Driveguard at Google: their refresh dies.
    world.emu.revoke("user00@example.com")
    world.emu.revoke("user01@example.com")
    world.emu.reset_stats()

    result = world.harness.run("token_refresh")

    assert result.state == "success"
    shards = result.xcom("plan")
    assert len(shards) == 3 and sum(s["accounts"] for s in shards) == 12
    per_shard = result.mapped("refresh")
    assert len(per_shard) == 3
    summary = result.xcom("summarize")
    assert summary == {"accounts": 12, "failed": 0, "reauth_required": 2, "refreshed": 10, "skipped": 0}
    stats = world.emu.stats()
    assert stats["refresh_by_account"] == {
        email: 1 for email in sorted(expiring - {"user00@example.com", "user01@example.com"})
    }
    assert (
        world.scalar("SELECT status FROM google_account WHERE id = :id", id=ids["user00@example.com"])
        == "reauth_required"
    )
    recorded = world.rows("SELECT task_id, counts FROM pipeline_run WHERE dag_id = 'token_refresh'")
    assert recorded == [{"task_id": "summarize", "counts": summary}]

    # Nothing is due any more: the next run plans no shard and calls Google for nothing.
    world.emu.reset_stats()
    again = world.harness.run("token_refresh")
    assert again.state == "success"
    assert again.xcom("plan") == []
    assert again.task_state("refresh", -1) in {"skipped", None} or not again.mapped("refresh")
    assert world.emu.stats()["grants"].get("refresh_token", 0) == 0


def test_one_rule_decides_who_is_due_for_the_planner_its_shards_and_the_token_service(world: World):
    emails = [f"rule{i}@example.com" for i in range(6)]
    ids = world.seed([account(email, usage=10**9) for email in emails], expiring=set(emails))
    clock = FakeClock()
    exclusions = {
        "rule1@example.com": "status = 'reauth_required'",
        "rule2@example.com": "refresh_token_ciphertext = NULL",
        "rule3@example.com": "erasure_requested_at = :now",
        "rule4@example.com": "access_token_expires_at = NULL",  # no access token at all: due first
        "rule5@example.com": "access_token_expires_at = :now + interval '2 hours'",  # fresh: not due
    }
    with world.engine.begin() as conn:
        for email, change in exclusions.items():
            conn.execute(text(f"UPDATE google_account SET {change} WHERE id = :id"), {"id": ids[email], "now": clock()})
    rt = Runtime(world.settings, world.engine, clock=clock)

    plan = pipelines.refresh_plan(rt, period=dt.timedelta(minutes=10))
    in_shards = [account_id for shard in plan["shards"] for account_id in refresh.due_in_shard(world.engine, shard)]
    horizon = dt.datetime.fromisoformat(plan["horizon"])
    service = rt.token_service()
    try:
        listed = service.list_expiring(int((horizon - clock()).total_seconds()))
    finally:
        service.close()

    assert plan["due"] == 2 and sum(shard["accounts"] for shard in plan["shards"]) == 2
    assert sorted(in_shards) == sorted([ids["rule0@example.com"], ids["rule4@example.com"]])
    assert listed == [ids["rule4@example.com"], ids["rule0@example.com"]]  # soonest (none) first
