"""What every page shares: the templates, the static files, the security headers, CSRF, the admin
cookie and the HTML error page.

Pages authenticate by cookie, so every form posting to a page route carries Litestar's double-submit
CSRF token (on top of SameSite cookies and the caller middleware's Fetch-Metadata check). The
security headers (CSP: this origin only) are in `api/page_headers.py`; errors on pages are mapped
by `api/problems.py` like every other error.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from api.auth.cookies import CookiePolicy
from api.page_headers import PAGE_HEADERS
from api.problems import page_domain_error, page_http_error
from driveguard.config import Settings
from driveguard.errors import DriveguardError

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_PATH = "/static"


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    from api.pages import formatting

    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=formatting.register)


def csrf_middleware(settings: Settings, cookies: CookiePolicy) -> DefineMiddleware:
    """Double-submit CSRF for the page routes only (the JSON API authenticates by header or checks
    Fetch Metadata). The secret is derived from DRIVEGUARD_SECRET_KEY for this one purpose."""
    secret = hmac.new(settings.security.secret_key.encode(), b"driveguard/pages-csrf/v1", hashlib.sha256).hexdigest()
    config = CSRFConfig(
        secret=secret,
        cookie_name="__Host-dg_csrf" if cookies.secure else "dg_csrf",
        cookie_secure=cookies.secure,
        cookie_httponly=True,
        cookie_samesite="strict",
    )
    return DefineMiddleware(CSRFMiddleware, config=config)


def render(template: str, status_code: int = 200, cookies: list[Cookie] | None = None, **context: Any) -> Template:
    return Template(
        template_name=template, context=context, status_code=status_code, headers=PAGE_HEADERS, cookies=cookies or []
    )


def see_other(location: str, cookies: list[Cookie] | None = None) -> Redirect:
    return Redirect(location, status_code=303, headers={"Cache-Control": "no-store"}, cookies=cookies or [])


def with_notice(path: str, notice: str) -> str:
    """Where to go after a form, with a short message the next page shows (`?notice=`)."""
    separator = "&" if "?" in path else "?"
    return f"{path}{separator}notice={quote(notice)}"


# -- the admin cookie ------------------------------------------------------------------------


def admin_cookie_name(cookies: CookiePolicy) -> str:
    return "__Host-dg_admin" if cookies.secure else "dg_admin"


def admin_cookie(cookies: CookiePolicy, token: str, max_age: int) -> Cookie:
    """The admin JWT for the admin pages: HttpOnly, SameSite=Strict, short-lived like the token.
    The JSON API never reads it (it takes admin tokens as Authorization: Bearer only)."""
    return Cookie(
        key=admin_cookie_name(cookies),
        value=token,
        max_age=max_age,
        path="/",
        secure=cookies.secure,
        httponly=True,
        samesite="strict",
    )


class SignInRequired(Exception):
    """The page needs a signed-in person (or an admin): answered with a redirect to the sign-in page."""

    def __init__(self, location: str) -> None:
        self.location = location
        super().__init__(location)


# -- errors as pages ---------------------------------------------------------------------------


def sign_in_redirect(_: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    return see_other(exc.location)  # type: ignore[return-value]


PAGE_EXCEPTION_HANDLERS: dict[Any, Any] = {
    SignInRequired: sign_in_redirect,
    DriveguardError: page_domain_error,
    HTTPException: page_http_error,
}
