"""Service accounts with domain-wide delegation, and the JWT-bearer grant (RFC 7523) they use.

A Workspace admin (or GAM) gives a service account's client id a list of scopes in the Admin
console (Security > API controls > Domain-wide delegation). The service account then signs a JWT
(`iss` = its email, `scope`, `aud` = the token URI, `iat`/`exp`, `sub` = the user to act as) with
its private key and posts it to the token endpoint as
`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…` (google-auth posts to the
keyfile's `token_uri` but always signs `aud` = https://oauth2.googleapis.com/token; both that and
this emulator's own /token URL are accepted). Google checks the signature
against the key it registered, then the delegation: a scope outside it is refused with 401
`unauthorized_client`; a bad signature, an unknown key or a token outside its time window with 400
`invalid_grant`. The test registers accounts through `/_emulator/service-accounts` and gets the
keyfile JSON Google would let it download.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .models import ValidationError

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_LIFETIME = 3600
"""Google accepts assertions of at most one hour (exp - iat)."""
CLOCK_SKEW = 300
GOOGLE_AUDIENCES = frozenset(
    {
        "https://oauth2.googleapis.com/token",
        "https://accounts.google.com/o/oauth2/token",
        "https://www.googleapis.com/oauth2/v4/token",
    }
)
"""Audiences Google's token endpoint accepts. google-auth always signs `aud` =
https://oauth2.googleapis.com/token, whatever the keyfile's token_uri (where it POSTs)."""
UNAUTHORIZED_CLIENT = (
    "Client is unauthorized to retrieve access tokens using this method, "
    "or client not authorized for any of the scopes requested."
)
BAD_TIMES = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


class AssertionRefused(Exception):
    """The token endpoint's answer to a refused assertion: status, OAuth error, description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


@dataclass
class ServiceAccount:
    email: str
    client_id: str
    key_id: str
    public_key: rsa.RSAPublicKey
    project_id: str
    delegated_scopes: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "client_id": self.client_id,
            "key_id": self.key_id,
            "project_id": self.project_id,
            "delegated_scopes": sorted(self.delegated_scopes),
        }


def _scopes(value: Any, name: str) -> set[str]:
    if value is None:
        return set()
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise ValidationError(f"{name}: must be a list of scopes")
    return set(value)


def create(payload: dict[str, Any], base: str) -> tuple[ServiceAccount, dict[str, Any]]:
    """A new service account with a fresh 2048-bit key; returns it and its keyfile JSON (the only
    copy of the private key, as with Google's "Create key" download)."""
    name = str(payload.get("name") or "driveguard-backfill").strip().lower()
    project = str(payload.get("project_id") or "driveguard-emulator").strip().lower()
    if not name.replace("-", "").isalnum() or not project.replace("-", "").isalnum():
        raise ValidationError("name, project_id: letters, digits and dashes only")
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    email = f"{name}@{project}.iam.gserviceaccount.com"
    client_id = str(int(hashlib.sha256(email.encode()).hexdigest()[:16], 16))[:21]
    key_id = secrets.token_hex(20)
    account = ServiceAccount(
        email=email,
        client_id=client_id,
        key_id=key_id,
        public_key=private.public_key(),
        project_id=project,
        delegated_scopes=_scopes(payload.get("delegated_scopes"), "delegated_scopes"),
    )
    base = base.rstrip("/")
    keyfile = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": email,
        "client_id": client_id,
        "auth_uri": base + "/o/oauth2/auth",
        "token_uri": base + "/token",
        "auth_provider_x509_cert_url": base + "/oauth2/v1/certs",
        "client_x509_cert_url": f"{base}/robot/v1/metadata/x509/{email}",
        "universe_domain": "googleapis.com",
    }
    return account, keyfile


def set_delegation(account: ServiceAccount, payload: dict[str, Any]) -> None:
    """`delegated_scopes` replaces the delegation; `grant` / `withhold` add or remove scopes."""
    if "delegated_scopes" in payload:
        account.delegated_scopes = _scopes(payload["delegated_scopes"], "delegated_scopes")
    account.delegated_scopes |= _scopes(payload.get("grant"), "grant")
    account.delegated_scopes -= _scopes(payload.get("withhold"), "withhold")


def verify(assertion: str | None, accounts: dict[str, ServiceAccount], token_uri: str, now: float) -> dict[str, Any]:
    """The assertion's claims once its key, signature, audience and times check out, else
    AssertionRefused (the delegation is checked by the caller, who knows the users)."""
    if not assertion:
        raise AssertionRefused(400, "invalid_request", "Missing required parameter: assertion")
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AssertionRefused(400, "invalid_grant", "Invalid JWT: malformed assertion.") from None
    if header.get("alg") != "RS256":
        raise AssertionRefused(400, "invalid_grant", "Invalid JWT Signature.")
    account = accounts.get(str(unverified.get("iss") or "").lower())
    if account is None:
        raise AssertionRefused(400, "invalid_grant", "Invalid grant: account not found")
    if header.get("kid") not in (None, account.key_id):
        raise AssertionRefused(400, "invalid_grant", "Invalid JWT Signature.")
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            account.public_key,
            algorithms=["RS256"],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidSignatureError:
        raise AssertionRefused(400, "invalid_grant", "Invalid JWT Signature.") from None
    except jwt.PyJWTError:
        raise AssertionRefused(400, "invalid_grant", "Invalid JWT: malformed assertion.") from None
    if claims.get("aud") not in GOOGLE_AUDIENCES | {token_uri}:
        raise AssertionRefused(400, "invalid_grant", "Invalid JWT: Failed audience check.")
    iat, exp = claims.get("iat"), claims.get("exp")
    if (
        not isinstance(iat, int | float)
        or not isinstance(exp, int | float)
        or exp <= iat
        or exp - iat > MAX_LIFETIME
        or iat > now + CLOCK_SKEW
        or exp <= now
    ):
        raise AssertionRefused(400, "invalid_grant", BAD_TIMES)
    claims["_account"] = account
    return claims
