"""`make run` end to end: the launcher starts every part on real PostgreSQL, serves health and the
Airflow UI, stops everything without orphans however it is stopped (Ctrl-C from a script that
ignores SIGINT, SIGTERM to its process group, Ctrl-C twice on a terminal), a second start reuses the
data, and a start after the launcher was killed outright clears what the killed run left running.

Each launcher start costs about half a minute here, so the scenarios share them."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from support.emulator import sign_in
from support.stack import READY_LINE, database_url, start_launcher, wait_for_line

from driveguard.config import PROJECT_ROOT
from launcher import embedded
from launcher.supervisor import port_holders


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


def wait_for_scheduled_collection(env: dict[str, str], within: float) -> None:
    """Until Airflow's own scheduler has run storage_collect (its tasks record `pipeline_run` rows; the
    demo seed, which calls the same task bodies directly, records none)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with psycopg.connect(database_url(env)) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pipeline_run WHERE dag_id = 'storage_collect' AND task_id = 'summarize'"
            ).fetchone()
        if row and row[0] > 0:
            return
        time.sleep(2)
    pytest.fail(f"Airflow's scheduler recorded no storage_collect run within {within}s")


def poll_health(api: str, within: float = 60) -> httpx.Response:
    """The health report once every dependency answers (a loaded 2-core machine can be slow)."""
    deadline = time.monotonic() + within
    while True:
        response = httpx.get(f"{api}/api/health", timeout=15)
        report = response.json()
        if (report.get("signin"), report.get("pipelines")) == ("ok", "ok") or time.monotonic() > deadline:
            return response
        time.sleep(1)


class Terminal:
    """A pseudo-terminal the launcher runs in as session leader, as in a developer's shell: bytes written
    here are typed keys (b"\x03" is Ctrl-C: the line discipline sends SIGINT to the foreground group)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.master, slave = os.openpty()
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "launcher"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # the controlling terminal
        )
        os.close(slave)
        log.touch()
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        """Keep reading: a full pty buffer would block the launcher's prints."""
        with self.log.open("ab") as sink:
            while True:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO once the launcher and its terminal are gone
                    return
                if not chunk:
                    return
                sink.write(chunk)
                sink.flush()

    def press_ctrl_c(self) -> None:
        os.write(self.master, b"\x03")

    def close(self) -> None:
        self.reader.join(timeout=10)
        os.close(self.master)


def stack_tree(proc: subprocess.Popen[bytes], env: dict[str, str]) -> list[psutil.Process]:
    """Every process of a running stack: the launcher's descendants, plus the embedded postmaster and its
    backends (pg_ctl detaches the postmaster, so it is nobody's descendant). psutil handles: a pid reused
    later is never mistaken for a survivor."""
    tree = psutil.Process(proc.pid).children(recursive=True)
    postmaster = embedded.postmaster(Path(env["DRIVEGUARD_VAR_DIR"]) / "postgres")
    if postmaster is not None:
        tree += [postmaster, *postmaster.children(recursive=True)]
    return tree


def name_of(proc: psutil.Process) -> str | None:
    try:
        return proc.name()
    except psutil.NoSuchProcess:
        return None


def survivors(tree: list[psutil.Process]) -> list[str]:
    alive = []
    for proc in tree:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{proc.pid}: {' '.join(proc.cmdline())[:100]}")
        except psutil.NoSuchProcess:
            pass
    return alive


def stack_ports(env: dict[str, str]) -> set[int]:
    return {
        int(env["API_PORT"]),
        int(env["AIRFLOW_API_URL"].rsplit(":", 1)[1]),
        int(env["GOOGLE_EMULATOR_URL"].rsplit(":", 1)[1]),
        int(env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]),
        int(env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"]),
    }


def assert_nothing_left(tree: list[psutil.Process], env: dict[str, str]) -> None:
    assert tree, "the launcher had started children"
    assert survivors(tree) == []
    assert port_holders(stack_ports(env)) == {}, "a port is still held"
    assert not embedded.is_running(Path(env["DRIVEGUARD_VAR_DIR"]) / "postgres")


def interrupt(proc: subprocess.Popen[bytes]) -> set[int]:
    """Ctrl-C as a terminal sends it: SIGINT to the launcher's process group. Returns the pids it had."""
    tree = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=90)
    return tree


def terminate_group(proc: subprocess.Popen[bytes], env: dict[str, str]) -> list[psutil.Process]:
    """What `docker stop`, systemd and a closing terminal do: SIGTERM to the whole process group."""
    tree = stack_tree(proc, env)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=90)
    return tree


@pytest.fixture
def leftovers(stack_env: dict[str, str]):
    """Processes a failing test must not leave on a shared machine: killed at teardown if still alive."""
    tracked: list[psutil.Process] = []
    yield tracked
    for proc in tracked:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    embedded.stop(Path(stack_env["DRIVEGUARD_VAR_DIR"]) / "postgres")


