"""Admin tokens, the admin overview, and revocation through the API, with their audit trail."""

from __future__ import annotations

import datetime as dt

import httpx
import jwt
from sqlalchemy import select
from support.emulator import sign_in
from support.signin import ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_USER, Stack

from driveguard.db.engine import transaction
from driveguard.db.models import AccountStatus, AuditLog, GoogleAccount
from driveguard.identity.throttle import ADMIN_PASSWORD_ADDRESS, Throttle


def password_grant(stack: Stack, username: str, password: str, *, source: str | None = None):
    """POST a password grant; `source` is another loopback address to send it from (another IP)."""
    if source is None:
        client = stack.api()
    else:
        transport = httpx.HTTPTransport(local_address=source)
        client = httpx.Client(base_url=stack.url, headers={"Accept": "application/json"}, transport=transport)
    with client as api:
        return api.post("/api/auth/token", json={"grant_type": "password", "username": username, "password": password})


def test_password_admin_token_is_short_lived_and_checked(stack: Stack):
    answer = password_grant(stack, ADMIN_USER, ADMIN_PASSWORD)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["role"] == "admin" and body["expires_in"] == 15 * 60
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert {"iss", "aud", "sub", "exp", "iat", "role", "jti"} <= claims.keys()
    assert claims["sub"] == "user:ops" and claims["exp"] - claims["iat"] == 15 * 60
    with stack.api(body["access_token"]) as admin:
        assert admin.get("/api/oauth/detailed-status").status_code == 200
        stack.clock.advance(16 * 60)
        expired = admin.get("/api/oauth/detailed-status")
    assert expired.status_code == 401 and "token_expired" in expired.json()["detail"]

    # Signed with another key, or claiming another audience: refused.
    forged = jwt.encode({**claims, "exp": claims["exp"] + 3600}, "not-the-key" * 4, algorithm="HS256")
    other_aud = jwt.encode({**claims, "aud": "elsewhere"}, "x" * 40, algorithm="HS256")
    unsigned = jwt.encode({**claims}, None, algorithm="none")
    for token in (forged, other_aud, unsigned):
        with stack.api(token) as api:
            assert api.get("/api/oauth/detailed-status").status_code == 401
    assert "admin_token_issued" in stack.audit_actions()


def test_wrong_passwords_are_refused_audited_and_throttled(stack: Stack):
    assert password_grant(stack, ADMIN_USER, "wrong password!").status_code == 401
    assert password_grant(stack, "nobody", "whatever it is").status_code == 401
    with stack.api() as api:
        assert api.post("/api/auth/token", json={"grant_type": "password"}).status_code == 400
        assert api.post("/api/auth/token", json={"grant_type": "magic"}).status_code == 400
        assert api.post("/api/auth/token", json={"grant_type": "password", "extra": 1}).status_code == 400
        assert api.post("/api/auth/token", content=b"{not json").status_code == 400
        assert api.post("/api/auth/token", json={"grant_type": "session"}).status_code == 401
    # Throttled per (user name, IP): "nobody" does not count towards "ops", so 9 more make 10.
    for _ in range(9):
        assert password_grant(stack, ADMIN_USER, "still wrong!!").status_code == 401
    throttled = password_grant(stack, ADMIN_USER, ADMIN_PASSWORD)
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "2"
    assert password_grant(stack, ADMIN_USER, "still wrong!!").status_code == 429  # and not audited
    # A delay, not a lockout: once it has passed, the real admin gets in.
    stack.clock.advance(2)
    assert password_grant(stack, ADMIN_USER, ADMIN_PASSWORD).status_code == 200
    with transaction(stack.engine) as db:
        failures = db.scalars(select(AuditLog).where(AuditLog.action == "admin_login_failed")).all()
        assert len(failures) == 11
        assert sum(row.subject == ADMIN_USER for row in failures) == 10
        assert all(row.details == {"method": "password"} for row in failures)  # never the password tried
        assert {str(row.ip_address) for row in failures} == {"127.0.0.1"}


