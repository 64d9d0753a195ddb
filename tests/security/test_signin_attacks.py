"""Attacks on Google sign-in: state replay and mix-up, PKCE downgrade, open redirects on every
route, session fixation, and the cookies' flags and `__Host-` prefix."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from support.attacks import Ledger, served_routes
from support.emulator import HTML, decide, sign_in, walk_to_google
from support.signin import Stack

from api.app import create_app

VICTIM, ATTACKER = "alice@gmail.com", "bob@gmail.com"
EVIL_NEXT = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/%2F%2Fevil.example",
    "javascript:alert(1)",
    "http://127.0.0.1.evil.example/",
]


def _session_cookies(stack: Stack, client: httpx.Client) -> list[str]:
    return [value for name, value in client.cookies.items() if name.endswith("dg_session")]


def test_a_callback_cannot_be_replayed_or_delivered_to_another_browser(stack: Stack, ledger: Ledger):
    # The attacker walks their own sign-in to Google's redirect and keeps the callback URL.
    attacker = httpx.Client(timeout=30)
    stolen = decide(attacker, walk_to_google(attacker, stack.url), ATTACKER)
    # Login CSRF / mix-up: the victim's browser is made to open it; it has no matching login cookie.
    victim = stack.browser
    answer = victim.get(stolen, headers=HTML)
    ledger.attack("callback mix-up (login CSRF)", answer.status_code == 400 and not _session_cookies(stack, victim))
    # The attacker's own sign-in still works once, then the same callback is refused.
    first = attacker.get(stolen, headers=HTML)
    assert first.status_code == 303
    sessions = stack.counts()["sessions"]
    replay = attacker.get(stolen, headers=HTML)
    ledger.attack("callback replay", replay.status_code == 400 and stack.counts()["sessions"] == sessions)
    # A callback naming another issuer (an IdP mix-up) is refused.
    fresh = decide(attacker, walk_to_google(attacker, stack.url), ATTACKER)
    mixed = attacker.get(f"{fresh}&iss=https%3A%2F%2Fevil.example", headers=HTML)
    ledger.attack("issuer mix-up", mixed.status_code in (400, 403) and stack.counts()["sessions"] == sessions)
    attacker.close()


def _tamper(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v for k, v in parse_qsl(parts.query)}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_pkce_cannot_be_downgraded(stack: Stack, ledger: Ledger):
    for name, changes in {
        "challenge stripped": {"code_challenge": None, "code_challenge_method": None},
        "method plain": {"code_challenge_method": "plain"},
    }.items():
        browser = httpx.Client(timeout=30)
        start = browser.get(f"{stack.url}/auth/login", headers=HTML)
        assert "code_challenge_method=S256" in start.headers["location"]
        consent = browser.get(_tamper(start.headers["location"], **changes), headers=HTML)
        assert consent.status_code == 200, consent.text
        answer = browser.get(decide(browser, consent, VICTIM), headers=HTML)
        ledger.attack("PKCE downgrade", answer.status_code >= 400 and not _session_cookies(stack, browser), name)
        browser.close()
    assert stack.counts()["sessions"] == 0


def test_no_route_redirects_to_another_site(stack: Stack, ledger: Ledger):
    app = create_app(stack.settings, stack.engine)
    own = urlsplit(stack.url).netloc
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        for route in served_routes(app):
            for evil in EVIL_NEXT:
                path = route.path(file_path="app.css", path="swagger")
                answer = client.request(route.method, path, params={"next": evil}, headers=HTML)
                location = answer.headers.get("location", "")
                target = urlsplit(location)
                offsite = (target.netloc not in ("", own) and not location.startswith(stack.emu.url)) or (
                    target.scheme not in ("", "http", "https")
                )
                ledger.attack("open redirect", not offsite, f"{route.method} {path}?next={evil} -> {location}")
    # And through a whole sign-in: Google's redirect back lands on this site.
    for evil in EVIL_NEXT[:4]:
        browser = httpx.Client(timeout=30)
        landed = sign_in(browser, stack.url, VICTIM, next_path=evil)
        location = landed.headers.get("location", "")
        ledger.attack("open redirect after sign-in", location.startswith("/") and not location.startswith("//"), evil)
        browser.close()


def _issued_session(answer: httpx.Response) -> str:
    line = next(line for line in answer.headers.get_list("set-cookie") if line.startswith("dg_session="))
    return line.split(";", 1)[0].split("=", 1)[1]


def test_a_planted_session_cookie_is_replaced_at_sign_in(stack: Stack, ledger: Ledger):
    # The attacker plants a value of their choosing, then their own real session, in the victim's browser.
    chosen = "attacker-chosen-value-0123456789abcdef0123456789"
    victim = httpx.Client(timeout=30, cookies={"dg_session": chosen})
    token = _issued_session(sign_in(victim, stack.url, VICTIM))
    ledger.attack("session fixation (chosen value)", token != chosen)
    with stack.api(chosen) as planted:
        ledger.attack("session fixation (chosen value)", planted.get("/api/oauth/status").status_code == 401)
    victim.close()

    attacker = httpx.Client(timeout=30)
    attacker_token = _issued_session(sign_in(attacker, stack.url, ATTACKER))
    victim = httpx.Client(timeout=30, cookies={"dg_session": attacker_token})
    victim_token = _issued_session(sign_in(victim, stack.url, VICTIM))
    ledger.attack("session fixation (planted session)", victim_token != attacker_token)
    with stack.api(attacker_token) as as_attacker, stack.api(victim_token) as as_victim:
        attacker_sees = as_attacker.get("/api/oauth/status")
        victim_sees = as_victim.get("/api/oauth/status").json()["account"]["email"]
    # The planted session was ended by the sign-in (or still names the attacker): never the victim.
    attacker_account = attacker_sees.json().get("account", {}) if attacker_sees.status_code == 200 else {}
    ledger.attack(
        "session fixation (planted session)",
        victim_sees == VICTIM and attacker_account.get("email") in (None, ATTACKER),
        attacker_sees.text[:200],
    )
    attacker.close()
    victim.close()


def _set_cookies(answer: httpx.Response) -> dict[str, str]:
    return {line.split("=", 1)[0]: line for line in answer.headers.get_list("set-cookie")}


def test_cookies_are_host_only_http_only_same_site_and_secure_when_asked(make_stack, ledger: Ledger):
    secure = make_stack(SESSION_COOKIE_SECURE="true")
    browser = httpx.Client(timeout=30)
    start = browser.get(f"{secure.url}/auth/login", headers=HTML)
    cookies = _set_cookies(start)
    login = cookies.get("__Host-dg_login", "")
    consent = browser.get(start.headers["location"], headers=HTML)
    callback = decide(browser, consent, VICTIM)
    login_value = login.split(";", 1)[0].split("=", 1)[1]
    # httpx keeps Secure cookies off plain http, as a browser would; send it like the https browser would.
    answer = httpx.get(callback, headers={**HTML, "Cookie": f"__Host-dg_login={login_value}"})
    assert answer.status_code == 303, answer.text
    session = _set_cookies(answer).get("__Host-dg_session", "")
    for name, line in (("login", login), ("session", session)):
        flags = [flag.strip().lower() for flag in line.split(";")[1:]]
        ok = (
            bool(line)
            and "secure" in flags
            and "httponly" in flags
            and "path=/" in flags
            and any(flag.startswith("samesite=") for flag in flags)
            and not any(flag.startswith("domain=") for flag in flags)
        )
        ledger.attack("cookie flags (secure)", ok, f"{name}: {line.split('=', 1)[0]} {flags}")
    browser.close()

    plain = make_stack(SESSION_COOKIE_SECURE="false")
    landed = sign_in(httpx.Client(timeout=30), plain.url, VICTIM)
    session = _set_cookies(landed).get("dg_session", "")
    flags = [flag.strip().lower() for flag in session.split(";")[1:]]
    ledger.attack("cookie flags (http)", "httponly" in flags and "samesite=lax" in flags and "path=/" in flags)
