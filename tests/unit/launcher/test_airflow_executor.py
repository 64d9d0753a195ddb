"""The launcher's executor: LocalExecutor unless the environment asks for CeleryExecutor, which then
gets a broker on this machine's Redis (unless one is given) and a named local worker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from driveguard.config import load_settings
from launcher.airflow_env import DEFAULT_BROKER_URL, celery_worker_command, uses_celery
from launcher.supervisor import Stack, build_environment


def airflow_env_of(tmp_path: Path, **given: str) -> dict[str, str]:
    env = build_environment({"DRIVEGUARD_VAR_DIR": str(tmp_path / "var"), **given}, root=tmp_path)
    stack = Stack(env, load_settings(env, env_file=os.devnull), out=lambda _line: None)
    stack.airflow_environment()
    return stack.env


def test_local_executor_by_default(tmp_path: Path):
    env = airflow_env_of(tmp_path)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert not uses_celery(env)
    assert "AIRFLOW__CELERY__BROKER_URL" not in env


def test_celery_executor_when_asked_with_this_machines_redis_unless_a_broker_is_given(tmp_path: Path):
    env = airflow_env_of(tmp_path / "a", AIRFLOW__CORE__EXECUTOR="CeleryExecutor")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor" and uses_celery(env)
    assert env["AIRFLOW__CELERY__BROKER_URL"] == DEFAULT_BROKER_URL == "redis://127.0.0.1:6379/0"

    given = airflow_env_of(
        tmp_path / "b",
        AIRFLOW__CORE__EXECUTOR="airflow.providers.celery.executors.celery_executor.CeleryExecutor",
        AIRFLOW__CELERY__BROKER_URL="redis://broker.internal:6379/3",
    )
    assert uses_celery(given)
    assert given["AIRFLOW__CELERY__BROKER_URL"] == "redis://broker.internal:6379/3"


@pytest.mark.parametrize("executor", ["LocalExecutor", "CeleryKubernetesExecutor", ""])
def test_other_executors_are_not_celery(executor: str):
    assert not uses_celery({"AIRFLOW__CORE__EXECUTOR": executor})


def test_worker_command_names_the_worker_per_host():
    assert celery_worker_command("local", ("python", "-m", "airflow")) == [
        "python",
        "-m",
        "airflow",
        "celery",
        "worker",
        "--celery-hostname",
        "local@%h",
    ]
