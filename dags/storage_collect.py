"""Collect every active account's Drive storage once per interval, check it, then alert.

Hourly data intervals (CronDataIntervalTimetable): `plan` ensures the month's partition and
cuts the active accounts into keyset shards; `collect` is mapped over the shards in the
`google_api` pool (Drive batches of up to 100 accounts, rate limited, failed parts retried)
and upserts one snapshot per account for the interval; `summarize` stores the counts;
`quality` (great-expectations) must pass before `alerts` moves the warning levels and
writes the outbox. `read_model` then brings the overview (`storage_latest`) up to the interval
whether or not the gate passed: the gate holds back alerts, not the view of what was measured.
It is an Airflow teardown task, so it runs once `alerts` is done in any state and does not decide
the run's outcome (a failed gate still fails the run through `alerts`; a failed `read_model` tells
ops). A shard that fails for good does not hold back the others: `summarize`, `quality`, `alerts`
and `read_model` run on what was collected, and `complete` then fails the run.
Param `recollect=true` re-asks Google for accounts already collected.
"""

from __future__ import annotations

import datetime as dt

from _common import GOOGLE_POOL, START, default_args, interval, record, runtime
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task, teardown

STEP = dt.timedelta(hours=1)


@dag(
    dag_id="storage_collect",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(minutes=55),
    default_args=default_args(),
    params={"recollect": Param(False, type="boolean", description="collect accounts already collected again")},
    tags=["driveguard", "storage"],
    doc_md=__doc__,
)
def storage_collect() -> None:
    @task
    def plan() -> list[dict]:
        from driveguard import pipelines

        return pipelines.collect_plan(runtime(), interval(STEP))["shards"]

    @task(pool=GOOGLE_POOL, retries=3, retry_delay=dt.timedelta(minutes=1))
    def collect(shard: dict) -> dict:
        from driveguard import pipelines

        recollect = bool(get_current_context()["params"].get("recollect"))
        counts = pipelines.collect_shard(runtime(), shard, recollect=recollect)
        pipelines.check_shard(counts)
        return counts

    @task(trigger_rule="all_done")
    def summarize(results: list[dict]) -> dict:
        from driveguard import pipelines

        return record(pipelines.sum_counts(results), interval(STEP))

    @task(retries=0)
    def quality() -> dict:
        from driveguard import pipelines

        window = interval(STEP)
        return record(pipelines.check_quality(runtime(), window), window)

    @task
    def alerts() -> dict:
        from driveguard import pipelines

        window = interval(STEP)
        return record(pipelines.evaluate_alerts(runtime(), window), window)

    @teardown
    def read_model() -> dict:
        """Counts go to XCom only: the status page (pipeline_run) reports collection, quality and alerts."""
        from driveguard import pipelines

        return pipelines.refresh_read_model(runtime(), interval(STEP))

    @task(trigger_rule="all_done")
    def complete(shards: list[dict], results: list[dict]) -> None:
        """Fail the run (and tell ops) if a shard was lost; the other shards are still checked and alerted on."""
        from driveguard import pipelines

        pipelines.check_all_shards(shards, results)

    shards = plan()
    collected = collect.expand(shard=shards)
    summarize(collected) >> quality() >> alerts() >> read_model()
    complete(shards, collected)  # its own leaf: a failed quality gate still fails the run too


storage_collect()
