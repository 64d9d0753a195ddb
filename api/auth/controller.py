"""`/auth/login`, `/auth/callback`, `/auth/logout`: the browser side of Google sign-in.

Thin over `driveguard.identity.login` and `driveguard.identity.sessions`; every failure ends on a page (browsers)
or a problem document (API clients), never a 500, and writes nothing half-done.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect

from api.auth.pages import NO_STORE, page, problem_response, wants_html
from api.security import AuthServices, cookie_value, principal_of, request_context
from driveguard import audit
from driveguard.audit import Action
from driveguard.db.engine import transaction
from driveguard.identity.login import LoginError, safe_next_path
from driveguard.identity.sessions import RevokeReason

QueryText = Annotated[str | None, Parameter(max_length=4096, required=False)]


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

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
    )
    def login(
        self,
        request: Request[Any, Any, Any],
        auth_services: AuthServices,
        next_path: Annotated[str | None, Parameter(query="next", max_length=512, required=False)] = None,
        force_consent: Annotated[bool, Parameter(query="consent", required=False)] = False,
        grant: Annotated[Literal["workspace-reports"] | None, Parameter(query="grant", required=False)] = None,
    ) -> Response[Any]:
        try:
            start = auth_services.login.begin(
                next_path=next_path,
                force_consent=force_consent,
                current_session=cookie_value(request.scope, auth_services.session_cookie),
                workspace_reports=grant == "workspace-reports",
            )
        except LoginError as exc:
            if wants_html(request):
                return page(exc.title, exc.detail, status=exc.status, link=("/auth/login", "Sign in"))
            return problem_response(exc.status, exc.title, exc.detail, code=exc.code, retry="/auth/login")
        return Redirect(
            start.authorization_url,
            status_code=302,
            headers=NO_STORE,
            cookies=[auth_services.login_cookie_for(start.browser_secret, start.max_age_seconds)],
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
    )
    def callback(
        self,
        request: Request[Any, Any, Any],
        auth_services: AuthServices,
        oauth_state: Annotated[str | None, Parameter(query="state", max_length=4096, required=False)] = None,
        code: QueryText = None,
        error: QueryText = None,
        iss: QueryText = None,
    ) -> Response[Any]:
        clear_login = auth_services.clear_login_cookie()
        try:
            result = auth_services.login.complete(
                state=oauth_state,
                code=code,
                error=error,
                browser_secret=cookie_value(request.scope, auth_services.login_cookie),
                context=request_context(request),
                current_session=cookie_value(request.scope, auth_services.session_cookie),
                issuer=iss,
            )
        except LoginError as exc:
            retry = "/auth/login"
            if wants_html(request):
                return page(
                    exc.title, exc.detail, status=exc.status, link=(retry, "Sign in again"), cookies=[clear_login]
                )
            return problem_response(
                exc.status, exc.title, exc.detail, code=exc.code, cookies=[clear_login], retry=retry
            )
        if result.retry_with_consent:
            query = urlencode({"consent": "true", "next": result.next_path})
            return Redirect(f"/auth/login?{query}", status_code=303, headers=NO_STORE, cookies=[clear_login])
        assert result.session is not None
        session_cookie = auth_services.session_cookie_for(result.session.token, result.session.expires_at)
        return Redirect(
            safe_next_path(result.next_path) or "/",
            status_code=303,
            headers=NO_STORE,
            cookies=[clear_login, session_cookie],
        )

    @post(
        "/logout",
        sync_to_thread=True,
        summary="Sign out: end this session and clear its cookie",
        description="Idempotent. Works with the session cookie or `Authorization: Bearer <session token>`.",
        status_code=200,
    )
    def logout(self, request: Request[Any, Any, Any], auth_services: AuthServices) -> Response[Any]:
        principal = principal_of(request)
        signed_out = False
        if principal is not None and principal.session is not None:
            with transaction(auth_services.engine) as db:
                signed_out = auth_services.sessions.revoke(db, principal.session.session_id, reason=RevokeReason.LOGOUT)
                if signed_out:
                    audit.record(
                        db,
                        action=Action.LOGOUT,
                        actor=principal.subject,
                        actor_account_id=principal.account_id,
                        subject=principal.subject,
                        context=request_context(request),
                        details={"session_id": principal.session.session_id},
                        at=auth_services.clock(),
                    )
        # A cross-site POST (ignored by the middleware) must not clear the cookie either.
        cross_site = getattr(request.scope.get("auth"), "error", None) == "cross_site_request"
        cookies = [] if cross_site else [auth_services.clear_session_cookie()]
        if wants_html(request):
            return page(
                "Signed out", "You are signed out of Driveguard.", link=("/auth/login", "Sign in"), cookies=cookies
            )
        return Response({"signed_out": signed_out}, headers=NO_STORE, cookies=cookies)
