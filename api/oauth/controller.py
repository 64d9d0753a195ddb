"""`/api/oauth/*`: the caller's grant status, the admin's overview, revocation and erasure requests.

Thin over `driveguard.identity.service.IdentityService`: parse, call one method, shape the answer.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import Parameter

from api.auth.middleware import REQUEST_UNIT
from api.auth.pages import NO_STORE
from api.oauth.schemas import (
    DetailedStatusResponse,
    ErasureBody,
    ErasureResponse,
    RevokeBody,
    RevokeResponse,
    StatusResponse,
)
from api.openapi import ADMIN, USER, with_problems
from driveguard.audit import RequestContext
from driveguard.db.engine import RequestUnit
from driveguard.identity.accounts import MAX_PAGE, AccountStatusName
from driveguard.identity.caller import Caller
from driveguard.identity.service import IdentityService

REAUTH_URL = "/auth/login?consent=true"


class OAuthController(Controller):
    path = "/api/oauth"
    tags = ["oauth"]

    @get(
        "/status",
        sync_to_thread=True,
        summary="The caller's session and Google grant",
        description="Account email, grant status, scopes, token expiry, session expiry and idle expiry. Never tokens.",
        opt={REQUEST_UNIT: True},
        **USER,
    )
    def status(self, identity: IdentityService, caller: Caller, unit: RequestUnit | None) -> Response[StatusResponse]:
        # One transaction per request: the session lookup's, continued and committed here.
        return Response(StatusResponse.of(identity.status(caller, unit=unit), REAUTH_URL), headers=NO_STORE)

    @get(
        "/detailed-status",
        sync_to_thread=True,
        summary="Admin: every account's grant and refresh state",
        description="Paginated (limit ≤ 200, offset), filterable by status and by an email substring.",
        **with_problems(ADMIN, 400),
    )
    def detailed_status(
        self,
        identity: IdentityService,
        caller: Caller,
        context: RequestContext,
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE, required=False)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=10_000_000, required=False)] = 0,
        status: Annotated[AccountStatusName | None, Parameter(required=False)] = None,
        email: Annotated[str | None, Parameter(min_length=1, max_length=320, required=False)] = None,
    ) -> Response[DetailedStatusResponse]:
        page = identity.list_accounts(caller, context, status=status, email=email, limit=limit, offset=offset)
        return Response(DetailedStatusResponse.of(page), headers=NO_STORE)

    @post(
        "/revoke",
        sync_to_thread=True,
        status_code=200,
        summary="Revoke a session, all sessions of an account, or the Google grant",
        description=(
            "Requires `confirm: true`. Idempotent (`changed: false` when there was nothing left to revoke). "
            "Users act on their own account; admins on any."
        ),
        **with_problems(USER, 400, 403, 404, 503),
    )
    def revoke(
        self, identity: IdentityService, caller: Caller, context: RequestContext, data: RevokeBody
    ) -> Response[RevokeResponse]:
        revocation = identity.revoke(
            caller,
            context,
            target=data.target,
            confirm=data.confirm,
            session_id=data.session_id,
            account_id=data.account_id,
        )
        return Response(RevokeResponse.of(revocation), headers=NO_STORE)

    @post(
        "/erasure",
        sync_to_thread=True,
        status_code=202,
        summary="Ask for an account's data to be erased",
        description=(
            "Requires `confirm: true`. The `cleanup` DAG revokes the Google grant and deletes the account, its "
            "sessions and storage history on its next run. Idempotent. Users act on their own account; admins on any."
        ),
        **with_problems(USER, 400, 403, 404),
    )
    def request_erasure(
        self, identity: IdentityService, caller: Caller, context: RequestContext, data: ErasureBody
    ) -> Response[ErasureResponse]:
        erasure = identity.request_erasure(caller, context, confirm=data.confirm, account_id=data.account_id)
        return Response(ErasureResponse.of(erasure), status_code=202, headers=NO_STORE)
