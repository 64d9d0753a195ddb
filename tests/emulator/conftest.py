"""Start the Google emulator once per session on a free loopback port, over real HTTP.

Every test takes `emu`: the session's emulator reset to the demo seed. Tests talk to it only
through HTTP: Google's own libraries for Google's endpoints, `emu.admin` for `/_emulator/`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.emulator_admin import AdminClient, RunningEmulator, serve

from emulator import Client, EmulatorState

CLIENT_ID = "emulator-tests.apps.googleusercontent.com"
CLIENT_SECRET = "emulator-tests-secret"
REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[RunningEmulator]:
    state = EmulatorState(seed="demo", clients=[Client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])])
    with serve(state) as base_url:
        admin = AdminClient(base_url)
        try:
            yield RunningEmulator(base_url, admin, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)
        finally:
            admin.close()


@pytest.fixture
def emu(emulator_session: RunningEmulator) -> RunningEmulator:
    """The session's emulator, back at the demo seed: accounts, tokens, clock, faults, stats."""
    emulator_session.admin.reset()
    return emulator_session
