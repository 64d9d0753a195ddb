"""token_refresh: due accounts refreshed through the token service, sharded, counted."""

from __future__ import annotations

import pytest
from support.airflow_harness import World, account


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
