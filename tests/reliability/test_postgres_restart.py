"""PostgreSQL restarted (stopped, every connection cut, started again on the same data dir) in the
middle of a collection and in the middle of an alert dispatch, on the suite's own server."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pytest
from support.airflow_harness import World, account, hour
from support.database import RestartablePostgres
from support.reliability import LEDGER

from driveguard.config import load_settings
from driveguard.google.drive import DriveQuotaClient
from driveguard.pipelines import Runtime, use_runtime

GIB = 1024**3


@pytest.fixture
def own(world: World, own_postgres: RestartablePostgres, monkeypatch: pytest.MonkeyPatch) -> World:
    """The scenario's world on the suite's own PostgreSQL (Airflow's metadata stays on the shared one)."""
    if not own_postgres.running():
        own_postgres.start()
    own_postgres.truncate()
    monkeypatch.setenv("DATABASE_URL", own_postgres.url)
    return dataclasses.replace(world, engine=own_postgres.engine)


def runtime_on(server: RestartablePostgres, **seams: Any) -> Runtime:
    """A task's runtime on the own server; the server is back up before any task starts (the restart's
    second half), so only the try that lost it fails."""
    if not server.running():
        server.start()
    return Runtime(load_settings(dict(os.environ), env_file=os.devnull), server.engine, **seams)


def test_postgres_restart_in_the_middle_of_a_collection_loses_and_duplicates_nothing(
    own: World, own_postgres: RestartablePostgres, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("COLLECT_SHARD_SIZE", "40")
    accounts = [account(f"p{i:03d}@example.com", usage=(i + 1) * 10**8) for i in range(100)]
    own.seed(accounts)
    own.emu.reset_stats()
    lost_database: list[int] = []

    def drive_client(rt: Runtime) -> DriveQuotaClient:
        client = dataclasses.replace(rt, drive_client_factory=None).drive_client()
        fetch = client.fetch

        def fetch_then_lose_the_database(*args: Any, **kwargs: Any) -> Any:
            result = fetch(*args, **kwargs)  # Google answered; the chunk is not written yet
            if not lost_database:
                lost_database.append(1)
                own_postgres.stop()
            return result

        client.fetch = fetch_then_lose_the_database  # type: ignore[method-assign]
        return client

    restarts = own_postgres.restarts
    with use_runtime(lambda: runtime_on(own_postgres, drive_client_factory=drive_client)):
        result = own.harness.run("storage_collect", logical_date=hour(21, 10))
    LEDGER.faults += 1
    assert own_postgres.restarts == restarts + 1 and lost_database == [1]
    assert result.state == "success", result.tasks
    tries = sorted(t["try_number"] for (task, _), t in result.tasks.items() if task == "collect")
    assert tries == [1, 1, 2], "only the shard that lost the database tried again"
    asked = own.emu.stats()["about_by_account"]
    # Asked again: at most the one chunk (40) fetched before the database went away, never more.
    assert set(asked) == {a["email"] for a in accounts} and set(asked.values()) <= {1, 2}, asked
    assert sum(1 for n in asked.values() if n == 2) <= 40, "the retry asked Google only for the unwritten chunk"
    served = {a["email"]: (a["usage"], a["limit"]) for a in accounts}
    LEDGER.check_snapshots(own.engine, hour(21, 9), served)
    LEDGER.check_accounts(own.engine)

    with use_runtime(lambda: runtime_on(own_postgres)):
        following = own.harness.run("storage_collect", logical_date=hour(21, 11))
    assert following.state == "success", following.tasks
    LEDGER.check_snapshots(own.engine, hour(21, 10), served)


def test_postgres_restart_in_the_middle_of_an_alert_dispatch_sends_each_alert_once(
    own: World, own_postgres: RestartablePostgres
):
    own.seed([account(f"full{i}@example.com", usage=int(9.6 * GIB), limit=10 * GIB) for i in range(3)])
    with use_runtime(lambda: runtime_on(own_postgres)):
        assert own.harness.run("storage_collect", logical_date=hour(22, 10)).state == "success"
    pending = own.scalar("SELECT count(*) FROM notification_outbox WHERE status = 'pending'")
    assert pending == 6, "three critical alerts, each to the e-mail and the webhook target"

    waits: list[float] = []

    def lose_the_database_after_the_first_send(message: Any, ok: bool) -> None:
        if ok and own_postgres.running() and not waits:
            own_postgres.stop()  # delivered; the outcome is not recorded yet

    def wait_for_the_database(seconds: float) -> None:
        waits.append(seconds)
        if not own_postgres.running():
            own_postgres.start()

    seams = {"after_send": lose_the_database_after_the_first_send, "sleep": wait_for_the_database}
    with use_runtime(lambda: runtime_on(own_postgres, **seams)):
        result = own.harness.run("alert_dispatch")
    LEDGER.faults += 1
    assert result.state == "success", result.tasks
    assert result.task_state("dispatch") == "success" and result.tasks[("dispatch", -1)]["try_number"] == 1
    counts = result.xcom("dispatch")
    assert (counts["claimed"], counts["sent"], counts["failed"], counts["reclaimed"]) == (6, 6, 0, 0), counts
    assert len(waits) >= 1, "the dispatcher waited for the database instead of giving the row up"
    assert LEDGER.check_deliveries(own.engine, own.receivers) == 6

    with use_runtime(lambda: runtime_on(own_postgres)):
        again = own.harness.run("alert_dispatch")
    assert again.xcom("dispatch")["claimed"] == 0
    assert LEDGER.check_deliveries(own.engine, own.receivers) == 6
