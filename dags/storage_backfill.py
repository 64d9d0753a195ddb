"""Fill past days of storage history from Admin Reports for a Workspace domain.

Daily data intervals (CronDataIntervalTimetable), catchup-able: each run stores the day's
`userUsageReport` for every known account (upsert keyed on account and day, source
`reports_usage`, granularity `daily`), signed in as GOOGLE_WORKSPACE_ADMIN_EMAIL. Google
publishes a day 2-3 days late: until then the task is RESCHEDULED (BACKFILL_NOT_READY_RETRY_SECONDS),
never stores zero. Without a configured admin the task is skipped. History:

    airflow backfill create --dag-id storage_backfill --from-date 2026-10-01 --to-date 2026-11-20
"""

from __future__ import annotations

import datetime as dt

from _common import GOOGLE_POOL, START, default_args, interval, record, runtime
from airflow.sdk import CronDataIntervalTimetable, dag, task
from airflow.sdk.exceptions import AirflowException, AirflowRescheduleException, AirflowSkipException

STEP = dt.timedelta(days=1)


@dag(
    dag_id="storage_backfill",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=3,
    default_args=default_args(retries=3, retry_delay=dt.timedelta(minutes=10)),
    tags=["driveguard", "storage", "backfill"],
    doc_md=__doc__,
)
def storage_backfill() -> None:
    @task(pool=GOOGLE_POOL)
    def backfill_day() -> dict:
        from driveguard import pipelines
        from driveguard.google.reports import DataNotYetAvailable

        rt, window = runtime(), interval(STEP)
        try:
            return record(pipelines.backfill_day(rt, window), window)
        except pipelines.BackfillNotConfigured as exc:
            raise AirflowSkipException(str(exc)) from None
        except DataNotYetAvailable as exc:
            again = pipelines.not_ready_reschedule_at(rt, window)
            if again is None:
                raise AirflowException(f"{exc}; gave up waiting") from None
            raise AirflowRescheduleException(again) from None

    backfill_day()


storage_backfill()
