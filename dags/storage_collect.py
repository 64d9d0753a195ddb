"""Collect every active account's Drive storage once per interval, check it, then alert.

Hourly data intervals (CronDataIntervalTimetable): `plan` ensures the month's partition and
cuts the active accounts into keyset shards; `collect` is mapped over the shards in the
`google_api` pool (Drive batches of up to 100 accounts, rate limited, failed parts retried)
and upserts one snapshot per account for the interval; `summarize` stores the counts;
`quality` (great-expectations) must pass before `alerts` moves the warning levels and
writes the outbox. Param `recollect=true` re-asks Google for accounts already collected.
"""

from __future__ import annotations

import datetime as dt

from _common import GOOGLE_POOL, START, default_args, interval, record, runtime
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

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

    @task
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

    summarize(collect.expand(shard=plan())) >> quality() >> alerts()


storage_collect()
