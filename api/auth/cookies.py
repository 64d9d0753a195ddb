"""The session and sign-in cookies: their names, attributes and a lenient reader.

Both are HttpOnly, SameSite=Lax and path `/`; with SESSION_COOKIE_SECURE they are also Secure and
carry the `__Host-` prefix, which pins them to this host.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.datastructures import Cookie
from litestar.types import Scope

from driveguard.clock import Clock


@dataclass(frozen=True)
class CookiePolicy:
    secure: bool
    clock: Clock

    @classmethod
    def of(cls, app: Litestar) -> CookiePolicy:
        """The policy `create_app` put in the application's state."""
        policy: Any = app.state["cookies"]
        assert isinstance(policy, CookiePolicy)
        return policy

    @property
    def session_cookie(self) -> str:
        # `__Host-` pins the cookie to this host and path / (browsers require Secure for it).
        return "__Host-dg_session" if self.secure else "dg_session"

    @property
    def login_cookie(self) -> str:
        return "__Host-dg_login" if self.secure else "dg_login"

    def _cookie(self, key: str, value: str, max_age: int) -> Cookie:
        return Cookie(
            key=key, value=value, max_age=max_age, path="/", secure=self.secure, httponly=True, samesite="lax"
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
