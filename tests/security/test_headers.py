"""Security headers on every response of every route (read from the app), on problems, 404 and
405 answers, the docs and static files; HSTS only over https or behind a trusted proxy; `/api/docs`
loads nothing from another origin and pins its assets by hash; anonymous health says up or down."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urljoin, urlsplit

import httpx
from support.attacks import Ledger, served_routes
from support.emulator import HTML
from support.signin import Stack
from support.site import page_refs

from api.app import create_app
from api.security_headers import HSTS, JSON_CSP


def _check(answer: httpx.Response, what: str, ledger: Ledger) -> None:
    headers = answer.headers
    csp = headers.get("content-security-policy", "")
    path = answer.request.url.path
    missing = [
        problem
        for problem, bad in {
            "nosniff": headers.get("x-content-type-options") != "nosniff",
            "frame-ancestors": "frame-ancestors 'none'" not in csp,
            "Referrer-Policy": "referrer-policy" not in headers,
            "no-store": not path.startswith("/static/") and "no-store" not in headers.get("cache-control", ""),
            "JSON CSP": "json" in headers.get("content-type", "") and csp != JSON_CSP,
            "HSTS over http": "strict-transport-security" in headers,
        }.items()
        if bad
    ]
    ledger.attack("missing security header", not missing, f"{what} -> {answer.status_code}: {missing}")


def test_every_route_answers_with_the_security_headers(stack: Stack, ledger: Ledger):
    app = create_app(stack.settings, stack.engine)
    admin = stack.admin_token()
    with stack.api() as anonymous, stack.api(admin) as as_admin, httpx.Client(base_url=stack.url) as browser:
        for route in served_routes(app):
            path = route.path(file_path="app.css", path="swagger")
            for client, who in ((anonymous, "anonymous"), (as_admin, "admin")):
                if route.changes_state and who == "admin":
                    continue  # an empty body is a 400 problem, checked anonymously below; no state changes
                answer = client.request(route.method, path, json={} if route.changes_state else None)
                _check(answer, f"{who} {route.method} {path}", ledger)
            _check(browser.request(route.method, path, headers=HTML), f"browser {route.method} {path}", ledger)
        for method, path in (("GET", "/api/nope"), ("GET", "/nope"), ("DELETE", "/api/health"), ("PATCH", "/me")):
            _check(anonymous.request(method, path), f"{method} {path}", ledger)
            _check(browser.request(method, path, headers=HTML), f"browser {method} {path}", ledger)


def test_hsts_is_sent_over_https_through_a_trusted_proxy_only(make_stack, ledger: Ledger):
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    untrusted = make_stack()
    for path in ("/api/health/live", "/api/nope", "/"):
        answer = httpx.get(f"{untrusted.url}{path}", headers=https)
        ledger.attack("HSTS from a forged X-Forwarded-Proto", "strict-transport-security" not in answer.headers, path)
    proxied = make_stack(TRUSTED_PROXIES="127.0.0.0/8")
    for path in ("/api/health/live", "/api/nope", "/", "/api/docs"):
        answer = httpx.get(f"{proxied.url}{path}", headers=https)
        assert answer.headers.get("strict-transport-security") == HSTS, path
        assert "strict-transport-security" not in httpx.get(f"{proxied.url}{path}").headers  # plain http


def test_api_docs_load_only_this_origin_pinned_by_hash(stack: Stack, ledger: Ledger):
    docs = httpx.get(f"{stack.url}/api/docs", timeout=30)
    assert docs.status_code == 200
    assert "<script>" not in docs.text and "<style>" not in docs.text  # no inline code for the CSP to allow
    assert "script-src 'self'" in docs.headers["content-security-policy"]
    refs = page_refs(docs.text).assets
    assert any(ref.endswith("swagger-ui-bundle.js") for ref in refs), refs
    for ref in refs:
        ledger.attack("docs asset from another origin", urlsplit(ref).netloc == "", ref)
    pinned = 0
    for ref, digest in _integrity_attributes(docs.text):
        asset = httpx.get(urljoin(stack.url, ref), timeout=30)
        expected = "sha384-" + base64.b64encode(hashlib.sha384(asset.content).digest()).decode()
        assert digest == expected, ref
        pinned += 1
    assert pinned == 4  # bundle, preset, stylesheet, start-up script


def _integrity_attributes(html: str) -> list[tuple[str, str]]:
    from html.parser import HTMLParser

    found: list[tuple[str, str]] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            data = dict(attrs)
            if data.get("integrity"):
                found.append((data.get("src") or data.get("href") or "", data["integrity"] or ""))

    Parser().feed(html)
    return found


def test_anonymous_health_says_only_up_or_down_and_admins_get_details(stack: Stack, ledger: Ledger):
    # Airflow is a closed port here, Google (the emulator) answers: sign-in works, pipelines do not.
    anonymous = httpx.get(f"{stack.url}/api/health", timeout=30)
    assert anonymous.status_code == 200
    assert anonymous.json() == {"status": "up", "signin": "ok", "pipelines": "down"}
    for secretish in ("server_version", "127.0.0.1", "postgres", "error", "Connect"):
        ledger.attack("health detail for anonymous", secretish not in anonymous.text, secretish)
    stack.browser.cookies.clear()
    with stack.api(stack.admin_token()) as admin:
        detailed = admin.get("/api/health").json()
    assert detailed["signin"] == "ok" and detailed["pipelines"] == "down"
    assert detailed["checks"]["database"]["detail"]["server_version"]
    assert detailed["checks"]["airflow"]["ok"] is False
    assert detailed["checks"]["google_token_endpoint"]["ok"] is True
