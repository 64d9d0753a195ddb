"""Keep every active account's Google access token fresh.

Every 10 minutes: `plan` lists the accounts whose token expires before the next run plus the
margin (`refresh_margin_minutes`), cut into keyset shards; `refresh` is mapped over the
shards in the `google_api` pool and asks the token service to refresh each account (one
refresh per account across all processes); `summarize` adds the counts (refreshed, skipped,
failed, reauth_required) and stores them in `pipeline_run`, then fails the run if a shard was lost
or an account could not be refreshed (Google failing): a pass that missed work is never green.
"""

from __future__ import annotations

import datetime as dt

from _common import GOOGLE_POOL, START, default_args, record, runtime
from airflow.sdk import dag, task

PERIOD = dt.timedelta(minutes=10)


@dag(
    dag_id="token_refresh",
    schedule="*/10 * * * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(minutes=30),
    default_args=default_args(retries=1, retry_delay=dt.timedelta(minutes=1)),
    tags=["driveguard", "tokens"],
    doc_md=__doc__,
)
def token_refresh() -> None:
    @task
    def plan() -> list[dict]:
        from driveguard import pipelines

        return pipelines.refresh_plan(runtime(), period=PERIOD)["shards"]

    @task(pool=GOOGLE_POOL)
    def refresh(shard: dict) -> dict:
        from driveguard import pipelines

        return pipelines.refresh_shard(runtime(), shard)

    @task(trigger_rule="all_done")
    def summarize(shards: list[dict], results: list[dict]) -> dict:
        from driveguard import pipelines

        counts = record(pipelines.sum_counts(results))
        pipelines.check_all_shards(shards, results)  # counts are kept; a lost shard still fails the run
        pipelines.check_refresh_pass(counts)  # so does an account Google would not refresh
        return counts

    shards = plan()
    summarize(shards, refresh.expand(shard=shards))


token_refresh()
