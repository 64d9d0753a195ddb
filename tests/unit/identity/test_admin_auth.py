"""Admin credentials: scrypt hashes in config (never plaintext), and the admin JWT's checks."""

from __future__ import annotations

import dataclasses

import jwt
import pytest
from support.clock import FakeClock
from support.settings import required_env, settings_for

from driveguard.config import ConfigError
from driveguard.identity.admin_auth import AUDIENCE, ISSUER, AdminAuthError, AdminAuthService
from driveguard.identity.passwords import check_hash_format, hash_password, verify_password, verify_user

FAST_HASH = hash_password("s3cret-passphrase", log2_n=10)
BASE = required_env(DRIVEGUARD_ADMIN_USERS=f"ops:{FAST_HASH}", DRIVEGUARD_ADMIN_EMAILS="Boss@Example.com")


def settings(**overrides: str):
    return settings_for(BASE, **overrides)


def test_password_hashes_verify_and_reject():
    assert verify_password("s3cret-passphrase", FAST_HASH)
    assert not verify_password("s3cret-passphrasE", FAST_HASH)
    assert not verify_password("anything", "scrypt$99$8$1$x$y")
    assert not verify_user("anything", None)
    check_hash_format(FAST_HASH)
    with pytest.raises(ValueError, match="out of range"):
        check_hash_format(FAST_HASH.replace("scrypt$10$", "scrypt$25$"))
    assert hash_password("same") != hash_password("same")  # salted


def test_admin_users_config_refuses_plaintext_without_echoing_it():
    with pytest.raises(ConfigError) as caught:
        settings(DRIVEGUARD_ADMIN_USERS="ops:hunter2-plaintext")
    message = str(caught.value)
    assert "DRIVEGUARD_ADMIN_USERS" in message and "hunter2-plaintext" not in message
    with pytest.raises(ConfigError, match="appears twice"):
        settings(DRIVEGUARD_ADMIN_USERS=f"ops:{FAST_HASH},ops:{FAST_HASH}")
    with pytest.raises(ConfigError) as bad_key:
        settings(DRIVEGUARD_ENCRYPTION_KEYS="k1:c2hvcnQ")
    assert "DRIVEGUARD_ENCRYPTION_KEYS" in str(bad_key.value) and "c2hvcnQ" not in str(bad_key.value)
    assert settings().security.admin_user("ops") is not None
    assert settings().security.admin_emails == frozenset({"boss@example.com"})


def test_refresh_margin_below_google_auths_threshold_is_refused():
    with pytest.raises(ConfigError, match="TOKEN_REFRESH_MARGIN_SECONDS"):
        settings(TOKEN_REFRESH_MARGIN_SECONDS="60")
    assert settings(TOKEN_REFRESH_MARGIN_SECONDS="225").security.token_refresh_margin_seconds == 225


def service(clock: FakeClock, **overrides: str) -> AdminAuthService:
    return AdminAuthService(settings(**overrides), engine=None, clock=clock)  # type: ignore[arg-type]


def test_admin_jwt_claims_are_all_checked():
    clock = FakeClock()
    admin = service(clock)
    issued = admin._issue(kind="password", name="ops", account_id=None)
    claims = admin.verify(issued.token)
    assert claims.subject == "user:ops" and claims.kind == "password"
    raw = jwt.decode(issued.token, options={"verify_signature": False})
    assert raw["iss"] == ISSUER and raw["aud"] == AUDIENCE and raw["role"] == "admin"

    key = admin._key
    for changed in (
        {"role": "user"},
        {"aud": "other"},
        {"iss": "other"},
        {"sub": "ops"},
        {"kind": "google"},
        {"iat": raw["iat"] + 3600, "exp": raw["exp"] + 3600},  # issued in the future
        {"exp": raw["exp"] + 86400},  # longer than the configured lifetime
    ):
        with pytest.raises(AdminAuthError):
            admin.verify(jwt.encode({**raw, **changed}, key, algorithm="HS256"))
    with pytest.raises(AdminAuthError):
        admin.verify(jwt.encode(raw, "another-key-entirely-0123456789abcdef", algorithm="HS256"))
    with pytest.raises(AdminAuthError):
        admin.verify(jwt.encode(raw, None, algorithm="none"))
    with pytest.raises(AdminAuthError):
        admin.verify("not.a.jwt")

    clock.advance(minutes=15, seconds=31)
    with pytest.raises(AdminAuthError, match="expired"):
        admin.verify(issued.token)


def test_admin_rights_end_when_removed_from_config():
    clock = FakeClock()
    password_token = service(clock)._issue(kind="password", name="ops", account_id=None).token
    google_token = (
        service(clock)._issue(kind="google", name="boss@example.com", account_id=__import__("uuid").uuid4()).token
    )
    removed = service(clock, DRIVEGUARD_ADMIN_USERS="", DRIVEGUARD_ADMIN_EMAILS="")
    for token in (password_token, google_token):
        with pytest.raises(AdminAuthError, match="no longer"):
            removed.verify(token)
    # Still configured, a Google admin token needs the session it was exchanged for (`sid`);
    # one without is refused before any lookup (the session check itself: tests/security).
    with pytest.raises(AdminAuthError, match="malformed"):
        service(clock).verify(google_token)
    assert dataclasses.is_dataclass(service(clock).verify(password_token))
