"""The Workspace admin grants the Admin Reports scope through the product's own sign-in
(incremental authorization), and the backfill then reads domain usage with that grant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from support.emulator import HTML, decide, sign_in, walk_to_google
from support.signin import Stack

from driveguard.config import SCOPE_REPORTS_USAGE
from driveguard.db.models import StorageSnapshot
from driveguard.pipelines import BackfillNotConfigured, Runtime, backfill_day
from driveguard.storage.collection import Interval

ADMIN = "erin@northwind.example"


def test_workspace_admin_grants_reports_scope_and_backfill_uses_it(make_stack: Callable[..., Stack]):
    stack = make_stack(GOOGLE_WORKSPACE_ADMIN_EMAIL=ADMIN)
    for email in ("dave@northwind.example", ADMIN):
        assert sign_in(stack.browser, stack.url, email).status_code == 303
    assert SCOPE_REPORTS_USAGE not in stack.account(ADMIN).granted_scopes
    day = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=5)
    interval = Interval(day, day + dt.timedelta(days=1))
    runtime = Runtime(stack.settings, stack.engine)
    with pytest.raises(BackfillNotConfigured, match="has not granted"):
        backfill_day(runtime, interval)

    consent = walk_to_google(stack.browser, stack.url, grant="workspace-reports")
    asked = parse_qs(urlsplit(str(consent.url)).query)
    assert SCOPE_REPORTS_USAGE in asked["scope"][0].split()
    assert asked["login_hint"] == [ADMIN] and asked["prompt"] == ["consent"]
    callback = decide(stack.browser, consent, ADMIN)
    assert stack.browser.get(callback, headers=HTML).status_code == 303

    assert SCOPE_REPORTS_USAGE in stack.account(ADMIN).granted_scopes
    counts = backfill_day(runtime, interval)
    assert counts["date"] == day.date().isoformat()
    # dave and erin are the domain's signed-in accounts; Reports knows more users, which are skipped.
    assert counts["matched_accounts"] == 2 and counts["inserted"] == 2
    assert stack.count(StorageSnapshot) == 2


def test_reports_grant_needs_a_configured_workspace_admin(stack: Stack):
    with stack.api() as api:
        refused = api.get("/auth/login", params={"grant": "workspace-reports"})
        unknown = api.get("/auth/login", params={"grant": "everything"})
    assert refused.status_code == 400
    assert refused.json()["code"] == "workspace_admin_not_configured"
    assert unknown.status_code == 400
    assert unknown.headers["content-type"].startswith("application/problem+json")
