"""Security headers on every response the API sends (JSON, problems, pages, docs, 404/405), and
the one place that decides which proxies' X-Forwarded-* headers are believed.

A `before_send` hook adds what a response has not set itself: pages keep their own CSP
(`api/page_headers.py`), everything else gets one that allows nothing (JSON is never rendered).
`Cache-Control: no-store` goes on everything but the public static files, so authenticated and
admin data never lands in a shared or browser cache. HSTS is sent when the request came over
https, directly or through a proxy listed in TRUSTED_PROXIES.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

JSON_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
"""`/api/docs`: Swagger UI from this origin only (no inline script: see `api/docs_page.py`)."""
HSTS = "max-age=31536000; includeSubDomains"
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
PUBLIC_ASSETS = "/static/"


async def add_security_headers(message: Message, scope: Scope) -> None:
    """Fill in the security headers a response start message lacks (never overriding its own)."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in ALWAYS.items():
        if name not in headers:
            headers[name] = value
    path = str(scope.get("path", ""))
    if "content-security-policy" not in headers:
        html = headers.get("content-type", "").startswith("text/html")
        headers["Content-Security-Policy"] = DOCS_CSP if html and path.startswith("/api/docs") else JSON_CSP
    if not path.startswith(PUBLIC_ASSETS) and "cache-control" not in headers:
        headers["Cache-Control"] = "no-store"
    if scope.get("scheme") == "https":
        headers["Strict-Transport-Security"] = HSTS


def trust_proxies(app: Litestar, trusted_proxies: tuple[str, ...]) -> None:
    """Believe X-Forwarded-For/-Proto from these addresses only, before routing (404s included):
    the client address then feeds throttling and audit, the scheme HSTS. Nothing trusted: no-op,
    and the headers are ignored whoever sends them."""
    if trusted_proxies:
        handler: Any = app.asgi_handler
        app.asgi_handler = ProxyHeadersMiddleware(handler, trusted_hosts=list(trusted_proxies))
