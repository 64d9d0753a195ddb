"""Before starting anything the launcher clears what a killed run left: its marked orphans are stopped,
a port held by anything else stops the start with the port and pid named, and that process lives on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from support.servers import free_port

from driveguard.config import PROJECT_ROOT, load_settings
from launcher.supervisor import LAUNCHER_PID_ENV, Stack, StartRefused, build_environment, port_holders

LISTENER = "import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); print('ready', flush=True); time.sleep(300)"  # noqa: E501


@pytest.fixture
def launcher_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "GOOGLE_", "DRIVEGUARD_", "DATABASE"))}
    env.update(
        {
            "DRIVEGUARD_VAR_DIR": str(tmp_path / "var"),
            "DRIVEGUARD_ENV_FILE": str(tmp_path / "absent.env"),
            "API_PORT": str(free_port()),
            "AIRFLOW_API_URL": f"http://127.0.0.1:{free_port()}",
            "GOOGLE_EMULATOR_URL": f"http://127.0.0.1:{free_port()}",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        }
    )
    return env


@pytest.fixture
def listeners() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def listen(port: int, env: dict[str, str], started: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", LISTENER, str(port)], env=env, stdout=subprocess.PIPE, text=True)
    started.append(proc)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def make_stack(environ: dict[str, str], lines: list[str]) -> Stack:
    env = build_environment(environ, root=PROJECT_ROOT)
    return Stack(env, load_settings(env, env_file=os.devnull), lines.append)


def test_orphans_of_a_killed_run_are_stopped_and_their_ports_freed(launcher_env, listeners):
    lines: list[str] = []
    stack = make_stack(launcher_env, lines)
    var_dir = str(stack.var_dir)
    dead_launcher = {**launcher_env, "DRIVEGUARD_VAR_DIR": var_dir, LAUNCHER_PID_ENV: str(2**22 + 7)}
    api_orphan = listen(int(launcher_env["API_PORT"]), dead_launcher, listeners)
    task_orphan = listen(free_port(), dead_launcher, listeners)  # e.g. an Airflow task process: no planned port
    other_var_dir = listen(free_port(), {**dead_launcher, "DRIVEGUARD_VAR_DIR": "/elsewhere"}, listeners)

    stack.clear_previous_run()

    assert api_orphan.wait(15) is not None and task_orphan.wait(15) is not None
    reported = [line for line in lines if "a previous run did not stop" in line]
    assert reported, lines
    assert set(reported[0].rsplit("(pids ", 1)[1].rstrip(")").split(", ")) == {
        str(api_orphan.pid),
        str(task_orphan.pid),
    }
    assert other_var_dir.poll() is None, "another var directory's processes are not ours"


def test_orphans_named_by_the_run_record_are_stopped_with_their_children(launcher_env, listeners):
    """Airflow's processes retitle themselves, which blanks their visible environment: the run record
    (pid and start time of every process) still finds them, and their children go with them."""
    stack = make_stack(launcher_env, [])
    port = int(launcher_env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"])
    unmarked = {k: v for k, v in launcher_env.items() if k != "DRIVEGUARD_VAR_DIR"}
    spawner = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {LISTENER!r}, sys.argv[1]])"
    parent = subprocess.Popen(
        [sys.executable, "-c", spawner, str(port)], env=unmarked, stdout=subprocess.PIPE, text=True
    )
    listeners.append(parent)
    assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"  # the child serves
    server = psutil.Process(parent.pid)
    log_server = server.children()[0]
    reused = listen(free_port(), unmarked, listeners)  # a pid the record names, now another program's
    stack.record.write_text(
        json.dumps(
            [
                {"pid": server.pid, "started": server.create_time()},
                {"pid": reused.pid, "started": psutil.Process(reused.pid).create_time() - 3600},
            ]
        )
    )

    stack.clear_previous_run()

    assert parent.wait(15) is not None
    assert not log_server.is_running(), "the orphan's child, reparented when its parent died, went too"
    assert port_holders({port}) == {}
    assert reused.poll() is None, "a reused pid is never signalled"


def test_a_port_held_by_a_foreign_process_refuses_the_start_and_spares_it(launcher_env, listeners):
    stack = make_stack(launcher_env, [])
    port = int(launcher_env["AIRFLOW_API_URL"].rsplit(":", 1)[1])
    # Same var directory but no launcher's mark: someone's own `python -m ...`, never ours to stop.
    foreign = listen(port, {**launcher_env, "DRIVEGUARD_VAR_DIR": str(stack.var_dir)}, listeners)

    with pytest.raises(StartRefused) as refused:
        stack.clear_previous_run()

    message = str(refused.value)
    assert f"port {port} (AIRFLOW_API_URL) is in use by pid {foreign.pid}" in message
    assert foreign.poll() is None


def test_the_launcher_exits_naming_the_port_before_starting_anything(launcher_env, listeners, tmp_path: Path):
    port = int(launcher_env["API_PORT"])
    foreign = listen(port, {k: v for k, v in os.environ.items() if not k.startswith("DRIVEGUARD_")}, listeners)

    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "launcher"],
        cwd=PROJECT_ROOT,
        env=launcher_env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"port {port} (API_PORT) is in use by pid {foreign.pid}" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert time.monotonic() - started < 60
    assert foreign.poll() is None and psutil.pid_exists(foreign.pid)
    assert not (tmp_path / "var" / "postgres").exists(), "no database was started"
