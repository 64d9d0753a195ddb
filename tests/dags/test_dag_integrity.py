"""Every DAG file imports cleanly, fast, without touching a database or the network, and declares
its owner, retries, tags and pools. Parsed in a fresh interpreter, like Airflow's DAG processor,
with the database pointing nowhere and sockets refused."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from driveguard.config import GOOGLE_API_POOL, PROJECT_ROOT

DAGS = PROJECT_ROOT / "dags"
EXPECTED = {"token_refresh", "storage_collect", "storage_backfill", "alert_dispatch", "cleanup"}

PARSE = textwrap.dedent(
    """
    import json, socket, sys, time
    from pathlib import Path
    import airflow  # noqa: F401 - Airflow itself may set things up; DAG files may not
    from airflow.dag_processing.dagbag import BundleDagBag

    def refuse(self, address):
        raise RuntimeError(f"network or database access while importing a DAG file: {address!r}")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    folder = Path(sys.argv[1])
    started = time.perf_counter()
    bag = BundleDagBag(dag_folder=str(folder), bundle_path=folder, known_pools={"default_pool", sys.argv[2]})
    total = time.perf_counter() - started
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "file": Path(dag.fileloc).name,
            "tags": sorted(dag.tags),
            "timetable": type(dag.timetable).__name__,
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "has_doc": bool(dag.doc_md),
            "tasks": {
                t.task_id: {"owner": t.owner, "retries": t.retries, "pool": t.pool,
                            "trigger_rule": getattr(t.trigger_rule, "value", t.trigger_rule),
                            "upstream": sorted(t.upstream_task_ids), "teardown": t.is_teardown,
                            "callbacks": len(t.on_failure_callback or [])
                            if isinstance(t.on_failure_callback, list) else int(bool(t.on_failure_callback))}
                for t in dag.tasks
            },
        }
    stats = [{"file": Path(s.file).name, "seconds": s.duration.total_seconds(), "dags": s.dag_num}
             for s in bag.dagbag_stats]
    print("RESULT" + json.dumps({"errors": {str(k): v for k, v in bag.import_errors.items()}, "dags": dags,
                                  "stats": stats, "total": total}))
    """
)


def parse(folder: Path, home: Path) -> dict:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg://nobody@127.0.0.1:9/nowhere",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": "postgresql+psycopg://nobody@127.0.0.1:9/nowhere",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/nowhere",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    out = subprocess.run(
        [sys.executable, "-c", PARSE, str(folder), GOOGLE_API_POOL],
        env=env, capture_output=True, text=True, timeout=120, cwd=str(home),
    )  # fmt: skip
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line is not None, f"parse failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return json.loads(line[len("RESULT") :])


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return parse(DAGS, tmp_path_factory.mktemp("airflow_parse"))


def test_the_parse_check_does_catch_io_at_import(tmp_path: Path):
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "chatty.py").write_text(
        "import socket\nfrom airflow.sdk import dag\nsocket.create_connection(('127.0.0.1', 9))\n"
        "@dag(schedule=None)\ndef chatty():\n    pass\nchatty()\n"
    )
    result = parse(folder, tmp_path)
    assert "network or database access" in next(iter(result["errors"].values()))


def test_every_dag_file_imports_without_errors_or_io(parsed: dict):
    assert parsed["errors"] == {}
    assert set(parsed["dags"]) == EXPECTED
    dag_files = {p.name for p in DAGS.glob("*.py") if not p.name.startswith("_")}
    assert {d["file"] for d in parsed["dags"].values()} == dag_files  # one DAG per file


def test_each_dag_file_imports_fast(parsed: dict):
    slow = {s["file"]: s["seconds"] for s in parsed["stats"] if s["seconds"] >= 2.0}
    assert slow == {}, f"DAG files slower than 2 s to import: {slow}"


def test_dags_declare_owner_retries_tags_pools_and_ops_notifications(parsed: dict):
    for dag_id, dag in parsed["dags"].items():
        assert "driveguard" in dag["tags"], dag_id
        assert dag["has_doc"], dag_id
        assert dag["max_active_runs"] >= 1
        for task_id, task in dag["tasks"].items():
            assert task["owner"] == "driveguard", (dag_id, task_id)
            assert task["callbacks"] >= 1, (dag_id, task_id)  # the apprise ops notifier
            assert task["retries"] >= 0
        assert any(t["retries"] > 0 for t in dag["tasks"].values()), dag_id
    google_tasks = {
        ("token_refresh", "refresh"), ("storage_collect", "collect"), ("storage_backfill", "backfill_day"),
        ("cleanup", "erase_requested_accounts"),
    }  # fmt: skip
    for dag_id, task_id in google_tasks:
        assert parsed["dags"][dag_id]["tasks"][task_id]["pool"] == GOOGLE_API_POOL
    assert parsed["dags"]["storage_collect"]["timetable"] == "CronDataIntervalTimetable"
    assert parsed["dags"]["storage_backfill"]["timetable"] == "CronDataIntervalTimetable"
    assert parsed["dags"]["storage_collect"]["tasks"]["quality"]["retries"] == 0


def test_a_lost_collect_shard_does_not_hold_back_alerts_for_everyone_else(parsed: dict):
    tasks = parsed["dags"]["storage_collect"]["tasks"]
    # summarize runs whatever the shards did and quality and alerts follow it; `complete`, a leaf of its
    # own, fails the run for a lost shard (and a failed quality gate still fails it through `alerts`).
    assert tasks["summarize"]["trigger_rule"] == "all_done" and "collect" in tasks["summarize"]["upstream"]
    # (quality also reads the plan: it measures completeness over the accounts the plan sharded)
    assert sorted(tasks["quality"]["upstream"]) == ["plan", "summarize"] and tasks["alerts"]["upstream"] == ["quality"]
    assert tasks["complete"]["trigger_rule"] == "all_done" and "collect" in tasks["complete"]["upstream"]
    assert "alerts" not in tasks["complete"]["upstream"]


def test_the_overview_read_model_follows_every_interval_whatever_the_quality_gate_says(parsed: dict):
    tasks = parsed["dags"]["storage_collect"]["tasks"]
    # After alerts (so it shows the interval's levels), in any state of theirs; as a teardown it does
    # not decide the run's outcome, so a failed gate still fails the run through `alerts`.
    read_model = tasks["read_model"]
    assert read_model["upstream"] == ["alerts"] and read_model["teardown"]
    assert read_model["trigger_rule"] == "all_done_setup_success"
    assert not any(t["teardown"] for task_id, t in tasks.items() if task_id != "read_model")


def test_airflowignore_keeps_helpers_out_of_parsing():
    ignored = (Path(DAGS) / ".airflowignore").read_text()
    assert "_common" in ignored
