"""`/api/oauth/*`: the caller's grant status, the admin's overview, and revocation."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from api.auth.pages import NO_STORE
from api.oauth.schemas import (
    AccountStatusView,
    CallerView,
    DetailedStatusResponse,
    ErasureRequest,
    ErasureResponse,
    GrantView,
    RevokeRequest,
    RevokeResponse,
    SessionView,
    StatusResponse,
)
from api.security import (
    AuthServices,
    Principal,
    principal_of,
    problem,
    request_context,
    requires_admin,
    requires_user,
)
from driveguard import audit
from driveguard.audit import Action
from driveguard.db.engine import transaction
from driveguard.db.models import AccountStatus, GoogleAccount
from driveguard.identity.accounts import MAX_PAGE, grant_state, list_accounts, session_owner
from driveguard.identity.sessions import RevokeReason
from driveguard.identity.tokens import TokenUnavailable, UnknownAccount


def _principal(request: Request[Any, Any, Any]) -> Principal:
    principal = principal_of(request)
    assert principal is not None  # the guard ran first
    return principal


def _require_confirmation(confirm: bool, verb: str) -> None:
    """Destructive actions need an explicit `confirm: true` in the body."""
    if confirm is not True:
        raise problem(400, f"Set `confirm` to true to {verb}.", title="Confirmation required", code="confirm-required")


def _target_account(principal: Principal, requested: uuid.UUID | None, own_only: str) -> uuid.UUID:
    """The account an action applies to: the caller's own by default; another one only for admins."""
    account_id = requested or principal.account_id
    if account_id is None:
        raise problem(400, "account_id is required")
    if not principal.is_admin and account_id != principal.account_id:
        raise problem(403, f"You can only {own_only}.")
    return account_id


