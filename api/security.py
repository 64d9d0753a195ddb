"""Who is calling: sessions (cookie or Bearer) and admin JWTs (Bearer), resolved once per request.

`AuthMiddleware` puts a `Principal` (or None) in `request.user`; guards decide. Every `/api/*`
controller except health and the admin-token endpoint carries `requires_user` or
`requires_admin` (a test walks the route table to keep it so). A session cookie used from
another site on an unsafe method is ignored (OWASP: verify Origin / Fetch Metadata), on top of
the cookie's SameSite=Lax.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.types import ASGIApp, Receive, Scope, Scopes, Send
from sqlalchemy import Engine

from api.problems import PROBLEM_TYPE_BASE
from driveguard.audit import RequestContext
from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.db.engine import transaction
from driveguard.identity.admin_auth import AdminAuthError, AdminAuthService, AdminClaims
from driveguard.identity.login import LoginService
from driveguard.identity.sessions import SessionInfo, SessionService
from driveguard.identity.tokens import TokenService

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="driveguard"'}
_TITLES = {400: "Invalid request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 429: "Too many requests"}


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> ProblemDetailsException:
    """An RFC 9457 problem to raise: a stable `type` (from `code`), a title and a human detail."""
    if status == 401:
        headers = {**WWW_AUTHENTICATE, **(headers or {})}
    return ProblemDetailsException(
        status_code=status,
        type_=f"{PROBLEM_TYPE_BASE}{code}" if code else None,
        title=title or _TITLES.get(status, "Error"),
        detail=detail,
        headers=headers,
    )


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. `role` is `admin` only with an admin JWT."""

    kind: Literal["session", "admin"]
    role: Literal["user", "admin"]
    subject: str
    via: Literal["cookie", "bearer"]
    account_id: uuid.UUID | None = None
    session: SessionInfo | None = None
    admin: AdminClaims | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass
class AuthServices:
    """The core services the auth and oauth controllers use, built once per app."""

    settings: Settings
    engine: Engine
    clock: Clock
    tokens: TokenService
    sessions: SessionService
    login: LoginService
    admin: AdminAuthService
    cookie_secure: bool = field(init=False)

    def __post_init__(self) -> None:
        self.cookie_secure = self.settings.security.session_cookie_secure

    @classmethod
    def build(cls, settings: Settings, engine: Engine, *, clock: Clock = utcnow) -> AuthServices:
        tokens = TokenService(settings, engine, clock=clock)
        sessions = SessionService(settings, clock=clock)
        return cls(
            settings=settings,
            engine=engine,
            clock=clock,
            tokens=tokens,
            sessions=sessions,
            login=LoginService(settings, engine, tokens, sessions, clock=clock),
            admin=AdminAuthService(settings, engine, clock=clock),
        )

    def close(self) -> None:
        self.tokens.close()

    # -- cookies ---------------------------------------------------------------------------

    @property
    def session_cookie(self) -> str:
        # `__Host-` pins the cookie to this host and path / (browsers require Secure for it).
        return "__Host-dg_session" if self.cookie_secure else "dg_session"

    @property
    def login_cookie(self) -> str:
        return "__Host-dg_login" if self.cookie_secure else "dg_login"

    def _cookie(self, key: str, value: str, max_age: int) -> Cookie:
        return Cookie(
            key=key, value=value, max_age=max_age, path="/", secure=self.cookie_secure, httponly=True, samesite="lax"
        )

    def session_cookie_for(self, token: str, expires_at: dt.datetime) -> Cookie:
        max_age = max(0, int((expires_at - self.clock()).total_seconds()))
        return self._cookie(self.session_cookie, token, max_age)

    def clear_session_cookie(self) -> Cookie:
        return self._cookie(self.session_cookie, "", 0)

    def login_cookie_for(self, secret: str, max_age: int) -> Cookie:
        return self._cookie(self.login_cookie, secret, max_age)

    def clear_login_cookie(self) -> Cookie:
        return self._cookie(self.login_cookie, "", 0)

    def dependencies(self) -> dict[str, Provide]:
        return {
            "auth_services": Provide(lambda: self, use_cache=True, sync_to_thread=False),
            "token_service": Provide(lambda: self.tokens, use_cache=True, sync_to_thread=False),
        }


