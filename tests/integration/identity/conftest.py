"""Fixtures for sign-in, token and session tests: a clean database, the emulator at its demo seed,
and the API served over real HTTP with its redirect URI registered at the emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import Engine
from support.clock import OffsetClock
from support.emulator import GoogleEmulator
from support.servers import free_port, serve_asgi
from support.signin import Sleeps, Stack, deployment_env

from api.app import create_app
from driveguard.config import load_settings


@pytest.fixture
def emu(google_emulator: GoogleEmulator) -> Iterator[GoogleEmulator]:
    google_emulator.reset()
    yield google_emulator
    google_emulator.clear_faults()


@pytest.fixture
def make_stack(emu: GoogleEmulator, clean_db: Engine, base_env: dict[str, str]) -> Iterator[Callable[..., Stack]]:
    """Start the API (optionally with extra environment); stopped at the end of the test."""
    stops: list[Callable[[], None]] = []

    def start(**extra_env: str) -> Stack:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = load_settings(deployment_env(base_env, emu.url, url, **extra_env), env_file="/dev/null")
        emu.register_client(f"{url}/auth/callback")
        clock = OffsetClock()
        app = create_app(settings, clean_db, clock=clock)
        server = serve_asgi(app, port=port)
        served = server.__enter__()
        assert served == url
        browser = httpx.Client(timeout=30)
        stops.append(lambda: (browser.close(), server.__exit__(None, None, None)))
        return Stack(url, settings, clean_db, clock, emu, browser, Sleeps(), app.state.read_audit)

    yield start
    for stop in reversed(stops):
        stop()


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


GRANT_FAULT_ENV = {"GOOGLE_TOKEN_TIMEOUT_SECONDS": "1", "TOKEN_REFRESH_UNCERTAIN_SECONDS": "1800"}
"""The grant tests' deployment: a 1 s token-endpoint timeout, a 30 min bound on uncertain refreshes."""


@pytest.fixture
def start_rotating(make_stack: Callable[..., Stack]) -> Callable[..., Stack]:
    """Start the API (with extra environment) in front of a provider that rotates refresh tokens,
    revokes a grant when a rotated token is reused, and issues 60 s access tokens (issue 15 item 2)."""

    def start(**env: str) -> Stack:
        stack = make_stack(**{**GRANT_FAULT_ENV, **env})
        stack.emu.call(
            "PATCH",
            "/config",
            {"rotate_refresh_tokens": True, "refresh_reuse_revokes_grant": True, "access_token_ttl": 60},
        )
        return stack

    return start


@pytest.fixture
def rotating(start_rotating: Callable[..., Stack]) -> Stack:
    return start_rotating()
