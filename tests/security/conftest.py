"""The security suite's fixtures: the API over real HTTP against the emulator, a ledger of attacks,
and the material of the leak search (every log line of the suite, a database dump after each test,
every secret issued).

Every attack goes through `ledger.attack(kind, refused)`: it counts the attempt, and an attack that
got through is counted as passed and fails its test. `pytest_terminal_summary` prints the counts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from support.attacks import LEDGER, Ledger, dump_database
from support.clock import FakeClock, OffsetClock
from support.emulator import GoogleEmulator
from support.servers import free_port, serve_asgi
from support.signin import Sleeps, Stack, deployment_env

from api.__main__ import StripQueryStrings
from api.app import create_app
from driveguard.config import load_settings

TEST_THREADS = ("MainThread", "ThreadPoolExecutor")
"""Threads that run the tests' own HTTP clients: their httpx/httpcore lines (URLs with the callback's
code, response headers with Set-Cookie) are the test's browser talking, not the product logging."""


class _Capture(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("httpx", "httpcore")) and record.threadName.startswith(TEST_THREADS):
            return
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
    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).disabled) for name in CAPTURED_LOGGERS}
    capture_logs()
    yield
    for name, (level, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.removeHandler(CAPTURE)
        logger.setLevel(level)
        logger.disabled = disabled
    logging.getLogger("uvicorn.access").removeFilter(STRIP_QUERIES)


@pytest.fixture
def ledger() -> Ledger:
    return LEDGER


class RecordingApp:
    """The API as served in the suite: every credential it hands out (cookies, tokens in JSON
    bodies) is noted for the leak search."""

    CREDENTIAL_COOKIE = re.compile(rb"^(?:__Host-)?dg_\w+=([^;]+)")
    TOKEN_IN_BODY = re.compile(rb'"(?:access_token|token)"\s*:\s*"([^"]+)"')

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    match = self.CREDENTIAL_COOKIE.match(value) if name.lower() == b"set-cookie" else None
                    if match:
                        LEDGER.secret(match.group(1).decode())
            elif message["type"] == "http.response.body":
                for match in self.TOKEN_IN_BODY.finditer(message.get("body", b"")):
                    LEDGER.secret(match.group(1).decode())
            await send(message)

        await self.app(scope, receive, recording_send)


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
        server = serve_asgi(RecordingApp(app), port=port, log_level="debug", access_log=True)
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