def test_failures_from_one_address_do_not_lock_the_admin_out_elsewhere(stack: Stack):
    for _ in range(10):
        assert password_grant(stack, ADMIN_USER, "an attacker's guess").status_code == 401
    assert password_grant(stack, ADMIN_USER, ADMIN_PASSWORD).status_code == 429

    # The real admin, from another address, still gets in; that address has its own count.
    assert password_grant(stack, ADMIN_USER, ADMIN_PASSWORD, source="127.0.0.2").status_code == 200
    assert password_grant(stack, ADMIN_USER, "a typo", source="127.0.0.2").status_code == 401
    assert password_grant(stack, ADMIN_USER, ADMIN_PASSWORD, source="127.0.0.2").status_code == 200
    with transaction(stack.engine) as db:
        failures = db.scalars(select(AuditLog).where(AuditLog.action == "admin_login_failed")).all()
        assert sorted(str(row.ip_address) for row in failures) == ["127.0.0.1"] * 10 + ["127.0.0.2"]


def test_one_address_cannot_spray_many_user_names(stack: Stack):
    # Attempts from this address across many user names (fewer than 10 per name) add up.
    throttle = Throttle(stack.engine, clock=stack.clock)
    for _ in range(ADMIN_PASSWORD_ADDRESS.free - 1):
        throttle.attempt((ADMIN_PASSWORD_ADDRESS, ADMIN_PASSWORD_ADDRESS.bucket("127.0.0.1")))
    assert password_grant(stack, "guess-last", "whatever it is").status_code == 401
    assert password_grant(stack, "another-guess", "whatever it is").status_code == 429
    assert password_grant(stack, ADMIN_USER, ADMIN_PASSWORD).status_code == 429
    # Other addresses are unaffected.
    assert password_grant(stack, ADMIN_USER, ADMIN_PASSWORD, source="127.0.0.2").status_code == 200


def test_admin_google_account_exchanges_its_session_for_an_admin_token(stack: Stack):
    assert sign_in(stack.browser, stack.url, "alice@gmail.com").status_code == 303
    not_admin = stack.browser.post(f"{stack.url}/api/auth/token", json={"grant_type": "session"})
    assert not_admin.status_code == 403

    stack.browser.cookies.clear()
    assert sign_in(stack.browser, stack.url, ADMIN_EMAIL).status_code == 303
    exchanged = stack.browser.post(f"{stack.url}/api/auth/token", json={"grant_type": "session"})
    assert exchanged.status_code == 200, exchanged.text
    token = exchanged.json()["access_token"]
    assert exchanged.json()["subject"] == f"google:{ADMIN_EMAIL}"
    # The session cookie alone is not admin: the JWT is.
    assert stack.browser.get(f"{stack.url}/api/oauth/detailed-status").status_code == 403
    with stack.api(token) as admin:
        overview = admin.get("/api/oauth/detailed-status")
        assert overview.status_code == 200
        assert overview.json()["total"] == 2
        status = admin.get("/api/oauth/status").json()
        assert status["caller"]["role"] == "admin" and status["account"]["email"] == ADMIN_EMAIL


def test_detailed_status_pages_filters_and_validates(stack: Stack):
    for email in ("alice@gmail.com", "bob@gmail.com", "carol@gmail.com", "dave@northwind.example"):
        stack.seed_account(email)
    with transaction(stack.engine) as db:
        db.scalars(
            select(GoogleAccount).where(GoogleAccount.email == "bob@gmail.com")
        ).one().status = AccountStatus.REAUTH_REQUIRED
    with stack.api(stack.admin_token()) as admin:
        first = admin.get("/api/oauth/detailed-status", params={"limit": 2}).json()
        assert first["total"] == 4 and [i["grant"]["email"] for i in first["items"]] == [
            "alice@gmail.com",
            "bob@gmail.com",
        ]
        second = admin.get("/api/oauth/detailed-status", params={"limit": 2, "offset": 2}).json()
        assert [i["grant"]["email"] for i in second["items"]] == ["carol@gmail.com", "dave@northwind.example"]
        item = second["items"][0]
        assert item["grant"]["access_token_expires_at"] and item["grant"]["refresh_failure_count"] == 0
        assert item["active_sessions"] == 0
        assert "token" not in {k for k in item["grant"] if not k.startswith(("access_token_", "has_"))}
        reauth = admin.get("/api/oauth/detailed-status", params={"status": "reauth_required"}).json()
        assert [i["grant"]["email"] for i in reauth["items"]] == ["bob@gmail.com"]
        northwind = admin.get("/api/oauth/detailed-status", params={"email": "NORTHWIND"}).json()
        assert northwind["total"] == 1
        wildcard = admin.get("/api/oauth/detailed-status", params={"email": "%"}).json()
        assert wildcard["total"] == 0  # LIKE wildcards are literal
        past_end = admin.get("/api/oauth/detailed-status", params={"email": "GMAIL", "offset": 10}).json()
        assert (past_end["total"], past_end["items"]) == (3, [])  # the total still counts the matches
        reauth_total = admin.get("/api/oauth/detailed-status", params={"status": "reauth_required"}).json()["total"]
        assert reauth_total == 1
        for params in (
            {"limit": 0},
            {"limit": 201},
            {"limit": "ten"},
            {"offset": -1},
            {"status": "bogus"},
            {"email": "x" * 400},
        ):
            answer = admin.get("/api/oauth/detailed-status", params=params)
            assert answer.status_code == 400, (params, answer.status_code)
            assert answer.headers["content-type"].startswith("application/problem+json")
    assert "admin_action" in stack.audit_actions()


