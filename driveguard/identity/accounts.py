"""Read models of accounts, their grants and sessions for the status endpoints: never a token, only facts."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal, get_args

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from driveguard.config import LOGIN_SCOPES
from driveguard.db.models import AccountStatus, AccountStatusTotals, GoogleAccount, UserSession
from driveguard.identity.sessions import SessionService

MAX_PAGE = 200
AccountStatusName = Literal["active", "reauth_required", "revoked"]
"""`AccountStatus` spelled as its values, for doors that must not import the ORM."""
assert set(get_args(AccountStatusName)) == {status.value for status in AccountStatus}


@dataclass(frozen=True)
class GrantState:
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
    created_at: dt.datetime
    refresh_uncertain_since: dt.datetime | None
    """A refresh answer was lost then (it may have rotated the grant); ops should watch this account."""
    next_refresh_attempt_at: dt.datetime | None


def grant_state(account: GoogleAccount, now: dt.datetime) -> GrantState:
    granted = set(account.granted_scopes or [])
    # Google reports `email`/`profile` as their userinfo URLs; count either spelling as granted.
    aliases = {
        "email": "https://www.googleapis.com/auth/userinfo.email",
        "profile": "https://www.googleapis.com/auth/userinfo.profile",
    }
    missing = [s for s in LOGIN_SCOPES if s not in granted and aliases.get(s) not in granted]
    return GrantState(
        account_id=account.id,
        email=account.email,
        display_name=account.display_name,
        status=str(account.status),
        scopes=sorted(granted),
        missing_scopes=missing,
        has_refresh_token=account.refresh_token_ciphertext is not None,
        access_token_expires_at=account.access_token_expires_at,
        # Only an active grant's token counts: once Google said the grant is dead, its token is not valid.
        access_token_valid=bool(
            account.status == AccountStatus.ACTIVE
            and account.access_token_ciphertext is not None
            and account.access_token_expires_at is not None
            and account.access_token_expires_at > now
        ),
        last_refresh_at=account.last_refresh_at,
        last_refresh_error=account.last_refresh_error,
        refresh_failure_count=account.refresh_failure_count,
        last_login_at=account.last_login_at,
        created_at=account.created_at,
        refresh_uncertain_since=account.refresh_uncertain_since,
        next_refresh_attempt_at=account.refresh_retry_at,
    )


@dataclass(frozen=True)
class SessionState:
    """One live session as its owner may see it (never its token)."""

    id: uuid.UUID
    created_at: dt.datetime
    last_activity_at: dt.datetime
    expires_at: dt.datetime
    idle_expires_at: dt.datetime
    ip_address: str | None
    user_agent: str | None
    current: bool


def active_session_states(
    db: Session, sessions: SessionService, account_id: uuid.UUID, *, current: uuid.UUID | None
) -> list[SessionState]:
    """The account's usable sessions, most recently active first; `current` marks the caller's own."""
    return [
        SessionState(
            id=row.id,
            created_at=row.created_at,
            last_activity_at=row.last_activity_at,
            expires_at=row.expires_at,
            idle_expires_at=sessions.policy.idle_expires_at(row.last_activity_at),
            ip_address=str(row.ip_address) if row.ip_address else None,
            user_agent=row.user_agent,
            current=row.id == current,
        )
        for row in sessions.active_sessions(db, account_id)
    ]


@dataclass(frozen=True)
class AccountRow:
    grant: GrantState
    active_sessions: int


@dataclass(frozen=True)
class AccountPage:
    items: list[AccountRow]
    total: int
    limit: int
    offset: int


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_accounts(
    db: Session,
    sessions: SessionService,
    *,
    now: dt.datetime,
    status: AccountStatusName | None = None,
    email: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AccountPage:
    """One page of accounts ordered by email, filtered by status and an email substring.

    The substring matches `lower(email)`, which the trigram index serves (migration 0008), and the
    page and its total come from that one search (`count(*) OVER ()`); without a search the total
    is the pre-aggregate of accounts per status (migration 0009), so no request counts every account."""
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    query = select(GoogleAccount)
    if status is not None:
        query = query.where(GoogleAccount.status == AccountStatus(status))
    page = query.order_by(GoogleAccount.email, GoogleAccount.id).limit(limit).offset(offset)
    if email:
        search = func.lower(GoogleAccount.email).like(f"%{_like_escape(email.lower())}%", escape="\\")
        rows = db.execute(page.add_columns(func.count().over().label("matched")).where(search)).all()
        accounts = [row[0] for row in rows]
        if rows:
            total = int(rows[0].matched)
        else:  # past the last match: the window had no row to say how many there are
            total = int(db.scalar(select(func.count()).select_from(query.where(search).subquery())) or 0)
    else:
        kept = select(func.coalesce(func.sum(AccountStatusTotals.accounts), 0))
        if status is not None:
            kept = kept.where(AccountStatusTotals.status == AccountStatus(status))
        total = int(db.scalar(kept) or 0)
        accounts = list(db.scalars(page).all())
    counts = sessions.count_active(db, [a.id for a in accounts])
    items = [AccountRow(grant_state(a, now), counts.get(a.id, 0)) for a in accounts]
    return AccountPage(items, total, limit, offset)


def session_owner(db: Session, session_id: uuid.UUID) -> uuid.UUID | None:
    return db.scalar(select(UserSession.account_id).where(UserSession.id == session_id))
