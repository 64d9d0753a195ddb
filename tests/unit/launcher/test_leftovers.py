"""What a killed run leaves behind: a stale postmaster.pid, a locked var directory, marked processes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from driveguard.config import load_settings
from launcher import embedded
from launcher.supervisor import (
    LAUNCHER_PID_ENV,
    StartRefused,
    build_environment,
    claim_var_dir,
    planned_ports,
    started_by_launcher,
)


def write_postmaster_pid(data_dir: Path, pid: int, started: float) -> None:
    data_dir.mkdir(parents=True)
    lines = [str(pid), str(data_dir), str(int(started)), "5432", str(data_dir), "", "0 0", "ready"]
    (data_dir / "postmaster.pid").write_text("\n".join(lines) + "\n")


def test_a_postmaster_pid_naming_another_program_is_stale_and_removed(tmp_path: Path):
    data_dir = tmp_path / "postgres"
    # After a crash and a reboot the pid may belong to anything: here, this very test process.
    write_postmaster_pid(data_dir, os.getpid(), time.time())

    assert not embedded.is_running(data_dir)
    embedded.stop(data_dir)  # must not signal the process that reused the pid (we would be interrupted)
    assert embedded.remove_stale_pidfile(data_dir) == os.getpid()
    assert not (data_dir / "postmaster.pid").exists()
    assert embedded.remove_stale_pidfile(data_dir) is None


def test_a_postmaster_pid_of_a_dead_process_is_stale(tmp_path: Path):
    data_dir = tmp_path / "postgres"
    write_postmaster_pid(data_dir, 2**22 + 12345, time.time())  # above any pid_max this machine hands out

    assert embedded.stale_pid(data_dir) == 2**22 + 12345
    assert not embedded.is_running(data_dir)


def test_a_second_launcher_on_the_same_var_dir_is_refused_naming_the_first(tmp_path: Path):
    first = claim_var_dir(tmp_path)
    try:
        with pytest.raises(StartRefused, match=rf"another launcher \(pid {os.getpid()}\) is running"):
            claim_var_dir(tmp_path)
    finally:
        first.close()
    claim_var_dir(tmp_path).close()  # the lock goes with its holder


def test_only_processes_a_launcher_started_in_this_var_dir_count_as_ours(tmp_path: Path):
    var_dir = tmp_path / "var"
    assert started_by_launcher({LAUNCHER_PID_ENV: "4242", "DRIVEGUARD_VAR_DIR": str(var_dir)}, var_dir)
    assert not started_by_launcher({"DRIVEGUARD_VAR_DIR": str(var_dir)}, var_dir)  # e.g. `python -m api` by hand
    assert not started_by_launcher({LAUNCHER_PID_ENV: "4242", "DRIVEGUARD_VAR_DIR": "/elsewhere"}, var_dir)


def test_the_ports_checked_before_a_start_are_the_ones_the_children_will_use(tmp_path: Path):
    env = build_environment(
        {
            "DRIVEGUARD_VAR_DIR": str(tmp_path / "var"),
            "API_PORT": "18000",
            "AIRFLOW_API_URL": "http://127.0.0.1:18080",
            "GOOGLE_EMULATOR_URL": "http://127.0.0.1:18090",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "18793",
        },
        root=tmp_path,
    )
    ports = planned_ports(load_settings(env, env_file=os.devnull), env)

    assert ports == {
        18000: "API_PORT",
        18080: "AIRFLOW_API_URL",
        18090: "GOOGLE_EMULATOR_URL",
        18793: "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
        8794: "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
    }
