"""In a real browser: a person signs in through the emulator's consent page and sees their storage;
an admin signs in, reads the overview, opens an account, changes its thresholds and runs a pipeline;
a person whose grant was revoked reconnects; /api/docs renders from this origin. Every page visited
is saved as a screenshot under var/screenshots/."""

from __future__ import annotations

import contextlib
import re

import httpx
import pytest
from support.browser import Tab
from support.emulator import sign_in
from support.signin import ADMIN_PASSWORD, ADMIN_USER, Stack
from support.site import grow

from driveguard import pipelines
from driveguard.pipelines import Runtime

GIB = 1024**3
ALICE, BOB, CAROL = "alice@gmail.com", "bob@gmail.com", "carol@gmail.com"


def seed_history(site: Stack, *emails: str) -> None:
    """The accounts sign in (plain HTTP), then three weeks of real collections give them history."""
    plan = {ALICE: (10 * GIB, 40, 61), BOB: (10 * GIB, 70, 84), CAROL: (10 * GIB, 91, 93)}
    for email in emails:
        with httpx.Client(timeout=30) as other_browser:
            sign_in(other_browser, site.url, email)
    grow(site, {email: plan[email] for email in emails})


def consent(tab: Tab, email: str) -> None:
    """On the emulator's consent page: choose the account and allow."""
    page = tab.page
    page.wait_for_url(re.compile(r".*/o/oauth2/.*"))
    tab.shot("google-consent")
    page.get_by_role("radio", name=re.compile(re.escape(email))).check()
    page.get_by_role("button", name="Allow").click()


def test_a_person_signs_in_and_sees_their_storage(tab: Tab, site: Stack):
    seed_history(site, ALICE)
    page = tab.page
    tab.open("/")
    tab.shot("home")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"  # keyboard first stop

    page.get_by_role("link", name="Sign in with Google").click()
    consent(tab, ALICE)
    page.wait_for_url(f"{site.url}/me")

    meter = page.get_by_role("meter", name="Storage used")
    assert meter.get_attribute("aria-valuenow") == "61.0"
    assert "6.1 GiB of 10.0 GiB" in page.locator(".gauge-text").inner_text()
    line = page.locator("polyline.usage-line")
    box = line.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 20  # a drawn chart, not an empty one
    assert page.locator("line.threshold").count() == 3
    assert page.get_by_role("img", name=re.compile("Your storage over the last 30 days")).is_visible()
    assert "107.5 MiB a day" in page.get_by_role("region", name="Trend and forecast").inner_text()
    assert page.get_by_role("button", name="Sign out everywhere").is_visible()
    tab.shot("me")
    assert all(url.startswith((site.url, site.emu.url)) for url in tab.requested), tab.requested


@pytest.mark.parametrize("site", ["airflow"], indirect=True)
def test_an_admin_reads_the_overview_opens_an_account_changes_thresholds_and_runs_a_pipeline(tab: Tab, site: Stack):
    seed_history(site, ALICE, BOB, CAROL)
    page = tab.page
    tab.open("/admin")
    page.wait_for_url(re.compile(r".*/admin/login.*"))
    tab.shot("admin-login")
    page.get_by_label("User name").fill(ADMIN_USER)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/admin")

    assert page.locator(".total-critical dd").inner_text() == "1"
    assert page.locator(".total-warning dd").inner_text() == "1"
    tab.shot("admin-overview")

    nearest = page.get_by_role("region", name="Nearest to full")
    nearest.get_by_role("link", name=BOB).click()
    page.wait_for_url(re.compile(r".*/admin/accounts/[0-9a-f-]+$"))
    assert page.locator("polyline.usage-line").bounding_box()["width"] > 300
    assert "warning" in page.get_by_role("region", name="Alerts", exact=True).inner_text()
    tab.shot("admin-account")

    page.get_by_label("Warning at").fill("86")
    page.get_by_label("Critical at").fill("95")
    page.get_by_role("button", name="Save preferences").click()
    assert page.get_by_role("status").inner_text() == "Preferences saved."
    assert page.locator("text.threshold-label-critical").text_content() == "critical 95 %"
    assert page.locator("text.threshold-label-warning").text_content() == "warning 86 %"
    tab.shot("admin-account-thresholds")

    page.get_by_role("link", name="Accounts", exact=True).click()
    page.get_by_role("link", name="Account", exact=True).click()  # sort by email
    emails = page.locator("#accounts-table tbody th a").all_inner_texts()
    assert emails == sorted(emails) and len(emails) == 3
    page.get_by_label("Level").select_option("critical")
    page.get_by_role("button", name="Apply").click()
    assert page.locator("#accounts-table tbody th a").all_inner_texts() == [CAROL]
    tab.shot("admin-accounts")

    page.get_by_role("link", name="Pipelines").click()
    tab.shot("admin-pipelines")
    collect = page.get_by_role("row", name=re.compile("^storage_collect"))
    assert "active" in collect.inner_text()
    assert (
        collect.get_by_role("link", name=re.compile("storage_collect"))
        .get_attribute("href")
        .endswith("/dags/storage_collect")
    )  # into the Airflow UI
    page.get_by_role("button", name="Run now storage_collect").click()
    notice = page.get_by_role("status").inner_text()
    queued = re.fullmatch(r"Run (\S+) of storage_collect queued\.", notice)
    assert queued, notice
    tab.shot("admin-pipelines-run-now")
    try:
        assert "queued" in page.get_by_role("row", name=re.compile("^storage_collect")).inner_text()
    finally:
        delete_dag_run("storage_collect", queued.group(1))  # the Airflow database is the session's


