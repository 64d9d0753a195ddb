"""A second user against the first (IDOR) and another site against a signed-in person (CSRF), on
every route the app serves (read from the app: a new route is attacked as soon as it exists)."""

from __future__ import annotations

import re
import uuid

import httpx
from support.attacks import Ledger, served_routes
from support.emulator import HTML, sign_in
from support.signin import Stack

from api.app import create_app

ALICE, BOB = "alice@gmail.com", "bob@gmail.com"
JSON_BODIES: list[dict[str, object]] = [
    {"target": "all_sessions", "confirm": True},
    {"target": "grant", "confirm": True},
    {"confirm": True},
    {"alerts_enabled": False},
    {"grant_type": "session"},
]
FORM_BODIES: list[dict[str, str]] = [{"target": "all_sessions"}, {"alerts_enabled": "false"}, {"action": "pause"}]


def _signed_in(stack: Stack, email: str) -> tuple[httpx.Client, str, uuid.UUID]:
    browser = httpx.Client(timeout=30)
    answer = sign_in(browser, stack.url, email)
    assert answer.status_code == 303, answer.text
    token = next(value for name, value in browser.cookies.items() if name == "dg_session")
    return browser, token, stack.account(email).id


def _csrf_token(browser: httpx.Client, url: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', browser.get(f"{url}/me", headers=HTML).text)
    assert match, "no CSRF token on /me"
    return match.group(1)


def _alice_is_untouched(stack: Stack, alice_token: str, alice_id: uuid.UUID) -> list[str]:
    problems = []
    with stack.api(alice_token) as alice:
        status = alice.get("/api/oauth/status")
        if status.status_code != 200:
            problems.append(f"alice's session ended: {status.status_code}")
        preferences = alice.get("/api/storage/me/preferences")
        if preferences.status_code != 200 or preferences.json()["alerts_enabled"] is not True:
            problems.append(f"alice's preferences changed: {preferences.text[:200]}")
    account = stack.account(ALICE)
    if account.erasure_requested_at is not None:
        problems.append("alice's erasure was requested")
    if account.status.value != "active":
        problems.append(f"alice's grant is {account.status.value}")
    assert account.id == alice_id
    return problems


def test_a_second_user_reaches_nothing_of_the_first_on_any_route(stack: Stack, ledger: Ledger):
    alice_browser, alice_token, alice_id = _signed_in(stack, ALICE)
    bob_browser, bob_token, _ = _signed_in(stack, BOB)
    with stack.api(alice_token) as alice:
        alice_session = alice.get("/api/oauth/status").json()["sessions"][0]["id"]
    ids = {"account_id": str(alice_id), "session_id": alice_session}
    csrf = _csrf_token(bob_browser, stack.url)
    app = create_app(stack.settings, stack.engine)
    with stack.api(bob_token) as bob:
        for route in served_routes(app):
            path = route.path(account_id=str(alice_id), file_path="app.css", path="swagger")
            query = {name: ids[name] for name in route.query if name in ids}
            answers = []
            if not route.changes_state:
                answers.append(bob.get(path, params=query))
                answers.append(bob_browser.get(f"{stack.url}{path}", params=query, headers=HTML))
            else:
                for body in JSON_BODIES:
                    answers.append(bob.request(route.method, path, params=query, json={**body, **ids}))
                for form in FORM_BODIES:
                    data = {**form, **ids, "_csrf_token": csrf}
                    answers.append(bob_browser.post(f"{stack.url}{path}", data=data, headers=HTML))
            for answer in answers:
                leaked = ALICE in answer.text or (answer.status_code < 300 and str(alice_id) in answer.text)
                ledger.attack("IDOR (read)", not leaked, f"{route.method} {path} -> {answer.status_code}")
            if route.changes_state:
                problems = _alice_is_untouched(stack, alice_token, alice_id)
                ledger.attack("IDOR (write)", not problems, f"{route.method} {path}: {problems}")
    ledger.attack("IDOR (write)", not _alice_is_untouched(stack, alice_token, alice_id), "after every route")
    alice_browser.close()
    bob_browser.close()


def test_another_site_changes_nothing_through_a_signed_in_browser(stack: Stack, ledger: Ledger):
    alice_browser, alice_token, alice_id = _signed_in(stack, ALICE)
    csrf = _csrf_token(alice_browser, stack.url)  # a token the attacker cannot read; stolen cookies below
    audit_before = stack.audit_actions()
    cross_site = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Accept": "application/json"}
    app = create_app(stack.settings, stack.engine)
    # The worst case: a browser that still sends the cookies on a cross-site POST (SameSite ignored).
    cookies = {name: value for name, value in alice_browser.cookies.items()}
    with httpx.Client(base_url=stack.url, timeout=30, cookies=cookies) as attacker_page:
        for route in [route for route in served_routes(app) if route.changes_state]:
            path = route.path(account_id=str(alice_id))
            answers = [attacker_page.request(route.method, path, json=body, headers=cross_site) for body in JSON_BODIES]
            for form in FORM_BODIES:
                # A form on another site can neither read the CSRF token nor set our cookie: it posts without.
                answers.append(attacker_page.post(path, data=form, headers={**cross_site, "Accept": HTML["Accept"]}))
                # A same-site-looking post with a forged token fails the double submit.
                forged = {**form, "_csrf_token": csrf[::-1]}
                answers.append(attacker_page.post(path, data=forged, headers={**cross_site, "Accept": HTML["Accept"]}))
            problems = _alice_is_untouched(stack, alice_token, alice_id)
            changed = [action for action in stack.audit_actions()[len(audit_before) :] if action != "admin_action"]
            ledger.attack(
                "CSRF",
                not problems and not changed,
                f"{route.method} {path} -> {[a.status_code for a in answers]}: {problems} {changed}",
            )
    alice_browser.close()
