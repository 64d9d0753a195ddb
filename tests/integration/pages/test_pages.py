"""The pages over real HTTP: what a person and an admin see, the security headers, CSRF on every
form, admin sign-in, and /api/docs rendering from this origin only."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import httpx
from support.emulator import HTML, sign_in
from support.signin import ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_USER, Stack
from support.site import csrf_token, page_refs

EMAIL = "alice@gmail.com"


def assert_page(answer: httpx.Response) -> str:
    """A page: HTML, a CSP that allows this origin only, every asset served from here."""
    assert answer.headers["content-type"].startswith("text/html"), answer.headers["content-type"]
    csp = answer.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    refs = page_refs(answer.text)
    assert all(urlsplit(ref).netloc == "" for ref in refs.assets), refs.assets
    assert "<script>" not in answer.text and " style=" not in answer.text  # nothing inline for the CSP to block
    return answer.text


def test_start_page_offers_google_sign_in_and_signed_in_people_land_on_their_page(site: Stack):
    browser = site.browser
    home = browser.get(f"{site.url}/", headers=HTML)
    assert home.status_code == 200
    text = assert_page(home)
    assert 'href="/auth/login?next=/me"' in text and "Sign in with Google" in text
    for asset in page_refs(text).assets:
        assert browser.get(urljoin(site.url, asset)).status_code == 200, asset

    callback = sign_in(browser, site.url, EMAIL)  # no `next`: the default destination
    assert callback.status_code == 303 and callback.headers["location"] == "/me"
    assert browser.get(f"{site.url}/", headers=HTML).headers["location"] == "/me"

    me = browser.get(f"{site.url}/me", headers=HTML)
    assert me.status_code == 200
    text = assert_page(me)
    assert EMAIL in text and "Your sessions" in text and "Sign out everywhere" in text
    assert "Reconnect Google" not in text  # the grant is healthy


def test_me_needs_a_session(site: Stack):
    answer = site.browser.get(f"{site.url}/me", headers=HTML)
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_session_forms_need_the_csrf_token_and_then_sign_out(site: Stack):
    browser = site.browser
    sign_in(browser, site.url, EMAIL)
    me = browser.get(f"{site.url}/me", headers=HTML).text
    forged = browser.post(f"{site.url}/me/sessions/revoke", data={"target": "all_sessions"}, headers=HTML)
    assert forged.status_code == 403 and "Form expired" in forged.text
    assert browser.get(f"{site.url}/me", headers=HTML).status_code == 200  # nothing happened

    done = browser.post(
        f"{site.url}/me/sessions/revoke",
        data={"target": "all_sessions", "_csrf_token": csrf_token(me)},
        headers=HTML,
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/?notice=")
    assert browser.get(f"{site.url}/me", headers=HTML).headers["location"] == "/"


def admin_sign_in(site: Stack, browser: httpx.Client, password: str = ADMIN_PASSWORD) -> httpx.Response:
    form = browser.get(f"{site.url}/admin/login", headers=HTML)
    assert form.status_code == 200
    data = {"grant_type": "password", "username": ADMIN_USER, "password": password, "next": "/admin/pipelines"}
    return browser.post(f"{site.url}/admin/login", data={**data, "_csrf_token": csrf_token(form.text)}, headers=HTML)


def test_admin_pages_need_an_admin_sign_in(site: Stack):
    browser = site.browser
    answer = browser.get(f"{site.url}/admin/pipelines?tab=runs", headers=HTML)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/login?next=%2Fadmin%2Fpipelines%3Ftab%3Druns"

    wrong = admin_sign_in(site, browser, "not the password")
    assert wrong.status_code == 401 and 'role="alert"' in wrong.text
    assert browser.get(f"{site.url}/admin", headers=HTML).status_code == 303

    right = admin_sign_in(site, browser)
    assert right.status_code == 303 and right.headers["location"] == "/admin/pipelines"
    cookie = next(c for c in right.headers.get_list("set-cookie") if c.startswith("dg_admin="))
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()

    overview = browser.get(f"{site.url}/admin", headers=HTML)
    assert overview.status_code == 200
    text = assert_page(overview)
    assert "Accounts by level" in text and "Needing re-consent" in text

    # The session cookie of a person is not an admin credential, nor is the admin cookie an API credential.
    assert httpx.get(f"{site.url}/api/storage/overview", cookies=browser.cookies).status_code == 401


def test_pipeline_controls_post_through_the_page_and_report_airflow_down(site: Stack):
    browser = site.browser
    admin_sign_in(site, browser)
    pipelines = browser.get(f"{site.url}/admin/pipelines", headers=HTML)
    assert pipelines.status_code == 200
    text = assert_page(pipelines)
    assert "Airflow is not answering" in text and "storage_collect" in text
    token = csrf_token(text)
    forged = browser.post(f"{site.url}/admin/pipelines/control", data={"action": "trigger"}, headers=HTML)
    assert forged.status_code == 403
    bad = browser.post(
        f"{site.url}/admin/pipelines/control",
        data={"action": "backfill", "from_date": "yesterday", "_csrf_token": token},
        headers=HTML,
    )
    assert bad.status_code == 303 and "from_date" in httpx.URL(bad.headers["location"]).params["notice"]
    run = browser.post(
        f"{site.url}/admin/pipelines/control",
        data={"action": "trigger", "dag_id": "storage_collect", "_csrf_token": token},
        headers=HTML,
    )
    assert run.status_code == 303
    assert "Airflow is unavailable" in httpx.URL(run.headers["location"]).params["notice"]


def test_api_docs_render_from_this_origin(site: Stack):
    docs = httpx.get(f"{site.url}/api/docs", timeout=30)
    assert docs.status_code == 200, docs.text[:500]
    refs = page_refs(docs.text).assets
    assert any(ref.endswith("swagger-ui-bundle.js") for ref in refs), refs
    for ref in refs:
        assert urlsplit(ref).netloc == "", f"/api/docs loads {ref} from another origin"
        asset = httpx.get(urljoin(site.url, ref), timeout=30)
        assert asset.status_code == 200 and len(asset.content) > 0, ref


def test_an_admin_email_uses_their_google_session_and_a_person_is_refused(site: Stack):
    admin, person = site.browser, httpx.Client(timeout=30)
    sign_in(admin, site.url, ADMIN_EMAIL)
    form = admin.get(f"{site.url}/admin/login", headers=HTML).text
    assert f"Continue as {ADMIN_EMAIL}" in form
    data = {"grant_type": "session", "next": "/admin", "_csrf_token": csrf_token(form)}
    answer = admin.post(f"{site.url}/admin/login", data=data, headers=HTML)
    assert answer.status_code == 303 and answer.headers["location"] == "/admin"
    assert admin.get(f"{site.url}/admin", headers=HTML).status_code == 200

    sign_in(person, site.url, EMAIL)
    form = person.get(f"{site.url}/admin/login", headers=HTML).text
    refused = person.post(f"{site.url}/admin/login", data={**data, "_csrf_token": csrf_token(form)}, headers=HTML)
    assert refused.status_code == 403 and 'role="alert"' in refused.text
    assert person.get(f"{site.url}/admin", headers=HTML).status_code == 303
    person.close()


def test_unknown_paths_are_a_404_page_for_browsers_and_a_problem_for_api_clients(site: Stack):
    browser = site.browser
    for path in ("/nope", "/me/x", "/admin/nope", "/admin/accounts/not-an-id"):
        answer = browser.get(f"{site.url}{path}", headers=HTML)
        assert answer.status_code == 404, path
        text = assert_page(answer)  # the pages' layout and CSP, not a JSON document
        assert "Page not found" in text and 'href="/"' in text, path
    # Reloading the address a form posted to is a page too (and still says which method it takes).
    reloaded = browser.get(f"{site.url}/me/preferences", headers=HTML)
    assert reloaded.status_code == 405 and "POST" in reloaded.headers["allow"]
    assert "only takes a form" in assert_page(reloaded)

    # API paths, and clients that do not ask for HTML, keep the RFC 9457 problem.
    for path, headers in (("/api/nope", HTML), ("/nope", {"Accept": "application/json"}), ("/me/x", {})):
        answer = httpx.get(f"{site.url}{path}", headers=headers, timeout=30)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("application/problem+json"), path
        assert answer.json()["status"] == 404
    assert (
        httpx.get(f"{site.url}/me/preferences", timeout=30)
        .headers["content-type"]
        .startswith("application/problem+json")
    )


def test_signed_out_and_non_admin_browsers_are_sent_to_sign_in_never_shown_json(site: Stack):
    person = site.browser
    for path in ("/me", "/admin", "/admin/accounts", "/admin/pipelines"):
        answer = person.get(f"{site.url}{path}", headers=HTML)
        assert answer.status_code == 303, path
    assert person.get(f"{site.url}/me", headers=HTML).headers["location"] == "/"
    sign_in(person, site.url, EMAIL)  # a person, not an admin
    account = person.get(f"{site.url}/admin/accounts/{'0' * 8}-0000-0000-0000-{'0' * 12}?days=7", headers=HTML)
    assert account.status_code == 303
    assert (
        account.headers["location"]
        == "/admin/login?next=%2Fadmin%2Faccounts%2F00000000-0000-0000-0000-000000000000%3Fdays%3D7"
    )
    login = person.get(f"{site.url}{account.headers['location']}", headers=HTML)
    assert (
        login.status_code == 200 and 'value="/admin/accounts/00000000-0000-0000-0000-000000000000?days=7"' in login.text
    )
