"""What every Driveguard DAG shares: owner, retries, the ops failure notifier, the Google pool,
and the data interval a task works on. Airflow-side glue only; the logic is in `driveguard`.

Nothing here touches a database or the network at import (DAG files are parsed often).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.providers.apprise.notifications.apprise import AppriseNotifier
from airflow.sdk import get_current_context

from driveguard.config import GOOGLE_API_POOL

OWNER = "driveguard"
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
GOOGLE_POOL = GOOGLE_API_POOL
OPS_CONN_ID = "apprise_default"
"""Built by the launcher from OPS_APPRISE_URLS (AIRFLOW_CONN_APPRISE_DEFAULT)."""

OPS_TITLE = "Driveguard pipeline failed: {{ dag.dag_id }}.{{ ti.task_id }}"
OPS_BODY = (
    "Task {{ ti.task_id }} (map index {{ ti.map_index }}, try {{ ti.try_number }}) of DAG {{ dag.dag_id }} "
    "failed in run {{ run_id }}.\nData interval: {{ data_interval_start }} - {{ data_interval_end }}\n"
    "Exception: {{ exception }}"
)


def ops_notifier(context: Any) -> None:
    """Tell ops about a failed task through the apprise provider's notifier (`on_failure_callback`).

    A new AppriseNotifier per failure: a notifier renders its templated title and body in place, so
    one shared instance would send its first failure's text for every later failure in the same
    process (tests, and any worker that runs several tasks)."""
    AppriseNotifier(apprise_conn_id=OPS_CONN_ID, title=OPS_TITLE, body=OPS_BODY, notify_type="failure")(context)


def default_args(retries: int = 2, retry_delay: dt.timedelta = dt.timedelta(minutes=2), **extra: Any) -> dict[str, Any]:
    return {
        "owner": OWNER,
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=30),
        "on_failure_callback": ops_notifier,
        **extra,
    }


def runtime() -> Any:
    from driveguard import pipelines

    return pipelines.runtime()


def interval(step: dt.timedelta) -> Any:
    """The run's data interval; manual runs without one use the last complete `step` before run_after."""
    from driveguard.storage.interval import Interval, floor_interval

    context = get_current_context()
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is not None and end is not None and end > start:
        return Interval.of(start, end)
    return floor_interval(context["dag_run"].run_after, step)


def google_connection_credentials(conn_id: str) -> Any:
    """A service account's credentials from Airflow's Google connection (`google_cloud_platform`,
    keyfile JSON in the extras), built by apache-airflow-providers-google's GoogleBaseHook. Fails
    closed: a missing connection or one without a key stops the task instead of falling back to
    application default credentials."""
    from airflow.providers.google.common.hooks.base_google import GoogleBaseHook
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    try:
        hook = GoogleBaseHook(gcp_conn_id=conn_id)
    except AirflowException as exc:
        raise AirflowFailException(f"BACKFILL_AUTH=service_account: connection {conn_id!r}: {exc}") from None
    if not (hook._get_field("keyfile_dict") or hook._get_field("key_path")):
        raise AirflowFailException(
            f"BACKFILL_AUTH=service_account: connection {conn_id!r} has no service account key (keyfile_dict)"
        )
    return hook.get_credentials()


def record(counts: dict[str, Any], window: Any = None) -> dict[str, Any]:
    """Store the task's counts in `pipeline_run` and hand them back (the XCom shown in the UI)."""
    from driveguard import pipelines

    context = get_current_context()
    ti = context["ti"]
    task_id = ti.task_id if ti.map_index is None or ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
    pipelines.record_run(
        pipelines.runtime(),
        dag_id=ti.dag_id,
        run_id=context["run_id"],
        task_id=task_id,
        counts=counts,
        interval=window,
    )
    return counts
