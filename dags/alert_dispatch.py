"""Deliver pending alert notifications from the outbox through apprise, every 5 minutes.

First `grant_notices` queues the notices of grants that died (`reauth_required`) or came back
since the last run (one per account and episode, in the outbox); then `dispatch` delivers, also
when `grant_notices` failed (its failure goes to ops through the failure callback): a broken
grant sweep must not hold back storage alerts. `notices_queued`, a leaf after `grant_notices`,
keeps such a run failed: a run that missed work is never green.

Rows are claimed with FOR UPDATE SKIP LOCKED and marked `sending` before the send, `sent`
after it; failures stay visible as `failed` and are retried with capped backoff. The counts
(claimed, sent, failed, reclaimed, released, lost_claim, exhausted, gave_up) go to XCom and `pipeline_run`.
"""

from __future__ import annotations

import datetime as dt

from _common import START, default_args, record, runtime
from airflow.sdk import dag, task


@dag(
    dag_id="alert_dispatch",
    schedule="*/5 * * * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(minutes=30),
    default_args=default_args(retries=1, retry_delay=dt.timedelta(minutes=1)),
    tags=["driveguard", "alerts"],
    doc_md=__doc__,
)
def alert_dispatch() -> None:
    @task
    def grant_notices() -> dict:
        from driveguard import pipelines

        return record(pipelines.grant_notices(runtime()))

    @task(trigger_rule="all_done")
    def dispatch() -> dict:
        from driveguard import pipelines

        return record(pipelines.dispatch_notifications(runtime()))

    @task(retries=0)
    def notices_queued(counts: dict) -> dict:
        """A leaf that runs only when the grant sweep succeeded: `dispatch` runs either way, so this is
        what carries a failed sweep into the run's state."""
        return counts

    notices = grant_notices()
    notices >> dispatch()
    notices_queued(notices)


alert_dispatch()