def test_revoke_rules_for_users_and_admins(stack: Stack):
    bob = stack.seed_account("bob@gmail.com")
    assert sign_in(stack.browser, stack.url, "alice@gmail.com").status_code == 303
    alice = stack.account("alice@gmail.com").id
    revoke = f"{stack.url}/api/oauth/revoke"

    unconfirmed = stack.browser.post(revoke, json={"target": "session", "confirm": False})
    assert unconfirmed.status_code == 400 and unconfirmed.json()["title"] == "Confirmation required"
    for body in ({"target": "everything", "confirm": True}, {"confirm": True}, {"target": "session"}, []):
        assert stack.browser.post(revoke, json=body).status_code == 400
    assert (
        stack.browser.post(revoke, json={"target": "session", "confirm": True, "session_id": "nope"}).status_code == 400
    )
    foreign = stack.browser.post(revoke, json={"target": "all_sessions", "confirm": True, "account_id": str(bob)})
    assert foreign.status_code == 403
    foreign_grant = stack.browser.post(revoke, json={"target": "grant", "confirm": True, "account_id": str(bob)})
    assert foreign_grant.status_code == 403
    assert stack.account("bob@gmail.com").status == AccountStatus.ACTIVE

    # Alice signs in on a second device, then ends that session from the first.
    other = stack.browser.__class__(timeout=30)
    assert sign_in(other, stack.url, "alice@gmail.com").status_code == 303
    sessions = stack.browser.get(f"{stack.url}/api/oauth/status").json()["sessions"]
    second = next(s["id"] for s in sessions if not s["current"])
    done = stack.browser.post(revoke, json={"target": "session", "confirm": True, "session_id": second})
    assert done.status_code == 200 and done.json()["changed"] is True
    again = stack.browser.post(revoke, json={"target": "session", "confirm": True, "session_id": second})
    assert again.status_code == 200 and again.json()["changed"] is False
    assert other.get(f"{stack.url}/api/oauth/status").status_code == 401
    other.close()

    # An admin ends every session of Alice.
    with stack.api(stack.admin_token()) as admin:
        ended = admin.post(
            "/api/oauth/revoke", json={"target": "all_sessions", "confirm": True, "account_id": str(alice)}
        )
        assert ended.status_code == 200 and ended.json()["sessions_revoked"] == 1
        missing = admin.post("/api/oauth/revoke", json={"target": "grant", "confirm": True})
        assert missing.status_code == 400  # a password admin has no account of its own
        unknown = admin.post(
            "/api/oauth/revoke",
            json={"target": "grant", "confirm": True, "account_id": "00000000-0000-0000-0000-000000000000"},
        )
        assert unknown.status_code == 404
        grant = admin.post("/api/oauth/revoke", json={"target": "grant", "confirm": True, "account_id": str(bob)})
        assert grant.status_code == 200 and grant.json()["google_grant_revoked"] is True
    assert stack.browser.get(f"{stack.url}/api/oauth/status").status_code == 401
    assert stack.account("bob@gmail.com").status == AccountStatus.REVOKED
    with transaction(stack.engine) as db:
        rows = db.scalars(select(AuditLog).where(AuditLog.action.in_(["sessions_revoked", "grant_revoked"]))).all()
        assert {r.action for r in rows} == {"sessions_revoked", "grant_revoked"}
        assert all(r.actor == "user:ops" and r.ip_address is not None for r in rows)
        assert all(r.occurred_at <= dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1) for r in rows)
