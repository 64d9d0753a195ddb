"""`POST /api/auth/token`: short-lived admin JWTs, by password or by exchanging an admin's session.

The one `/api` route (besides health) without a guard: it is how credentials are presented.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, post

from api.auth.pages import NO_STORE
from api.security import AuthServices, principal_of, problem, request_context
from driveguard.identity.admin_auth import AdminAuthError, TooManyAttempts

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
    token_type: str
    expires_in: int
    expires_at: dt.datetime
    role: str
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
            "Send it as `Authorization: Bearer <token>`. Failed password sign-ins are throttled."
        ),
        status_code=200,
        opt={"auth": "public"},
    )
    def issue(
        self, request: Request[Any, Any, Any], auth_services: AuthServices, data: AdminTokenRequest
    ) -> Response[AdminTokenResponse]:
        context = request_context(request)
        try:
            if data.grant_type == "password":
                if not data.username or not data.password:
                    raise problem(400, "username and password are required")
                issued = auth_services.admin.login_with_password(data.username, data.password, context=context)
            else:
                principal = principal_of(request)
                if principal is None or principal.session is None:
                    raise problem(401, "Sign in with Google first; the session is exchanged for an admin token.")
                issued = auth_services.admin.exchange_session(principal.session, context=context)
        except TooManyAttempts:
            raise problem(
                429,
                "Try again later.",
                title="Too many failed sign-ins",
                code="throttled",
                headers={"Retry-After": "900"},
            ) from None
        except AdminAuthError as exc:
            if exc.reason == "not_admin":
                raise problem(403, str(exc), code="not-admin") from None
            raise problem(401, str(exc), code=exc.reason.replace("_", "-")) from None
        body = AdminTokenResponse(
            access_token=issued.token,
            token_type="Bearer",  # noqa: S106 - the scheme name
            expires_in=issued.expires_in,
            expires_at=issued.expires_at,
            role="admin",
            subject=issued.subject,
        )
        return Response(body, headers=NO_STORE)
