"""Service accounts with domain-wide delegation: the JWT-bearer grant (RFC 7523) at /token.

The product's side is google-auth's `service_account.Credentials(...).with_subject(admin)`, so the
tests drive the grant with that unmodified library (and with raw assertions where the library would
never send a bad one), then use the token on the Reports API.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import google_auth_httplib2
import httplib2
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account
from googleapiclient.discovery import build
from support.emulator_admin import RunningEmulator

REPORTS = "https://www.googleapis.com/auth/admin.reports.usage.readonly"
DRIVE = "https://www.googleapis.com/auth/drive.metadata.readonly"
ADMIN = "erin@northwind.example"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
UNAUTHORIZED = {
    "error": "unauthorized_client",
    "error_description": "Client is unauthorized to retrieve access tokens using this method, "
    "or client not authorized for any of the scopes requested.",
}


def credentials(keyfile: dict[str, Any], subject: str = ADMIN, scopes: list[str] | None = None) -> Any:
    base = service_account.Credentials.from_service_account_info(keyfile)
    return base.with_scopes(scopes or [REPORTS]).with_subject(subject)


def refresh(creds: Any) -> None:
    creds.refresh(google_auth_httplib2.Request(httplib2.Http(timeout=10)))


def assertion(keyfile: dict[str, Any], key: Any = None, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": keyfile["client_email"], "scope": REPORTS, "aud": keyfile["token_uri"], "iat": now}
    body.update({"exp": now + 3600, "sub": ADMIN, **claims})
    return jwt.encode(
        body, key or keyfile["private_key"], algorithm="RS256", headers={"kid": keyfile["private_key_id"]}
    )


def post_assertion(emu: RunningEmulator, signed: str) -> httpx.Response:
    return httpx.post(emu.url("/token"), data={"grant_type": JWT_BEARER, "assertion": signed})


def yesterday_but_two(emu: RunningEmulator) -> str:
    today = dt.date.fromisoformat(emu.admin.call("GET", "/clock")["reports_today"])
    return (today - dt.timedelta(days=3)).isoformat()


def test_registered_service_account_gets_a_keyfile_google_auth_accepts(emu: RunningEmulator) -> None:
    created = emu.admin.create_service_account("backfill", delegated_scopes=[REPORTS])
    keyfile = created["keyfile"]
    assert created["email"] == "backfill@driveguard-emulator.iam.gserviceaccount.com"
    assert keyfile["type"] == "service_account" and keyfile["client_email"] == created["email"]
    assert keyfile["token_uri"] == emu.url("/token")
    assert keyfile["client_id"] == created["client_id"] and created["delegated_scopes"] == [REPORTS]
    listed = emu.admin.call("GET", "/service-accounts")["service_accounts"]
    assert [a["email"] for a in listed] == [created["email"]]
    assert "private_key" not in listed[0]  # the emulator keeps only the public key


def test_delegated_service_account_acts_as_the_admin_on_reports(emu: RunningEmulator) -> None:
    keyfile = emu.admin.create_service_account("backfill", delegated_scopes=[REPORTS])["keyfile"]
    creds = credentials(keyfile)
    refresh(creds)
    assert creds.token.startswith("ya29.") and creds.valid
    service = build(
        "admin", "reports_v1", credentials=creds, client_options={"api_endpoint": emu.base_url}, static_discovery=True
    )
    page = service.userUsageReport().get(userKey="all", date=yesterday_but_two(emu)).execute()
    emails = {r["entity"]["userEmail"] for r in page["usageReports"]}
    domain = {e for e, a in emu.admin.accounts().items() if a["domain"] == "northwind.example"}
    assert emails == domain and len(emails) >= 3
    stats = emu.admin.stats()
    assert stats["requests"]["token"] == 1 and stats["grants"] == {"jwt_bearer": 1}


def test_without_delegation_for_the_scope_google_refuses_with_unauthorized_client(emu: RunningEmulator) -> None:
    created = emu.admin.create_service_account("backfill", delegated_scopes=[DRIVE])  # not the Reports scope
    keyfile = created["keyfile"]
    response = post_assertion(emu, assertion(keyfile))
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    with pytest.raises(RefreshError) as refused:
        refresh(credentials(keyfile))
    assert refused.value.args[1] == UNAUTHORIZED

    # An admin adds the scope to the client id's delegation: the same key now works; withheld again, refused.
    emu.admin.delegate(created["email"], grant=[REPORTS])
    assert post_assertion(emu, assertion(keyfile)).status_code == 200
    emu.admin.delegate(created["email"], withhold=[REPORTS])
    assert post_assertion(emu, assertion(keyfile)).status_code == 401
    assert emu.admin.stats()["grant_errors"] == {f"{JWT_BEARER}:unauthorized_client": 3}


def test_bad_signature_expired_or_foreign_assertions_are_invalid_grant(emu: RunningEmulator) -> None:
    keyfile = emu.admin.create_service_account("backfill", delegated_scopes=[REPORTS])["keyfile"]
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    cases = {
        "someone else's key": (assertion(keyfile, key=stranger), "Invalid JWT Signature."),
        "expired": (
            assertion(keyfile, iat=now - 7200, exp=now - 3600),
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
            "Check your iat and exp values in the JWT claim.",
        ),
        "other audience": (
            assertion(keyfile, aud="https://example.invalid/token"),
            "Invalid JWT: Failed audience check.",
        ),
        "unknown user": (assertion(keyfile, sub="nobody@northwind.example"), "Invalid email or User ID"),
        "unknown issuer": (
            assertion(keyfile, iss="ghost@driveguard-emulator.iam.gserviceaccount.com"),
            "Invalid grant: account not found",
        ),
    }
    for name, (signed, description) in cases.items():
        response = post_assertion(emu, signed)
        assert response.status_code == 400, name
        assert response.json() == {"error": "invalid_grant", "error_description": description}, name
    assert emu.admin.stats()["grant_errors"] == {f"{JWT_BEARER}:invalid_grant": 5}
    # The grant itself is fine: a good assertion still gets a token.
    assert post_assertion(emu, assertion(keyfile)).status_code == 200
