"""OpenID Connect discovery: one issuer URL (GOOGLE_OIDC_ISSUER) fills the sign-in endpoints.

The document at `<issuer>/.well-known/openid-configuration` gives the authorization, token,
userinfo, JWKS and revocation endpoints and the issuer; a variable set explicitly always wins.
Without GOOGLE_OIDC_ISSUER nothing is fetched: Google's endpoints are built in. Discovery runs
once when a process starts (the API, a pipeline task) and fails closed: a provider that does not
answer, or answers a document for another issuer, stops the start with a ConfigError naming why.
Only the local launcher (DRIVEGUARD_ENV=local) starts anyway, on the configured endpoints.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx

from driveguard.config import GOOGLE_ISSUERS_DEFAULT, ConfigError, Settings

logger = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
FIELDS = {
    "GOOGLE_AUTH_URI": ("auth_uri", "authorization_endpoint", True),
    "GOOGLE_TOKEN_URI": ("token_uri", "token_endpoint", True),
    "GOOGLE_JWKS_URI": ("jwks_uri", "jwks_uri", True),
    "GOOGLE_USERINFO_URI": ("userinfo_uri", "userinfo_endpoint", False),
    "GOOGLE_REVOKE_URI": ("revoke_uri", "revocation_endpoint", False),
}
"""variable -> (GoogleEndpoints field, discovery document member, required in the document)."""
LAUNCHER_ENV = "local"


class DiscoveryFailed(Exception):
    """The discovery document could not be fetched or is not usable; the message says why."""


def _endpoint(document: dict[str, Any], member: str, issuer_scheme: str) -> str | None:
    value = document.get(member)
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or not parts.netloc or parts.scheme not in ("https", issuer_scheme):
        raise DiscoveryFailed(f"{member} is not an {issuer_scheme} URL")
    return str(value)


def fetch_document(issuer: str, http: httpx.Client, timeout: float) -> dict[str, Any]:
    url = issuer.rstrip("/") + DISCOVERY_PATH
    try:
        response = http.get(url, timeout=timeout, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise DiscoveryFailed(f"{url} did not answer ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise DiscoveryFailed(f"{url} answered HTTP {response.status_code}")
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise DiscoveryFailed(f"{url} did not answer a JSON object")
    if document.get("issuer") != issuer:  # OpenID Connect Discovery 1.0, section 4.3
        raise DiscoveryFailed(f"{url} names another issuer ({str(document.get('issuer'))[:200]!r})")
    return document


def discovered(settings: Settings, document: dict[str, Any]) -> Settings:
    """`settings` with the document's endpoints and issuer, except where a variable was set explicitly."""
    google = settings.google
    issuer = str(document["issuer"])
    scheme = urlsplit(issuer).scheme
    changes: dict[str, Any] = {}
    for variable, (name, member, required) in FIELDS.items():
        value = _endpoint(document, member, scheme)
        if value is None and required:
            raise DiscoveryFailed(f"the document has no {member}")
        if value is not None and variable not in google.explicit_endpoints:
            changes[name] = value
    if "GOOGLE_ISSUERS" not in google.explicit_endpoints:
        changes["issuers"] = GOOGLE_ISSUERS_DEFAULT if issuer in GOOGLE_ISSUERS_DEFAULT else (issuer,)
    endpoints = dataclasses.replace(google.endpoints, **changes)
    return dataclasses.replace(settings, google=dataclasses.replace(google, endpoints=endpoints))


def with_discovered_endpoints(settings: Settings, http: httpx.Client | None = None) -> Settings:
    """Apply GOOGLE_OIDC_ISSUER's discovery document (see the module docstring); unchanged without it."""
    issuer = settings.google.oidc_issuer
    if issuer is None:
        return settings
    client = http or httpx.Client()
    try:
        return discovered(settings, fetch_document(issuer, client, settings.google.request_timeout_seconds))
    except DiscoveryFailed as exc:
        message = f"GOOGLE_OIDC_ISSUER={issuer}: OpenID discovery failed: {exc}"
        if settings.env != LAUNCHER_ENV:
            raise ConfigError([message]) from None
        logger.warning("%s; the local launcher goes on with the configured endpoints", message)
        return settings
    finally:
        if http is None:
            client.close()
