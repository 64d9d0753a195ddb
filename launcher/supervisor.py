"""`make run`: the whole product on one machine with embedded defaults, stopped cleanly by Ctrl-C.

Starts, in order: PostgreSQL (embedded unless DATABASE_URL is set), migrations, the Google
emulator (unless real Google is configured), Airflow 3 (API server, scheduler, DAG processor,
triggerer; metadata in its own database; LocalExecutor, or with AIRFLOW__CORE__EXECUTOR=CeleryExecutor
one local Celery worker besides), and the Litestar API; then, with the local emulator, seeds the demo
(`driveguard demo seed`: real sign-ins, weeks of history, one collection). Each child runs in its own
process group; on exit every group and every leftover descendant is stopped, so nothing is
orphaned (Airflow's task processes included).

Stopping: SIGINT (Ctrl-C), SIGTERM (`docker stop`, systemd, a signal to the process group) and
SIGHUP (a closing terminal) only record the wish; the main loop notices it and stops everything,
and repeats during the stop are ignored, so a second Ctrl-C cannot cut the stop short.

Starting after a run that was killed outright (SIGKILL, OOM): its children still run. They carry
DRIVEGUARD_LAUNCHER_PID and DRIVEGUARD_VAR_DIR in their environment, so the next start finds and
stops them, and it reattaches to (and later stops) the embedded PostgreSQL of its var directory.
A port held by anything else stops the start with the port and the pid named; such processes
are never signalled.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import httpx
import psutil
from dotenv import dotenv_values

from driveguard.config import PROJECT_ROOT, Settings, generate_encryption_key, load_settings
from driveguard.db import migrate
from driveguard.db.engine import make_engine
from driveguard.identity.vault import Vault
from launcher import airflow_env, embedded

APP_DATABASE = "driveguard"
AIRFLOW_DATABASE = "airflow"
LOCAL_ENV_NAME = "local.env"
LOCK_NAME = "launcher.lock"
RECORD_NAME = "launcher.pids"
"""Every process of the running stack (pid and start time), rewritten as it changes: what the next
start stops should this launcher be killed outright. The environment mark alone is not enough:
Airflow's processes retitle themselves (setproctitle), which overwrites their visible environment."""
LAUNCHER_PID_ENV = "DRIVEGUARD_LAUNCHER_PID"
"""Set in every child's environment: marks the processes a launcher started, and which launcher."""
POLL_SECONDS = 0.25
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StartRefused(RuntimeError):
    """Starting would disturb something that is not ours: another launcher, a foreign process on a port."""


class StopRequested(Exception):
    """Raised by the launcher's own code (never by a signal handler) when a stop arrived during startup."""


