"""id_token verification against the emulator's real JWKS: caching, key rotation, and refusals."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import jwt
import pytest
from support.clock import FakeClock
from support.emulator import GoogleEmulator

from driveguard.config import load_settings
from driveguard.google.oauth import GoogleOAuthClient, IdTokenError, JwksCache

EMAIL = "alice@gmail.com"


@pytest.fixture
def oauth(emu: GoogleEmulator, base_env: dict[str, str]):
    settings = load_settings({**base_env, "GOOGLE_EMULATOR_URL": emu.url}, env_file="/dev/null")
    with httpx.Client(timeout=30) as http:
        yield GoogleOAuthClient(settings, http)


def grant(emu: GoogleEmulator, client_id: str | None = None) -> tuple[dict, str]:
    nonce = uuid.uuid4().hex
    tokens = emu.call("POST", f"/accounts/{EMAIL}/grant", {"client_id": client_id or emu.client_id, "nonce": nonce})
    return tokens, nonce


def test_valid_token_and_jwks_caching(emu: GoogleEmulator, oauth: GoogleOAuthClient):
    for _ in range(3):
        tokens, nonce = grant(emu)
        identity = oauth.verify_id_token(tokens["id_token"], nonce=nonce, access_token=tokens["access_token"])
        assert identity.email == EMAIL and identity.email_verified and identity.sub.isdigit()
    assert oauth.jwks.fetch_count == 1  # Cache-Control: max-age honoured


def test_rotated_keys_are_fetched_once_and_forged_kids_do_not_hammer_google(emu: GoogleEmulator, oauth):
    now = [1000.0]
    oauth.jwks = JwksCache(oauth.jwks.url, oauth.http, monotonic=lambda: now[0])
    tokens, nonce = grant(emu)
    oauth.verify_id_token(tokens["id_token"], nonce=nonce)
    emu.call("POST", "/keys/rotate", {"drop_old": True})
    tokens, nonce = grant(emu)
    with pytest.raises(IdTokenError, match="unknown key"):  # too soon after the last fetch to refetch
        oauth.verify_id_token(tokens["id_token"], nonce=nonce)
    now[0] += 11
    assert oauth.verify_id_token(tokens["id_token"], nonce=nonce).email == EMAIL
    assert oauth.jwks.fetch_count == 2
    header = jwt.get_unverified_header(tokens["id_token"])
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": header["kid"]})
    with pytest.raises(IdTokenError, match="RS256"):
        oauth.verify_id_token(forged, nonce=nonce)
    _, payload, signature = tokens["id_token"].split(".")
    unknown_header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": "nope"}).encode()).rstrip(b"=")
    unknown = f"{unknown_header.decode()}.{payload}.{signature}"
    for _ in range(5):
        with pytest.raises(IdTokenError, match="unknown key"):
            oauth.verify_id_token(unknown, nonce=nonce)
    assert oauth.jwks.fetch_count == 2


def test_wrong_audience_nonce_issuer_and_expiry_are_refused(emu: GoogleEmulator, oauth, base_env):
    emu.call("POST", "/clients", {"client_id": "another-app", "client_secret": "s", "redirect_uris": ["http://x/cb"]})
    tokens, nonce = grant(emu, client_id="another-app")
    with pytest.raises(IdTokenError, match="audience"):
        oauth.verify_id_token(tokens["id_token"], nonce=nonce)

    tokens, nonce = grant(emu)
    with pytest.raises(IdTokenError, match="nonce"):
        oauth.verify_id_token(tokens["id_token"], nonce="another-nonce")
    with pytest.raises(IdTokenError, match="at_hash"):
        oauth.verify_id_token(tokens["id_token"], nonce=nonce, access_token="ya29.some-other-token")

    later = FakeClock()
    later.advance(hours=2)
    late = GoogleOAuthClient(oauth.settings, oauth.http, clock=later)
    with pytest.raises(IdTokenError, match="expired"):
        late.verify_id_token(tokens["id_token"], nonce=nonce)

    strict = load_settings(
        {**base_env, "GOOGLE_EMULATOR_URL": emu.url, "GOOGLE_ISSUERS": "https://accounts.google.com"},
        env_file="/dev/null",
    )
    with pytest.raises(IdTokenError, match="issuer"):
        GoogleOAuthClient(strict, oauth.http).verify_id_token(tokens["id_token"], nonce=nonce)
    with pytest.raises(IdTokenError, match="not a JWT"):
        oauth.verify_id_token("garbage", nonce=nonce)
