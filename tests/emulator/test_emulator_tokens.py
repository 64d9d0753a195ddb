"""Refresh, rotation, revocation and token limits, through google-auth as the product uses it."""

from __future__ import annotations

import time

import httpx
import pytest
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2 import id_token
from google.oauth2.credentials import Credentials
from support.emulator_admin import RunningEmulator


def credentials(emu: RunningEmulator, tokens: dict[str, object]) -> Credentials:
    return Credentials(
        token=str(tokens["access_token"]),
        refresh_token=str(tokens["refresh_token"]),
        token_uri=emu.url("/token"),
        client_id=emu.client_id,
        client_secret=emu.client_secret,
    )


def refresh_with(emu: RunningEmulator, refresh_token: str) -> httpx.Response:
    return httpx.post(
        emu.url("/token"),
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
        },
    )


def test_refresh_gives_a_new_access_token_and_no_refresh_token(emu: RunningEmulator) -> None:
    tokens = emu.grant("alice@gmail.com")
    creds = credentials(emu, tokens)
    creds.refresh(Request())
    assert creds.token != tokens["access_token"] and creds.token.startswith("ya29.")
    assert creds.refresh_token == tokens["refresh_token"], "no rotation: the old refresh token is kept"
    assert creds.expiry is not None and creds.valid
    raw = refresh_with(emu, str(tokens["refresh_token"])).json()
    assert "refresh_token" not in raw and raw["expires_in"] == 3599
    claims = id_token.verify_token(
        raw["id_token"], Request(), audience=emu.client_id, certs_url=emu.url("/oauth2/v3/certs")
    )
    assert claims["email"] == "alice@gmail.com" and "nonce" not in claims
    stats = emu.admin.stats()
    assert stats["refresh_by_account"] == {"alice@gmail.com": 2}
    assert stats["grants"]["refresh_token"] == 2


def test_revoked_grant_raises_refresh_error_invalid_grant(emu: RunningEmulator) -> None:
    creds = credentials(emu, emu.grant("bob@gmail.com"))
    creds.refresh(Request())
    emu.admin.revoke("bob@gmail.com")
    with pytest.raises(RefreshError) as caught:
        creds.refresh(Request())
    assert "invalid_grant" in str(caught.value)
    assert caught.value.args[1] == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    stats = emu.admin.stats()
    assert stats["refresh_by_account"] == {"bob@gmail.com": 1}
    assert stats["grant_errors"] == {"refresh_token:invalid_grant": 1}


def test_rotation_leaves_the_new_refresh_token_in_the_credentials(emu: RunningEmulator) -> None:
    emu.admin.patch_account("carol@gmail.com", rotate_refresh_tokens=True)
    tokens = emu.grant("carol@gmail.com")
    creds = credentials(emu, tokens)
    creds.refresh(Request())
    assert creds.refresh_token != tokens["refresh_token"]
    old = refresh_with(emu, str(tokens["refresh_token"]))
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant"
    creds.refresh(Request())  # the new one works (and rotates again)
    assert emu.admin.stats()["refresh_by_account"] == {"carol@gmail.com": 2}


