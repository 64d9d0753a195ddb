"""The small HTML pages the browser-facing auth routes show people (API clients get JSON or a
problem document instead). Everything interpolated is escaped."""

from __future__ import annotations

import html
from typing import Any

from litestar import Request, Response
from litestar.datastructures import Cookie

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The pages load nothing, run nothing and may not be framed.
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title} · Driveguard</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}}
a.button{{display:inline-block;padding:.5rem 1rem;border-radius:.3rem;background:#1a73e8;color:#fff;
text-decoration:none}}</style></head>
<body><h1>{title}</h1><p>{detail}</p>{action}</body></html>
"""


def wants_html(request: Request[Any, Any, Any]) -> bool:
    """Browsers ask for text/html explicitly; `*/*` and JSON clients get JSON."""
    return request.accept.best_match(["application/json", "application/problem+json", "text/html"]) == "text/html"


def page(
    title: str,
    detail: str,
    *,
    status: int = 200,
    link: tuple[str, str] | None = None,
    cookies: list[Cookie] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    action = ""
    if link is not None:
        action = f'<p><a class="button" href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>'
    body = _PAGE.format(title=html.escape(title), detail=html.escape(detail), action=action)
    return Response(
        body,
        status_code=status,
        media_type="text/html",
        headers={**PAGE_HEADERS, **(headers or {})},
        cookies=cookies or [],
    )
