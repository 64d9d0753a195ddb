"""The pages with real storage history: three weeks of collections through the emulator, then what
a person sees on /me and what an admin sees on the overview, the account table and one account."""

from __future__ import annotations

import re

import httpx
from support.emulator import HTML, sign_in
from support.signin import ADMIN_PASSWORD, ADMIN_USER, Stack
from support.site import csrf_token, grow

GIB = 1024**3
ALICE, BOB, CAROL = "alice@gmail.com", "bob@gmail.com", "carol@gmail.com"


def admin_browser(site: Stack) -> httpx.Client:
    browser = httpx.Client(base_url=site.url, headers=HTML, timeout=30)
    form = browser.get("/admin/login").text
    data = {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "_csrf_token": csrf_token(form)}
    assert browser.post("/admin/login", data=data).status_code == 303
    return browser


def seed(site: Stack) -> None:
    for email in (ALICE, BOB, CAROL):
        sign_in(httpx.Client(timeout=30), site.url, email)
    sign_in(site.browser, site.url, ALICE)
    grow(site, {ALICE: (10 * GIB, 40, 61), BOB: (10 * GIB, 70, 84), CAROL: (10 * GIB, 91, 93)})


def test_me_shows_usage_history_with_thresholds_forecast_and_preferences(site: Stack):
    seed(site)
    me = site.browser.get(f"{site.url}/me", headers=HTML)
    assert me.status_code == 200
    text = me.text
    # Usage now: the gauge with its numbers for screen readers.
    assert 'role="meter"' in text and 'aria-valuenow="61.0"' in text
    assert "6.1 GiB of 10.0 GiB" in text
    # The chart: a drawn line, the warning and critical lines, a forecast, and the numbers as a table.
    assert text.count('class="threshold threshold-') == 3
    assert re.search(r'<polyline points="[\d., ]+" class="usage-line"', text)
    assert 'class="forecast-line"' in text
    assert len(re.findall(r"<tr><td>\d{4}-\d\d-\d\d", text)) == 21  # one point a day
    # The trend: 21 % of 10 GiB over 20 days, 1.05 % a day: warning (80 %) about 18 days after yesterday.
    assert "107.5 MiB a day" in text
    assert re.search(r"<th scope=\"row\">warning</th><td>80 %</td><td>in about (16|17|18) days", text)

    # Preferences: validated (warning below critical), then saved and used for the lines.
    form = {"warning_threshold_percent": "95", "critical_threshold_percent": "90", "alerts_enabled": "on"}
    refused = site.browser.post(
        f"{site.url}/me/preferences", data={**form, "_csrf_token": csrf_token(text)}, headers=HTML
    )
    assert refused.status_code == 400 and 'role="alert"' in refused.text and 'aria-invalid="true"' in refused.text
    form["warning_threshold_percent"] = "60"
    saved = site.browser.post(
        f"{site.url}/me/preferences", data={**form, "_csrf_token": csrf_token(text)}, headers=HTML
    )
    assert saved.status_code == 303
    after = site.browser.get(f"{site.url}/me", headers=HTML).text
    assert "warning 60 %" in after and "<dd>60 %</dd>" in after


def test_admin_overview_table_and_account_page(site: Stack):
    seed(site)
    admin = admin_browser(site)
    overview = admin.get("/admin").text
    fullest = re.findall(r'<th scope="row"><a href="/admin/accounts/[^"]+">([^<]+)</a>', overview)
    assert fullest[:3] == [CAROL, BOB, ALICE]  # nearest to full
    fastest = overview.split('id="fastest-title"')[1].split("</section>")[0]
    assert fastest.index(ALICE) < fastest.index(BOB) and CAROL in fastest  # by 7-day growth

    table = admin.get("/admin/accounts", params={"sort": "email", "direction": "asc", "limit": 2})
    assert table.status_code == 200
    rows = re.findall(r'<th scope="row"><a href="/admin/accounts/[^"]+">([^<]+)</a>', table.text)
    assert rows == [ALICE, BOB]
    next_link = re.search(r'<a href="([^"]+)" rel="next">', table.text).group(1).replace("&amp;", "&")
    assert re.findall(r'<th scope="row"><a href="/admin/accounts/[^"]+">([^<]+)</a>', admin.get(next_link).text) == [
        CAROL
    ]
    assert 'aria-sort="ascending"' in table.text
    critical = admin.get("/admin/accounts", params={"level": "critical", "status": "", "q": ""}).text
    assert re.findall(r'<th scope="row"><a href="/admin/accounts/[^"]+">([^<]+)</a>', critical) == [CAROL]
    assert admin.get("/admin/accounts", params={"level": "bogus"}).status_code == 400
    # Collected yesterday, collecting hourly: all three are stale, oldest snapshot first.
    stale = admin.get("/admin/accounts", params={"stale": 1, "sort": "last_collected", "direction": "asc"}).text
    assert len(re.findall(r'<th scope="row"><a href="/admin/accounts/', stale)) == 3
    by_growth = admin.get("/admin/accounts", params={"sort": "growth_7d", "direction": "desc"}).text
    assert re.findall(r'<th scope="row"><a href="/admin/accounts/[^"]+">([^<]+)</a>', by_growth) == [ALICE, BOB, CAROL]

    account_url = re.search(rf'<a href="(/admin/accounts/[^"]+)">{re.escape(BOB)}</a>', overview).group(1)
    page = admin.get(account_url)
    assert page.status_code == 200
    assert 'class="usage-line"' in page.text and "threshold-critical" in page.text
    assert "warning" in page.text.split('id="alerts-title"')[1]  # bob crossed 80 %: a warning alert
    assert admin.get(account_url, params={"days": 90}).status_code == 200
    assert admin.get("/admin/accounts/00000000-0000-0000-0000-000000000000").status_code == 404

    # An admin changes bob's thresholds; bob's page shows the new lines.
    form = {"warning_threshold_percent": "85", "critical_threshold_percent": "95", "alerts_enabled": "on"}
    saved = admin.post(f"{account_url}/preferences", data={**form, "_csrf_token": csrf_token(page.text)})
    assert saved.status_code == 303
    assert "critical 95 %" in admin.get(account_url).text
