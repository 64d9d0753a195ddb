"""Who is calling: a session (cookie or Bearer) or an admin JWT (Bearer), resolved once per request.

`CallerMiddleware` puts a `Caller` (or None) in `request.user` and, when credentials were sent but
not accepted, the reason in `request.auth` (guards quote it in the 401). It never refuses a
request itself: guards decide. A session cookie used from another site on an unsafe method is
ignored (OWASP: verify Origin / Fetch Metadata), on top of the cookie's SameSite=Lax.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp, Receive, Scope, Send

from api.auth.cookies import CookiePolicy, cookie_value
from driveguard.db.engine import RequestUnit
from driveguard.errors import Unauthenticated
from driveguard.identity.caller import Caller
from driveguard.identity.service import IdentityService

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
UNAUTHENTICATED_PATHS = ["^/api/health/live", "^/api/docs", "^/static/"]
REQUEST_UNIT = "driveguard_request_unit"
"""A route's `opt` key (and the scope key): the route's handler continues the session lookup's
transaction through the `request_unit` dependency and ends it (see `RequestUnit`)."""


@dataclass(frozen=True)
class AuthState:
    """Why credentials that were sent were not accepted (None: none were sent, or they were fine)."""

    error: str | None = None


def _cross_site(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """True for a browser request another site initiated (Fetch Metadata, else Origin vs Host)."""
    fetch_site = connection.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = connection.headers.get("origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc != connection.headers.get("host")


class CallerMiddleware(AbstractAuthenticationMiddleware):
    """Resolve the caller before the handler runs; requests without usable credentials get `user = None`."""

    def __init__(self, app: ASGIApp, identity: IdentityService, cookies: CookiePolicy) -> None:
        super().__init__(app, exclude=UNAUTHENTICATED_PATHS, scopes={"http"})  # type: ignore[arg-type]
        self.identity = identity
        self.cookies = cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            unit = scope.pop(REQUEST_UNIT, None)  # type: ignore[misc]
            if isinstance(unit, RequestUnit) and unit.open:  # the handler did not end it (a guard refused, an error)
                await anyio.to_thread.run_sync(unit.finish)

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        authorization = connection.headers.get("authorization")
        if authorization is not None:
            scheme, _, credential = authorization.strip().partition(" ")
            if scheme.lower() != "bearer":
                return AuthenticationResult(None, AuthState("unsupported_authorization"))
            try:
                caller = await anyio.to_thread.run_sync(self._bearer_caller, credential.strip(), connection.scope)
            except Unauthenticated as exc:
                return AuthenticationResult(None, AuthState(exc.code))
            return AuthenticationResult(caller, AuthState())
        token = cookie_value(connection.scope, self.cookies.session_cookie)
        if not token:
            return AuthenticationResult(None, AuthState())
        if connection.scope.get("method", "GET") not in SAFE_METHODS and _cross_site(connection):
            return AuthenticationResult(None, AuthState("cross_site_request"))
        caller = await anyio.to_thread.run_sync(self._session_caller, token, connection.scope)
        return AuthenticationResult(caller, AuthState(None if caller else "session_expired"))

    def _unit_for(self, scope: Scope) -> RequestUnit | None:
        """A request unit when the route continues the lookup's transaction (`opt={REQUEST_UNIT: True}`)."""
        handler = scope.get("route_handler")
        if handler is None or not handler.opt.get(REQUEST_UNIT):
            return None
        unit = self.identity.request_unit()
        scope[REQUEST_UNIT] = unit  # type: ignore[literal-required]
        return unit

    def _session_caller(self, token: str, scope: Scope) -> Caller | None:
        unit = self._unit_for(scope)
        try:
            caller = self.identity.authenticate_session(token, "cookie", unit=unit)
        except BaseException:
            if unit is not None:
                unit.close()
            raise
        if caller is None and unit is not None:
            unit.close()
        return caller

    def _bearer_caller(self, credential: str, scope: Scope) -> Caller:
        unit = self._unit_for(scope) if credential.count(".") != 2 else None  # a JWT: its own lookup (`sid`)
        try:
            return self.identity.authenticate_bearer(credential, unit=unit)
        except BaseException:
            if unit is not None:
                unit.close()
            raise


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Caller) else None


def auth_error(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    state = connection.scope.get("auth")
    return state.error if isinstance(state, AuthState) else None
