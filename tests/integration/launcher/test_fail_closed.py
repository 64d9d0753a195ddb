"""Fail closed (issue #11, item 4): outside the launcher and the tests, no DATABASE_URL means no start,
with a message naming the variable; nothing falls back to an embedded PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.settings import required_env

from driveguard import pipelines
from driveguard.config import PROJECT_ROOT, ConfigError


def settings_without_database(var_dir: Path) -> dict[str, str]:
    """Valid settings in every respect but the database."""
    return required_env(
        DRIVEGUARD_VAR_DIR=str(var_dir),
        GOOGLE_EMULATOR_URL="http://127.0.0.1:9",
        AIRFLOW_API_URL="http://127.0.0.1:9",
    )


def test_the_api_without_database_url_exits_with_a_message_naming_it(tmp_path: Path):
    var_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIVEGUARD_", "DATABASE", "GOOGLE_", "AIRFLOW"))}
    env.update(settings_without_database(var_dir))
    env["API_PORT"] = "9"  # were it to serve anyway, it could not even bind

    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "api"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    took = time.monotonic() - started

    assert result.returncode == 2, result.stdout + result.stderr
    assert "DATABASE_URL is required" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert took < 60  # an import and a settings check, not a server start and a timeout
    assert not (var_dir / "postgres" / "postmaster.pid").exists()
    assert not (var_dir / "postgres").exists(), "no embedded PostgreSQL is initialised outside the launcher"


def test_a_dag_task_runtime_without_database_url_raises_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in [k for k in os.environ if k.startswith(("DRIVEGUARD_", "DATABASE", "GOOGLE_", "AIRFLOW_"))]:
        monkeypatch.delenv(name)
    for name, value in settings_without_database(tmp_path / "var").items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError, match="DATABASE_URL is required"):
        pipelines.runtime()
    assert not (tmp_path / "var" / "postgres").exists()
