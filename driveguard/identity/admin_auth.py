"""Admin access: short-lived HS256 JWTs for configured admin users and admin Google accounts.

Two ways in, both ending in the same token (`role=admin`):
- a username/password admin from DRIVEGUARD_ADMIN_USERS (scrypt hashes, never plaintext),
- a signed-in Google user whose email is in DRIVEGUARD_ADMIN_EMAILS, exchanging a live session.

The signing key is derived from DRIVEGUARD_SECRET_KEY for this one purpose, so the secret is
not reused as-is across features. Tokens are checked for signature, `iss`, `aud`, `exp`, `iat`,
`sub` and `role`, against the injectable clock, and the admin must still be configured.
A token from a Google session carries that session's id (`sid`) and is refused as soon as the
session ends or the account's grant is revoked: one primary-key lookup per request.
Password attempts go through `driveguard.identity.throttle`, counted before the password is
checked: per (user name, address), per address across names and per name across addresses, each
a delay that grows and is capped, so no attacker sharing the admin's address locks the admin out
for longer than the cap. Failures are audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from sqlalchemy import Engine

from driveguard import audit
from driveguard.audit import Action, RequestContext
from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.db.engine import transaction
from driveguard.db.models import AccountStatus, GoogleAccount
from driveguard.identity.passwords import verify_user
from driveguard.identity.sessions import SessionInfo
from driveguard.identity.sql import load_sql
from driveguard.identity.throttle import (
    ADMIN_PASSWORD_ACCOUNT,
    ADMIN_PASSWORD_ADDRESS,
    ADMIN_PASSWORD_PAIR,
    Throttle,
    Throttled,
)

ISSUER = "driveguard"
AUDIENCE = "driveguard-admin-api"
ROLE_ADMIN = "admin"
ALGORITHM = "HS256"
CLOCK_LEEWAY_SECONDS = 30

AdminKind = Literal["password", "google"]


class AdminAuthError(Exception):
    """Authentication failed; `reason` is a short code safe to show and to audit."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class TooManyAttempts(AdminAuthError):
    """Too many recent password attempts for this user name or from this address; wait `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__("throttled", "too many sign-in attempts; try again later")


@dataclass(frozen=True)
class IssuedAdminToken:
    token: str = field(repr=False)
    expires_at: dt.datetime
    expires_in: int
    subject: str


@dataclass(frozen=True)
class AdminClaims:
    subject: str
    """`user:<name>` or `google:<email>`."""
    kind: AdminKind
    name: str
    account_id: uuid.UUID | None
    expires_at: dt.datetime
    token_id: str
    session_id: uuid.UUID | None = None
    """The Google session the token was exchanged for (`sid`); the token lives no longer than it."""


def _signing_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"driveguard/admin-jwt/v1", hashlib.sha256).digest()


class AdminAuthService:
    """Issue and verify admin JWTs; password and session exchanges are audited."""

    def __init__(self, settings: Settings, engine: Engine, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.throttle = Throttle(engine, clock=clock)
        self._key = _signing_key(settings.security.secret_key)
        self.ttl = dt.timedelta(minutes=settings.security.admin_token_ttl_minutes)

    def _issue(
        self, *, kind: AdminKind, name: str, account_id: uuid.UUID | None, session_id: uuid.UUID | None = None
    ) -> IssuedAdminToken:
        now = self.clock()
        expires = now + self.ttl
        subject = f"user:{name}" if kind == "password" else f"google:{name}"
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "role": ROLE_ADMIN,
            "kind": kind,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_urlsafe(16),
        }
        if account_id is not None:
            claims["account_id"] = str(account_id)
        if session_id is not None:
            claims["sid"] = str(session_id)
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return IssuedAdminToken(token, expires, int(self.ttl.total_seconds()), subject)

    def verify(self, token: str) -> AdminClaims:
        """The claims of a valid admin token; AdminAuthError (reason code only) otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={
                    "verify_exp": False,  # checked below against the injectable clock
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["iss", "aud", "sub", "exp", "iat", "role"],
                },
            )
        except jwt.PyJWTError as exc:
            raise AdminAuthError("invalid_token", f"admin token rejected: {type(exc).__name__}") from None
        now = self.clock().timestamp()
        try:
            exp, iat = float(claims["exp"]), float(claims["iat"])
        except (TypeError, ValueError):
            raise AdminAuthError("invalid_token", "admin token times are not numbers") from None
        if now >= exp + CLOCK_LEEWAY_SECONDS:
            raise AdminAuthError("token_expired", "admin token has expired")
        if iat > now + CLOCK_LEEWAY_SECONDS or exp - iat > self.ttl.total_seconds() + 1:
            raise AdminAuthError("invalid_token", "admin token times are implausible")
        if claims.get("role") != ROLE_ADMIN:
            raise AdminAuthError("invalid_token", "admin token has no admin role")
        kind, subject = claims.get("kind"), str(claims["sub"])
        prefix, _, name = subject.partition(":")
        if kind == "password" and prefix == "user":
            if self.settings.security.admin_user(name) is None:
                raise AdminAuthError("not_admin", "admin user is no longer configured")
            account_id = None
        elif kind == "google" and prefix == "google":
            if name not in self.settings.security.admin_emails:
                raise AdminAuthError("not_admin", "email is no longer an admin")
            try:
                account_id = uuid.UUID(str(claims.get("account_id")))
                session_id = uuid.UUID(str(claims.get("sid")))
            except ValueError:
                raise AdminAuthError("invalid_token", "admin token account or session id is malformed") from None
            if not self._session_alive(session_id, account_id):
                raise AdminAuthError("token_revoked", "the admin's session or grant was revoked")
        else:
            raise AdminAuthError("invalid_token", "admin token subject is malformed")
        return AdminClaims(
            subject=subject,
            kind=kind,  # type: ignore[arg-type]
            name=name,
            account_id=account_id,
            expires_at=dt.datetime.fromtimestamp(exp, dt.UTC),
            token_id=str(claims.get("jti", "")),
            session_id=session_id if kind == "google" else None,
        )

    def _session_alive(self, session_id: uuid.UUID, account_id: uuid.UUID) -> bool:
        """The token's Google session is live and its account not revoked (primary-key lookups)."""
        params = {"session_id": session_id, "account_id": account_id, "now": self.clock()}
        with self.engine.connect() as conn:
            return conn.execute(load_sql("admin_session_alive"), params).first() is not None

    def login_with_password(self, username: str, password: str, *, context: RequestContext) -> IssuedAdminToken:
        """An admin token for a configured admin user; audited either way, throttled before the check."""
        pair = ADMIN_PASSWORD_PAIR.bucket(username, context.ip)
        try:
            self.throttle.attempt(
                (ADMIN_PASSWORD_PAIR, pair),
                (ADMIN_PASSWORD_ADDRESS, ADMIN_PASSWORD_ADDRESS.bucket(context.ip)),
                (ADMIN_PASSWORD_ACCOUNT, ADMIN_PASSWORD_ACCOUNT.bucket(username)),
            )
        except Throttled as exc:
            raise TooManyAttempts(exc.retry_after) from None
        user = self.settings.security.admin_user(username)
        ok = verify_user(password, user.password_hash if user else None)
        with transaction(self.engine) as db:
            if not ok:
                audit.record(
                    db,
                    action=Action.ADMIN_LOGIN_FAILED,
                    actor=audit.ANONYMOUS_ACTOR,
                    subject=username,
                    context=context,
                    details={"method": "password"},
                    at=self.clock(),
                )
            else:
                issued = self._issue(kind="password", name=username, account_id=None)
                audit.record(
                    db,
                    action=Action.ADMIN_TOKEN_ISSUED,
                    actor=issued.subject,
                    subject=username,
                    context=context,
                    details={"method": "password", "expires_at": issued.expires_at},
                    at=self.clock(),
                )
        if not ok:
            raise AdminAuthError("bad_credentials", "unknown user name or wrong password")
        self.throttle.clear(pair)  # the admin proved who they are: their own tries start afresh
        return issued

    def exchange_session(self, session: SessionInfo, *, context: RequestContext) -> IssuedAdminToken:
        """An admin token for a signed-in Google user listed in DRIVEGUARD_ADMIN_EMAILS."""
        email = session.email.lower()
        if email not in self.settings.security.admin_emails:
            raise AdminAuthError("not_admin", "this Google account is not an admin")
        with transaction(self.engine) as db:
            account = db.get(GoogleAccount, session.account_id)
            if account is None or not account.email_verified or account.status == AccountStatus.REVOKED:
                raise AdminAuthError("not_admin", "the admin's Google account is not verified or was revoked")
            issued = self._issue(
                kind="google", name=email, account_id=session.account_id, session_id=session.session_id
            )
            audit.record(
                db,
                action=Action.ADMIN_TOKEN_ISSUED,
                actor=email,
                actor_account_id=session.account_id,
                subject=email,
                context=context,
                details={"method": "session", "session_id": session.session_id, "expires_at": issued.expires_at},
                at=self.clock(),
            )
        return issued
