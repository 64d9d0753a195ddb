"""The ops failure notifier tells each failure in its own words: two different failures in one
process (as in this suite, or a worker running several tasks) send two different messages."""

from __future__ import annotations

import datetime as dt

import pytest
from support.airflow_harness import World


def test_two_failures_in_one_process_each_notify_with_their_own_text(world: World, monkeypatch: pytest.MonkeyPatch):
    from airflow.sdk.exceptions import AirflowFailException

    ops = world.receivers["ops"]
    # First failure: the backfill is set to a service account whose Airflow connection does not exist.
    monkeypatch.setenv("BACKFILL_AUTH", "service_account")
    monkeypatch.setenv("BACKFILL_GCP_CONN_ID", "driveguard_workspace")
    backfill = world.harness.run("storage_backfill", logical_date=dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    assert backfill.state == "failed"

    # Second failure, in the same process: a cleanup step whose try is refused for another reason.
    def refuse(_context: object) -> None:
        raise AirflowFailException("audit store is read-only")

    cleanup = world.harness.run(
        "cleanup", logical_date=dt.datetime(2026, 11, 3, 3, 30, tzinfo=dt.UTC), before_each_try={"prune_audit": refuse}
    )
    assert cleanup.state == "failed" and cleanup.task_state("prune_audit") == "failed"

    first, second = ops.deliveries
    assert first.subject == "Driveguard pipeline failed: storage_backfill.backfill_day"
    assert f"failed in run {backfill.run_id}." in first.body
    assert "connection 'driveguard_workspace'" in first.body and "read-only" not in first.body
    assert "Data interval: 2026-11-01 00:00:00+00:00 - 2026-11-02 00:00:00+00:00" in first.body

    assert second.subject == "Driveguard pipeline failed: cleanup.prune_audit"
    assert f"failed in run {cleanup.run_id}." in second.body
    assert "audit store is read-only" in second.body and "driveguard_workspace" not in second.body
