"""The authorization-code flow over plain HTTP: consent page, decision, code, PKCE exchange."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import google.auth.transport.requests
import httpx
import pytest
from google.oauth2 import id_token
from support.emulator_admin import RunningEmulator

SCOPES = "openid email profile https://www.googleapis.com/auth/drive.metadata.readonly"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def auth_params(emu: RunningEmulator, **extra: str) -> dict[str, str]:
    params = {
        "client_id": emu.client_id,
        "redirect_uri": emu.redirect_uri,
        "response_type": "code",
        "scope": SCOPES,
        "state": secrets.token_urlsafe(12),
        "access_type": "offline",
        "include_granted_scopes": "true",
        "nonce": secrets.token_urlsafe(12),
    }
    params.update(extra)
    return params


def consent(http: httpx.Client, emu: RunningEmulator, params: dict[str, str]) -> tuple[str, list[str]]:
    """Open the consent page; return the pending request id and the offered accounts."""
    page = http.get(emu.url("/o/oauth2/v2/auth?" + urlencode(params)))
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    request_id = re.search(r'name="request_id" value="([^"]+)"', page.text)
    assert request_id is not None
    accounts = re.findall(r'name="account" id="account-\d+" value="([^"]+)"', page.text)
    return request_id.group(1), accounts


def approve(http: httpx.Client, emu: RunningEmulator, params: dict[str, str], email: str) -> dict[str, list[str]]:
    request_id, accounts = consent(http, emu, params)
    assert email in accounts
    answer = http.post(
        emu.url("/o/oauth2/v2/auth/decision"),
        data={"request_id": request_id, "account": email, "decision": "allow"},
    )
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(emu.redirect_uri + "?")
    return parse_qs(urlsplit(location).query)


def exchange(http: httpx.Client, emu: RunningEmulator, code: str, **extra: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": emu.redirect_uri,
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        **extra,
    }
    return http.post(emu.url("/token"), data=form)


@pytest.fixture
def http() -> Any:
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        yield client


def test_discovery_document_points_at_the_emulator(emu: RunningEmulator, http: httpx.Client) -> None:
    doc = http.get(emu.url("/.well-known/openid-configuration")).json()
    assert doc["issuer"] == emu.base_url
    assert doc["token_endpoint"] == emu.url("/token")
    assert doc["authorization_endpoint"] == emu.url("/o/oauth2/v2/auth")
    assert doc["jwks_uri"] == emu.url("/oauth2/v3/certs")
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(doc["code_challenge_methods_supported"]) == {"plain", "S256"}


def test_full_flow_with_pkce_and_verified_id_token(emu: RunningEmulator, http: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    params = auth_params(emu, code_challenge=challenge, code_challenge_method="S256", login_hint="bob@gmail.com")
    page = http.get(emu.url("/o/oauth2/v2/auth?" + urlencode(params)))
    assert re.search(r'value="bob@gmail.com" checked', page.text), "login_hint preselects the account"
    assert "drive.metadata.readonly" in page.text
    query = approve(http, emu, params, "bob@gmail.com")
    assert query["state"] == [params["state"]]
    assert query["authuser"] == ["0"] and query["prompt"] == ["consent"]
    granted = set(query["scope"][0].split())
    assert "https://www.googleapis.com/auth/userinfo.email" in granted and "openid" in granted

    response = exchange(http, emu, query["code"][0], code_verifier=verifier)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache, no-store, max-age=0, must-revalidate"
    assert response.headers["pragma"] == "no-cache"
    tokens = response.json()
    assert tokens["access_token"].startswith("ya29.")
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3599
    assert tokens["refresh_token"]
    assert set(tokens["scope"].split()) == granted

    request = google.auth.transport.requests.Request()
    claims = id_token.verify_token(
        tokens["id_token"], request, audience=emu.client_id, certs_url=emu.url("/oauth2/v3/certs")
    )
    # google-auth's verify_token does not check `iss`; the product must, against the emulator's URL.
    assert claims["iss"] == emu.base_url
    assert claims["azp"] == emu.client_id
    assert claims["email"] == "bob@gmail.com" and claims["email_verified"] is True
    assert claims["nonce"] == params["nonce"]
    assert claims["sub"] == emu.admin.accounts()["bob@gmail.com"]["sub"]
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert {"name", "picture", "given_name", "family_name", "iat", "exp"} <= claims.keys()

    userinfo = http.get(emu.url("/v1/userinfo"), headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 200
    info = userinfo.json()
    assert info["sub"] == claims["sub"] and info["email"] == "bob@gmail.com"
    assert {"name", "given_name", "family_name", "picture", "email_verified", "locale"} <= info.keys()
    assert emu.admin.stats()["code_by_account"] == {"bob@gmail.com": 1}


def test_wrong_or_missing_verifier_is_invalid_grant(emu: RunningEmulator, http: httpx.Client) -> None:
    _, challenge = pkce_pair()
    params = auth_params(emu, code_challenge=challenge, code_challenge_method="S256")
    code = approve(http, emu, params, "alice@gmail.com")["code"][0]
    wrong = exchange(http, emu, code, code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant", "error_description": "Invalid code verifier."}

    code = approve(http, emu, params, "alice@gmail.com")["code"][0]
    missing = exchange(http, emu, code)
    assert missing.json() == {"error": "invalid_grant", "error_description": "Missing code verifier."}


def test_plain_pkce_and_a_verifier_without_challenge(emu: RunningEmulator, http: httpx.Client) -> None:
    verifier = secrets.token_urlsafe(48)
    params = auth_params(emu, code_challenge=verifier, code_challenge_method="plain")
    code = approve(http, emu, params, "alice@gmail.com")["code"][0]
    assert exchange(http, emu, code, code_verifier=verifier).status_code == 200

    code = approve(http, emu, auth_params(emu), "alice@gmail.com")["code"][0]
    unneeded = exchange(http, emu, code, code_verifier=verifier)
    assert unneeded.status_code == 400 and unneeded.json()["error"] == "invalid_grant"


def test_replayed_code_fails_and_revokes_what_it_issued(emu: RunningEmulator, http: httpx.Client) -> None:
    code = approve(http, emu, auth_params(emu), "carol@gmail.com")["code"][0]
    first = exchange(http, emu, code)
    assert first.status_code == 200
    replay = exchange(http, emu, code)
    assert replay.status_code == 400
    assert replay.json() == {"error": "invalid_grant", "error_description": "Bad Request"}
    tokens = first.json()
    about = http.get(
        emu.url("/drive/v3/about?fields=storageQuota"), headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert about.status_code == 401
    refresh = http.post(
        emu.url("/token"),
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
        },
    )
    assert refresh.json()["error"] == "invalid_grant"


def test_code_expires_and_is_bound_to_redirect_uri(emu: RunningEmulator, http: httpx.Client) -> None:
    code = approve(http, emu, auth_params(emu), "alice@gmail.com")["code"][0]
    wrong_uri = exchange(http, emu, code, redirect_uri="http://127.0.0.1:9/other")
    assert wrong_uri.status_code == 400 and wrong_uri.json()["error"] == "invalid_grant"

    code = approve(http, emu, auth_params(emu), "alice@gmail.com")["code"][0]
    emu.admin.advance_clock(601)
    expired = exchange(http, emu, code)
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"


def test_redirect_uri_mismatch_shows_an_error_page_and_never_redirects(
    emu: RunningEmulator, http: httpx.Client
) -> None:
    params = auth_params(emu, redirect_uri="https://evil.example/callback")
    page = http.get(emu.url("/o/oauth2/v2/auth?" + urlencode(params)))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "Error 400: redirect_uri_mismatch" in page.text
    assert "evil.example" in page.text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"client_id": "nobody.apps.googleusercontent.com"}, "Error 401: invalid_client"),
        ({"response_type": None}, "Error 400: invalid_request"),
        ({"scope": None}, "Error 400: invalid_request"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "S512"}, "Error 400: invalid_request"),
        ({"scope": "openid not-a-scope"}, "Error 400: invalid_scope"),
    ],
)
def test_invalid_authorization_requests_get_error_pages(
    emu: RunningEmulator, http: httpx.Client, change: dict[str, str | None], expected: str
) -> None:
    params: dict[str, str] = {k: v for k, v in {**auth_params(emu), **change}.items() if v is not None}
    page = http.get(emu.url("/o/oauth2/v2/auth?" + urlencode(params)))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert expected in page.text


def test_deny_redirects_with_access_denied(emu: RunningEmulator, http: httpx.Client) -> None:
    params = auth_params(emu)
    request_id, _ = consent(http, emu, params)
    answer = http.post(emu.url("/o/oauth2/v2/auth/decision"), data={"request_id": request_id, "decision": "deny"})
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query == {"error": ["access_denied"], "state": [params["state"]]}
    again = http.post(emu.url("/o/oauth2/v2/auth/decision"), data={"request_id": request_id, "decision": "allow"})
    assert again.status_code == 400, "a pending request is single-use"


def test_refresh_token_only_on_first_offline_consent_or_prompt_consent(
    emu: RunningEmulator, http: httpx.Client
) -> None:
    first = exchange(http, emu, approve(http, emu, auth_params(emu), "alice@gmail.com")["code"][0]).json()
    assert "refresh_token" in first
    second = exchange(http, emu, approve(http, emu, auth_params(emu), "alice@gmail.com")["code"][0]).json()
    assert "refresh_token" not in second
    forced = approve(http, emu, auth_params(emu, prompt="consent"), "alice@gmail.com")["code"][0]
    assert "refresh_token" in exchange(http, emu, forced).json()
    online = approve(http, emu, auth_params(emu, access_type="online"), "dave@northwind.example")
    assert online["hd"] == ["northwind.example"]
    assert "refresh_token" not in exchange(http, emu, online["code"][0]).json()


def test_include_granted_scopes_unions_earlier_consent(emu: RunningEmulator, http: httpx.Client) -> None:
    approve(http, emu, auth_params(emu, scope="openid email"), "erin@northwind.example")
    reports = "https://www.googleapis.com/auth/admin.reports.usage.readonly"
    query = approve(http, emu, auth_params(emu, scope=reports), "erin@northwind.example")
    assert {"openid", reports, "https://www.googleapis.com/auth/userinfo.email"} <= set(query["scope"][0].split())
    narrow = approve(
        http, emu, auth_params(emu, scope=reports, include_granted_scopes="false"), "erin@northwind.example"
    )
    assert narrow["scope"] == [reports]


def test_prompt_none_needs_an_existing_grant(emu: RunningEmulator, http: httpx.Client) -> None:
    params = auth_params(emu, prompt="none", login_hint="alice@gmail.com")
    answer = http.get(emu.url("/o/oauth2/v2/auth?" + urlencode(params)))
    assert answer.status_code == 302
    assert parse_qs(urlsplit(answer.headers["location"]).query)["error"] == ["interaction_required"]
    approve(http, emu, auth_params(emu), "alice@gmail.com")
    silent = http.get(emu.url("/o/oauth2/v2/auth?" + urlencode(params)))
    query = parse_qs(urlsplit(silent.headers["location"]).query)
    assert "code" in query and query["prompt"] == ["none"]


def test_token_endpoint_client_authentication_and_errors(emu: RunningEmulator, http: httpx.Client) -> None:
    code = approve(http, emu, auth_params(emu), "alice@gmail.com")["code"][0]
    basic = http.post(
        emu.url("/token"),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": emu.redirect_uri},
        auth=(emu.client_id, emu.client_secret),
    )
    assert basic.status_code == 200, basic.text

    def post(**form: str) -> httpx.Response:
        return http.post(emu.url("/token"), data=form)

    wrong_secret = post(grant_type="refresh_token", refresh_token="x", client_id=emu.client_id, client_secret="no")
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    unknown = post(grant_type="refresh_token", refresh_token="x", client_id="who", client_secret="no")
    assert unknown.status_code == 401
    assert unknown.json() == {"error": "invalid_client", "error_description": "The OAuth client was not found."}
    missing = post(grant_type="authorization_code", client_id=emu.client_id, client_secret=emu.client_secret)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    no_grant = post(client_id=emu.client_id, client_secret=emu.client_secret)
    assert no_grant.status_code == 400 and no_grant.json()["error"] == "invalid_request"
    odd = post(grant_type="password", client_id=emu.client_id, client_secret=emu.client_secret)
    assert odd.status_code == 400 and odd.json()["error"] == "unsupported_grant_type"
    dead = post(
        grant_type="refresh_token",
        refresh_token="1//0gnothing",
        client_id=emu.client_id,
        client_secret=emu.client_secret,
    )
    assert dead.status_code == 400
    assert dead.json() == {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}


def test_signing_in_as_a_new_address_creates_the_account(emu: RunningEmulator, http: httpx.Client) -> None:
    emu.admin.reset("none")
    page = http.get(emu.url("/o/oauth2/v2/auth?" + urlencode(auth_params(emu))))
    assert 'id="no-accounts"' in page.text
    request_id = re.search(r'name="request_id" value="([^"]+)"', page.text)
    assert request_id is not None
    answer = http.post(
        emu.url("/o/oauth2/v2/auth/decision"),
        data={"request_id": request_id.group(1), "new_account": "New.Person@example.org", "decision": "allow"},
    )
    assert answer.status_code == 302
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    assert exchange(http, emu, code).status_code == 200
    assert list(emu.admin.accounts()) == ["new.person@example.org"]