@pytest.mark.timeout(600)  # two starts and a scheduled DAG run: slow on a loaded 2-core machine
def test_run_starts_everything_and_ctrl_c_leaves_no_process_behind(stack_env: dict[str, str], run_dir: Path):
    log = run_dir / "run.log"
    started = time.monotonic()
    # Started as a script's background job would be: Ctrl-C's SIGINT must still stop it.
    proc = start_launcher(stack_env, log, sigint_ignored=True)
    try:
        banner = wait_for_line(proc, log, READY_LINE, timeout=300)
        ready_after = time.monotonic() - started
        api, airflow = stack_env["API_PUBLIC_URL"], stack_env["AIRFLOW_API_URL"]

        health = poll_health(api)
        assert health.status_code == 200
        # Anonymous: up/down and whether sign-in (database, migrations, Google) and pipelines (Airflow) work.
        assert health.json() == {"status": "up", "signin": "ok", "pipelines": "ok"}, health.text
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

        # The banner's first line is the front page a newcomer opens: a page, not a 404.
        front = next(line for line in banner.splitlines() if "Open this" in line).split()[2]
        page = httpx.get(front, timeout=10)
        assert page.status_code == 200 and "Sign in with Google" in page.text, page.text[:300]
        assert httpx.get(f"{api}/admin/login", timeout=10).status_code == 200

        # The demo is not empty: the launcher seeded it (sign-ins, Reports history, one collection)
        # before it said it was running.
        admin = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        assert "demo data ready" in banner, banner
        overview = httpx.get(f"{api}/api/storage/overview", headers=admin, timeout=15).json()
        assert overview["totals"]["accounts"] == 7, overview["totals"]
        assert overview["totals"]["warning"] >= 1 and overview["totals"]["critical"] >= 1, overview["totals"]
        with psycopg.connect(database_url(stack_env)) as conn:
            days = conn.execute(
                "SELECT min(n) FROM (SELECT count(*) AS n FROM storage_snapshot WHERE granularity = 'daily' "
                "GROUP BY account_id) AS per_account"
            ).fetchone()
        assert days is not None and days[0] >= 42, days

        # A person signs in through the emulator's consent page; an admin triggers a collection;
        # Airflow's own scheduler runs the DAG and the account's storage shows in the overview.
        assert sign_in(httpx.Client(timeout=30), api, "bob@gmail.com").status_code in (302, 303)
        trigger = httpx.post(
            f"{api}/api/storage/monitoring/control",
            headers=admin,
            json={"action": "trigger", "dag_id": "storage_collect"},
            timeout=30,
        )
        assert trigger.status_code == 202, trigger.text
        wait_for_scheduled_collection(stack_env, within=150)
        bob = wait_for_overview(api, admin, "bob@gmail.com", within=30)
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

    # A second start reuses the data and the generated secrets; SIGTERM to its group stops it all.
    local_env = (Path(stack_env["DRIVEGUARD_VAR_DIR"]) / "local.env").read_text()
    second = run_dir / "run2.log"
    proc = start_launcher(stack_env, second)
    try:
        wait_for_line(proc, second, READY_LINE, timeout=300)
        assert "database migrated to" in second.read_text()
        assert (Path(stack_env["DRIVEGUARD_VAR_DIR"]) / "local.env").read_text() == local_env
        assert httpx.get(f"{stack_env['API_PUBLIC_URL']}/api/health", timeout=10).status_code == 200
        with psycopg.connect(database_url(stack_env)) as conn:
            marker = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'marker-before-restart'").fetchone()
        assert marker == (1,)
        tree = terminate_group(proc, stack_env)
    finally:
        if proc.poll() is None:
            interrupt(proc)

    assert proc.returncode == 0, second.read_text()
    assert "Traceback" not in second.read_text()
    assert_nothing_left(tree, stack_env)


@pytest.mark.timeout(600)
def test_a_start_after_the_launcher_was_killed_clears_its_leftovers_and_ctrl_c_twice_stops_all(
    stack_env: dict[str, str], run_dir: Path, leftovers: list[psutil.Process]
):
    killed_log = run_dir / "killed.log"
    killed = start_launcher(stack_env, killed_log)
    try:
        wait_for_line(killed, killed_log, READY_LINE, timeout=300)
    finally:
        left_behind = stack_tree(killed, stack_env) if killed.poll() is None else []
        leftovers.extend(left_behind)
        with contextlib.suppress(ProcessLookupError):
            os.kill(killed.pid, signal.SIGKILL)  # the launcher alone: its children are orphaned
        killed.wait(30)
    postgres = {proc.pid for proc in left_behind if name_of(proc) == "postgres"}
    assert survivors(left_behind), "killing the launcher alone leaves its children running"
    assert port_holders(stack_ports(stack_env)), "and they still hold the ports"

    log = run_dir / "terminal.log"
    terminal = Terminal(stack_env, log)
    try:
        output = wait_for_line(terminal.proc, log, READY_LINE, timeout=300)
        assert "a previous run did not stop" in output
        assert "reattaching to the embedded PostgreSQL a previous run left running" in output
        assert [line for line in survivors(left_behind) if int(line.split(":")[0]) not in postgres] == []
        assert httpx.get(f"{stack_env['API_PUBLIC_URL']}/api/health", timeout=10).status_code == 200
        tree = stack_tree(terminal.proc, stack_env)
        leftovers.extend(tree)

        terminal.press_ctrl_c()
        wait_for_line(terminal.proc, log, "Stopping Driveguard", timeout=30)
        terminal.press_ctrl_c()  # impatient: the second Ctrl-C lands in the middle of the stop
        terminal.proc.wait(timeout=90)
    finally:
        if terminal.proc.poll() is None:  # the test failed early: stop it as a process manager would
            os.killpg(terminal.proc.pid, signal.SIGTERM)
            terminal.proc.wait(90)
        terminal.close()

    output = log.read_text(errors="replace")
    assert terminal.proc.returncode == 0, output
    assert "SIGINT received: already stopping" in output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert "Stopped." in output
    assert_nothing_left(left_behind + tree, stack_env)
