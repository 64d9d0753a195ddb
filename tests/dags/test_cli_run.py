"""`driveguard run` triggers a DAG run through Airflow's real REST API v2 (this session's Airflow),
the same service call as the API's monitoring control, audited as the CLI. The installed console
script runs as its own process: Airflow's API server here logs to this process's stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.airflow_harness import AIRFLOW_PASSWORD, AIRFLOW_USER, World

from driveguard.config import PROJECT_ROOT

CONSOLE_SCRIPT = Path(sys.executable).with_name("driveguard")


def driveguard(world: World, airflow_api: str, *args: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "DRIVEGUARD_", "DATABASE_"))}
    env = {**inherited, **world.harness.env, "AIRFLOW_API_URL": airflow_api, "AIRFLOW_USERNAME": AIRFLOW_USER,
           "AIRFLOW_PASSWORD": AIRFLOW_PASSWORD}  # fmt: skip
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )


def test_run_triggers_a_dag_run_in_airflow_and_is_audited(world: World, airflow_api: str):
    result = driveguard(world, airflow_api, "run", "--json")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert sorted(run) == ["dag_id", "dag_run_id", "data_interval_end", "data_interval_start", "state"]
    assert run["dag_id"] == "storage_collect" and run["state"] == "queued" and run["data_interval_end"]

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        stored = session.query(DagRun).filter(DagRun.run_id == run["dag_run_id"]).one()
        assert (stored.dag_id, stored.state) == ("storage_collect", "queued")
    audited = world.rows("SELECT actor, details FROM audit_log WHERE action = 'admin_action'")
    assert [(row["actor"], row["details"]) for row in audited] == [
        ("cli", {"operation": "trigger", "dag_id": "storage_collect"})
    ]

    people = driveguard(world, airflow_api, "run", "token_refresh")
    assert people.returncode == 0, people.stderr
    assert people.stdout.startswith("triggered token_refresh: run ")
