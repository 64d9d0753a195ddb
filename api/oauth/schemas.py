"""Request and response shapes of `/api/oauth/*` (msgspec; OpenAPI is generated from them).

No shape here has a field that could hold a token.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

import msgspec

from driveguard.identity.accounts import AccountPage
from driveguard.identity.caller import Caller
from driveguard.identity.service import CallerStatus, ErasureRequested, Revocation


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
    refresh_uncertain_since: dt.datetime | None = None
    """Set while a refresh whose answer was lost is unresolved (retried with backoff; a dead grant only
    after TOKEN_REFRESH_UNCERTAIN_SECONDS)."""
    next_refresh_attempt_at: dt.datetime | None = None
    """No refresh is attempted before this (backoff after a failed or uncertain refresh)."""


class SessionView(msgspec.Struct):
    id: uuid.UUID
    created_at: dt.datetime
    last_activity_at: dt.datetime
    expires_at: dt.datetime
    idle_expires_at: dt.datetime
    ip_address: str | None
    user_agent: str | None
    current: bool


class CallerView(msgspec.Struct):
    subject: str
    role: Literal["user", "admin"]
    via: Literal["cookie", "bearer"]
    session_id: uuid.UUID | None
    session_expires_at: dt.datetime | None
    session_idle_expires_at: dt.datetime | None
    admin_token_expires_at: dt.datetime | None

    @classmethod
    def of(cls, caller: Caller) -> CallerView:
        session = caller.session
        return cls(
            subject=caller.subject,
            role=caller.role,
            via=caller.via,
            session_id=session.session_id if session else None,
            session_expires_at=session.expires_at if session else None,
            session_idle_expires_at=session.idle_expires_at if session else None,
            admin_token_expires_at=caller.admin.expires_at if caller.admin else None,
        )


class StatusResponse(msgspec.Struct):
    """The caller's own session and Google grant."""

    caller: CallerView
    account: GrantView | None
    sessions: list[SessionView]
    reauth_url: str | None
    """Set when the grant needs a new consent (revoked, or scopes missing): where to sign in again."""

    @classmethod
    def of(cls, status: CallerStatus, reauth_url: str) -> StatusResponse:
        return cls(
            caller=CallerView.of(status.caller),
            account=msgspec.convert(status.grant, GrantView, from_attributes=True) if status.grant else None,
            sessions=msgspec.convert(status.sessions, list[SessionView], from_attributes=True),
            reauth_url=reauth_url if status.needs_consent else None,
        )


class AccountStatusView(msgspec.Struct):
    grant: GrantView
    active_sessions: int


class DetailedStatusResponse(msgspec.Struct):
    items: list[AccountStatusView]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: AccountPage) -> DetailedStatusResponse:
        return msgspec.convert(page, cls, from_attributes=True)


class RevokeBody(msgspec.Struct, forbid_unknown_fields=True):
    """`session`: one session (default: the caller's own). `all_sessions`: every session of an
    account. `grant`: revoke the Google grant at Google, forget its tokens and end all sessions.
    `account_id` defaults to the caller's own account; only admins may name another."""

    target: Literal["session", "all_sessions", "grant"]
    confirm: bool
    session_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None


class RevokeResponse(msgspec.Struct):
    target: Literal["session", "all_sessions", "grant"]
    account_id: uuid.UUID | None
    session_id: uuid.UUID | None
    sessions_revoked: int
    google_grant_revoked: bool | None
    changed: bool

    @classmethod
    def of(cls, revocation: Revocation) -> RevokeResponse:
        return msgspec.convert(revocation, cls, from_attributes=True)


class ErasureBody(msgspec.Struct, forbid_unknown_fields=True):
    """Ask for an account's data to be erased (GDPR art. 17). The `cleanup` DAG revokes the Google
    grant and deletes the account with its history on its next run. `account_id` defaults to the
    caller's own account; only admins may name another."""

    confirm: bool
    account_id: uuid.UUID | None = None


class ErasureResponse(msgspec.Struct):
    account_id: uuid.UUID
    erasure_requested_at: dt.datetime
    changed: bool

    @classmethod
    def of(cls, erasure: ErasureRequested) -> ErasureResponse:
        return cls(erasure.account_id, erasure.requested_at, erasure.changed)
