"""What the benchmarks share: the emulator in a subprocess, a fresh embedded PostgreSQL, the
settings a task process reads, seeded accounts with stored grants, task bodies in processes.

Each benchmark runs the product's real task bodies (`driveguard.pipelines`) in their own
processes, as Airflow runs them (one process per task try, at most GOOGLE_API_POOL_SLOTS at
once), against the emulator speaking Google's wire formats.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing import connection as mp_connection
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLIENT_ID = "bench.apps.googleusercontent.com"
CLIENT_SECRET = "bench-secret"  # noqa: S105 - a local emulator's client
SCOPES = [
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/drive.metadata.readonly",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sigterm_to_exit() -> None:
    """SIGTERM ends the benchmark through `finally` blocks, so no emulator or server is left behind."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


@dataclass
class Bench:
    """A running emulator and PostgreSQL for one benchmark run."""

    emulator_url: str
    database_url: str
    workdir: Path

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.emulator_url + "/_emulator", timeout=120)

    def stats(self) -> dict[str, Any]:
        with self.admin() as admin:
            return dict(admin.get("/stats").json())

    def set_faults(self, specs: list[dict[str, Any]]) -> None:
        with self.admin() as admin:
            admin.delete("/faults").raise_for_status()
            admin.post("/faults", json=specs).raise_for_status()

    def reset_stats(self) -> None:
        with self.admin() as admin:
            admin.post("/stats/reset").raise_for_status()


