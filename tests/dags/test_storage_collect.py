"""storage_collect: 500+ accounts through rate-limited Drive batches, exactly one snapshot each."""

from __future__ import annotations

import time

import pytest
from support.airflow_harness import World, account, hour

GIB = 1024**3
N_ACCOUNTS = 520


def test_collects_every_account_once_through_batches_despite_429s_and_503s(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("COLLECT_SHARD_SIZE", "200")  # three mapped shards
    accounts = [
        account(f"u{i:04d}@example.com", usage=(i + 1) * 10**7, limit=None if i % 50 == 0 else 15 * GIB)
        for i in range(N_ACCOUNTS)
    ]
    ids = world.seed(accounts)
    # "Google" allows 120 calls/s per project (our limiter allows 200/s) and fails 25 calls with 503.
    world.emu.faults(
        {"group": "about", "rate_limit_rps": 120, "rate_limit_burst": 100, "error_burst": {"status": 503, "count": 25}}
    )
    world.emu.reset_stats()
    interval_start, logical_date = hour(20, 9), hour(20, 10)

    started = time.perf_counter()
    result = world.harness.run("storage_collect", logical_date=logical_date)
    wall = time.perf_counter() - started

    assert result.state == "success", result.tasks
    stats = world.emu.stats()
    summary = result.xcom("summarize")
    shards = result.mapped("collect")
    collect_seconds = sum(t["duration"] or 0 for (task_id, _), t in result.tasks.items() if task_id == "collect")
    print(
        f"\ncollection of {N_ACCOUNTS} accounts: {collect_seconds:.1f}s in the collect tasks, "
        f"{wall:.1f}s wall for the whole DAG run; "
        f"shards={len(shards)} batches={summary['batches']} http_round_trips={summary['http_round_trips']} "
        f"parts_sent={summary['parts_sent']} 429s_absorbed={summary['rate_limited_parts']} "
        f"5xx_absorbed={summary['server_error_parts']} limiter_wait={summary['limiter_wait_seconds']}s "
        f"emulator={stats['batch']} about_statuses={stats['statuses'].get('about')}"
    )
    assert len(shards) == 3
    assert summary["collected"] == N_ACCOUNTS and summary["inserted"] == N_ACCOUNTS
    assert summary.get("failed_transient", 0) == 0
    # Every account has exactly one snapshot for the interval, with the emulator's figures.
    rows = world.rows(
        "SELECT a.email, s.usage_bytes, s.limit_bytes, s.interval_end, s.source, s.granularity "
        "FROM storage_snapshot s JOIN google_account a ON a.id = s.account_id WHERE s.interval_start = :start",
        start=interval_start,
    )
    assert len(rows) == N_ACCOUNTS == len({r["email"] for r in rows}) == len(ids)
    expected = {a["email"]: (a["usage"], a["limit"]) for a in accounts}
    assert all((r["usage_bytes"], r["limit_bytes"]) == expected[r["email"]] for r in rows)
    assert {r["interval_end"] for r in rows} == {logical_date}
    assert {(r["source"], r["granularity"]) for r in rows} == {("drive_about", "raw")}
    assert world.scalar("SELECT count(*) FROM storage_snapshot") == N_ACCOUNTS
    assert world.scalar("SELECT to_regclass('storage_snapshot_raw_p202611') IS NOT NULL")
    # Batches: never more than 100 parts; the emulator throttled and failed parts, all absorbed.
    assert stats["batch"]["max_parts"] <= 100 and stats["batch"]["overflow_parts"] == 0
    assert stats["batch"]["requests"] == summary["http_round_trips"] >= N_ACCOUNTS // 100
    assert stats["statuses"]["about"]["200"] == N_ACCOUNTS
    assert stats["statuses"]["about"]["503"] == 25
    assert stats["statuses"]["about"].get("429", 0) == summary["rate_limited_parts"] > 0
    # Quality passed, alerts ran, then the read model step refreshed the pre-aggregated overview.
    assert result.task_state("quality") == "success" and result.task_state("alerts") == "success"
    assert result.task_state("read_model") == "success"
    assert world.scalar("SELECT count(*) FROM storage_latest") == N_ACCOUNTS
    recorded = {r["task_id"] for r in world.rows("SELECT task_id FROM pipeline_run WHERE dag_id = 'storage_collect'")}
    assert recorded == {"summarize", "quality", "alerts"}

    # A rerun of the same interval writes nothing new and asks Google for nothing.
    world.emu.clear_faults()
    world.emu.reset_stats()
    before = {
        r["account_id"]: r["collected_at"] for r in world.rows("SELECT account_id, collected_at FROM storage_snapshot")
    }
    rerun = world.harness.run("storage_collect", logical_date=logical_date)
    assert rerun.state == "success"
    assert rerun.xcom("summarize")["accounts"] == 0
    assert world.emu.stats()["batch"]["requests"] == 0
    after = {
        r["account_id"]: r["collected_at"] for r in world.rows("SELECT account_id, collected_at FROM storage_snapshot")
    }
    assert after == before

    # Forced re-collection asks Google again; identical figures leave every row untouched.
    forced = world.harness.run("storage_collect", logical_date=logical_date, conf={"recollect": True})
    assert forced.state == "success"
    counts = forced.xcom("summarize")
    assert (counts["collected"], counts.get("inserted", 0), counts.get("updated", 0)) == (N_ACCOUNTS, 0, 0)
    assert counts["unchanged"] == N_ACCOUNTS
    assert world.scalar("SELECT count(*) FROM storage_snapshot") == N_ACCOUNTS
    again = {
        r["account_id"]: r["collected_at"] for r in world.rows("SELECT account_id, collected_at FROM storage_snapshot")
    }
    assert again == before
