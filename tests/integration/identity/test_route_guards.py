"""Every `/api/*` route is guarded, and the guards match the role each route is meant for.

The parameters come from the application's own route table, so a route added without a guard
fails here (anonymous callers must get 401), and an admin route reachable by a normal user
fails too (403 expected).
"""

from __future__ import annotations

import re
import uuid

import pytest
from support.emulator import sign_in
from support.signin import Stack

from api.app import create_app
from api.security import requires_admin, requires_user
from driveguard.config import generate_encryption_key, load_settings
from driveguard.db.engine import make_engine

# Public by design: health checks, the OpenAPI document, and the endpoint that takes credentials.
PUBLIC = ("/api/health", "/api/docs", "/api/auth/token")


def _route_table() -> list[tuple[str, str, str]]:
    """(method, path, role) for every /api route of an app built like production."""
    env = {
        "GOOGLE_CLIENT_ID": "x.apps.googleusercontent.com",
        "GOOGLE_CLIENT_SECRET": "x",
        "GOOGLE_REDIRECT_URI": "http://127.0.0.1:8000/auth/callback",
        "DRIVEGUARD_ENCRYPTION_KEYS": generate_encryption_key("k1"),
        "DRIVEGUARD_SECRET_KEY": "x" * 40,
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    }
    app = create_app(load_settings(env, env_file="/dev/null"), make_engine("postgresql+psycopg://n@127.0.0.1:1/n"))
    table = []
    for route in app.routes:
        if not route.path.startswith("/api/"):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                guards = [getattr(guard, "func", guard) for guard in handler.resolve_guards()]
                role = "admin" if requires_admin in guards else "user" if requires_user in guards else "none"
                table.append((method, route.path, role))
    return table


ROUTES = _route_table()
PROTECTED = [r for r in ROUTES if not r[1].startswith(PUBLIC)]


def concrete(path: str) -> str:
    """Fill path parameters with plausible values."""
    return re.sub(r"\{[^}:]+(:[^}]+)?\}", lambda m: str(uuid.uuid4()) if "uuid" in (m.group(1) or "") else "x", path)


def test_the_route_table_is_not_empty():
    paths = {path for _, path, _ in PROTECTED}
    assert {"/api/oauth/status", "/api/oauth/detailed-status", "/api/oauth/revoke"} <= paths


@pytest.mark.parametrize(("method", "path", "role"), PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
def test_every_api_route_requires_authentication_and_its_role(stack: Stack, method: str, path: str, role: str):
    assert role in ("user", "admin"), f"{method} {path} has no requires_user/requires_admin guard"
    url = concrete(path)
    with stack.api() as anonymous:
        answer = anonymous.request(method, url, json={})
    assert answer.status_code == 401, (method, path, answer.status_code)
    assert answer.headers["content-type"].startswith("application/problem+json")
    with stack.api("A" * 43) as forged:
        assert forged.request(method, url, json={}).status_code == 401
    with stack.api("e30.e30.sig") as bad_jwt:
        assert bad_jwt.request(method, url, json={}).status_code == 401

    assert sign_in(stack.browser, stack.url, "alice@gmail.com").status_code == 303
    with stack.api(stack.session_token()) as user:
        as_user = user.request(method, url, json={})
    if role == "admin":
        assert as_user.status_code == 403, (method, path, as_user.status_code)
    else:
        assert as_user.status_code not in (401, 403), (method, path, as_user.status_code, as_user.text)
    with stack.api(stack.admin_token()) as admin:
        as_admin = admin.request(method, url, json={})
    assert as_admin.status_code not in (401, 403, 500), (method, path, as_admin.status_code, as_admin.text)
