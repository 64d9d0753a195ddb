"""Odd and hostile inputs to every auth and oauth route: answered with 4xx problems, never a 500."""

from __future__ import annotations

import httpx
from support.emulator import sign_in
from support.signin import Stack

AUTHORIZATIONS = [
    "Basic dXNlcjpwYXNz",
    "Bearer",
    "Bearer ",
    "Bearer " + "a" * 5000,
    "Bearer a.b",
    "Bearer a.b.c.d",
    "Bearer \x00\x01",
    "Bearer ..",
    "bearer eyJhbGciOiJub25lIn0.e30.",
    "Token abc",
]
COOKIES = ["dg_session=", "dg_session=%%%%", "dg_session=" + "A" * 4000, "dg_session=a; dg_session=b", "==;;"]
BODIES = [
    b"",
    b"null",
    b"[]",
    b"{}",
    b'{"confirm": "yes"}',
    b"\xff\xfe",
    b'{"target": "grant", "confirm": true, "x": 1}',
]


def test_no_input_causes_a_server_error(stack: Stack):
    routes = [
        ("GET", "/api/oauth/status"),
        ("GET", "/api/oauth/detailed-status"),
        ("POST", "/api/oauth/revoke"),
        ("POST", "/api/auth/token"),
        ("POST", "/auth/logout"),
        ("GET", "/auth/login"),
    ]
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        for method, path in routes:
            for authorization in AUTHORIZATIONS:
                try:
                    answer = client.request(method, path, headers={"Authorization": authorization}, json={})
                except httpx.LocalProtocolError:
                    continue  # httpx itself refuses some header bytes; nothing reached the server
                assert answer.status_code < 500, (method, path, authorization[:20], answer.text)
            for cookie in COOKIES:
                answer = client.request(method, path, headers={"Cookie": cookie}, json={})
                assert answer.status_code < 500, (method, path, cookie[:20], answer.text)
            for body in BODIES:
                answer = client.request(method, path, content=body, headers={"Content-Type": "application/json"})
                assert answer.status_code < 500, (method, path, body, answer.text)
        for query in ("next=" + "x" * 5000, "consent=maybe", "next=%00", "consent=true&next=//x"):
            answer = client.get(f"/auth/login?{query}")
            assert answer.status_code in (302, 400), (query, answer.status_code)


def test_signed_in_users_sending_odd_revoke_bodies_get_400s(stack: Stack):
    assert sign_in(stack.browser, stack.url, "alice@gmail.com").status_code == 303
    for body in [*BODIES, b'{"target": "session", "confirm": true, "session_id": "not-a-uuid"}']:
        answer = stack.browser.post(
            f"{stack.url}/api/oauth/revoke", content=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400, (body, answer.status_code, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_openapi_documents_the_auth_and_oauth_routes(stack: Stack):
    schema = httpx.get(f"{stack.url}/api/docs/openapi.json").json()
    for path in ("/auth/login", "/auth/callback", "/auth/logout", "/api/auth/token", "/api/oauth/status"):
        assert path in schema["paths"], path
    revoke = schema["paths"]["/api/oauth/revoke"]["post"]
    assert revoke["requestBody"]
    text = str(schema)
    assert 'refresh_token"' not in text and "access_token_ciphertext" not in text
