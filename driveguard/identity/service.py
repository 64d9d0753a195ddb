"""The identity domain as the API uses it: who is calling, sign-in and sign-out, admin tokens, the
caller's grant, the admin's account list, revocation and erasure requests.

One method per thing a caller can ask. Each owns its transaction and audit row, takes the time
from the injected clock, and fails with `driveguard.errors` (never an HTTP status): the door
parses, calls one method, and shapes the answer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine

from driveguard import audit
from driveguard.audit import Action, ReadAudit, RequestContext
from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.db.engine import RequestUnit, reading, transaction
from driveguard.db.models import AccountStatus, GoogleAccount
from driveguard.errors import Forbidden, InvalidInput, NotFound, RateLimited, Unauthenticated, Unavailable
from driveguard.identity.accounts import (
    AccountPage,
    AccountStatusName,
    GrantState,
    SessionState,
    active_session_states,
    grant_state,
    list_accounts,
    session_owner,
)
from driveguard.identity.admin_auth import AdminAuthError, AdminAuthService, IssuedAdminToken, TooManyAttempts
from driveguard.identity.caller import Caller
from driveguard.identity.login import LoginResult, LoginService, LoginStart
from driveguard.identity.sessions import RevokeReason, SessionService
from driveguard.identity.throttle import SIGNIN_CALLBACK, SIGNIN_START, Throttled, ThrottlePolicy
from driveguard.identity.tokens import TokenService, TokenUnavailable, UnknownAccount

MAX_CREDENTIAL_LENGTH = 4096
GRANT_REVOKE_RETRY_SECONDS = 30
RevokeTarget = Literal["session", "all_sessions", "grant"]


@dataclass(frozen=True)
class CallerStatus:
    """The caller, and (when the caller has an account) its grant and live sessions."""

    caller: Caller
    grant: GrantState | None
    sessions: list[SessionState]
    needs_consent: bool
    """The grant is not active or lacks scopes: signing in again with consent fixes it."""


@dataclass(frozen=True)
class Revocation:
    target: RevokeTarget
    account_id: uuid.UUID | None
    session_id: uuid.UUID | None
    sessions_revoked: int
    google_grant_revoked: bool | None
    changed: bool


@dataclass(frozen=True)
class ErasureRequested:
    account_id: uuid.UUID
    requested_at: dt.datetime
    changed: bool


def _require_confirmation(confirm: bool, verb: str) -> None:
    """Destructive actions need an explicit `confirm: true`."""
    if confirm is not True:
        raise InvalidInput(f"Set `confirm` to true to {verb}.", title="Confirmation required", code="confirm-required")


def _target_account(caller: Caller, requested: uuid.UUID | None, own_only: str) -> uuid.UUID:
    """The account an action applies to: the caller's own by default; another one only for admins."""
    account_id = requested or caller.account_id
    if account_id is None:
        raise InvalidInput("account_id is required")
    if not caller.is_admin and account_id != caller.account_id:
        raise Forbidden(f"You can only {own_only}.")
    return account_id


