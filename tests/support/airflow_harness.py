"""The Airflow harness: real DAG runs (`dag.test()`) against real PostgreSQL and the emulator.

- Airflow's metadata database is real PostgreSQL: a template database migrated once per
  Airflow version with `airflow db migrate` (kept on the test server as `airflow_tpl_<version>`;
  built under a temporary name and renamed when complete), then one `CREATE DATABASE … TEMPLATE`
  per session (well under a second).
- Airflow reads its configuration when first imported, so the session fixture sets AIRFLOW_HOME,
  both SQLAlchemy URLs (psycopg 3, sync and async), the DAG folder and the rest of the
  environment BEFORE importing airflow. DAG runs happen in this process (measured: a subprocess
  per run would pay ~8 s of imports each time); nothing else in the suite imports airflow.
- Driveguard's own database comes from the `database_url` fixture; DAG tasks read DATABASE_URL
  and every other setting from the environment when they run.
- The emulator, a real SMTP server and a real HTTP receiver run for the whole session;
  `world` resets them and the database before each test.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine, text

from driveguard.config import PROJECT_ROOT, SCOPE_DRIVE_METADATA, Settings
from launcher import embedded
from support.database import PostgresForTests
from support.emulator_admin import AdminClient

AIRFLOW_VERSION = importlib.metadata.version("apache-airflow")
TEMPLATE = "airflow_tpl_" + AIRFLOW_VERSION.replace(".", "_")
DAGS_FOLDER = PROJECT_ROOT / "dags"
CLIENT_ID = "driveguard-dags.apps.googleusercontent.com"
CLIENT_SECRET = "driveguard-dags-secret"
REDIRECT_URI = "http://127.0.0.1:8000/auth/callback"
ADMIN_EMAIL = "admin@acme.example"
AIRFLOW_USER = "dgadmin"
AIRFLOW_PASSWORD = "dgadmin-test-password"
LOGIN_SCOPES = ["openid", "email", "profile", SCOPE_DRIVE_METADATA]


def airflow_base_env(home: Path, url: str) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": url,
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__FERNET_KEY": "wiF7nV6B9rT7zq9m3m0G5wS6qQ2oO6b3l4Yc3M7kQkQ=",
        "AIRFLOW__API_AUTH__JWT_SECRET": "driveguard-tests-jwt-secret-" + "0123456789abcdef" * 3,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{AIRFLOW_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
    }


def ensure_template(server: PostgresForTests, home: Path) -> str:
    """The migrated Airflow template database for this Airflow version (built once, ever)."""
    admin_url = embedded.libpq_url(server.url_for("postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,)).fetchone():
            return TEMPLATE
    building = server.create_database(f"{TEMPLATE}_building")
    env = {**os.environ, **airflow_base_env(home, server.url_for(building))}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        server.drop_database(building)
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        try:
            conn.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(building), sql.Identifier(TEMPLATE))
            )
        except psycopg.errors.DuplicateDatabase:  # another session finished first
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(building)))
    return TEMPLATE


@dataclass
class RunResult:
    dag_id: str
    run_id: str
    state: str
    tasks: dict[tuple[str, int], dict[str, Any]]
    xcoms: dict[tuple[str, int], Any]

    def task_state(self, task_id: str, map_index: int = -1) -> str | None:
        entry = self.tasks.get((task_id, map_index))
        return entry["state"] if entry else None

    def xcom(self, task_id: str, map_index: int = -1) -> Any:
        return self.xcoms.get((task_id, map_index))

    def mapped(self, task_id: str) -> list[Any]:
        return [v for (t, i), v in sorted(self.xcoms.items()) if t == task_id and i >= 0]


@dataclass
class Harness:
    """Runs DAGs from dags/ with dag.test() in this process."""

    airflow_url: str
    env: dict[str, str]
    bag: Any = None
    timings: dict[str, list[float]] = field(default_factory=dict)

    def dag(self, dag_id: str) -> Any:
        dag = self.bag.get_dag(dag_id)
        assert dag is not None, f"no DAG {dag_id}: {self.bag.import_errors}"
        return dag

    def run(
        self,
        dag_id: str,
        *,
        logical_date: dt.datetime | None = None,
        conf: dict | None = None,
        dag: Any = None,
        before_each_try: Mapping[str, Callable[[Any], None]] | None = None,
    ) -> RunResult:
        """One DAG run to its end. `before_each_try` maps task ids to a callable that gets the task's
        context right before each try (Airflow's pre-execute hook): the moment between a refused try
        and its retry or reschedule, where a test lets the world change, without threads or sleeps."""
        import time

        from airflow.models.taskinstance import TaskInstance
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        dag = dag or self.dag(dag_id)
        for task in dag.tasks:  # keep the retries, not the minutes of waiting between them
            task.retry_delay = dt.timedelta(seconds=1)
            task.retry_exponential_backoff = False
        hooked = {task_id: dag.task_dict[task_id] for task_id in before_each_try or {}}
        saved = {task_id: task._pre_execute_hook for task_id, task in hooked.items()}
        for task_id, task in hooked.items():
            task._pre_execute_hook = (before_each_try or {})[task_id]
        started = time.perf_counter()
        try:
            dag_run = dag.test(logical_date=logical_date, run_conf=conf) if logical_date else dag.test(run_conf=conf)
        finally:
            for task_id, task in hooked.items():
                task._pre_execute_hook = saved[task_id]
        self.timings.setdefault(dag_id, []).append(round(time.perf_counter() - started, 2))
        with create_session() as session:
            tis = session.scalars(
                select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == dag_run.run_id)
            ).all()
            tasks = {
                (ti.task_id, ti.map_index): {
                    "state": str(getattr(ti.state, "value", ti.state)),
                    "try_number": ti.try_number,
                    "duration": ti.duration,
                }
                for ti in tis
            }
            rows = session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_id, key="return_value")).all()
            xcoms = {(row.task_id, row.map_index): XComModel.deserialize_value(row) for row in rows}
        state = dag_run.state.value if hasattr(dag_run.state, "value") else str(dag_run.state)
        return RunResult(dag_id, dag_run.run_id, state, tasks, xcoms)


@dataclass
class World:
    """One test's view: a clean database, the emulator at an empty seed, empty receivers."""

    settings: Settings
    engine: Engine
    emu: AdminClient
    harness: Harness
    receivers: dict[str, Any]

    def seed(
        self,
        accounts: list[dict[str, Any]],
        *,
        scopes: list[str] | None = None,
        expires_in: int = 3599,
        expiring: set[str] | None = None,
    ) -> dict[str, Any]:
        """Create the accounts at the emulator, grant them, and store the grants in Driveguard."""
        from driveguard.db.engine import transaction
        from driveguard.google.oauth import GoogleIdentity, TokenResponse
        from driveguard.identity.tokens import TokenService

        for start in range(0, len(accounts), 1000):
            self.emu.upsert_accounts(accounts[start : start + 1000])
        emails = [a["email"] for a in accounts]
        grants: list[dict[str, Any]] = []
        for start in range(0, len(emails), 1000):
            grants += self.emu.grants(
                emails[start : start + 1000], client_id=CLIENT_ID, scopes=scopes or LOGIN_SCOPES, offline=True
            )
        service = TokenService(self.settings, self.engine)
        ids: dict[str, Any] = {}
        try:
            with transaction(self.engine) as db:
                for grant in grants:
                    account = service.store_grant(
                        db,
                        identity=GoogleIdentity(sub="sub-" + grant["email"], email=grant["email"], email_verified=True),
                        tokens=TokenResponse(
                            access_token=grant["access_token"],
                            expires_in=60 if expiring and grant["email"] in expiring else expires_in,
                            scopes=tuple(grant["scope"].split()),
                            refresh_token=grant["refresh_token"],
                        ),
                    )
                    if expiring and grant["email"] in expiring:
                        # A token of the normal lifetime near its end (not a 60 s token, which the
                        # margin rule would treat as fresh for half its life).
                        assert account.access_token_expires_at is not None
                        account.access_token_issued_at = account.access_token_expires_at - dt.timedelta(
                            seconds=expires_in
                        )
                    ids[grant["email"]] = account.id
        finally:
            service.close()
        return ids

    def scalar(self, query: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(query), params).scalar()

    def rows(self, query: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(query), params).mappings())


def account(email: str, usage: int, limit: int | None = 15 * 1024**3, **extra: Any) -> dict[str, Any]:
    name = email.split("@")[0]
    return {"email": email, "name": name.title(), "usage": usage, "usage_in_drive": usage // 2, "limit": limit, **extra}


def fresh_world(
    engine: Engine,
    emu: AdminClient,
    harness: Harness,
    settings: Settings,
    receivers: dict[str, Any],
    setenv: Callable[[str, str], None],
) -> World:
    """A clean world for one test: the emulator reset, the receivers emptied and made to answer, and
    the harness's environment set again (`setenv`: pytest's monkeypatch), undoing an earlier test's."""
    from support.receivers import HttpReceiver

    emu.reset(seed="none")
    for receiver in receivers.values():
        receiver.clear()
        if isinstance(receiver, HttpReceiver):
            receiver.fail_next = 0
    for key, value in harness.env.items():
        setenv(key, value)
    return World(settings, engine, emu, harness, receivers)


def hour(day: int, hour_of_day: int, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour_of_day, tzinfo=dt.UTC)
