"""The web pages served by the API: `/`, `/me`, `/admin…`, and the static files they (and
`/api/docs`) load. Server-rendered Jinja templates in `templates/`, assets in `static/`; both ship
in the wheel as package data."""

from __future__ import annotations

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from api.auth.cookies import CookiePolicy
from api.pages.admin import AdminAuthPages, AdminPages
from api.pages.person import PersonPages
from api.pages.web import PAGE_EXCEPTION_HANDLERS, STATIC, STATIC_PATH, csrf_middleware, template_config
from driveguard.config import Settings

__all__ = ["pages_routers", "template_config"]


def pages_routers(settings: Settings, cookies: CookiePolicy) -> list[Router]:
    """The page routes (CSRF-checked forms, errors as pages) and the static files."""
    pages = Router(
        path="/",
        route_handlers=[PersonPages, AdminAuthPages, AdminPages],
        middleware=[csrf_middleware(settings, cookies)],
        exception_handlers=PAGE_EXCEPTION_HANDLERS,
        include_in_schema=False,
        security=[],
    )
    static = create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC],
        cache_control=CacheControlHeader(max_age=3600, public=True),
        include_in_schema=False,
    )
    return [pages, static]