class OAuthController(Controller):
    path = "/api/oauth"
    tags = ["oauth"]

    @get(
        "/status",
        guards=[requires_user],
        sync_to_thread=True,
        summary="The caller's session and Google grant",
        description="Account email, grant status, scopes, token expiry, session expiry and idle expiry. Never tokens.",
    )
    def status(self, request: Request[Any, Any, Any], auth_services: AuthServices) -> Response[StatusResponse]:
        principal = _principal(request)
        now = auth_services.clock()
        session = principal.session
        caller = CallerView(
            subject=principal.subject,
            role=principal.role,
            via=principal.via,
            session_id=session.session_id if session else None,
            session_expires_at=session.expires_at if session else None,
            session_idle_expires_at=session.idle_expires_at if session else None,
            admin_token_expires_at=principal.admin.expires_at if principal.admin else None,
        )
        grant: GrantView | None = None
        sessions: list[SessionView] = []
        reauth_url: str | None = None
        if principal.account_id is not None:
            with transaction(auth_services.engine) as db:
                account = db.get(GoogleAccount, principal.account_id)
                if account is not None:
                    grant = GrantView.of(grant_state(account, now))
                    if account.status != AccountStatus.ACTIVE or grant.missing_scopes:
                        reauth_url = "/auth/login?consent=true"
                    policy = auth_services.sessions.policy
                    sessions = [
                        SessionView.of(
                            row,
                            policy.idle_expires_at(row.last_activity_at),
                            current=session is not None and row.id == session.session_id,
                        )
                        for row in auth_services.sessions.active_sessions(db, principal.account_id)
                    ]
        body = StatusResponse(caller=caller, account=grant, sessions=sessions, reauth_url=reauth_url)
        return Response(body, headers=NO_STORE)

    @get(
        "/detailed-status",
        guards=[requires_admin],
        sync_to_thread=True,
        summary="Admin: every account's grant and refresh state",
        description="Paginated (limit ≤ 200, offset), filterable by status and by an email substring.",
    )
    def detailed_status(
        self,
        request: Request[Any, Any, Any],
        auth_services: AuthServices,
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE, required=False)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=10_000_000, required=False)] = 0,
        status: Annotated[AccountStatus | None, Parameter(required=False)] = None,
        email: Annotated[str | None, Parameter(min_length=1, max_length=320, required=False)] = None,
    ) -> Response[DetailedStatusResponse]:
        principal = _principal(request)
        with transaction(auth_services.engine) as db:
            result = list_accounts(
                db,
                auth_services.sessions,
                now=auth_services.clock(),
                status=status,
                email=email,
                limit=limit,
                offset=offset,
            )
            audit.record(
                db,
                action=Action.ADMIN_ACTION,
                actor=principal.subject,
                actor_account_id=principal.account_id,
                context=request_context(request),
                details={"operation": "detailed_status", "status": status, "limit": limit, "offset": offset},
                at=auth_services.clock(),
            )
        body = DetailedStatusResponse(
            items=[AccountStatusView.of(row) for row in result.items],
            total=result.total,
            limit=result.limit,
            offset=result.offset,
        )
        return Response(body, headers=NO_STORE)

    @post(
        "/revoke",
        guards=[requires_user],
        sync_to_thread=True,
        status_code=200,
        summary="Revoke a session, all sessions of an account, or the Google grant",
        description=(
            "Requires `confirm: true`. Idempotent (`changed: false` when there was nothing left to revoke). "
            "Users act on their own account; admins on any."
        ),
    )
    def revoke(
        self, request: Request[Any, Any, Any], auth_services: AuthServices, data: RevokeRequest
    ) -> Response[RevokeResponse]:
        principal = _principal(request)
        _require_confirmation(data.confirm, "revoke")
        context = request_context(request)
        now = auth_services.clock()
        by_admin = principal.is_admin

        if data.target == "session":
            session_id = data.session_id or (principal.session.session_id if principal.session else None)
            if session_id is None:
                raise problem(400, "session_id is required")
            with transaction(auth_services.engine) as db:
                owner = session_owner(db, session_id)
                if owner is None or (not by_admin and owner != principal.account_id):
                    raise problem(404, "No such session.")
                changed = auth_services.sessions.revoke(db, session_id, reason=RevokeReason.REVOKED)
                if changed:
                    audit.record(
                        db,
                        action=Action.SESSION_REVOKED,
                        actor=principal.subject,
                        actor_account_id=principal.account_id if principal.kind == "session" else None,
                        subject=str(owner),
                        context=context,
                        details={"session_id": session_id, "account_id": owner, "by_admin": by_admin},
                        at=now,
                    )
            body = RevokeResponse("session", owner, session_id, int(changed), None, changed)
            return Response(body, headers=NO_STORE)

        account_id = _target_account(principal, data.account_id, "revoke your own account's sessions and grant")

        if data.target == "all_sessions":
            with transaction(auth_services.engine) as db:
                account = db.get(GoogleAccount, account_id)
                if account is None:
                    raise problem(404, "No such account.")
                count = auth_services.sessions.revoke_all(db, account_id)
                if count:
                    audit.record(
                        db,
                        action=Action.SESSIONS_REVOKED,
                        actor=principal.subject,
                        actor_account_id=principal.account_id if principal.kind == "session" else None,
                        subject=account.email,
                        context=context,
                        details={"account_id": account_id, "count": count, "by_admin": by_admin},
                        at=now,
                    )
            body = RevokeResponse("all_sessions", account_id, None, count, None, count > 0)
            return Response(body, headers=NO_STORE)

        # target == "grant"
        try:
            outcome = auth_services.tokens.revoke_grant(
                account_id,
                actor=principal.subject,
                actor_account_id=principal.account_id if principal.kind == "session" else None,
                context=context,
            )
        except UnknownAccount:
            raise problem(404, "No such account.") from None
        except TokenUnavailable:
            raise problem(
                503,
                "The grant was not revoked; nothing changed. Try again shortly.",
                title="Google is not answering",
                code="google-unavailable",
                headers={"Retry-After": "30"},
            ) from None
        body = RevokeResponse(
            "grant", account_id, None, outcome.sessions_ended, outcome.google_revoked, outcome.changed
        )
        return Response(body, headers=NO_STORE)

    @post(
        "/erasure",
        guards=[requires_user],
        sync_to_thread=True,
        status_code=202,
        summary="Ask for an account's data to be erased",
        description=(
            "Requires `confirm: true`. The `cleanup` DAG revokes the Google grant and deletes the account, its "
            "sessions and storage history on its next run. Idempotent. Users act on their own account; admins on any."
        ),
    )
    def request_erasure(
        self, request: Request[Any, Any, Any], auth_services: AuthServices, data: ErasureRequest
    ) -> Response[ErasureResponse]:
        principal = _principal(request)
        _require_confirmation(data.confirm, "erase")
        account_id = _target_account(principal, data.account_id, "ask for your own account to be erased")
        now = auth_services.clock()
        with transaction(auth_services.engine) as db:
            account = db.get(GoogleAccount, account_id, with_for_update=True)
            if account is None:
                raise problem(404, "No such account.")
            changed = account.erasure_requested_at is None
            if changed:
                account.erasure_requested_at = now
                audit.record(
                    db,
                    action=Action.ERASURE_REQUESTED,
                    actor=principal.subject,
                    actor_account_id=principal.account_id if principal.kind == "session" else None,
                    subject=account.email,
                    context=request_context(request),
                    details={"account_id": account_id, "by_admin": principal.is_admin},
                    at=now,
                )
            requested_at = account.erasure_requested_at
        body = ErasureResponse(account_id, requested_at, changed)
        return Response(body, status_code=202, headers=NO_STORE)
