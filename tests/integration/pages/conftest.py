"""Fixtures for the page tests: the site at the emulator's demo seed over a clean database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from support.emulator import GoogleEmulator
from support.signin import Stack
from support.site import serve_site


@pytest.fixture
def site(google_emulator: GoogleEmulator, clean_db: Engine, base_env: dict[str, str]) -> Iterator[Stack]:
    google_emulator.reset()
    with serve_site(google_emulator, clean_db, base_env) as stack:
        yield stack
