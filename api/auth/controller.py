"""`/auth/login`, `/auth/callback`, `/auth/logout`: the browser side of Google sign-in.

Thin over `driveguard.identity.service.IdentityService`. A failure ends on a page (browsers) or a
problem document (API clients), chosen by `api.problems` from the route's `ErrorPage`; never a 500.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect

from api.auth.cookies import CookiePolicy, cookie_value
from api.auth.middleware import auth_error
from api.auth.pages import NO_STORE, page, wants_html
from api.openapi import problems
from api.problems import ErrorPage
from driveguard.audit import RequestContext
from driveguard.identity.caller import Caller
from driveguard.identity.login import safe_next_path
from driveguard.identity.service import IdentityService

CallbackText = Annotated[str | None, Parameter(required=False)]
SIGN_IN_FAILURES = problems(400, 403, 429, 502, 503)


class LogoutResponse(msgspec.Struct):
    signed_out: bool
    """A live session ended now (false: there was none; signing out is idempotent)."""


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]
    security = []

    @get(
        "/login",
        sync_to_thread=True,
        summary="Start Google sign-in",
        description=(
            "Redirects to Google's consent page (authorization code + PKCE S256, offline access, "
            "a one-time state bound to this browser by a short-lived cookie, and a nonce). "
            "`next` must be a same-site relative path; anything else is ignored. "
            "`grant=workspace-reports` also asks the configured Workspace admin (GOOGLE_WORKSPACE_ADMIN_EMAIL) "
            "for the Admin Reports usage scope, which the storage backfill needs."
        ),
        status_code=302,
        opt={"error_page": ErrorPage("/auth/login", "Sign in")},
        responses=SIGN_IN_FAILURES,
    )
    def login(
        self,
        request: Request[Any, Any, Any],
        identity: IdentityService,
        cookie_policy: CookiePolicy,
        context: RequestContext,
        next_path: Annotated[str | None, Parameter(query="next", max_length=512, required=False)] = None,
        force_consent: Annotated[bool, Parameter(query="consent", required=False)] = False,
        grant: Annotated[Literal["workspace-reports"] | None, Parameter(query="grant", required=False)] = None,
    ) -> Redirect:
        start = identity.begin_login(
            next_path=next_path,
            force_consent=force_consent,
            current_session=cookie_value(request.scope, cookie_policy.session_cookie),
            workspace_reports=grant == "workspace-reports",
            context=context,
            browser_secret=cookie_value(request.scope, cookie_policy.login_cookie),  # other tabs' sign-ins go on
        )
        return Redirect(
            start.authorization_url,
            status_code=302,
            headers=NO_STORE,
            cookies=[cookie_policy.login_cookie_for(start.browser_secret, start.max_age_seconds)],
        )

    @get(
        "/callback",
        sync_to_thread=True,
        summary="Google's redirect back after consent",
        description=(
            "Checks the state and its browser binding, exchanges the code, verifies the id_token, stores "
            "the account and its encrypted tokens, opens a 30-day session (cookie) and redirects to `next`. "
            "Failures answer a page (text/html) or an RFC 9457 problem."
        ),
        status_code=303,
        # A failed callback leaves the login cookie alone: it may be forged, and other tabs' sign-ins need it.
        opt={"error_page": ErrorPage("/auth/login", "Sign in again")},
        responses=SIGN_IN_FAILURES,
    )
    def callback(
        self,
        request: Request[Any, Any, Any],
        identity: IdentityService,
        cookie_policy: CookiePolicy,
        context: RequestContext,
        # No length limits here: the sign-in service refuses bad values with a problem that echoes nothing
        # (a framework validation error would echo the whole query, one-time code included).
        oauth_state: Annotated[str | None, Parameter(query="state", required=False)] = None,
        code: CallbackText = None,
        error: CallbackText = None,
        iss: CallbackText = None,
    ) -> Redirect:
        result = identity.complete_login(
            state=oauth_state,
            code=code,
            error=error,
            browser_secret=cookie_value(request.scope, cookie_policy.login_cookie),
            context=context,
            current_session=cookie_value(request.scope, cookie_policy.session_cookie),
            issuer=iss,
        )
        # The login cookie stays (it expires by itself): sign-ins started in other tabs still need it.
        if result.retry_with_consent:
            query = urlencode({"consent": "true", "next": result.next_path})
            return Redirect(f"/auth/login?{query}", status_code=303, headers=NO_STORE)
        assert result.session is not None
        session_cookie = cookie_policy.session_cookie_for(result.session.token, result.session.expires_at)
        return Redirect(
            safe_next_path(result.next_path) or "/", status_code=303, headers=NO_STORE, cookies=[session_cookie]
        )

    @post(
        "/logout",
        sync_to_thread=True,
        summary="Sign out: end this session and clear its cookie",
        description=(
            "Idempotent. Works with the session cookie or `Authorization: Bearer <session token>`. "
            "Browsers asking for text/html get a page."
        ),
        status_code=200,
    )
    def logout(
        self,
        request: Request[Any, Any, Any],
        identity: IdentityService,
        cookie_policy: CookiePolicy,
        maybe_caller: Caller | None,
        context: RequestContext,
    ) -> Response[LogoutResponse]:
        signed_out = identity.logout(maybe_caller, context)
        # A cross-site POST (ignored by the middleware) must not clear the cookie either.
        clear = [] if auth_error(request) == "cross_site_request" else [cookie_policy.clear_session_cookie()]
        if wants_html(request):
            return page(  # type: ignore[return-value]
                "Signed out", "You are signed out of Driveguard.", link=("/auth/login", "Sign in"), cookies=clear
            )
        return Response(LogoutResponse(signed_out), headers=NO_STORE, cookies=clear)
