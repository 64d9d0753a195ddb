"""Daily upkeep: ended sessions, raw snapshots downsampled to daily rows, delivered outbox rows,
old audit rows, the coming months' snapshot partitions, and GDPR erasure requests.

One task per step, each returning how many rows it touched (XCom and `pipeline_run`).
"""

from __future__ import annotations

from _common import GOOGLE_POOL, START, default_args, record, runtime
from airflow.sdk import dag, task


def _step(name: str, **task_kwargs):
    @task(task_id=name, **task_kwargs)
    def run() -> dict:
        from driveguard import pipelines

        return record(pipelines.cleanup_step(runtime(), name))

    return run()


@dag(
    dag_id="cleanup",
    schedule="30 3 * * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["driveguard", "maintenance"],
    doc_md=__doc__,
)
def cleanup() -> None:
    _step("ensure_partitions") >> _step("downsample_snapshots")
    _step("delete_dead_sessions")
    _step("prune_outbox")
    _step("prune_audit")
    _step("erase_requested_accounts", pool=GOOGLE_POOL)


cleanup()
