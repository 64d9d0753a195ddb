"""Route guards: every `/api/*` route except health, the docs and the admin-token endpoint carries
`requires_user` or `requires_admin` (tests hold a table of the role each route needs).

They raise domain errors; `api.problems` turns them into 401/403 problems like any other.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.auth.middleware import auth_error, caller_of
from driveguard.errors import Forbidden, Unauthenticated
from driveguard.identity.caller import Caller

SIGN_IN_HINT = "Sign in with Google, or send a session or admin token as Authorization: Bearer."


def _signed_in(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    caller = caller_of(connection)
    if caller is None:
        reason = auth_error(connection)
        raise Unauthenticated(f"{SIGN_IN_HINT} ({reason})" if reason else SIGN_IN_HINT)
    return caller


async def requires_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: any signed-in caller, a session (cookie or Bearer) or an admin JWT. (Async: no thread hop.)"""
    _signed_in(connection)


async def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: an admin JWT from POST /api/auth/token."""
    if not _signed_in(connection).is_admin:
        raise Forbidden("This endpoint needs an admin token (POST /api/auth/token).", code="admin-required")
