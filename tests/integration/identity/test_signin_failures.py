"""Every way a sign-in can fail ends on a clear page (browsers) or a problem document (API clients),
never a 500, and leaves no account, session or token behind."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from support.emulator import HTML, decide, sign_in, walk_to_google
from support.signin import Stack

from driveguard.audit import RequestContext
from driveguard.db.engine import transaction
from driveguard.db.models import AuditLog, OAuthLoginState
from driveguard.google.oauth import GoogleOAuthClient
from driveguard.identity.login import LoginError, LoginService
from driveguard.identity.sessions import SessionService

EMAIL = "bob@gmail.com"
NOTHING_WRITTEN = {"accounts": 0, "sessions": 0}


def written(stack: Stack) -> dict[str, int]:
    counts = stack.counts()
    return {"accounts": counts["accounts"], "sessions": counts["sessions"]}


def failure_reasons(stack: Stack) -> list[str]:
    with transaction(stack.engine) as db:
        rows = db.query(AuditLog).filter(AuditLog.action == "login_failed").order_by(AuditLog.id).all()
        return [row.details["reason"] for row in rows]


def callback_url_for(stack: Stack, decision: str = "allow") -> str:
    return decide(stack.browser, walk_to_google(stack.browser, stack.url), EMAIL, decision)


def test_denied_consent_is_a_page_for_browsers_and_a_problem_for_api_clients(stack: Stack):
    page = sign_in(stack.browser, stack.url, EMAIL, decision="deny")
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "Sign-in cancelled" in page.text and 'href="/auth/login"' in page.text
    assert page.headers["cache-control"] == "no-store"

    callback = callback_url_for(stack, decision="deny")
    assert "error=access_denied" in callback
    problem = stack.browser.get(callback, headers={"Accept": "application/json"})
    assert problem.status_code == 403
    assert problem.headers["content-type"].startswith("application/problem+json")
    assert problem.json()["code"] == "access_denied" and problem.json()["status"] == 403
    assert written(stack) == NOTHING_WRITTEN
    assert failure_reasons(stack) == ["access_denied", "access_denied"]


def test_missing_bad_and_replayed_state(stack: Stack):
    callback = callback_url_for(stack)
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"

    missing = stack.browser.get(base + "?" + urlencode({"code": query["code"]}), headers=HTML)
    assert missing.status_code == 400 and "Sign-in link incomplete" in missing.text
    forged = stack.browser.get(base + "?" + urlencode({**query, "state": "A" * 43}), headers=HTML)
    assert forged.status_code == 400 and "not recognised" in forged.text
    garbage = stack.browser.get(base + "?" + urlencode({**query, "state": "<script>"}), headers=HTML)
    assert garbage.status_code == 400 and "<script>" not in garbage.text
    assert written(stack) == NOTHING_WRITTEN

    # The failed callbacks above left the genuine attempt alone; another browser cannot finish it.
    with httpx.Client(timeout=30) as other_browser:
        foreign = other_browser.get(callback, headers={"Accept": "application/json"})
    assert foreign.status_code == 400 and foreign.json()["code"] == "state_mismatch"
    assert written(stack) == NOTHING_WRITTEN

    fresh_callback = callback_url_for(stack)
    assert stack.browser.get(fresh_callback, headers=HTML).status_code == 303
    assert written(stack) == {"accounts": 1, "sessions": 1}
    replay = stack.browser.get(fresh_callback, headers={"Accept": "application/json"})
    assert replay.status_code == 400 and replay.json()["code"] == "state_replayed"
    assert written(stack) == {"accounts": 1, "sessions": 1}
    assert failure_reasons(stack) == [
        "state_missing",
        "state_invalid",
        "state_invalid",
        "state_mismatch",
        "state_replayed",
    ]


def test_state_expires_after_ten_minutes(stack: Stack):
    callback = callback_url_for(stack)
    stack.clock.advance(11 * 60)
    expired = stack.browser.get(callback, headers={"Accept": "application/json"})
    assert expired.status_code == 400 and expired.json()["code"] == "state_expired"
    assert written(stack) == NOTHING_WRITTEN


def test_replayed_code_with_a_fresh_state_is_refused(stack: Stack):
    first = callback_url_for(stack)
    assert stack.browser.get(first, headers=HTML).status_code == 303
    old_code = parse_qs(urlsplit(first).query)["code"][0]
    second = callback_url_for(stack)
    parts = urlsplit(second)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    replay = stack.browser.get(
        f"{parts.scheme}://{parts.netloc}{parts.path}?" + urlencode({**query, "code": old_code}),
        headers={"Accept": "application/json"},
    )
    assert replay.status_code == 400 and replay.json()["code"] == "code_invalid"
    assert written(stack) == {"accounts": 1, "sessions": 1}  # only the first sign-in


def test_expired_code_is_refused(stack: Stack):
    callback = callback_url_for(stack)
    stack.emu.advance_clock(11 * 60)  # Google's codes live 10 minutes; Driveguard's state is still fresh
    expired = stack.browser.get(callback, headers=HTML)
    assert expired.status_code == 400 and "Sign-in expired" in expired.text
    assert written(stack) == NOTHING_WRITTEN


def test_google_outage_during_code_exchange_is_a_503_page(stack: Stack):
    callback = callback_url_for(stack)
    stack.emu.faults({"group": "token", "error_rate": 1.0, "error_rate_status": 503})
    answer = stack.browser.get(callback, headers={"Accept": "application/json"})
    assert answer.status_code == 503 and answer.json()["code"] == "google_unavailable"
    assert written(stack) == NOTHING_WRITTEN


def test_wrong_issuer_in_the_id_token_is_refused(stack: Stack):
    stack.emu.call("PATCH", "/config", {"issuer": "https://accounts.example.invalid"})
    answer = sign_in(stack.browser, stack.url, EMAIL)
    assert answer.status_code == 400 and "could not be verified" in answer.text
    assert written(stack) == NOTHING_WRITTEN


def test_odd_callback_inputs_never_cause_a_500(stack: Stack):
    for query in [
        "",
        "error=server_error&state=x",
        "code=&state=",
        "state=" + "A" * 5000,
        "code=%00%01&state=%ff",
        "error=access_denied",
    ]:
        answer = stack.browser.get(f"{stack.url}/auth/callback?{query}", headers={"Accept": "application/json"})
        assert 400 <= answer.status_code < 500, (query, answer.status_code, answer.text)
    for headers in [{"Cookie": "dg_login=%%%; dg_session=\x7f"}, {"Cookie": "=;;;=="}]:
        answer = httpx.get(f"{stack.url}/auth/callback?state=abc", headers=headers)
        assert answer.status_code == 400
    assert written(stack) == NOTHING_WRITTEN


# -- id_token checks through the real consent flow, with the token answer altered at the network edge


def rewriting_transport(stack: Stack, change: Callable[[dict], dict]) -> httpx.Client:
    """An httpx client that talks to the emulator but re-mints the id_token of /token answers
    with `change(claims)`, signed by the emulator's own key (so only the altered claim is wrong)."""

    class Rewrite(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.HTTPTransport()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = self.inner.handle_request(request)
            if request.url.path != "/token":
                return response
            response.read()
            body = json.loads(response.content)
            if "id_token" in body:
                claims = jwt.decode(body["id_token"], options={"verify_signature": False})
                body["id_token"] = stack.emu.state.keys.sign(change(claims))
            return httpx.Response(response.status_code, json=body)

    return httpx.Client(transport=Rewrite(), timeout=30)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda c: {**c, "aud": "someone-else.apps.googleusercontent.com", "azp": "someone-else"}, "audience"),
        (lambda c: {**c, "nonce": "not-the-nonce"}, "nonce"),
        (lambda c: {**c, "exp": c["iat"] - 3600, "iat": c["iat"] - 7200}, "expired"),
        (lambda c: {k: v for k, v in c.items() if k != "nonce"}, "nonce"),
    ],
)
def test_id_token_with_wrong_audience_nonce_or_expiry_is_refused(stack: Stack, change, reason: str):
    with rewriting_transport(stack, change) as http:
        oauth = GoogleOAuthClient(stack.settings, http)
        tokens = stack.token_service(http=http)
        login = LoginService(
            stack.settings, stack.engine, tokens, SessionService(stack.settings), oauth=oauth, clock=stack.clock
        )
        start = login.begin(next_path="/")
        page = stack.browser.get(start.authorization_url, headers=HTML)
        callback = decide(stack.browser, page, EMAIL)
        query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
        with pytest.raises(LoginError) as failure:
            login.complete(
                state=query["state"],
                code=query["code"],
                error=None,
                browser_secret=start.browser_secret,
                context=RequestContext.of("127.0.0.1", "pytest"),
            )
    assert failure.value.code == "id_token_invalid"
    assert reason in failure.value.detail
    assert written(stack) == NOTHING_WRITTEN
    with transaction(stack.engine) as db:  # the state was used up: the same redirect cannot be replayed
        assert db.query(OAuthLoginState).one().consumed_at is not None