def request_context(connection: ASGIConnection[Any, Any, Any, Any]) -> RequestContext:
    client = connection.client
    return RequestContext.of(client.host if client else None, connection.headers.get("user-agent"))


def cookie_value(scope: Scope, name: str) -> str | None:
    """One cookie's value, parsed leniently: another app on the same host (cookies ignore ports)
    may set cookies `http.cookies` rejects, and they must not hide ours."""
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            for pair in value.decode("latin-1").split(";"):
                cookie_name, sep, cookie_value_ = pair.strip().partition("=")
                if sep and cookie_name == name:
                    return cookie_value_.strip().strip('"') or None
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _cross_site(scope: Scope) -> bool:
    """True for a browser request another site initiated (Fetch Metadata, else Origin vs Host)."""
    fetch_site = _header(scope, b"sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = _header(scope, b"origin")
    if origin is None:
        return False
    host = _header(scope, b"host")
    return origin == "null" or urlsplit(origin).netloc != host


@dataclass
class AuthState:
    """What the middleware found, for guards to explain a 401."""

    error: str | None = None


class AuthMiddleware(ASGIMiddleware):
    """Resolve the caller before the handler runs; unauthenticated requests get `user = None`."""

    scopes: Scopes = (ScopeType.HTTP,)
    exclude_path_pattern = ("^/api/health", "^/api/docs")

    def __init__(self, services: AuthServices) -> None:
        self.services = services

    def _session(self, token: str) -> SessionInfo | None:
        with transaction(self.services.engine) as db:
            return self.services.sessions.authenticate(db, token)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        principal: Principal | None = None
        state = AuthState()
        authorization = _header(scope, b"authorization")
        if authorization is not None:
            scheme, _, credential = authorization.strip().partition(" ")
            credential = credential.strip()
            if scheme.lower() != "bearer" or not credential or len(credential) > 4096:
                state.error = "unsupported_authorization"
            elif credential.count(".") == 2:
                try:
                    claims = self.services.admin.verify(credential)
                except AdminAuthError as exc:
                    state.error = exc.reason
                else:
                    principal = Principal(
                        kind="admin",
                        role="admin",
                        subject=claims.subject,
                        via="bearer",
                        account_id=claims.account_id,
                        admin=claims,
                    )
            else:
                info = await anyio.to_thread.run_sync(self._session, credential)
                if info is None:
                    state.error = "invalid_session"
                else:
                    principal = Principal("session", "user", info.email, "bearer", info.account_id, info)
        else:
            token = cookie_value(scope, self.services.session_cookie)
            if token:
                if scope.get("method", "GET") not in SAFE_METHODS and _cross_site(scope):
                    state.error = "cross_site_request"
                else:
                    info = await anyio.to_thread.run_sync(self._session, token)
                    if info is None:
                        state.error = "session_expired"
                    else:
                        principal = Principal("session", "user", info.email, "cookie", info.account_id, info)
        scope["user"] = principal
        scope["auth"] = state
        await next_app(scope, receive, send)


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Principal) else None


def _auth_error(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    state = connection.scope.get("auth")
    return state.error if isinstance(state, AuthState) else None


def _require_user(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    if principal_of(connection) is None:
        reason = _auth_error(connection)
        detail = "Sign in with Google, or send a session or admin token as Authorization: Bearer."
        if reason:
            detail = f"{detail} ({reason})"
        raise problem(401, detail, code="unauthenticated")


async def requires_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: any signed-in caller, a session (cookie or Bearer) or an admin JWT. (Async: no thread hop.)"""
    _require_user(connection)


async def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: an admin JWT from POST /api/auth/token."""
    _require_user(connection)
    principal = principal_of(connection)
    if principal is None or not principal.is_admin:
        raise problem(403, "This endpoint needs an admin token (POST /api/auth/token).", code="admin-required")
