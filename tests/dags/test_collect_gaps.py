"""storage_collect leaves no silent gap: every try's counts are kept, the summary names the accounts
without a snapshot and why, and a run with accounts missing is not green."""

from __future__ import annotations

from typing import Any

from support.airflow_harness import World, account, hour

GIB = 1024**3


def try_counts(world: World, run_id: str) -> dict[str, dict[str, Any]]:
    rows = world.rows(
        "SELECT task_id, counts FROM pipeline_run WHERE dag_id = 'storage_collect' AND run_id = :run_id "
        "AND task_id LIKE 'collect%'",
        run_id=run_id,
    )
    return {r["task_id"]: r["counts"] for r in rows}


def test_a_failed_try_keeps_its_999_snapshots_counted_and_the_retry_adds_only_the_last_one(world: World):
    accounts = [account(f"u{i:04d}@example.com", usage=(i + 1) * 10**6, limit=15 * GIB) for i in range(1000)]
    ids = world.seed(accounts)
    # Google fails the last account's part (503) on every attempt of the first try, then answers.
    attempts = world.settings.pipelines.google_max_attempts
    world.emu.faults(
        {"group": "about", "fail_emails": ["u0999@example.com"], "error_burst": {"status": 503, "count": attempts}}
    )

    result = world.harness.run("storage_collect", logical_date=hour(23, 10), conf={"recollect": False})

    assert result.state == "success", result.tasks
    assert result.tasks[("collect", 0)]["try_number"] == 2
    tries = try_counts(world, result.run_id)
    assert set(tries) == {"collect[0]#try1"}  # the failed try recorded what it did before it failed
    first = tries["collect[0]#try1"]
    assert (first["accounts"], first["collected"], first["inserted"], first["failed_transient"]) == (1000, 999, 999, 1)
    assert first["failures"] == {str(ids["u0999@example.com"]): first["failures"][str(ids["u0999@example.com"])]}
    assert first["failures"][str(ids["u0999@example.com"])].startswith("drive ")
    # The retry asked Google for the one missing account only: the summary is try 1 plus that one.
    summary = result.xcom("summarize")
    assert (summary["accounts"], summary["collected"], summary["inserted"]) == (1000 + 1, 999 + 1, 999 + 1)
    assert summary["failed_transient"] == 1 and summary.get("unchanged", 0) == 0
    assert (summary["tries"], summary["failed_tries"]) == (2, 1)
    assert (summary["active_accounts"], summary["with_snapshot"], summary["missing"]) == (1000, 1000, 0)
    assert summary["missing_accounts"] == [] and summary["completeness_percent"] == 100.0
    assert world.scalar("SELECT count(*) FROM storage_snapshot") == 1000
    assert result.task_state("quality") == "success" and result.task_state("verdict") == "success"


def test_an_account_google_refuses_every_hour_is_listed_with_its_reason_and_the_run_is_not_green(world: World):
    ids = world.seed(
        [
            account("ann@example.com", usage=14 * GIB, limit=15 * GIB),  # critical
            account("bob@example.com", usage=1 * GIB, limit=15 * GIB),
        ]
    )
    # Gone's grant lacks the Drive scope: Google answers 403 insufficientPermissions every hour.
    ids |= world.seed([account("gone@example.com", usage=1 * GIB, limit=15 * GIB)], scopes=["openid", "email"])

    result = world.harness.run("storage_collect", logical_date=hour(23, 11))

    # 403 insufficientPermissions is not retried, so the shard succeeds; the completeness check fails the run.
    assert result.state == "failed"
    assert result.task_state("collect", 0) == "success" and result.task_state("complete") == "success"
    assert result.task_state("quality") == "failed" and result.task_state("verdict") == "upstream_failed"
    summary = result.xcom("summarize")
    assert (summary["active_accounts"], summary["with_snapshot"], summary["missing"]) == (3, 2, 1)
    [gap] = summary["missing_accounts"]
    assert gap["account_id"] == str(ids["gone@example.com"]) and gap["reason"].startswith("drive ")
    assert "403" in gap["reason"]
    gate = world.scalar("SELECT counts FROM pipeline_run WHERE dag_id = 'storage_collect' AND task_id = 'quality'")
    assert (gate["missing"], gate["completeness_floor_percent"], gate["success"]) == (1, 100.0, False)
    assert gate["failed_checks"] == ["completeness"] and gate["missing_accounts"] == [gap]
    assert result.task_state("quality") == "failed"  # its on_failure_callback tells ops (see test_alerts.py)
    # The gap is queryable at any time, not only in the summary.
    from driveguard.storage.sql import load_sql

    with world.engine.connect() as conn:
        rows = conn.execute(
            load_sql("collection_gaps"), {"interval_start": hour(23, 10), "planned_through": None, "limit": 100}
        ).all()
    assert [r.account_id for r in rows] == [str(ids["gone@example.com"])]
    # The gap holds back no one's alert: ann's critical level was alerted.
    assert result.task_state("alerts") == "success"
    kinds = world.rows("SELECT a.email, l.kind FROM alert l JOIN google_account a ON a.id = l.account_id")
    assert [(r["email"], r["kind"]) for r in kinds] == [("ann@example.com", "critical")]


def test_a_person_signing_in_while_the_run_is_under_way_is_no_gap_of_its_interval(world: World):
    """The plan shards the accounts it sees; one who signs in after it is the next interval's, so the
    gate measures completeness over the planned accounts and the run stays green."""
    ids = world.seed([account("ann@example.com", usage=1 * GIB), account("bob@example.com", usage=2 * GIB)])
    late: dict[str, Any] = {}

    def sign_in_meanwhile(_context: Any) -> None:
        if not late:  # before the summary and the gate: the collection has already run
            late.update(world.seed([account("late@example.com", usage=3 * GIB)]))

    result = world.harness.run(
        "storage_collect", logical_date=hour(23, 10), before_each_try={"summarize": sign_in_meanwhile}
    )

    assert set(late) == {"late@example.com"}
    assert result.state == "success", result.tasks
    summary = result.xcom("summarize")
    assert (summary["active_accounts"], summary["with_snapshot"], summary["missing"]) == (2, 2, 0)
    assert result.task_state("quality") == "success" and result.task_state("verdict") == "success"
    snapshots = world.rows("SELECT account_id FROM storage_snapshot WHERE granularity = 'raw'")
    assert sorted(str(r["account_id"]) for r in snapshots) == sorted(str(i) for i in ids.values())
    # The next interval covers the newcomer like everyone else.
    result = world.harness.run("storage_collect", logical_date=hour(23, 11))
    assert result.state == "success", result.tasks
    assert result.xcom("summarize")["active_accounts"] == 3
