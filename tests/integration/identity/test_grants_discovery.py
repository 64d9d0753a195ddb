"""One issuer URL instead of five endpoint variables (GOOGLE_OIDC_ISSUER: OpenID discovery against the
emulator's document, with rotation and 60 s tokens on), failing closed outside the launcher; and the
startup warning (and health line) when Secure cookies meet a plain-http address."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import Engine
from support.emulator import GoogleEmulator, sign_in
from support.servers import free_port, serve_asgi
from support.settings import settings_for
from support.signin import Stack

from api.app import create_app
from driveguard.config import ConfigError
from driveguard.google.discovery import with_discovered_endpoints
from driveguard.health import run_checks

EMAIL = "carol@gmail.com"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


def test_sign_in_and_refresh_with_endpoints_found_by_discovery_alone(
    emu: GoogleEmulator, start_rotating: Callable[..., Stack]
):
    stack = start_rotating(GOOGLE_EMULATOR_URL="", GOOGLE_OIDC_ISSUER=emu.url)
    assert stack.settings.google.endpoints.token_uri == GOOGLE_TOKEN_URI  # what the variables alone give
    finished = sign_in(stack.browser, stack.url, EMAIL)
    assert finished.status_code == 303, finished.text
    stats = stack.emu.stats()
    assert stats["requests"]["discovery"] == 1  # once, at startup
    assert stats["code_by_account"] == {EMAIL: 1}  # the code went to the discovered token endpoint
    with stack.api(stack.session_token()) as client:
        status = client.get("/api/oauth/status")
    assert status.status_code == 200, status.text
    assert status.json()["account"]["access_token_valid"] is True


def test_discovery_fills_only_what_is_not_set_and_takes_the_issuer(emu: GoogleEmulator):
    explicit = "https://token.example/token"
    settings = settings_for(GOOGLE_OIDC_ISSUER=emu.url, GOOGLE_TOKEN_URI=explicit)
    endpoints = with_discovered_endpoints(settings).google.endpoints
    assert endpoints.token_uri == explicit  # an explicit variable wins
    assert endpoints.auth_uri == f"{emu.url}/o/oauth2/v2/auth"
    assert endpoints.jwks_uri == f"{emu.url}/oauth2/v3/certs"
    assert endpoints.userinfo_uri == f"{emu.url}/v1/userinfo"
    assert endpoints.revoke_uri == f"{emu.url}/revoke"
    assert endpoints.issuers == (emu.url,)
    unset = settings_for()
    assert with_discovered_endpoints(unset) is unset  # no issuer: Google's built-ins, nothing fetched


def test_failed_discovery_stops_the_start_outside_the_launcher(emu: GoogleEmulator, caplog: pytest.LogCaptureFixture):
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match=f"GOOGLE_OIDC_ISSUER={dead}: OpenID discovery failed: .* did not answer"):
        with_discovered_endpoints(settings_for(GOOGLE_OIDC_ISSUER=dead))
    emu.call("PATCH", "/config", {"issuer": "https://someone-else.example"})
    with pytest.raises(ConfigError, match="names another issuer"):
        with_discovered_endpoints(settings_for(GOOGLE_OIDC_ISSUER=emu.url))
    # The local launcher goes on with the configured endpoints and says why.
    local = settings_for(GOOGLE_OIDC_ISSUER=dead, DRIVEGUARD_ENV="local")
    with caplog.at_level(logging.WARNING, logger="driveguard.google.discovery"):
        assert with_discovered_endpoints(local) is local
    assert "OpenID discovery failed" in caplog.text


def test_the_api_does_not_start_when_discovery_fails(clean_db: Engine):
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match="GOOGLE_OIDC_ISSUER"):
        create_app(settings_for(GOOGLE_OIDC_ISSUER=dead), clean_db)


def test_secure_cookies_on_a_plain_http_address_warn_at_startup_and_in_health(
    clean_db: Engine, caplog: pytest.LogCaptureFixture
):
    plain = settings_for(SESSION_COOKIE_SECURE="true", API_PUBLIC_URL="http://drive.example")
    with caplog.at_level(logging.WARNING, logger="api.app"):
        app = create_app(plain, clean_db)
    assert "SESSION_COOKIE_SECURE is true but API_PUBLIC_URL=http://drive.example" in caplog.text
    with serve_asgi(app) as url:
        anonymous = httpx.get(f"{url}/api/health", timeout=20).json()
    assert anonymous["signin"] == "down" and "checks" not in anonymous  # the details are for admins
    report = run_checks(plain, clean_db)  # what an admin's /api/health shows
    assert report["signin"] == "down" and report["checks"]["cookies"]["ok"] is False
    assert "browsers refuse Secure cookies" in report["checks"]["cookies"]["detail"]["warning"]

    caplog.clear()
    https = settings_for(
        SESSION_COOKIE_SECURE="true",
        API_PUBLIC_URL="https://drive.example",
        GOOGLE_REDIRECT_URI="https://drive.example/auth/callback",
    )
    with caplog.at_level(logging.WARNING, logger="api.app"):
        create_app(https, clean_db)
    assert "SESSION_COOKIE_SECURE" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="api.app"):
        create_app(settings_for(SESSION_COOKIE_SECURE="false"), clean_db)  # plain http on purpose: fine
    assert "SESSION_COOKIE_SECURE" not in caplog.text
