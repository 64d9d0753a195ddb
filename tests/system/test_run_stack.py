"""`make run` end to end: the launcher starts every part on real PostgreSQL, serves health and the
Airflow UI, stops everything on Ctrl-C without orphans, and a second start reuses the data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from support.emulator import sign_in
from support.servers import free_port

from driveguard.config import PROJECT_ROOT
from launcher import embedded

READY_LINE = "Driveguard is running"


def wait_for_overview(api: str, headers: dict[str, str], email: str, within: float) -> dict:
    """The account's row in the storage overview once a collection has stored it."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        body = httpx.get(f"{api}/api/storage/overview", headers=headers, timeout=15).json()
        rows = body["accounts"] if isinstance(body, dict) else body
        found = [row for row in rows if row["email"] == email and row.get("usage_bytes") is not None]
        if found:
            return found[0]
        time.sleep(2)
    pytest.fail(f"no collected storage for {email} within {within}s")


def database_url(env: dict[str, str]) -> str:
    return f"postgresql://postgres@/driveguard?host={Path(env['DRIVEGUARD_VAR_DIR']) / 'postgres'}"


def poll_health(api: str, within: float = 60) -> httpx.Response:
    """The health report once every dependency answers (a loaded 2-core machine can be slow)."""
    deadline = time.monotonic() + within
    while True:
        response = httpx.get(f"{api}/api/health", timeout=15)
        if response.json().get("status") == "ok" or time.monotonic() > deadline:
            return response
        time.sleep(1)


def start_launcher(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "launcher"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_line(proc: subprocess.Popen[bytes], log: Path, line: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if line in text:
            return text
        if proc.poll() is not None:
            pytest.fail(f"launcher exited early ({proc.returncode}):\n{text}")
        time.sleep(0.5)
    pytest.fail(f"launcher not ready in {timeout}s:\n{log.read_text(errors='replace')}")


def interrupt(proc: subprocess.Popen[bytes]) -> set[int]:
    """Ctrl-C as a terminal sends it: SIGINT to the launcher's process group. Returns the pids it had."""
    tree = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=90)
    return tree


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    api, airflow, emulator = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "GOOGLE_", "DRIVEGUARD_", "DATABASE"))}
    env.update(
        {
            "DRIVEGUARD_VAR_DIR": str(tmp_path / "var"),
            "DRIVEGUARD_ENV_FILE": str(tmp_path / "absent.env"),
            "API_PORT": str(api),
            "API_PUBLIC_URL": f"http://127.0.0.1:{api}",
            "GOOGLE_REDIRECT_URI": f"http://127.0.0.1:{api}/auth/callback",
            "AIRFLOW_API_URL": f"http://127.0.0.1:{airflow}",
            "GOOGLE_EMULATOR_URL": f"http://127.0.0.1:{emulator}",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        }
    )
    return env


def test_run_starts_everything_and_ctrl_c_leaves_no_process_behind(stack_env: dict[str, str], tmp_path: Path):
    log = tmp_path / "run.log"
    started = time.monotonic()
    proc = start_launcher(stack_env, log)
    try:
        banner = wait_for_line(proc, log, READY_LINE, timeout=300)
        ready_after = time.monotonic() - started
        api, airflow = stack_env["API_PUBLIC_URL"], stack_env["AIRFLOW_API_URL"]

        health = poll_health(api)
        assert health.status_code == 200
        checks = health.json()["checks"]
        assert checks["database"]["ok"] and checks["migrations"]["ok"]
        assert checks["airflow"]["ok"], checks["airflow"]
        assert checks["google_emulator"]["ok"], checks["google_emulator"]
        assert httpx.get(f"{airflow}/", timeout=10).status_code == 200

        # The banner names the Airflow credentials and they work against Airflow's own API.
        password = next(line for line in banner.splitlines() if "Airflow UI" in line).rsplit(" ", 1)[-1]
        token = httpx.post(f"{airflow}/auth/token", json={"username": "admin", "password": password}, timeout=10)
        assert token.status_code in (200, 201), token.text
        plugins = httpx.get(
            f"{airflow}/api/v2/plugins",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=10,
        )
        driveguard = [p for p in plugins.json()["plugins"] if p["name"] == "driveguard"]
        assert driveguard and any(v["href"].startswith(api) for v in driveguard[0]["external_views"])

        # The banner's API admin credentials give an admin token that opens an admin-only route.
        admin_line = next(line for line in banner.splitlines() if "API admin" in line)
        admin_password = admin_line.rsplit('"password": "', 1)[1].split('"', 1)[0]
        issued = httpx.post(
            f"{api}/api/auth/token",
            json={"grant_type": "password", "username": "admin", "password": admin_password},
            timeout=10,
        )
        assert issued.status_code in (200, 201), issued.text
        detailed = httpx.get(
            f"{api}/api/oauth/detailed-status",
            headers={"Authorization": f"Bearer {issued.json()['access_token']}"},
            timeout=10,
        )
        assert detailed.status_code == 200, detailed.text

        # A person signs in through the emulator's consent page; an admin triggers a collection;
        # Airflow's own scheduler runs the DAG and the account's storage shows in the overview.
        assert sign_in(httpx.Client(timeout=30), api, "bob@gmail.com").status_code in (302, 303)
        admin = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        trigger = httpx.post(
            f"{api}/api/storage/monitoring/control",
            headers=admin,
            json={"action": "trigger", "dag_id": "storage_collect"},
            timeout=30,
        )
        assert trigger.status_code == 202, trigger.text
        bob = wait_for_overview(api, admin, "bob@gmail.com", within=150)
        assert bob["level"] == "warning" and bob["usage_bytes"] > 0
        assert ready_after < 180  # the issue: health and the Airflow UI within 3 minutes
        with psycopg.connect(database_url(stack_env), autocommit=True) as conn:
            conn.execute("INSERT INTO audit_log (actor, action) VALUES ('test', 'marker-before-restart')")
    finally:
        tree = interrupt(proc) if proc.poll() is None else set()

    assert proc.returncode == 0, log.read_text()
    assert tree, "the launcher had started children"
    survivors = [pid for pid in tree if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert survivors == [], [psutil.Process(p).cmdline() for p in survivors]
    assert not embedded.is_running(Path(stack_env["DRIVEGUARD_VAR_DIR"]) / "postgres")

    # A second start reuses the data and the generated secrets.
    local_env = (Path(stack_env["DRIVEGUARD_VAR_DIR"]) / "local.env").read_text()
    second = tmp_path / "run2.log"
    proc = start_launcher(stack_env, second)
    try:
        wait_for_line(proc, second, READY_LINE, timeout=300)
        assert "database migrated to" in second.read_text()
        assert (Path(stack_env["DRIVEGUARD_VAR_DIR"]) / "local.env").read_text() == local_env
        assert httpx.get(f"{stack_env['API_PUBLIC_URL']}/api/health", timeout=10).status_code == 200
        with psycopg.connect(database_url(stack_env)) as conn:
            marker = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'marker-before-restart'").fetchone()
        assert marker == (1,)
    finally:
        if proc.poll() is None:
            interrupt(proc)
