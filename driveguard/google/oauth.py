"""Google's OAuth 2.0 / OpenID Connect endpoints: authorization URL, code exchange, refresh,
revoke and id_token verification. Plain HTTP (httpx) against the endpoints in settings, so the
emulator and real Google are the same code path.

Exceptions carry Google's `error` code and a short description only: a token, code or secret
never reaches an exception message, a log line or a repr (the dataclasses hide them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from driveguard.backoff import FULL_JITTER, Backoff
from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.google.retry import google_error

logger = logging.getLogger(__name__)

ID_TOKEN_LEEWAY_SECONDS = 120
JWKS_MIN_TTL, JWKS_DEFAULT_TTL, JWKS_MAX_TTL = 60, 3600, 86400
JWKS_FORCED_REFETCH_INTERVAL = 10.0
TOKEN_ENDPOINT_BACKOFF = Backoff(base_seconds=0.5, cap_seconds=8.0, jitter=FULL_JITTER, max_attempts=4)
"""Short waits: a person may be waiting on the code exchange, and a refresh holds a row lock."""


class GoogleOAuthError(Exception):
    """Google answered with an OAuth error (or not at all). `error` is Google's code."""

    def __init__(self, error: str, description: str | None = None, *, status: int | None = None) -> None:
        self.error = error
        self.description = (description or "")[:200]
        self.status = status
        text = f"{error} (HTTP {status})" if status else error
        super().__init__(f"{text}: {self.description}" if self.description else text)


class InvalidGrant(GoogleOAuthError):
    """`invalid_grant`: the refresh token or code is dead (revoked, expired, reused). Never retried."""


class TransientGoogleError(GoogleOAuthError):
    """429, 5xx, a timeout or a network failure that outlasted the retries."""


class UncertainAnswer(TransientGoogleError):
    """The request reached the provider but its answer was lost (a read timeout, a reset, a 5xx): it may
    have been acted on. A refresh under rotation may have consumed the refresh token, so it is not resent."""


NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport failures before a byte of the request left: resending cannot repeat anything."""


class IdTokenError(Exception):
    """The id_token failed verification; the message names the check, never the token."""


@dataclass(frozen=True)
class TokenResponse:
    """A successful answer from the token endpoint; secrets are hidden from repr."""

    access_token: str = field(repr=False)
    expires_in: int
    scopes: tuple[str, ...]
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret


@dataclass(frozen=True)
class GoogleIdentity:
    """Who signed in, from a verified id_token."""

    sub: str
    email: str
    email_verified: bool
    name: str | None = None
    picture: str | None = None
    hosted_domain: str | None = None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier (RFC 7636 section 4.2)."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def _error_of(response: httpx.Response) -> tuple[str, str | None]:
    try:
        body = response.json()
    except ValueError:
        return ("http_error", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # the Google API envelope, seen from some front ends
            return (str(error.get("status") or "http_error")[:64], str(error.get("message") or "")[:200])
        if isinstance(error, str):
            description = body.get("error_description")
            return (error[:64], str(description)[:200] if description is not None else None)
    return ("http_error", None)


class JwksCache:
    """Google's signing keys, cached as long as `Cache-Control: max-age` allows.

    An unknown `kid` (Google rotated its keys) forces one refetch, at most every few seconds,
    so a forged kid cannot turn every login into a request to Google.
    """

    def __init__(self, url: str, http: httpx.Client, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.http = http
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}
        self._expires = 0.0
        self._fetched = -1e9
        self.fetch_count = 0

    def _fetch(self) -> None:
        try:
            response = self.http.get(self.url)
        except httpx.HTTPError as exc:
            raise TransientGoogleError("jwks_unavailable", type(exc).__name__) from None
        if response.status_code != 200:
            raise TransientGoogleError("jwks_unavailable", None, status=response.status_code)
        try:
            keyset = jwt.PyJWKSet.from_dict(response.json())
        except (ValueError, jwt.PyJWKSetError, jwt.InvalidKeyError):
            raise TransientGoogleError("jwks_malformed") from None
        match = re.search(r"max-age=(\d+)", response.headers.get("cache-control", ""))
        ttl = int(match.group(1)) if match else JWKS_DEFAULT_TTL
        now = self.monotonic()
        self._keys = {k.key_id: k.key for k in keyset.keys if k.key_id}
        self._expires = now + max(JWKS_MIN_TTL, min(JWKS_MAX_TTL, ttl))
        self._fetched = now
        self.fetch_count += 1

    def key_for(self, kid: str) -> Any:
        with self._lock:
            now = self.monotonic()
            if now >= self._expires:
                self._fetch()
            key = self._keys.get(kid)
            if key is None and now - self._fetched >= JWKS_FORCED_REFETCH_INTERVAL:
                self._fetch()
                key = self._keys.get(kid)
            if key is None:
                raise IdTokenError("id_token is signed with an unknown key")
            return key


class GoogleOAuthClient:
    """The OAuth endpoints with retries. Thread-safe; one per process is enough.

    `clock` is only for id_token time claims (`exp`, `iat`), which Google mints on the wall
    clock: keep the default outside tests of those checks.
    """

    def __init__(
        self,
        settings: Settings,
        http: httpx.Client | None = None,
        *,
        clock: Clock = utcnow,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.google = settings.google
        self.http = http or httpx.Client(timeout=settings.google.request_timeout_seconds)
        self._owns_http = http is None
        self.clock = clock
        self.backoff = backoff or TOKEN_ENDPOINT_BACKOFF
        self.sleep = sleep
        self.rng = rng
        self.jwks = JwksCache(settings.google.endpoints.jwks_uri, self.http)

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    # -- authorization ---------------------------------------------------------------------

    def authorization_url(
        self,
        *,
        state: str,
        code_challenge: str,
        nonce: str,
        scopes: Sequence[str],
        prompt: str | None = "consent",
        login_hint: str | None = None,
    ) -> str:
        params = {
            "client_id": self.google.client_id,
            "redirect_uri": self.google.redirect_uri,
            "response_type": "code",
            "scope": " ".join(scopes),
            "state": state,
            "access_type": "offline",
            "include_granted_scopes": "true",
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        if prompt:
            params["prompt"] = prompt
        if login_hint:
            params["login_hint"] = login_hint
        return f"{self.google.endpoints.auth_uri}?{urlencode(params)}"

    # -- token endpoint --------------------------------------------------------------------

    def _post_form(
        self, url: str, form: dict[str, str], what: str, *, resend_after_uncertain: bool = True
    ) -> httpx.Response:
        """POST to a token-endpoint style URL with retries on what `google.retry.classify` calls
        retryable and on timeouts; returns the final non-retryable response.

        `resend_after_uncertain=False` (refreshes): an answer lost after the request was sent (read
        timeout, reset, 5xx) raises UncertainAnswer at once instead of resending the same form.
        """
        attempts = self.backoff.max_attempts
        last_error: TransientGoogleError | None = None
        timeout = self.google.token_timeout_seconds
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                response = self.http.post(url, data=form, headers={"Accept": "application/json"}, timeout=timeout)
            except NOT_SENT as exc:
                last_error = TransientGoogleError("network_error", f"{what}: {type(exc).__name__}")
            except httpx.TimeoutException:
                last_error = UncertainAnswer("timeout", f"{what} timed out after {timeout:g}s")
            except httpx.TransportError as exc:
                last_error = UncertainAnswer("network_error", f"{what}: {type(exc).__name__}")
            else:
                failure = google_error(response.status_code, response.content, response.headers.get("retry-after"))
                if not failure.kind.retryable:
                    return response
                error, description = _error_of(response)
                kind = UncertainAnswer if response.status_code >= 500 else TransientGoogleError
                last_error = kind(error, description, status=response.status_code)
                retry_after = failure.retry_after
            if isinstance(last_error, UncertainAnswer) and not resend_after_uncertain:
                raise last_error
            if attempt + 1 < attempts:
                wait = self.backoff.delay(attempt, self.rng, retry_after)
                logger.info("%s failed transiently (%s); retry %d in %.2fs", what, last_error.error, attempt + 1, wait)
                self.sleep(wait)
        assert last_error is not None
        raise last_error

    def _token_request(self, form: dict[str, str], what: str, *, resend_after_uncertain: bool = True) -> TokenResponse:
        response = self._post_form(
            self.google.endpoints.token_uri, form, what, resend_after_uncertain=resend_after_uncertain
        )
        if response.status_code != 200:
            error, description = _error_of(response)
            if error == "invalid_grant":
                raise InvalidGrant(error, description, status=response.status_code)
            raise GoogleOAuthError(error, description, status=response.status_code)
        try:
            body = response.json()
            access_token = body["access_token"]
            expires_in = int(body.get("expires_in", 3599))
        except (ValueError, KeyError, TypeError):
            raise GoogleOAuthError("malformed_response", f"{what} answer is not a token response", status=200) from None
        if not isinstance(access_token, str) or not access_token or expires_in <= 0:
            raise GoogleOAuthError("malformed_response", f"{what} answer has no usable access token", status=200)
        refresh_token = body.get("refresh_token")
        id_token = body.get("id_token")
        scope = body.get("scope")
        return TokenResponse(
            access_token=access_token,
            expires_in=expires_in,
            scopes=tuple(scope.split()) if isinstance(scope, str) else (),
            refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
            id_token=id_token if isinstance(id_token, str) and id_token else None,
            token_type=str(body.get("token_type") or "Bearer"),
        )

    def exchange_code(self, code: str, code_verifier: str) -> TokenResponse:
        return self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.google.redirect_uri,
                "client_id": self.google.client_id,
                "client_secret": self.google.client_secret,
                "code_verifier": code_verifier,
            },
            "code exchange",
        )

    def refresh(self, refresh_token: str) -> TokenResponse:
        """One refresh; never resent after an uncertain answer (UncertainAnswer), since the provider may
        have rotated the refresh token and would treat a second use as reuse."""
        return self._token_request(
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self.google.client_id,
                "client_secret": self.google.client_secret,
            },
            "token refresh",
            resend_after_uncertain=False,
        )

    def revoke(self, token: str) -> bool:
        """Revoke the grant behind `token`. True when revoked now, False when it was already dead."""
        response = self._post_form(self.google.endpoints.revoke_uri, {"token": token}, "revoke")
        if response.status_code == 200:
            return True
        error, description = _error_of(response)
        if response.status_code == 400 and error in ("invalid_token", "invalid_grant"):
            return False
        raise GoogleOAuthError(error, description, status=response.status_code)

    # -- id_token --------------------------------------------------------------------------

    def verify_id_token(self, token: str, *, nonce: str, access_token: str | None = None) -> GoogleIdentity:
        """Check signature (JWKS), `iss`, `aud`, `azp`, `exp`, `iat`, `nonce` and `at_hash`."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise IdTokenError("id_token is not a JWT") from None
        if header.get("alg") != "RS256":
            raise IdTokenError("id_token is not signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise IdTokenError("id_token has no key id")
        key = self.jwks.key_for(kid)
        client_id = self.google.client_id
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                audience=client_id,
                issuer=list(self.google.endpoints.issuers),
                options={
                    "verify_exp": False,  # checked below against the injectable clock
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["iss", "aud", "sub", "exp", "iat"],
                },
            )
        except jwt.InvalidAudienceError:
            raise IdTokenError("id_token audience is not this client") from None
        except jwt.InvalidIssuerError:
            raise IdTokenError("id_token issuer is not Google") from None
        except jwt.InvalidSignatureError:
            raise IdTokenError("id_token signature is invalid") from None
        except jwt.PyJWTError as exc:
            raise IdTokenError(f"id_token rejected: {type(exc).__name__}") from None
        now = self.clock().timestamp()
        try:
            exp, iat = float(claims["exp"]), float(claims["iat"])
        except (TypeError, ValueError):
            raise IdTokenError("id_token exp/iat are not numbers") from None
        if now > exp + ID_TOKEN_LEEWAY_SECONDS:
            raise IdTokenError("id_token has expired")
        if iat > now + ID_TOKEN_LEEWAY_SECONDS:
            raise IdTokenError("id_token was issued in the future")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != client_id:
            raise IdTokenError("id_token authorized party is not this client")
        claimed_nonce = claims.get("nonce")
        if not isinstance(claimed_nonce, str) or not hmac.compare_digest(claimed_nonce, nonce):
            raise IdTokenError("id_token nonce does not match this sign-in")
        at_hash = claims.get("at_hash")
        if access_token is not None and at_hash is not None:
            expected = b64url(hashlib.sha256(access_token.encode()).digest()[:16])
            if not hmac.compare_digest(str(at_hash), expected):
                raise IdTokenError("id_token at_hash does not match the access token")
        sub, email = claims.get("sub"), claims.get("email")
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise IdTokenError("id_token has no usable subject")
        if not isinstance(email, str) or "@" not in email or len(email) > 320:
            raise IdTokenError("id_token has no email (was the email scope granted?)")
        verified = claims.get("email_verified")
        return GoogleIdentity(
            sub=sub,
            email=email.lower(),
            email_verified=verified is True or verified == "true",
            name=str(claims["name"])[:255] if claims.get("name") else None,
            picture=str(claims["picture"]) if claims.get("picture") else None,
            hosted_domain=str(claims["hd"])[:255] if claims.get("hd") else None,
        )