def test_revoke_endpoint_revokes_the_whole_grant(emu: RunningEmulator) -> None:
    first = emu.grant("alice@gmail.com")
    second = emu.grant("alice@gmail.com")
    response = httpx.post(emu.url("/revoke"), data={"token": first["access_token"]})
    assert response.status_code == 200 and response.content == b""
    for tokens in (first, second):
        assert refresh_with(emu, str(tokens["refresh_token"])).json()["error"] == "invalid_grant"
        about = httpx.get(
            emu.url("/drive/v3/about?fields=user"), headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert about.status_code == 401
    again = httpx.post(emu.url("/revoke"), params={"token": str(first["refresh_token"])})
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_token", "error_description": "Token expired or revoked"}
    third = emu.grant("alice@gmail.com")
    by_query = httpx.post(emu.url("/revoke"), params={"token": str(third["refresh_token"])})
    assert by_query.status_code == 200
    assert emu.admin.call("GET", "/grants", params={"email": "alice@gmail.com"})["count"] == 0


def test_oldest_refresh_token_dies_past_the_limit(emu: RunningEmulator) -> None:
    emu.admin.config(refresh_token_limit=5)
    issued = [str(emu.grant("dave@northwind.example")["refresh_token"]) for _ in range(6)]
    assert refresh_with(emu, issued[0]).json()["error"] == "invalid_grant"
    assert all(refresh_with(emu, token).status_code == 200 for token in issued[1:])


def test_default_limit_is_one_hundred(emu: RunningEmulator) -> None:
    issued = [str(emu.grant("erin@northwind.example")["refresh_token"]) for _ in range(101)]
    assert refresh_with(emu, issued[0]).status_code == 400
    assert refresh_with(emu, issued[1]).status_code == 200
    assert (
        emu.admin.call("GET", "/grants", params={"email": "erin@northwind.example"})["grants"][0]["refresh_tokens"]
        == 100
    )


def test_idle_and_testing_app_refresh_tokens_expire(emu: RunningEmulator) -> None:
    idle = emu.grant("alice@gmail.com")
    emu.admin.advance_clock(184 * 86400)
    assert refresh_with(emu, str(idle["refresh_token"])).json()["error"] == "invalid_grant"

    emu.admin.call("POST", "/clients", {"client_id": emu.client_id, "testing": True})
    testing = emu.grant("bob@gmail.com")
    emu.admin.advance_clock(6 * 86400)
    assert refresh_with(emu, str(testing["refresh_token"])).status_code == 200
    emu.admin.advance_clock(2 * 86400)
    assert refresh_with(emu, str(testing["refresh_token"])).json()["error"] == "invalid_grant"


def test_access_tokens_expire_with_the_clock_and_on_demand(emu: RunningEmulator) -> None:
    tokens = emu.grant("bob@gmail.com")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(emu.url("/v1/userinfo"), headers=headers).status_code == 200
    assert emu.admin.expire_tokens("bob@gmail.com") == 1
    expired = httpx.get(emu.url("/v1/userinfo"), headers=headers)
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    assert expired.json()["error"]["status"] == "UNAUTHENTICATED"

    fresh = emu.grant("bob@gmail.com")
    emu.admin.advance_clock(3600)
    late = httpx.get(emu.url("/v1/userinfo"), headers={"Authorization": f"Bearer {fresh['access_token']}"})
    assert late.status_code == 401


def test_refresh_with_a_narrower_scope(emu: RunningEmulator) -> None:
    tokens = emu.grant("alice@gmail.com")
    drive = "https://www.googleapis.com/auth/drive.metadata.readonly"
    creds = Credentials(
        None,
        refresh_token=str(tokens["refresh_token"]),
        token_uri=emu.url("/token"),
        client_id=emu.client_id,
        client_secret=emu.client_secret,
        scopes=[drive],
    )
    creds.refresh(Request())
    assert creds.granted_scopes == [drive]
    wider = Credentials(
        None,
        refresh_token=str(tokens["refresh_token"]),
        token_uri=emu.url("/token"),
        client_id=emu.client_id,
        client_secret=emu.client_secret,
        scopes=["https://www.googleapis.com/auth/drive"],
    )
    with pytest.raises(RefreshError, match="invalid_scope"):
        wider.refresh(Request())


def test_key_rotation_keeps_old_tokens_verifiable_until_dropped(emu: RunningEmulator) -> None:
    certs = emu.url("/oauth2/v3/certs")
    jwks = httpx.get(certs)
    assert jwks.headers["cache-control"].startswith("public, max-age=")
    assert {k["alg"] for k in jwks.json()["keys"]} == {"RS256"}
    old = str(emu.grant("alice@gmail.com")["id_token"])
    rotated = emu.admin.rotate_keys()
    new = str(emu.grant("alice@gmail.com")["id_token"])
    assert len(rotated["published_kids"]) == 2
    for token in (old, new):
        assert id_token.verify_token(token, Request(), audience=emu.client_id, certs_url=certs)["sub"]
    emu.admin.rotate_keys(drop_old=True)
    with pytest.raises(Exception, match="Unable to find a signing key"):
        id_token.verify_token(old, Request(), audience=emu.client_id, certs_url=certs)


def test_userinfo_follows_the_granted_scopes(emu: RunningEmulator) -> None:
    email_only = emu.grant("dave@northwind.example", scopes=["openid", "email"])
    info = httpx.get(emu.url("/v1/userinfo"), headers={"Authorization": f"Bearer {email_only['access_token']}"})
    assert set(info.json()) == {"sub", "email", "email_verified", "hd"}
    missing = httpx.get(emu.url("/v1/userinfo"))
    assert missing.status_code == 401 and missing.json()["error"]["errors"][0]["reason"] == "required"


def test_a_refresh_burst_is_counted_per_account(emu: RunningEmulator) -> None:
    creds = [credentials(emu, emu.grant(email)) for email in ("alice@gmail.com", "bob@gmail.com")]
    started = time.monotonic()
    for _ in range(3):
        creds[0].refresh(Request())
    creds[1].refresh(Request())
    assert time.monotonic() - started < 5
    assert emu.admin.stats()["refresh_by_account"] == {"alice@gmail.com": 3, "bob@gmail.com": 1}
