"""The security headers of the server-rendered pages (`api/pages/`), also sent with the error
pages `api/problems.py` renders (a 404 for a browser). A leaf module, so both can import it.

The Content-Security-Policy allows this origin only: no CDN, no inline script, no inline style.
"""

from __future__ import annotations

CSP = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "object-src 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