class StopSignals:
    """Turns SIGINT/SIGTERM/SIGHUP into a flag the main loop polls.

    The handler never raises: an exception raised from a handler lands wherever the main thread
    happens to be, including halfway through stopping the children, which then stay orphaned.
    Installed explicitly because a process started in the background by a script inherits SIGINT
    as ignored, and Python then installs no KeyboardInterrupt handler of its own.
    """

    def __init__(self) -> None:
        self.received: str | None = None
        self.stopping = False
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if self.received is None and not self.stopping:
            self.received = name
            return
        # os.write, not print: print is not reentrant, and the main thread may be printing.
        with contextlib.suppress(OSError):
            os.write(sys.stderr.fileno(), f"{name} received: already stopping, please wait\n".encode())

    @property
    def requested(self) -> bool:
        return self.received is not None

    def check(self) -> None:
        if self.received is not None:
            raise StopRequested(self.received)

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early when a stop was requested."""
        deadline = time.monotonic() + seconds
        while self.received is None and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(POLL_SECONDS, left))


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    descendants: dict[int, psutil.Process] = field(default_factory=dict)


def _random_secret(length: int = 32) -> str:
    return base64.urlsafe_b64encode(os.urandom(length)).decode().rstrip("=")


def local_defaults(var_dir: Path) -> dict[str, str]:
    """Secrets and local settings generated once and kept in var/local.env between runs."""
    path = var_dir / LOCAL_ENV_NAME
    existing = {k: v for k, v in dotenv_values(path).items() if v is not None} if path.exists() else {}
    wanted = {
        "DRIVEGUARD_ENV": "local",
        "GOOGLE_EMULATOR_URL": "http://127.0.0.1:8090",
        "GOOGLE_CLIENT_ID": "driveguard-local.apps.googleusercontent.com",
        "GOOGLE_CLIENT_SECRET": _random_secret(18),
        "GOOGLE_REDIRECT_URI": "http://127.0.0.1:8000/auth/callback",
        "DRIVEGUARD_ENCRYPTION_KEYS": generate_encryption_key("k1"),
        "DRIVEGUARD_SECRET_KEY": _random_secret(32),
        "SESSION_COOKIE_SECURE": "false",
        "AIRFLOW_API_URL": "http://127.0.0.1:8080",
        "AIRFLOW_USERNAME": "admin",
        "AIRFLOW_PASSWORD": _random_secret(12),
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": _random_secret(32),
        "AIRFLOW__API__SECRET_KEY": _random_secret(32),
    }
    if "DRIVEGUARD_LOCAL_ADMIN_PASSWORD" not in existing:
        from driveguard.identity.passwords import hash_password

        password = _random_secret(12)
        wanted["DRIVEGUARD_LOCAL_ADMIN_PASSWORD"] = password  # printed by the banner; local demo only
        wanted["DRIVEGUARD_ADMIN_USERS"] = f"admin:{hash_password(password)}"
    # The emulator's demo Workspace admin: an admin of Driveguard and the grant behind the backfill.
    wanted.setdefault("DRIVEGUARD_ADMIN_EMAILS", "erin@northwind.example")
    wanted.setdefault("GOOGLE_WORKSPACE_ADMIN_EMAIL", "erin@northwind.example")
    missing = {k: v for k, v in wanted.items() if k not in existing}
    if missing:
        var_dir.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            if not existing:
                handle.write("# Generated by `make run` for the local demo; kept between runs. Do not commit.\n")
            for key, value in missing.items():
                handle.write(f"{key}={value}\n")
        path.chmod(0o600)
    return {**wanted, **existing}


def build_environment(environ: Mapping[str, str], root: Path = PROJECT_ROOT) -> dict[str, str]:
    """Layering, lowest first: generated local defaults, `.env`, the real environment."""
    var_dir = Path(environ.get("DRIVEGUARD_VAR_DIR") or root / "var").resolve()
    env_file = Path(environ.get("DRIVEGUARD_ENV_FILE") or root / ".env")
    from_file = {k: v for k, v in dotenv_values(env_file).items() if v is not None} if env_file.is_file() else {}
    merged = {**local_defaults(var_dir), **from_file, **environ}
    given = from_file.keys() | environ.keys()
    if "GOOGLE_CLIENT_ID" in given and "GOOGLE_EMULATOR_URL" not in given:
        # Real credentials given: do not silently keep pointing at the emulator.
        merged.pop("GOOGLE_EMULATOR_URL", None)
    merged["DRIVEGUARD_VAR_DIR"] = str(var_dir)
    merged["DRIVEGUARD_ENV_FILE"] = os.devnull  # children get everything through the environment
    return merged


def is_local_url(url: str | None) -> bool:
    return bool(url) and urlsplit(url).hostname in {"127.0.0.1", "localhost", "::1"}


def claim_var_dir(var_dir: Path) -> IO[str]:
    """An exclusive lock on the var directory for this launcher's lifetime (keep the returned file open).

    The kernel drops it when the launcher dies, however it dies, so a held lock means a live
    launcher and anything else marked with this var directory is an orphan of a dead one.
    """
    var_dir.mkdir(parents=True, exist_ok=True)
    handle = (var_dir / LOCK_NAME).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise StartRefused(
            f"another launcher (pid {holder}) is running with {var_dir}; stop it first, "
            "or set DRIVEGUARD_VAR_DIR to another directory"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def started_by_launcher(environ: Mapping[str, str], var_dir: Path) -> bool:
    """Whether a process with this environment was started by a launcher working in `var_dir`."""
    return LAUNCHER_PID_ENV in environ and environ.get("DRIVEGUARD_VAR_DIR") == str(var_dir)


def launched_processes(var_dir: Path, launcher_pid: int | None = None) -> list[psutil.Process]:
    """Live processes a launcher in `var_dir` started: those of `launcher_pid`, or of any other launcher."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            environ = proc.environ()
            if not started_by_launcher(environ, var_dir) or proc.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:  # gone, or not ours to read
            continue
        mine = environ.get(LAUNCHER_PID_ENV) == str(os.getpid())
        if (launcher_pid is None and not mine) or environ.get(LAUNCHER_PID_ENV) == str(launcher_pid):
            found.append(proc)
    return found


