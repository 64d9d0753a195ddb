"""Browser tests: Debian's chromium driven by Playwright (its own browser download is never used;
`make test` installs chromium when it is missing). Each test gets a fresh browser context on the
whole site (API, pages, the emulator's consent page); screenshots go to var/screenshots/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from support.airflow_harness import AIRFLOW_PASSWORD, AIRFLOW_USER
from support.browser import Tab
from support.emulator import GoogleEmulator
from support.signin import Stack
from support.site import serve_site

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    assert executable, "chromium is not installed: `make test` installs it (apt-get install -y chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def site(
    request: pytest.FixtureRequest, google_emulator: GoogleEmulator, clean_db: Engine, base_env: dict[str, str]
) -> Iterator[Stack]:
    """The site; `@pytest.mark.parametrize("site", ["airflow"], indirect=True)` puts Airflow's real
    API behind it (otherwise Airflow is unreachable, as the pages must also handle)."""
    extra: dict[str, str] = {}
    if getattr(request, "param", None) == "airflow":
        url = request.getfixturevalue("airflow_api")
        extra = {"AIRFLOW_API_URL": url, "AIRFLOW_USERNAME": AIRFLOW_USER, "AIRFLOW_PASSWORD": AIRFLOW_PASSWORD}
    google_emulator.reset()
    with serve_site(google_emulator, clean_db, base_env, **extra) as stack:
        yield stack


@pytest.fixture
def tab(chromium: Any, site: Stack) -> Iterator[Tab]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = Tab(context.new_page(), site.url)
    yield tab
    context.close()
    assert not tab.csp_violations, tab.csp_violations