@contextlib.contextmanager
def running() -> Iterator[Bench]:
    """The emulator (`python -m emulator`) on a free port and a fresh embedded PostgreSQL, both
    stopped and removed afterwards (also on SIGTERM or Ctrl-C)."""
    from launcher import embedded

    _sigterm_to_exit()
    workdir = Path(tempfile.mkdtemp(prefix="dg-bench-"))
    data_dir = workdir / "pg"
    port = free_port()
    emulator = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            *(sys.executable, "-m", "emulator", "--port", str(port), "--seed", "none"),
            *("--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, "--log-level", "warning"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/_emulator/stats", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or emulator.poll() is not None:
                raise SystemExit("the emulator did not start within 60 s")
            time.sleep(0.1)
        database_url = embedded.start(data_dir)
        try:
            yield Bench(url, database_url, workdir)
        finally:
            embedded.stop(data_dir)
    finally:
        emulator.terminate()
        try:
            emulator.wait(10)
        except subprocess.TimeoutExpired:
            emulator.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def settings_env(bench: Bench, key: str, **overrides: str) -> dict[str, str]:
    """The environment a task process reads its settings from (as Airflow's workers would)."""
    env = {
        "DRIVEGUARD_ENV": "test",
        "DRIVEGUARD_ENV_FILE": os.devnull,
        "DATABASE_URL": bench.database_url,
        "GOOGLE_CLIENT_ID": CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
        "GOOGLE_REDIRECT_URI": "http://127.0.0.1:8000/auth/callback",
        "GOOGLE_EMULATOR_URL": bench.emulator_url,
        "DRIVEGUARD_ENCRYPTION_KEYS": key,
        "DRIVEGUARD_SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
        "SESSION_COOKIE_SECURE": "false",
    }
    env.update(overrides)
    return env


def new_key() -> str:
    from driveguard.config import generate_encryption_key

    return generate_encryption_key("k1")


def seed(bench: Bench, env: Mapping[str, str], n: int, *, expires_in: int = 3599) -> dict[str, str]:
    """N accounts at the emulator with a grant each, stored in Driveguard through the token service
    (`expires_in`: how long Driveguard believes each access token lives). Returns email -> access token."""
    from driveguard.config import load_settings
    from driveguard.db.engine import make_engine, transaction
    from driveguard.db.migrate import upgrade
    from driveguard.google.oauth import GoogleIdentity, TokenResponse
    from driveguard.identity.tokens import TokenService

    settings = load_settings(dict(env), env_file=os.devnull)
    engine = make_engine(env["DATABASE_URL"], pool_size=2)
    upgrade(engine)
    emails = [f"b{i:06d}@example.com" for i in range(n)]
    service = TokenService(settings, engine)
    tokens: dict[str, str] = {}
    try:
        with bench.admin() as admin:
            for start in range(0, n, 1000):
                chunk = emails[start : start + 1000]
                accounts = [
                    {"email": e, "name": e, "usage": 10**6 + start + i, "limit": 15 * 1024**3}
                    for i, e in enumerate(chunk)
                ]
                admin.post("/accounts", json={"accounts": accounts}).raise_for_status()
                grants = admin.post(
                    "/grants", json={"emails": chunk, "client_id": CLIENT_ID, "scopes": SCOPES, "offline": True}
                )
                grants.raise_for_status()
                with transaction(engine) as db:
                    for grant in grants.json()["grants"]:
                        tokens[grant["email"]] = grant["access_token"]
                        service.store_grant(
                            db,
                            identity=GoogleIdentity(
                                sub="sub-" + grant["email"], email=grant["email"], email_verified=True
                            ),
                            tokens=TokenResponse(
                                access_token=grant["access_token"],
                                expires_in=expires_in,
                                scopes=tuple(grant["scope"].split()),
                                refresh_token=grant["refresh_token"],
                            ),
                        )
    finally:
        service.close()
        engine.dispose()
    return tokens


def _worker(conn: Connection, env: Mapping[str, str], body: Callable[[Any, Any], dict[str, Any]]) -> None:
    """A task process: imports the task code (like a task runner that has parsed its DAG), says
    ready, then runs one task body with its runtime built from the environment, as in Airflow."""
    os.environ.update(env)
    started = time.time()
    from driveguard import pipelines

    conn.send(("ready", time.time() - started))
    arg = conn.recv()
    if arg is None:
        return
    began = time.time()
    try:
        counts = body(pipelines.runtime(), arg)
    except Exception as exc:  # reported to the parent, which fails the run with it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    counts["task_started_at"] = began
    counts["task_seconds"] = time.time() - began
    counts["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send(("done", counts))


@dataclass
class TaskRun:
    results: list[dict[str, Any]]
    """Every try's counts."""
    max_try: int
    wall_seconds: float
    """From the first task handed out to the last one done."""
    warm_up_seconds: float
    """Starting the first `slots` processes (the interpreter and the task code's imports), before the clock."""


def run_tasks(
    env: Mapping[str, str],
    body: Callable[[Any, Any], dict[str, Any]],
    args: Sequence[Any],
    *,
    slots: int,
    tries: int = 1,
    failed: Callable[[dict[str, Any]], bool] = lambda counts: False,
) -> TaskRun:
    """Each arg's task body in a fresh process of its own, `slots` at a time, as the scheduler runs a
    mapped task in a pool; a try for which `failed` holds is tried again (up to `tries`).

    The first `slots` processes are started before the clock starts (a running scheduler has its
    executor's processes up). Every next task gets a fresh process too, started on the clock while
    earlier tasks run (at most `slots` waiting ready): like a task runner that starts and parses its
    DAG while the pool slot it waits for is still taken, so a slot is not left idle for a start-up."""
    context = multiprocessing.get_context("spawn")
    workers: dict[Any, Any] = {}  # connection -> process

    def spawn() -> Any:
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child, dict(env), body), daemon=True)
        process.start()
        child.close()
        workers[parent] = process
        return parent

    def retire(conn: Any) -> None:
        conn.close()  # the process exits on its own; it is joined at the end, off the clock

    warm_started = time.time()
    idle = [spawn() for _ in range(min(slots, len(args)))]
    for conn in idle:
        conn.recv()
    warm_up = time.time() - warm_started
    queue = deque((arg, 1) for arg in args)
    busy: dict[Any, tuple[Any, int]] = {}
    warming: list[Any] = []
    results: list[dict[str, Any]] = []
    max_try = 1 if args else 0
    began = time.time()
    try:
        while queue or busy:
            while queue and idle:
                conn = idle.pop()
                arg, attempt = queue.popleft()
                conn.send(arg)
                busy[conn] = (arg, attempt)
                max_try = max(max_try, attempt)
            while len(idle) + len(warming) < min(len(queue), slots):  # a standby process per waiting task
                warming.append(spawn())
            for conn in mp_connection.wait(list(busy) + warming):
                kind, payload = conn.recv()
                if kind == "ready":
                    warming.remove(conn)
                    idle.append(conn)
                    continue
                arg, attempt = busy.pop(conn)
                retire(conn)
                if kind == "error":
                    raise RuntimeError(f"a task body failed: {payload}")
                payload["task_started_s"] = payload.pop("task_started_at") - began
                payload["task_ended_s"] = time.time() - began
                results.append(payload)
                if failed(payload) and attempt < tries:
                    queue.append((arg, attempt + 1))  # Airflow retries the task (its retry delay left out)
        wall = time.time() - began
    except BaseException:
        for process in workers.values():  # interrupted: no task is waited for
            process.kill()
        raise
    finally:
        for conn in idle + warming:
            with contextlib.suppress(OSError):
                conn.send(None)
        for conn in list(workers):
            process = workers.pop(conn)
            process.join(30)
            if process.is_alive():
                process.kill()
    return TaskRun(results, max_try, wall, warm_up)


def utc(year: int, month: int, day: int, hour: int) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)
