"""Persistent sign-in sessions, following OWASP's session management guidance.

- The session id is `secrets.token_urlsafe(32)` (256 bits); only its SHA-256 is stored, so a
  database dump cannot be replayed as cookies.
- Absolute lifetime (SESSION_LIFETIME_DAYS) and an idle timeout (SESSION_IDLE_TIMEOUT_MINUTES)
  whose clock slides with use; `last_activity_at` is written at most once a minute per session
  so busy clients do not turn every read into a write.
- A new id at every sign-in (the browser's previous session is revoked), logout, revoke-all.

The same token is the cookie value for browsers and the `Authorization: Bearer` value for API
clients. All time comes from the injected clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from driveguard.audit import RequestContext
from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.db.models import GoogleAccount, UserSession

ACTIVITY_WRITE_INTERVAL = dt.timedelta(minutes=1)
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,128}")


class RevokeReason(StrEnum):
    LOGOUT = "logout"
    ROTATED = "rotated"
    REVOKED = "revoked"
    REVOKED_ALL = "revoked_all"
    GRANT_REVOKED = "grant_revoked"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", errors="replace")).digest()


def well_formed(token: str | None) -> bool:
    """Cheap shape check before hashing and querying (cookies and headers are attacker input)."""
    return bool(token) and _TOKEN_SHAPE.fullmatch(token or "") is not None


@dataclass(frozen=True)
class SessionPolicy:
    """Lifetimes; pure functions of a session row and `now`, so they unit-test without a database."""

    lifetime: dt.timedelta
    idle_timeout: dt.timedelta
    activity_write_interval: dt.timedelta = ACTIVITY_WRITE_INTERVAL

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        return cls(
            lifetime=dt.timedelta(days=settings.security.session_lifetime_days),
            idle_timeout=dt.timedelta(minutes=settings.security.session_idle_timeout_minutes),
        )

    def idle_expires_at(self, last_activity_at: dt.datetime) -> dt.datetime:
        return last_activity_at + self.idle_timeout

    def effective_expiry(self, expires_at: dt.datetime, last_activity_at: dt.datetime) -> dt.datetime:
        """When the session ends if unused from now on: the earlier of absolute and idle expiry."""
        return min(expires_at, self.idle_expires_at(last_activity_at))

    def why_invalid(
        self,
        *,
        expires_at: dt.datetime,
        last_activity_at: dt.datetime,
        revoked_at: dt.datetime | None,
        now: dt.datetime,
    ) -> str | None:
        """None when the session is usable at `now`, else the reason it is not."""
        if revoked_at is not None:
            return "revoked"
        if now >= expires_at:
            return "expired"
        if now >= self.idle_expires_at(last_activity_at):
            return "idle_timeout"
        return None

    def should_touch(self, last_activity_at: dt.datetime, now: dt.datetime) -> bool:
        return now - last_activity_at >= self.activity_write_interval


@dataclass(frozen=True)
class IssuedSession:
    """A freshly issued session; `token` goes to the client once and is never stored."""

    session_id: uuid.UUID
    token: str = field(repr=False)
    expires_at: dt.datetime
    idle_expires_at: dt.datetime


@dataclass(frozen=True)
class SessionInfo:
    """A valid session as seen by a request."""

    session_id: uuid.UUID
    account_id: uuid.UUID
    email: str
    expires_at: dt.datetime
    last_activity_at: dt.datetime
    idle_expires_at: dt.datetime


class SessionService:
    """Issue, validate (with sliding idle expiry), and revoke sessions inside the caller's transaction."""

    def __init__(self, settings: Settings, *, clock: Clock = utcnow) -> None:
        self.policy = SessionPolicy.from_settings(settings)
        self.clock = clock

    def issue(
        self,
        db: Session,
        account_id: uuid.UUID,
        *,
        context: RequestContext,
        replaces: str | None = None,
    ) -> IssuedSession:
        """Open a new session; the browser's previous one (`replaces`) is revoked (rotation)."""
        now = self.clock()
        if replaces and well_formed(replaces):
            db.execute(
                update(UserSession)
                .where(UserSession.token_hash == hash_token(replaces), UserSession.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason=RevokeReason.ROTATED.value)
            )
        token = new_token()
        record = UserSession(
            account_id=account_id,
            token_hash=hash_token(token),
            expires_at=now + self.policy.lifetime,
            last_activity_at=now,
            ip_address=context.ip,
            user_agent=context.user_agent,
        )
        db.add(record)
        db.flush()
        return IssuedSession(record.id, token, record.expires_at, self.policy.idle_expires_at(now))

    def authenticate(self, db: Session, token: str | None) -> SessionInfo | None:
        """The session behind `token` if it is usable now; slides its idle expiry (throttled)."""
        if not well_formed(token):
            return None
        assert token is not None
        now = self.clock()
        row = db.execute(
            select(
                UserSession.id,
                UserSession.account_id,
                UserSession.expires_at,
                UserSession.last_activity_at,
                UserSession.revoked_at,
                GoogleAccount.email,
            )
            .join(GoogleAccount, GoogleAccount.id == UserSession.account_id)
            .where(UserSession.token_hash == hash_token(token))
        ).one_or_none()
        if row is None:
            return None
        if self.policy.why_invalid(
            expires_at=row.expires_at, last_activity_at=row.last_activity_at, revoked_at=row.revoked_at, now=now
        ):
            return None
        last_activity = row.last_activity_at
        if self.policy.should_touch(last_activity, now):
            # Conditional, so concurrent requests write once and never move the time backwards.
            db.execute(
                update(UserSession)
                .where(
                    UserSession.id == row.id,
                    UserSession.last_activity_at <= now - self.policy.activity_write_interval,
                )
                .values(last_activity_at=now)
            )
            last_activity = now
        return SessionInfo(
            session_id=row.id,
            account_id=row.account_id,
            email=row.email,
            expires_at=row.expires_at,
            last_activity_at=last_activity,
            idle_expires_at=self.policy.idle_expires_at(last_activity),
        )

    def revoke(
        self, db: Session, session_id: uuid.UUID, *, reason: RevokeReason, account_id: uuid.UUID | None = None
    ) -> bool:
        """Revoke one session (optionally only if it belongs to `account_id`). True if it changed."""
        query = update(UserSession).where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
        if account_id is not None:
            query = query.where(UserSession.account_id == account_id)
        result = db.execute(query.values(revoked_at=self.clock(), revoked_reason=reason.value))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def revoke_token(self, db: Session, token: str | None, *, reason: RevokeReason) -> uuid.UUID | None:
        """Revoke the session behind a raw token (logout); the id of the session if it changed."""
        if not well_formed(token):
            return None
        assert token is not None
        result = db.execute(
            update(UserSession)
            .where(UserSession.token_hash == hash_token(token), UserSession.revoked_at.is_(None))
            .values(revoked_at=self.clock(), revoked_reason=reason.value)
            .returning(UserSession.id)
        )
        return result.scalar_one_or_none()

    def revoke_all(self, db: Session, account_id: uuid.UUID, *, reason: RevokeReason = RevokeReason.REVOKED_ALL) -> int:
        """Revoke every live session of an account; the number revoked."""
        result = db.execute(
            update(UserSession)
            .where(UserSession.account_id == account_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=self.clock(), revoked_reason=reason.value)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def active_sessions(self, db: Session, account_id: uuid.UUID) -> list[UserSession]:
        """Sessions of the account that are usable now (not revoked, not expired, not idle)."""
        now = self.clock()
        rows = db.scalars(
            select(UserSession)
            .where(
                UserSession.account_id == account_id,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > now,
                UserSession.last_activity_at > now - self.policy.idle_timeout,
            )
            .order_by(UserSession.last_activity_at.desc())
        ).all()
        return list(rows)

    def count_active(self, db: Session, account_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not account_ids:
            return {}
        now = self.clock()
        rows = db.execute(
            select(UserSession.account_id, func.count())
            .where(
                UserSession.account_id.in_(account_ids),
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > now,
                UserSession.last_activity_at > now - self.policy.idle_timeout,
            )
            .group_by(UserSession.account_id)
        ).all()
        return {account_id: count for account_id, count in rows}