def delete_dag_run(dag_id: str, run_id: str) -> None:
    """Remove a run this test queued, so later DAG suites see only their own runs."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).delete()


def test_a_person_whose_grant_was_revoked_reconnects(tab: Tab, site: Stack):
    page = tab.page
    tab.open("/")
    page.get_by_role("link", name="Sign in with Google").click()
    consent(tab, ALICE)
    page.wait_for_url(f"{site.url}/me")
    assert page.get_by_role("heading", name="Reconnect Google").count() == 0

    # Alice removes Driveguard's access at Google; the next refresh finds out.
    site.emu.revoke_account(ALICE)
    site.advance(3600)
    account = site.account(ALICE)
    with contextlib.closing(site.token_service()) as tokens:
        assert tokens.refresh_if_expiring(account.id, within_seconds=600).name == "REAUTH_REQUIRED"
    pipelines.grant_notices(Runtime(site.settings, site.engine, clock=site.clock))

    page.reload()
    assert page.get_by_role("heading", name="Reconnect Google").is_visible()
    assert "lost access" in page.get_by_role("region", name="Notices").inner_text()
    tab.shot("me-reconnect")
    page.get_by_role("link", name="Reconnect Google").click()
    consent(tab, ALICE)
    page.wait_for_url(f"{site.url}/me")
    assert page.get_by_role("heading", name="Reconnect Google").count() == 0
    assert site.account(ALICE).status.value == "active"
    tab.shot("me-reconnected")


def test_api_docs_render_offline(tab: Tab, site: Stack):
    page = tab.page
    tab.open("/api/docs")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "Driveguard API" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock").count() > 10
    tab.shot("api-docs")
    assert all(url.startswith(site.url) for url in tab.requested), tab.requested
    assert not tab.csp_violations, tab.csp_violations  # no inline script or style needed


def test_the_pages_read_and_work_without_javascript(chromium, site: Stack):
    seed_history(site, ALICE)
    context = chromium.new_context(java_script_enabled=False)
    try:
        tab = Tab(context.new_page(), site.url)
        page = tab.page
        tab.open("/")
        page.get_by_role("link", name="Sign in with Google").click()
        consent(tab, ALICE)
        page.wait_for_url(f"{site.url}/me")
        assert page.locator("polyline.usage-line").bounding_box()["width"] > 300
        assert page.get_by_role("meter", name="Storage used").get_attribute("aria-valuenow") == "61.0"
        page.get_by_label("Warning at").fill("70")
        page.get_by_role("button", name="Save preferences").click()  # a plain form post, CSRF token included
        assert page.get_by_role("status").inner_text() == "Your alert preferences are saved."
        assert page.locator("text.threshold-label-warning").text_content() == "warning 70 %"
        tab.shot("me-without-javascript")
        assert not tab.csp_violations
    finally:
        context.close()
