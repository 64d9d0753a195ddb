"""`POST /api/auth/token`: short-lived admin JWTs, by password or by exchanging an admin's session.

The one `/api` route (besides health and the docs) without a guard: it is how credentials are presented.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Response, post

from api.auth.pages import NO_STORE
from api.openapi import PUBLIC, SESSION_BEARER, SESSION_COOKIE, with_problems
from driveguard.audit import RequestContext
from driveguard.identity.caller import Caller
from driveguard.identity.service import IdentityService

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class AdminTokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`password`: username + password of a DRIVEGUARD_ADMIN_USERS entry. `session`: the caller's
    Google session (cookie or Bearer) whose email is in DRIVEGUARD_ADMIN_EMAILS."""

    grant_type: Literal["password", "session"]
    username: Name | None = None
    password: Password | None = msgspec.field(default=None)

    def __repr__(self) -> str:  # never show the password
        return f"AdminTokenRequest(grant_type={self.grant_type!r}, username={self.username!r})"


class AdminTokenResponse(msgspec.Struct):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    expires_at: dt.datetime
    role: Literal["admin"]
    subject: str


class AdminTokenController(Controller):
    path = "/api/auth"
    tags = ["auth"]

    @post(
        "/token",
        sync_to_thread=True,
        summary="Issue an admin JWT",
        description=(
            "HS256, `aud`/`iss`/`exp`/`iat`/`sub`/`role` checked, valid for ADMIN_TOKEN_TTL_MINUTES. "
            "Send it as `Authorization: Bearer <token>`. Failed password sign-ins are throttled. "
            "The `session` grant needs the caller's Google session (cookie or Bearer)."
        ),
        status_code=200,
        **{
            **with_problems(PUBLIC, 400, 401, 403, 429),
            "security": [{}, {SESSION_COOKIE: []}, {SESSION_BEARER: []}],
        },
    )
    def issue(
        self,
        identity: IdentityService,
        maybe_caller: Caller | None,
        context: RequestContext,
        data: AdminTokenRequest,
    ) -> Response[AdminTokenResponse]:
        issued = identity.issue_admin_token(
            grant_type=data.grant_type,
            username=data.username,
            password=data.password,
            caller=maybe_caller,
            context=context,
        )
        body = AdminTokenResponse(
            access_token=issued.token,
            token_type="Bearer",  # noqa: S106 - the scheme name
            expires_in=issued.expires_in,
            expires_at=issued.expires_at,
            role="admin",
            subject=issued.subject,
        )
        return Response(body, headers=NO_STORE)
