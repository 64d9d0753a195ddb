"""Fill past days of storage history from Admin Reports for a Workspace domain.

Daily data intervals (CronDataIntervalTimetable), catchup-able: each run stores the day's
`userUsageReport` for every known account (upsert keyed on account, day and series: source
`reports_usage`, granularity `daily`, apart from the hourly rows), acting as
GOOGLE_WORKSPACE_ADMIN_EMAIL through the admin's own grant or (BACKFILL_AUTH=service_account) a
service account with domain-wide delegation from the Airflow connection BACKFILL_GCP_CONN_ID.
Google publishes a day 2-3 days late: until then the task is RESCHEDULED
(BACKFILL_NOT_READY_RETRY_SECONDS), never stores zero. A PARTIAL_DATA_AVAILABLE day is stored for
the users present and RESCHEDULED (BACKFILL_PARTIAL_RETRY_SECONDS) until complete or given up
(BACKFILL_PARTIAL_MAX_ATTEMPTS); the counts say which. Every run also fetches again the partial
days whose retry time has come (a killed run's), counted as `swept_*`. Without a configured admin the task is
skipped; a misconfigured service account fails it. History:

    airflow backfill create --dag-id storage_backfill --from-date 2026-10-01 --to-date 2026-11-20
"""

from __future__ import annotations

import datetime as dt

from _common import GOOGLE_POOL, START, default_args, google_connection_credentials, interval, record, runtime
from airflow.sdk import CronDataIntervalTimetable, dag, task
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSkipException,
)

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
        p, credentials = rt.settings.pipelines, None
        if p.backfill_auth == "service_account":
            credentials = google_connection_credentials(p.backfill_gcp_conn_id)
        try:
            counts = record(pipelines.backfill_day(rt, window, credentials=credentials), window)
        except pipelines.BackfillNotConfigured as exc:
            raise AirflowSkipException(str(exc)) from None
        except pipelines.DelegationFailed as exc:
            raise AirflowFailException(str(exc)) from None
        except DataNotYetAvailable as exc:
            again = pipelines.not_ready_reschedule_at(rt, window)
            if again is None:
                raise AirflowException(f"{exc}; gave up waiting") from None
            raise AirflowRescheduleException(again) from None
        if counts["day_status"] == "partial":  # stored what is there; fetch the day again later
            raise AirflowRescheduleException(pipelines.partial_reschedule_at(rt))
        return counts

    backfill_day()


storage_backfill()
