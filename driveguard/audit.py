"""Audit trail: who did what, when and from where, written in the caller's transaction.

Rows are written with the work they describe (one transaction), so a rolled-back action leaves
no audit row claiming it happened. `details` is for ids, counts and reason codes; keys that
look like secrets are dropped and long strings cut, as a last line of defence.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from driveguard.db.models import AuditLog


class Action:
    """The audit vocabulary (the `action` column)."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    SESSION_REVOKED = "session_revoked"
    SESSIONS_REVOKED = "sessions_revoked"
    GRANT_REVOKED = "grant_revoked"
    REFRESH_FAILED = "token_refresh_failed"
    REAUTH_REQUIRED = "reauth_required"
    ADMIN_TOKEN_ISSUED = "admin_token_issued"  # noqa: S105 - an action name
    ADMIN_LOGIN_FAILED = "admin_login_failed"
    ADMIN_ACTION = "admin_action"
    TOKENS_REENCRYPTED = "tokens_reencrypted"
    ERASURE_REQUESTED = "erasure_requested"
    PREFERENCES_CHANGED = "preferences_changed"


SYSTEM_ACTOR = "system"
ANONYMOUS_ACTOR = "anonymous"
_SECRET_WORDS = ("token", "secret", "password", "code", "cookie", "authorization", "verifier", "key")
_MAX_TEXT = 300


@dataclass(frozen=True)
class RequestContext:
    """Where a request came from; the API builds it, background jobs use `SYSTEM`."""

    ip: str | None = None
    user_agent: str | None = None

    @staticmethod
    def of(ip: str | None, user_agent: str | None) -> RequestContext:
        """Keep only a parseable IP address and a bounded user agent (the columns are INET/512)."""
        clean_ip: str | None = None
        if ip:
            try:
                clean_ip = str(ipaddress.ip_address(ip))
            except ValueError:
                clean_ip = None
        agent = user_agent[:512] if user_agent else None
        return RequestContext(clean_ip, agent)


SYSTEM = RequestContext()


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value[:_MAX_TEXT]
    if isinstance(value, uuid.UUID | dt.datetime):
        return str(value)
    if isinstance(value, dict):
        return _clean_details(value)
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value][:50]
    return value


def _clean_details(details: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in details.items():
        lowered = key.lower()
        if any(word in lowered for word in _SECRET_WORDS) and not lowered.endswith(("_id", "_count", "_type")):
            continue
        cleaned[key] = _clean(value)
    return cleaned


def record(
    db: Session,
    *,
    action: str,
    actor: str,
    actor_account_id: uuid.UUID | None = None,
    subject: str | None = None,
    context: RequestContext = SYSTEM,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> AuditLog:
    """Add one audit row to `db` (flushed with the caller's transaction)."""
    row = AuditLog(
        actor=actor[:320],
        actor_account_id=actor_account_id,
        action=action,
        subject=subject[:320] if subject else None,
        ip_address=context.ip,
        user_agent=context.user_agent,
        details=_clean_details(details or {}),
    )
    if at is not None:
        row.occurred_at = at
    db.add(row)
    return row
