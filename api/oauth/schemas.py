"""Request and response shapes of `/api/oauth/*` (msgspec; OpenAPI is generated from them).

No shape here has a field that could hold a token.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

import msgspec

from driveguard.db.models import UserSession
from driveguard.identity.accounts import AccountRow, GrantState


class GrantView(msgspec.Struct):
    account_id: uuid.UUID
    email: str
    display_name: str | None
    status: str
    scopes: list[str]
    missing_scopes: list[str]
    has_refresh_token: bool
    access_token_expires_at: dt.datetime | None
    access_token_valid: bool
    last_refresh_at: dt.datetime | None
    last_refresh_error: str | None
    refresh_failure_count: int
    last_login_at: dt.datetime | None

    @classmethod
    def of(cls, grant: GrantState) -> GrantView:
        return cls(
            account_id=grant.account_id,
            email=grant.email,
            display_name=grant.display_name,
            status=grant.status,
            scopes=grant.scopes,
            missing_scopes=grant.missing_scopes,
            has_refresh_token=grant.has_refresh_token,
            access_token_expires_at=grant.access_token_expires_at,
            access_token_valid=grant.access_token_valid,
            last_refresh_at=grant.last_refresh_at,
            last_refresh_error=grant.last_refresh_error,
            refresh_failure_count=grant.refresh_failure_count,
            last_login_at=grant.last_login_at,
        )


class SessionView(msgspec.Struct):
    id: uuid.UUID
    created_at: dt.datetime
    last_activity_at: dt.datetime
    expires_at: dt.datetime
    idle_expires_at: dt.datetime
    ip_address: str | None
    user_agent: str | None
    current: bool

    @classmethod
    def of(cls, row: UserSession, idle_expires_at: dt.datetime, current: bool) -> SessionView:
        return cls(
            id=row.id,
            created_at=row.created_at,
            last_activity_at=row.last_activity_at,
            expires_at=row.expires_at,
            idle_expires_at=idle_expires_at,
            ip_address=str(row.ip_address) if row.ip_address else None,
            user_agent=row.user_agent,
            current=current,
        )


class CallerView(msgspec.Struct):
    subject: str
    role: Literal["user", "admin"]
    via: Literal["cookie", "bearer"]
    session_id: uuid.UUID | None
    session_expires_at: dt.datetime | None
    session_idle_expires_at: dt.datetime | None
    admin_token_expires_at: dt.datetime | None


class StatusResponse(msgspec.Struct):
    """The caller's own session and Google grant."""

    caller: CallerView
    account: GrantView | None
    sessions: list[SessionView]
    reauth_url: str | None


class AccountStatusView(msgspec.Struct):
    grant: GrantView
    active_sessions: int

    @classmethod
    def of(cls, row: AccountRow) -> AccountStatusView:
        return cls(grant=GrantView.of(row.grant), active_sessions=row.active_sessions)


class DetailedStatusResponse(msgspec.Struct):
    items: list[AccountStatusView]
    total: int
    limit: int
    offset: int


class RevokeRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`session`: one session (default: the caller's own). `all_sessions`: every session of an
    account. `grant`: revoke the Google grant at Google, forget its tokens and end all sessions.
    `account_id` defaults to the caller's own account; only admins may name another."""

    target: Literal["session", "all_sessions", "grant"]
    confirm: bool
    session_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None


class RevokeResponse(msgspec.Struct):
    target: str
    account_id: uuid.UUID | None
    session_id: uuid.UUID | None
    sessions_revoked: int
    google_grant_revoked: bool | None
    changed: bool


class ErasureRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Ask for an account's data to be erased (GDPR art. 17). The `cleanup` DAG revokes the Google
    grant and deletes the account with its history on its next run. `account_id` defaults to the
    caller's own account; only admins may name another."""

    confirm: bool
    account_id: uuid.UUID | None = None


class ErasureResponse(msgspec.Struct):
    account_id: uuid.UUID
    erasure_requested_at: dt.datetime
    changed: bool
