"""Every `/api/*` route is guarded for the role it is meant for.

The expected role of each route is stated here, by hand (`EXPECTED_ROLES`), never read from the
route's own guards: a route guarded for the wrong role (an admin route opened to every signed-in
user) fails, and so does a route added without being given a role here. Each role is then
checked over real HTTP with real credentials: anonymous and forged callers get 401, a real
session of a normal (non-admin) Google user gets 403 on admin routes, an admin token passes.
"""

from __future__ import annotations

import re
import uuid

import pytest
from support.emulator import sign_in
from support.settings import settings_for
from support.signin import Stack

from api.app import create_app
from api.auth.guards import requires_admin, requires_user
from driveguard.db.engine import make_engine

# (method, path) -> who may call it: "public" (anyone), "user" (any signed-in caller: a session
# or an admin token), "own" (like "user", for the caller's own account only) or "admin" (an admin
# token only).
EXPECTED_ROLES: dict[tuple[str, str], str] = {
    # Public by design: health checks, the OpenAPI document, the endpoint that takes credentials.
    ("GET", "/api/health"): "public",
    ("GET", "/api/health/live"): "public",
    ("POST", "/api/auth/token"): "public",
    ("GET", "/api/docs"): "public",
    ("GET", "/api/docs/swagger"): "public",
    ("GET", "/api/docs/openapi.json"): "public",
    ("GET", "/api/docs/oauth2-redirect.html"): "public",
    ("GET", "/api/docs/{path:str}"): "public",
    # A signed-in person's own grant, sessions and data.
    ("GET", "/api/oauth/status"): "user",
    ("POST", "/api/oauth/revoke"): "user",
    ("POST", "/api/oauth/erasure"): "user",
    ("GET", "/api/storage/me"): "user",
    # "own": any signed-in caller may ask, but a person only about their own account (403 for
    # anyone else's, decided by the service); an admin about any.
    ("GET", "/api/storage/accounts/{account_id:uuid}/history"): "own",
    ("GET", "/api/storage/accounts/{account_id:uuid}/alerts"): "own",
    ("GET", "/api/storage/me/preferences"): "user",
    ("PUT", "/api/storage/me/preferences"): "user",
    ("GET", "/api/storage/me/grant-notices"): "user",
    # Everyone's accounts, and the storage pipelines: admins only.
    ("GET", "/api/oauth/detailed-status"): "admin",
    ("GET", "/api/storage/overview"): "admin",
    ("GET", "/api/storage/accounts"): "admin",
    ("GET", "/api/storage/monitoring/status"): "admin",
    ("POST", "/api/storage/monitoring/configure"): "admin",
    ("POST", "/api/storage/monitoring/control"): "admin",
    ("GET", "/api/storage/accounts/{account_id:uuid}/preferences"): "admin",
    ("PUT", "/api/storage/accounts/{account_id:uuid}/preferences"): "admin",
    ("GET", "/api/storage/grant-notices"): "admin",
}


def _served_routes() -> dict[tuple[str, str], str]:
    """(method, path) -> the role its guards enforce, for every /api route of an app built like production."""
    settings = settings_for(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    app = create_app(settings, make_engine("postgresql+psycopg://n@127.0.0.1:1/n"))
    served = {}
    for route in app.routes:
        if not route.path.startswith("/api/"):
            continue
        for handler in getattr(route, "route_handlers", []):
            guards = [getattr(guard, "func", guard) for guard in handler.resolve_guards()]
            role = "admin" if requires_admin in guards else "user" if requires_user in guards else "public"
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                served[(method, route.path)] = role
    return served


PROTECTED = sorted((method, path, role) for (method, path), role in EXPECTED_ROLES.items() if role != "public")
PUBLIC = sorted(key for key, role in EXPECTED_ROLES.items() if role == "public")


def concrete(path: str) -> str:
    """Fill path parameters with plausible values."""
    return re.sub(r"\{[^}:]+(:[^}]+)?\}", lambda m: str(uuid.uuid4()) if "uuid" in (m.group(1) or "") else "x", path)


def test_every_served_route_has_its_stated_role():
    served = _served_routes()
    assert served.keys() - EXPECTED_ROLES.keys() == set(), "new /api routes: state who may call them in EXPECTED_ROLES"
    assert EXPECTED_ROLES.keys() - served.keys() == set(), "routes in EXPECTED_ROLES the app no longer serves"
    guard_of = {"own": "user"}  # the guard lets every signed-in caller in; the service checks the account
    wrong = {
        key: (served[key], role) for key, role in EXPECTED_ROLES.items() if served[key] != guard_of.get(role, role)
    }
    assert wrong == {}, "(served guard, expected role) differ"


@pytest.mark.parametrize(("method", "path", "role"), PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
def test_every_api_route_requires_authentication_and_its_role(stack: Stack, method: str, path: str, role: str):
    url = concrete(path)
    with stack.api() as anonymous:
        answer = anonymous.request(method, url, json={})
    assert answer.status_code == 401, (method, path, answer.status_code)
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.headers["www-authenticate"].startswith("Bearer")
    with stack.api("A" * 43) as forged:
        assert forged.request(method, url, json={}).status_code == 401
    with stack.api("e30.e30.sig") as bad_jwt:
        assert bad_jwt.request(method, url, json={}).status_code == 401

    # A real session of a normal Google user (not in DRIVEGUARD_ADMIN_EMAILS): as Bearer, and as the cookie.
    assert sign_in(stack.browser, stack.url, "alice@gmail.com").status_code == 303
    with stack.api(stack.session_token()) as user:
        as_user = [user.request(method, url, json={}), stack.browser.request(method, stack.url + url, json={})]
    for answer in as_user:
        if role in ("admin", "own"):
            assert answer.status_code == 403, (method, path, answer.status_code, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["code"] == ("admin-required" if role == "admin" else "not-your-account")
        else:
            assert answer.status_code not in (401, 403), (method, path, answer.status_code, answer.text)
    if role == "own":
        own = re.sub(r"\{account_id:uuid\}", str(stack.account("alice@gmail.com").id), path)
        with stack.api(stack.session_token()) as user:
            assert user.request(method, own, json={}).status_code == 200, (method, own)
        url = own
    with stack.api(stack.admin_token()) as admin:
        as_admin = admin.request(method, url, json={})
    assert as_admin.status_code not in (401, 403, 500), (method, path, as_admin.status_code, as_admin.text)


@pytest.mark.parametrize(("method", "path"), PUBLIC, ids=[f"{m} {p}" for m, p in PUBLIC])
def test_public_routes_answer_anonymous_callers(stack: Stack, method: str, path: str):
    with stack.api() as anonymous:
        answer = anonymous.request(method, concrete(path), json={} if method == "POST" else None)
    assert answer.status_code not in (401, 403) and answer.status_code < 500, (method, path, answer.status_code)
