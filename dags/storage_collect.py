"""Collect every active account's Drive storage once per interval, check it, then alert.

Hourly data intervals (CronDataIntervalTimetable): `plan` ensures the month's partition and
cuts the active accounts into keyset shards; `collect` is mapped over the shards in the
`google_api` pool (Drive batches of up to 100 accounts, rate limited, failed parts retried)
and upserts one snapshot per account for the interval; `summarize` stores the counts;
`quality` (great-expectations) quarantines rows that fail a check and measures completeness;
`alerts` then moves the warning levels of every other row and writes the outbox, whether or not
the gate failed the run (the gate holds back only what is wrong). `read_model` then brings the
overview (`storage_latest`) up to the interval whether or not the gate passed. It is an Airflow
teardown task, so it runs once `alerts` is done in any state and does not decide the run's outcome
(a failed `read_model` tells ops). `verdict`, a leaf after `quality`, carries a failed gate into
the run's state. A shard that fails for good does not hold back the others: `summarize`,
`quality`, `alerts` and `read_model` run on what was collected, and `complete` then fails the run.
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

        context = get_current_context()
        ti, rt = context["ti"], runtime()
        recollect = bool(context["params"].get("recollect"))
        counts = pipelines.collect_shard(rt, shard, recollect=recollect)
        return pipelines.finish_collect_try(  # a failed try records its counts before it fails
            rt,
            counts,
            dag_id=ti.dag_id,
            run_id=context["run_id"],
            map_index=ti.map_index,
            try_number=ti.try_number,
            interval=pipelines.Interval.of(shard["interval_start"], shard["interval_end"]),
        )

    @task(trigger_rule="all_done")
    def summarize(shards: list[dict], results: list[dict]) -> dict:
        """Every try's counts (failed tries from pipeline_run, the others' results) and the interval's coverage."""
        from driveguard import pipelines

        context, window = get_current_context(), interval(STEP)
        summary = pipelines.summarize_collection(
            runtime(),
            dag_id=context["ti"].dag_id,
            run_id=context["run_id"],
            interval=window,
            results=results,
            shards=shards,
        )
        return record(summary, window)

    @task(retries=0)
    def quality(shards: list[dict], summary: dict) -> dict:
        """Record the gate's report, then fail (ops told) if rows were quarantined or accounts are missing."""
        from driveguard import pipelines

        window = interval(STEP)
        reasons = {gap["account_id"]: gap["reason"] for gap in summary.get("missing_accounts") or []}
        report = pipelines.check_quality(runtime(), window, reasons=reasons, shards=shards)
        summary = record(report.summary(), window)
        pipelines.enforce_quality(report)
        return summary

    @task(trigger_rule="none_skipped")
    def alerts() -> dict:
        """Runs whatever the gate said (not when the interval was skipped): quarantined rows are left out."""
        from driveguard import pipelines

        window = interval(STEP)
        return record(pipelines.evaluate_alerts(runtime(), window), window)

    @teardown
    def read_model() -> dict:
        """Counts go to XCom only: the status page (pipeline_run) reports collection, quality and alerts."""
        from driveguard import pipelines

        return pipelines.refresh_read_model(runtime(), interval(STEP))

    @task(retries=0)
    def verdict(gate: dict) -> dict:
        """A leaf that runs only when the gate passed: `alerts` runs whatever the gate said, so this is
        what keeps a failed gate (quarantined rows, accounts missing) failing the run, with one ops notice."""
        return {"green": bool(gate.get("success"))}

    @task(trigger_rule="all_done")
    def complete(shards: list[dict], results: list[dict]) -> None:
        """Fail the run (and tell ops) if a shard was lost; the other shards are still checked and alerted on."""
        from driveguard import pipelines

        pipelines.check_all_shards(shards, results)

    shards = plan()
    collected = collect.expand(shard=shards)
    gate = quality(shards, summarize(shards, collected))  # the plan's accounts: a sign-in meanwhile is no gap
    gate >> alerts() >> read_model()
    verdict(gate)
    complete(shards, collected)  # its own leaf: a failed quality gate still fails the run too


storage_collect()
