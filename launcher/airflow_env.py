"""What Airflow needs from Driveguard's settings, for the launcher (`make run`) and the tests.

Core code: no Airflow import. The launcher sets `airflow_environment(settings)` in the
environment of every Airflow process and runs `pool_command(settings)` once after
`airflow db migrate`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from driveguard.config import GOOGLE_API_POOL, Settings

OPS_CONNECTION_ENV = "AIRFLOW_CONN_APPRISE_DEFAULT"
EXECUTOR_ENV = "AIRFLOW__CORE__EXECUTOR"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
"""The Celery broker `make run` uses when CeleryExecutor is asked for and AIRFLOW__CELERY__BROKER_URL is unset."""


def ops_connection(urls: tuple[str, ...] | list[str]) -> str:
    """The `apprise_default` Airflow connection (JSON form) that AppriseNotifier reads."""
    return json.dumps(
        {"conn_type": "apprise", "extra": {"config": [{"path": url, "tag": "ops"} for url in urls]}},
        separators=(",", ":"),
    )


def airflow_environment(settings: Settings) -> dict[str, str]:
    """Environment for Airflow processes: the ops notifier connection built from OPS_APPRISE_URLS."""
    env: dict[str, str] = {}
    if settings.monitoring.ops_apprise_urls:
        env[OPS_CONNECTION_ENV] = ops_connection(settings.monitoring.ops_apprise_urls)
    return env


def uses_celery(env: Mapping[str, str]) -> bool:
    """Whether the environment asks Airflow for the CeleryExecutor (by name or by its full import path)."""
    return env.get(EXECUTOR_ENV, "").strip().rsplit(".", 1)[-1] == "CeleryExecutor"


def celery_worker_command(name: str, airflow: Sequence[str] = ("airflow",)) -> list[str]:
    """`airflow celery worker` named `<name>@<host>`: the name shows which worker ran a task
    (Celery's result backend records it), and two workers on one host need different names."""
    return [*airflow, "celery", "worker", "--celery-hostname", f"{name}@%h"]


def pool_command(settings: Settings, airflow: Sequence[str] = ("airflow",)) -> list[str]:
    """`airflow pools set google_api <slots> <description>`: bounds the tasks that call Google.

    `airflow` is how to invoke the CLI, e.g. `(sys.executable, "-m", "airflow")`.
    """
    return [
        *airflow,
        "pools",
        "set",
        GOOGLE_API_POOL,
        str(settings.pipelines.google_pool_slots),
        "Driveguard: tasks that call Google (token refresh, collection, backfill, erasure)",
    ]
