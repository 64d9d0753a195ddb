"""Admin JWTs: forged, `alg=none`, expired, wrong audience, wrong issuer, wrong role; and a token
exchanged from an admin's Google session is refused once that session or the grant is revoked."""

from __future__ import annotations

import base64
import json
import uuid

import jwt
from support.attacks import Ledger
from support.emulator import sign_in
from support.signin import ADMIN_EMAIL, Stack

from driveguard.identity.admin_auth import _signing_key

ADMIN_ROUTE = "/api/oauth/detailed-status"


def _unsigned(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _refused(stack: Stack, token: str) -> tuple[bool, str]:
    with stack.api(token) as client:
        answer = client.get(ADMIN_ROUTE)
    return answer.status_code == 401, f"{answer.status_code} {answer.text[:200]}"


def test_forged_and_tampered_admin_tokens_are_refused(stack: Stack, ledger: Ledger):
    real = stack.admin_token()
    claims = jwt.decode(real, options={"verify_signature": False})
    key = _signing_key(stack.settings.security.secret_key)
    forgeries = {
        "another key": jwt.encode({**claims, "exp": claims["exp"] + 60}, "not-the-key" * 4, algorithm="HS256"),
        "the raw secret as key": jwt.encode(claims, stack.settings.security.secret_key, algorithm="HS256"),
        "alg=none": _unsigned(claims),
        "alg=none, no dot": _unsigned(claims).rstrip("."),
        "wrong audience": jwt.encode({**claims, "aud": "driveguard-user-api"}, key, algorithm="HS256"),
        "wrong issuer": jwt.encode({**claims, "iss": "https://evil.example"}, key, algorithm="HS256"),
        "no role": jwt.encode({k: v for k, v in claims.items() if k != "role"}, key, algorithm="HS256"),
        "role user": jwt.encode({**claims, "role": "user"}, key, algorithm="HS256"),
        "unknown admin": jwt.encode({**claims, "sub": "user:mallory"}, key, algorithm="HS256"),
        "google kind without a session": jwt.encode(
            {
                **claims,
                "kind": "google",
                "sub": f"google:{ADMIN_EMAIL}",
                "account_id": str(uuid.uuid4()),
            },
            key,
            algorithm="HS256",
        ),
        "lifetime stretched": jwt.encode({**claims, "exp": claims["exp"] + 86400}, key, algorithm="HS256"),
        "HS512": jwt.encode(claims, key, algorithm="HS512"),
        "signature stripped": real.rsplit(".", 1)[0] + ".",
    }
    for name, token in forgeries.items():
        refused, what = _refused(stack, token)
        ledger.attack("forged admin JWT", refused, f"{name}: {what}")
    assert not _refused(stack, real)[0]  # the genuine token works, so the refusals mean something

    stack.clock.advance(16 * 60)
    refused, what = _refused(stack, real)
    ledger.attack("expired admin JWT", refused, what)


def _google_admin_token(stack: Stack) -> str:
    assert sign_in(stack.browser, stack.url, ADMIN_EMAIL).status_code == 303
    exchanged = stack.browser.post(f"{stack.url}/api/auth/token", json={"grant_type": "session"})
    assert exchanged.status_code == 200, exchanged.text
    token = exchanged.json()["access_token"]
    assert not _refused(stack, token)[0]
    return str(token)


def test_an_admin_token_from_google_dies_with_its_session_and_grant(stack: Stack, ledger: Ledger):
    # Signing out ends the session the token was exchanged for.
    token = _google_admin_token(stack)
    assert stack.browser.post(f"{stack.url}/auth/logout").status_code == 200
    refused, what = _refused(stack, token)
    ledger.attack("admin JWT after logout", refused, what)
    assert "token_revoked" in what

    # Revoking every session of the account.
    token = _google_admin_token(stack)
    answer = stack.browser.post(
        f"{stack.url}/api/oauth/revoke",
        json={"target": "all_sessions", "confirm": True},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    refused, what = _refused(stack, token)
    ledger.attack("admin JWT after all sessions revoked", refused, what)

    # Revoking the Google grant (by another admin), which also ends the sessions.
    token = _google_admin_token(stack)
    account_id = jwt.decode(token, options={"verify_signature": False})["account_id"]
    with stack.api(stack.admin_token()) as other_admin:
        answer = other_admin.post(
            "/api/oauth/revoke", json={"target": "grant", "confirm": True, "account_id": account_id}
        )
    assert answer.status_code == 200, answer.text
    refused, what = _refused(stack, token)
    ledger.attack("admin JWT after grant revoked", refused, what)