def recorded_processes(record: Path) -> list[psutil.Process]:
    """The processes a run record names that still run: same pid and same start time, never a reused pid."""
    try:
        entries = json.loads(record.read_text())
    except (OSError, ValueError):
        return []
    alive = []
    for entry in entries:
        try:
            proc = psutil.Process(int(entry["pid"]))
            if abs(proc.create_time() - float(entry["started"])) < 0.5 and proc.pid != os.getpid():
                alive.append(proc)
        except (psutil.Error, KeyError, TypeError, ValueError):
            continue
    return alive


def with_descendants(procs: list[psutil.Process]) -> list[psutil.Process]:
    """`procs` and everything below them, each once: taken before any is stopped, as an orphaned
    child is reparented away from its tree when its parent dies."""
    family: dict[int, psutil.Process] = {}
    for proc in procs:
        family.setdefault(proc.pid, proc)
        with contextlib.suppress(psutil.Error):
            for child in proc.children(recursive=True):
                family.setdefault(child.pid, child)
    family.pop(os.getpid(), None)
    return list(family.values())


def end_processes(procs: list[psutil.Process], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL what is still alive after `grace`; psutil refuses reused pids."""
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def planned_ports(settings: Settings, env: Mapping[str, str]) -> dict[int, str]:
    """The TCP ports this launcher's children will listen on, each with the setting that chooses it."""
    ports = {
        settings.server.port: "API_PORT",
        urlsplit(settings.airflow.api_url).port or 8080: "AIRFLOW_API_URL",
        int(env.get("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT") or 8793): "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
        int(env.get("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT") or 8794): "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
    }
    emulator_url = settings.google.emulator_url
    if emulator_url and is_local_url(emulator_url):
        ports[urlsplit(emulator_url).port or 8090] = "GOOGLE_EMULATOR_URL"
    return ports


def port_holders(ports: set[int]) -> dict[int, int | None]:
    """Which process listens on each of `ports` (None: a process this user may not see)."""
    holders: dict[int, int | None] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port in ports:
            holders.setdefault(conn.laddr.port, conn.pid)
    return holders


def describe(pid: int | None) -> str:
    if pid is None:
        return "a process of another user"
    try:
        command = " ".join(psutil.Process(pid).cmdline())[:120]
    except psutil.Error:
        command = "?"
    return f"pid {pid} ({command})"


class Stack:
    """Starts the children, watches them, and stops them all."""

    def __init__(
        self,
        env: dict[str, str],
        settings: Settings,
        out: Callable[[str], None] = print,
        signals: StopSignals | None = None,
    ) -> None:
        self.env = env
        self.settings = settings
        self.out = out
        self.signals = signals or StopSignals()
        self.var_dir = settings.var_dir
        self.data_dir = self.var_dir / "postgres"  # the embedded server's data: the launcher's alone
        self.log_dir = self.var_dir / "log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []
        self.record = self.var_dir / RECORD_NAME
        self._recorded: set[tuple[int, float]] = set()
        self.started_embedded = False
        self.env[LAUNCHER_PID_ENV] = str(os.getpid())

    # -- what a killed run left behind ----------------------------------------------------
    def clear_previous_run(self) -> None:
        """Stop what a launcher killed outright left running here, then refuse ports held by others.

        Call it holding `claim_var_dir`: no other launcher lives, so its marked processes are orphans.
        """
        orphans = with_descendants(recorded_processes(self.record) + launched_processes(self.var_dir))
        if orphans:
            pids = ", ".join(str(proc.pid) for proc in orphans)
            self.out(f"  stopping {len(orphans)} process(es) a previous run did not stop (pids {pids})")
            end_processes(orphans)
        ports = planned_ports(self.settings, self.env)
        for port, pid in sorted(port_holders(set(ports)).items()):
            raise StartRefused(
                f"port {port} ({ports[port]}) is in use by {describe(pid)}, which this launcher did not start; "
                f"stop it or set {ports[port]} to a free port"
            )

    # -- database -------------------------------------------------------------------------
    def prepare_databases(self) -> None:
        if self.settings.database.url:
            app_url = self.settings.database.url
            airflow_url = self.settings.database.airflow_url or embedded.with_database(app_url, AIRFLOW_DATABASE)
            try:
                embedded.ensure_database(app_url, AIRFLOW_DATABASE)
            except Exception as exc:  # a managed server may forbid CREATE DATABASE: then it must exist
                self.out(f"  (could not create the Airflow database automatically: {type(exc).__name__})")
        else:
            server = self.start_embedded()
            embedded.ensure_database(server, APP_DATABASE)
            embedded.ensure_database(server, AIRFLOW_DATABASE)
            app_url = embedded.with_database(server, APP_DATABASE)
            airflow_url = embedded.with_database(server, AIRFLOW_DATABASE)
        self.env["DATABASE_URL"] = app_url
        self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = airflow_url
        self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = airflow_url
        engine = make_engine(app_url, pool_size=1)
        try:
            # Data migrations (0007) seal stored secrets with the deployment's keys.
            migrate.upgrade(engine, vault=Vault(self.settings.security.encryption_keys))
            self.out(f"  database migrated to {migrate.current_revision(engine)}")
        finally:
            engine.dispose()

    def start_embedded(self) -> str:
        """Start the embedded server, or adopt the one a killed run left running: this run stops it."""
        leftover = embedded.postmaster(self.data_dir)
        if leftover is not None:
            self.out(f"  reattaching to the embedded PostgreSQL a previous run left running (pid {leftover.pid})")
        else:
            stale = embedded.remove_stale_pidfile(self.data_dir)
            if stale is not None:
                self.out(f"  removed a stale postmaster.pid (pid {stale} is no running PostgreSQL)")
        self.started_embedded = True
        return embedded.start(self.data_dir)

    # -- airflow --------------------------------------------------------------------------
    def airflow_environment(self) -> None:
        home = self.var_dir / "airflow"
        home.mkdir(parents=True, exist_ok=True)
        port = urlsplit(self.settings.airflow.api_url).port or 8080
        passwords = home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({self.settings.airflow.username: self.settings.airflow.password}))
        passwords.chmod(0o600)
        bin_dir = str(Path(sys.executable).parent)
        self.env.update(
            {
                "PATH": bin_dir + os.pathsep + self.env.get("PATH", ""),
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.settings.airflow.username}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            }
        )
        self.env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
        # LocalExecutor unless the environment asks for CeleryExecutor (README "Scaling out"):
        # then the broker defaults to this machine's Redis and the launcher starts one local worker.
        self.env.setdefault("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
        if airflow_env.uses_celery(self.env):
            self.env.setdefault("AIRFLOW__CELERY__BROKER_URL", airflow_env.DEFAULT_BROKER_URL)
        # The pipelines' ops notifier connection, built from OPS_APPRISE_URLS (docs/pipelines.md).
        for key, value in airflow_env.airflow_environment(self.settings).items():
            self.env.setdefault(key, value)
        # Log-serving ports of the scheduler and triggerer: Airflow's defaults unless overridden.
        self.env.setdefault("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", "8793")
        self.env.setdefault("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", "8794")
        self.airflow_port = port

    def run_once(self, name: str, argv: list[str], timeout: float = 600) -> None:
        """Run a command to completion as a tracked child, so a stop during it stops it too."""
        child = self.spawn(name, argv)
        assert child.process is not None
        deadline = time.monotonic() + timeout
        while child.process.poll() is None:
            self.signals.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not finish within {timeout:.0f}s; see {child.log_path}")
            self.remember_descendants()
            time.sleep(POLL_SECONDS)
        self.children.remove(child)
        if child.process.returncode != 0:
            raise RuntimeError(
                f"{name} failed (exit {child.process.returncode}); see {child.log_path}\n{tail(child.log_path)}"
            )

    def wait_ready(self, url: str, timeout: float) -> bool:
        """Poll `url` until it answers below 500; a stop request ends the wait, a dead child fails it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.signals.check()
            if self.check_children() is not None:
                return False
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    return True
            except httpx.HTTPError:
                pass
            self.signals.sleep(0.5)
        return False

    # -- children -------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str]) -> Child:
        child = Child(name, argv, self.log_dir / f"{name}.log")
        with child.log_path.open("ab") as log:
            child.process = subprocess.Popen(  # noqa: S603
                argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.children.append(child)
        self.remember_descendants()
        return child

    def remember_descendants(self) -> None:
        """Track every descendant (as psutil handles, which refuse to signal a reused pid),
        forgetting those that ended, so a stop reaches processes that left their group."""
        for child in self.children:
            if child.process is None:
                continue
            with contextlib.suppress(psutil.NoSuchProcess):
                for proc in psutil.Process(child.process.pid).children(recursive=True):
                    child.descendants.setdefault(proc.pid, proc)
            for pid, proc in list(child.descendants.items()):
                if not proc.is_running():
                    del child.descendants[pid]
        self.write_record()

    def write_record(self) -> None:
        """Rewrite the run record when the set of live processes changed (atomically: a kill may come any time)."""
        entries: set[tuple[int, float]] = set()
        for child in self.children:
            procs = list(child.descendants.values())
            if child.process is not None and child.process.poll() is None:
                with contextlib.suppress(psutil.Error):
                    procs.append(psutil.Process(child.process.pid))
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    entries.add((proc.pid, proc.create_time()))
        if entries == self._recorded:
            return
        temporary = self.record.with_suffix(".tmp")
        temporary.write_text(json.dumps([{"pid": pid, "started": started} for pid, started in sorted(entries)]))
        temporary.replace(self.record)
        self._recorded = entries

    def check_children(self) -> Child | None:
        """The first child that died on its own, if any."""
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                return child
        return None

    def stop(self, grace: float = 20.0) -> list[int]:
        """SIGINT every process group, then SIGTERM/SIGKILL stragglers; returns pids that had to be killed.

        Never raises: every step runs even when an earlier one failed, since a step skipped here
        is a process left holding a port.
        """
        self.signals.stopping = True
        killed: list[int] = []
        steps: list[tuple[str, Callable[[], object]]] = [
            ("remember descendants", self.remember_descendants),
            ("interrupt children", self._interrupt_groups),
            ("wait for children", lambda: self._wait_children(grace)),
            ("end stragglers", lambda: killed.extend(self._end_stragglers())),
            ("end marked processes", lambda: killed.extend(self._end_marked())),
        ]
        if self.started_embedded:
            steps.append(("stop embedded PostgreSQL", lambda: embedded.stop(self.data_dir)))
        steps.append(("remove the run record", lambda: self.record.unlink(missing_ok=True)))
        for label, step in steps:
            try:
                step()
            except Exception as exc:  # keep stopping the rest
                self.out(f"  could not {label}: {type(exc).__name__}: {exc}")
        return killed

    def _interrupt_groups(self) -> None:
        for child in reversed(self.children):
            if child.process is not None and child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.process.pid, signal.SIGINT)

    def _wait_children(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        for child in self.children:
            if child.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.process.wait(timeout=max(0.1, deadline - time.monotonic()))

    def _end_stragglers(self) -> list[int]:
        candidates = [proc for child in self.children for proc in child.descendants.values()]
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                with contextlib.suppress(psutil.NoSuchProcess):
                    candidates.append(psutil.Process(child.process.pid))
        leftovers = [proc for proc in candidates if _alive(proc)]
        end_processes(leftovers, grace=5)
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                child.process.kill()
                child.process.wait(5)
        return [proc.pid for proc in leftovers]

    def _end_marked(self) -> list[int]:
        """Anything carrying this launcher's mark that escaped the tree (started and detached between polls)."""
        escaped = launched_processes(self.var_dir, os.getpid())
        end_processes(escaped, grace=5)
        return [proc.pid for proc in escaped]


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def banner(stack: Stack, emulator_url: str | None) -> str:
    s = stack.settings
    lines = [
        "",
        "Driveguard is running. Ctrl-C stops everything.",
        "",
        f"  Open this        {s.server.public_url}/   (sign in with Google; your storage at /me)",
        f"  Admin pages      {s.server.public_url}/admin   (password sign-in at /admin/login)",
        f"  API              {s.server.public_url}/api/docs   (OpenAPI, renders offline)",
        f"  Health           {s.server.public_url}/api/health",
        f"  Airflow UI       {s.airflow.api_url}   user {s.airflow.username} / password {s.airflow.password}",
    ]
    local_admin = stack.env.get("DRIVEGUARD_LOCAL_ADMIN_PASSWORD")
    if local_admin:
        lines.append(
            f"  API admin        POST {s.server.public_url}/api/auth/token "
            f'{{"grant_type": "password", "username": "admin", "password": "{local_admin}"}}'
        )
    if s.security.admin_emails:
        admins = ", ".join(sorted(s.security.admin_emails))
        lines.append(f"  Admin by Google  {admins} (sign in, then grant_type=session)")
    if s.google.workspace_admin_email:
        lines.append(
            f"  Backfill grant   {s.server.public_url}/auth/login?grant=workspace-reports"
            f"   (as {s.google.workspace_admin_email})"
        )
    if emulator_url:
        lines.append(f"  Google emulator  {emulator_url}   (demo accounts: {emulator_url}/_emulator/accounts)")
    else:
        lines.append("  Google           real Google endpoints (no emulator)")
    lines += [
        f"  Database         {redact(stack.env['DATABASE_URL'])}",
        f"  Secrets          {stack.var_dir / LOCAL_ENV_NAME}   (Airflow password, keys; kept between runs)",
        f"  Logs             {stack.log_dir}/",
        "",
    ]
    return "\n".join(lines)


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def run(environ: Mapping[str, str] | None = None, out: Callable[[str], None] = print) -> int:
    """Start everything, serve until a stop signal or a child's death, then stop everything.

    Raises ConfigError for bad settings and StartRefused when starting would disturb another
    launcher or a foreign process; both before anything was started.
    """
    say = _tolerate_closed_terminal(out)
    # Never restored: a Ctrl-C arriving after the stop, just before exit, must not print a traceback.
    signals = StopSignals()
    signals.install()
    env = build_environment(dict(os.environ if environ is None else environ))
    settings = load_settings(env, env_file=os.devnull)
    lock = claim_var_dir(settings.var_dir)
    try:
        return _serve(Stack(env, settings, say, signals), say)
    finally:
        signals.stopping = True
        lock.close()


def _serve(stack: Stack, say: Callable[[str], None]) -> int:
    settings, signals, py = stack.settings, stack.signals, sys.executable
    say("Starting Driveguard…")
    stack.clear_previous_run()  # may refuse: nothing is started yet, so nothing to stop
    try:
        signals.check()
        stack.prepare_databases()
        signals.check()
        emulator_url = settings.google.emulator_url
        if emulator_url and is_local_url(emulator_url):
            port = str(urlsplit(emulator_url).port or 8090)
            stack.spawn("emulator", [py, "-m", "emulator", "--host", "127.0.0.1", "--port", port, "--seed", "demo"])
            say(f"  emulator starting on {emulator_url}")
        stack.airflow_environment()
        stack.run_once("airflow-db-migrate", [py, "-m", "airflow", "db", "migrate"])
        stack.run_once("airflow-pools", airflow_env.pool_command(settings, (py, "-m", "airflow")))
        say("  Airflow metadata database migrated")
        signals.check()
        stack.spawn("airflow-api-server", [py, "-m", "airflow", "api-server", "--port", str(stack.airflow_port)])
        stack.spawn("airflow-dag-processor", [py, "-m", "airflow", "dag-processor"])
        stack.spawn("airflow-triggerer", [py, "-m", "airflow", "triggerer"])
        stack.spawn("api", [py, "-m", "api"])
        if airflow_env.uses_celery(stack.env):  # it only takes tasks the scheduler (started below) queues
            stack.spawn("airflow-celery-worker", airflow_env.celery_worker_command("local", (py, "-m", "airflow")))
            say(f"  Celery worker starting (broker {redact(stack.env['AIRFLOW__CELERY__BROKER_URL'])})")
        say("  Airflow and the API starting…")
        # The scheduler last: its tasks report to the Airflow API server, and a task started before
        # that answers fails its first try (then waits out its retry delay).
        _wait_all(stack, [("Airflow", f"{settings.airflow.api_url}/api/v2/monitor/health", 240.0)])
        stack.spawn("airflow-scheduler", [py, "-m", "airflow", "scheduler"])
        targets = [("API", f"{settings.server.public_url}/api/health", 120.0)]
        if emulator_url and is_local_url(emulator_url):
            targets.append(("emulator", f"{emulator_url.rstrip('/')}/.well-known/openid-configuration", 60.0))
        _wait_all(stack, targets)
        if emulator_url and is_local_url(emulator_url) and stack.env.get("DRIVEGUARD_DEMO_SEED", "1") != "0":
            seed_demo(stack, say)
        say(banner(stack, emulator_url))
        while not signals.requested:
            dead = stack.check_children()
            if dead is not None:
                say(f"{dead.name} exited unexpectedly (code {dead.process.returncode if dead.process else '?'}):")
                say(tail(dead.log_path))
                return 1
            stack.remember_descendants()
            signals.sleep(1)
        return 0
    except StopRequested:
        return 0
    except Exception as exc:
        if signals.requested:  # a step cut short by the stop (Ctrl-C reaches pg_ctl too): not a failure
            return 0
        say(f"Driveguard could not start: {exc}")
        return 1
    finally:
        signals.stopping = True
        reason = f" ({signals.received})" if signals.received else ""
        say(f"Stopping Driveguard…{reason}")
        killed = stack.stop()
        if killed:
            say(f"  stopped {len(killed)} leftover process(es)")
        say("Stopped.")


def seed_demo(stack: Stack, say: Callable[[str], None]) -> None:
    """`driveguard demo seed`: the emulator's people signed in through the consent page, weeks of
    Reports history and one collection, so the first page has charts, alerts and a forecast.

    Idempotent, so every start runs it; the command itself refuses anything but this local demo. A
    failure leaves an empty-looking demo, not a broken one: it is reported and the stack keeps running.
    """
    say("  demo data: signing in the emulator's accounts, backfilling 6 weeks, one collection…")
    try:
        stack.run_once("demo-seed", [sys.executable, "-m", "driveguard.cli", "demo", "seed"], timeout=300)
    except RuntimeError as exc:
        say(f"  demo data could not be seeded (the stack runs on): {exc}")
        return
    say(f"  demo data ready: {tail(stack.log_dir / 'demo-seed.log', 1)}")


def _wait_all(stack: Stack, targets: list[tuple[str, str, float]]) -> None:
    for label, url, timeout in targets:
        if not stack.wait_ready(url, timeout):
            dead = stack.check_children()
            detail = f"\n{dead.name} exited:\n{tail(dead.log_path)}" if dead else ""
            raise RuntimeError(f"{label} did not become ready at {url}{detail}")


def _tolerate_closed_terminal(out: Callable[[str], None]) -> Callable[[str], None]:
    """`out` that never raises: once the terminal is gone (SIGHUP), printing fails, and the stop must go on."""

    def say(text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            out(text)

    return say