class IdentityService:
    """Built once per API process from settings, the engine and the clock (see the module docstring)."""

    def __init__(self, settings: Settings, engine: Engine, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.tokens = TokenService(settings, engine, clock=clock)
        self.sessions = SessionService(settings, clock=clock)
        self.login = LoginService(settings, engine, self.tokens, self.sessions, clock=clock)
        self.admin = AdminAuthService(settings, engine, clock=clock)
        self.throttle = self.admin.throttle
        self.read_audit = ReadAudit(engine)

    def start(self) -> None:
        """Start the background work of a serving process (the read-audit flusher)."""
        self.read_audit.start()

    def close(self) -> None:
        self.tokens.close()
        self.read_audit.close()

    # -- who is calling ---------------------------------------------------------------------

    def request_unit(self) -> RequestUnit:
        """A session a request's steps share (see `RequestUnit`)."""
        return RequestUnit(self.engine)

    def authenticate_session(
        self, token: str, via: Literal["cookie", "bearer"], *, unit: RequestUnit | None = None
    ) -> Caller | None:
        """The caller behind a live session token (None when it is unknown, expired or idle).

        With `unit`, the lookup and its (throttled) activity touch stay in the request's transaction,
        committed by the request's last step; without, they commit here."""
        if unit is not None:
            info = self.sessions.authenticate(unit.session, token)
        else:
            with transaction(self.engine) as db:
                info = self.sessions.authenticate(db, token)
        return Caller.of_session(info, via) if info is not None else None

    def authenticate_bearer(self, credential: str, *, unit: RequestUnit | None = None) -> Caller:
        """An admin JWT (three dot-separated parts) or a session token; Unauthenticated names why not."""
        if not credential or len(credential) > MAX_CREDENTIAL_LENGTH:
            raise Unauthenticated("unsupported credential", code="unsupported_authorization")
        if credential.count(".") == 2:
            try:
                return Caller.of_admin(self.admin.verify(credential))
            except AdminAuthError as exc:
                raise Unauthenticated(str(exc), code=exc.reason) from None
        caller = self.authenticate_session(credential, "bearer", unit=unit)
        if caller is None:
            raise Unauthenticated("unknown or expired session", code="invalid_session")
        return caller

    # -- sign-in and sign-out ---------------------------------------------------------------

    def begin_login(
        self,
        *,
        next_path: str | None,
        force_consent: bool,
        current_session: str | None,
        workspace_reports: bool,
        context: RequestContext,
        browser_secret: str | None = None,
    ) -> LoginStart:
        """Start a Google sign-in; throttled per address, as each start writes a login state."""
        self._throttle_signin(SIGNIN_START, SIGNIN_START.bucket(context.ip))
        return self.login.begin(
            next_path=next_path,
            force_consent=force_consent,
            current_session=current_session,
            workspace_reports=workspace_reports,
            browser_secret=browser_secret,
        )

    def complete_login(
        self,
        *,
        state: str | None,
        code: str | None,
        error: str | None,
        browser_secret: str | None,
        context: RequestContext,
        current_session: str | None,
        issuer: str | None,
    ) -> LoginResult:
        """Finish a sign-in. Every callback is counted per address before it is checked; a good one
        gives its attempt back, so only failed callbacks use the address's budget."""
        bucket = SIGNIN_CALLBACK.bucket(context.ip)
        self._throttle_signin(SIGNIN_CALLBACK, bucket)
        result = self.login.complete(
            state=state,
            code=code,
            error=error,
            browser_secret=browser_secret,
            context=context,
            current_session=current_session,
            issuer=issuer,
        )
        self.throttle.forgive(bucket)
        return result

    def _throttle_signin(self, policy: ThrottlePolicy, bucket: str) -> None:
        try:
            self.throttle.attempt((policy, bucket))
        except Throttled as exc:
            raise RateLimited(
                "Too many sign-in attempts from this address; try again later.",
                title="Too many sign-in attempts",
                retry_after=exc.retry_after,
            ) from None

    def logout(self, caller: Caller | None, context: RequestContext) -> bool:
        """End the caller's session (idempotent); True when a live session ended now."""
        if caller is None or caller.session is None:
            return False
        with transaction(self.engine) as db:
            signed_out = self.sessions.revoke(db, caller.session.session_id, reason=RevokeReason.LOGOUT)
            if signed_out:
                audit.record(
                    db,
                    action=Action.LOGOUT,
                    actor=caller.subject,
                    actor_account_id=caller.account_id,
                    subject=caller.subject,
                    context=context,
                    details={"session_id": caller.session.session_id},
                    at=self.clock(),
                )
        return signed_out

    # -- admin tokens -----------------------------------------------------------------------

    def issue_admin_token(
        self,
        *,
        grant_type: Literal["password", "session"],
        username: str | None,
        password: str | None,
        caller: Caller | None,
        context: RequestContext,
    ) -> IssuedAdminToken:
        """A short-lived admin JWT, for an admin user's password or an admin's Google session."""
        try:
            if grant_type == "password":
                if not username or not password:
                    raise InvalidInput("username and password are required")
                return self.admin.login_with_password(username, password, context=context)
            if caller is None or caller.session is None:
                raise Unauthenticated("Sign in with Google first; the session is exchanged for an admin token.")
            return self.admin.exchange_session(caller.session, context=context)
        except TooManyAttempts as exc:
            raise RateLimited(
                "Try again later.", title="Too many sign-in attempts", retry_after=exc.retry_after
            ) from None
        except AdminAuthError as exc:
            if exc.reason == "not_admin":
                raise Forbidden(str(exc), code="not-admin") from None
            raise Unauthenticated(str(exc), code=exc.reason.replace("_", "-")) from None

    # -- grants and accounts ----------------------------------------------------------------

    def status(self, caller: Caller, *, unit: RequestUnit | None = None) -> CallerStatus:
        """The caller's own grant and live sessions (an admin without a Google account has neither).

        With the request's `unit` (the session lookup's), this is the request's last step: one
        transaction for the whole request."""
        if caller.account_id is None:
            return CallerStatus(caller, None, [], needs_consent=False)
        with unit.last_step() if unit is not None else transaction(self.engine) as db:
            account = db.get(GoogleAccount, caller.account_id)
            if account is None:
                return CallerStatus(caller, None, [], needs_consent=False)
            grant = grant_state(account, self.clock())
            current = caller.session.session_id if caller.session else None
            sessions = active_session_states(db, self.sessions, caller.account_id, current=current)
            needs_consent = account.status != AccountStatus.ACTIVE or bool(grant.missing_scopes)
        return CallerStatus(caller, grant, sessions, needs_consent)

    def list_accounts(
        self,
        caller: Caller,
        context: RequestContext,
        *,
        status: AccountStatusName | None,
        email: str | None,
        limit: int,
        offset: int,
    ) -> AccountPage:
        """One page of every account's grant and session count; audited, as it reads everyone's data.

        A read: no COMMIT, and its audit row goes through the batched read audit."""
        now = self.clock()
        with reading(self.engine) as db:
            page = list_accounts(db, self.sessions, now=now, status=status, email=email, limit=limit, offset=offset)
        self.read_audit.note(
            action=Action.ADMIN_ACTION,
            actor=caller.subject,
            actor_account_id=caller.account_id,
            context=context,
            details={"operation": "detailed_status", "status": status, "limit": limit, "offset": offset},
            at=now,
        )
        return page

    def revoke(
        self,
        caller: Caller,
        context: RequestContext,
        *,
        target: RevokeTarget,
        confirm: bool,
        session_id: uuid.UUID | None = None,
        account_id: uuid.UUID | None = None,
    ) -> Revocation:
        """Revoke one session, every session of an account, or the Google grant. Idempotent.

        Users act on their own account (their own session by default); admins on any.
        """
        _require_confirmation(confirm, "revoke")
        if target == "session":
            return self._revoke_session(caller, context, session_id)
        account_id = _target_account(caller, account_id, "revoke your own account's sessions and grant")
        if target == "all_sessions":
            return self._revoke_all_sessions(caller, context, account_id)
        return self._revoke_grant(caller, context, account_id)

    def _revoke_session(self, caller: Caller, context: RequestContext, session_id: uuid.UUID | None) -> Revocation:
        session_id = session_id or (caller.session.session_id if caller.session else None)
        if session_id is None:
            raise InvalidInput("session_id is required")
        with transaction(self.engine) as db:
            owner = session_owner(db, session_id)
            if owner is None or (not caller.is_admin and owner != caller.account_id):
                raise NotFound("No such session.")  # another user's session is not even confirmed to exist
            changed = self.sessions.revoke(db, session_id, reason=RevokeReason.REVOKED)
            if changed:
                audit.record(
                    db,
                    action=Action.SESSION_REVOKED,
                    actor=caller.subject,
                    actor_account_id=caller.acting_account_id,
                    subject=str(owner),
                    context=context,
                    details={"session_id": session_id, "account_id": owner, "by_admin": caller.is_admin},
                    at=self.clock(),
                )
        return Revocation("session", owner, session_id, int(changed), None, changed)

    def _revoke_all_sessions(self, caller: Caller, context: RequestContext, account_id: uuid.UUID) -> Revocation:
        with transaction(self.engine) as db:
            account = db.get(GoogleAccount, account_id)
            if account is None:
                raise NotFound("No such account.")
            count = self.sessions.revoke_all(db, account_id)
            if count:
                audit.record(
                    db,
                    action=Action.SESSIONS_REVOKED,
                    actor=caller.subject,
                    actor_account_id=caller.acting_account_id,
                    subject=account.email,
                    context=context,
                    details={"account_id": account_id, "count": count, "by_admin": caller.is_admin},
                    at=self.clock(),
                )
        return Revocation("all_sessions", account_id, None, count, None, count > 0)

    def _revoke_grant(self, caller: Caller, context: RequestContext, account_id: uuid.UUID) -> Revocation:
        try:
            outcome = self.tokens.revoke_grant(
                account_id, actor=caller.subject, actor_account_id=caller.acting_account_id, context=context
            )
        except UnknownAccount:
            raise NotFound("No such account.") from None
        except TokenUnavailable:
            raise Unavailable(
                "The grant was not revoked; nothing changed. Try again shortly.",
                title="Google is not answering",
                code="google-unavailable",
                retry_after=GRANT_REVOKE_RETRY_SECONDS,
            ) from None
        return Revocation("grant", account_id, None, outcome.sessions_ended, outcome.google_revoked, outcome.changed)

    def request_erasure(
        self, caller: Caller, context: RequestContext, *, confirm: bool, account_id: uuid.UUID | None = None
    ) -> ErasureRequested:
        """Mark an account for erasure by the `cleanup` DAG. Idempotent; users ask for their own account only."""
        _require_confirmation(confirm, "erase")
        account_id = _target_account(caller, account_id, "ask for your own account to be erased")
        now = self.clock()
        with transaction(self.engine) as db:
            account = db.get(GoogleAccount, account_id, with_for_update=True)
            if account is None:
                raise NotFound("No such account.")
            changed = account.erasure_requested_at is None
            if changed:
                account.erasure_requested_at = now
                audit.record(
                    db,
                    action=Action.ERASURE_REQUESTED,
                    actor=caller.subject,
                    actor_account_id=caller.acting_account_id,
                    subject=account.email,
                    context=context,
                    details={"account_id": account_id, "by_admin": caller.is_admin},
                    at=now,
                )
            requested_at = account.erasure_requested_at
        assert requested_at is not None
        return ErasureRequested(account_id, requested_at, changed)
