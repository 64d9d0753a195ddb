"""`/api/docs`: Swagger UI from this origin only, under the docs' CSP (`script-src 'self'`).

Litestar's Swagger page inlines its start-up script (and the whole schema) and an inline style;
a CSP without 'unsafe-inline' blocks both. This page loads the vendored bundle, preset and
stylesheet with Subresource Integrity (hashes of the files shipped in `api/pages/static/vendor`,
so a tampered or swapped asset is refused by the browser), and a small start-up script that
fetches `/api/docs/openapi.json`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from pathlib import Path
from typing import Any

from litestar import Request
from litestar.openapi.plugins import SwaggerRenderPlugin

STATIC_DIR = Path(__file__).parent / "pages" / "static"
ASSETS_URL = "/static"
VENDOR = "vendor/swagger-ui"


@functools.cache
def integrity(relative: str) -> str:
    """The `integrity` value (SHA-384) of a file under the pages' static folder."""
    digest = hashlib.sha384((STATIC_DIR / relative).read_bytes()).digest()
    return f"sha384-{base64.b64encode(digest).decode()}"


def _asset(relative: str) -> tuple[str, str]:
    return f"{ASSETS_URL}/{relative}", integrity(relative)


class VendoredSwaggerPage(SwaggerRenderPlugin):
    """Swagger UI without inline script or style, every asset pinned by its hash."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            js_url=f"{ASSETS_URL}/{VENDOR}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_URL}/{VENDOR}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_URL}/{VENDOR}/swagger-ui-standalone-preset.js",
            **kwargs,
        )

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        title = openapi_schema["info"]["title"]
        css, css_hash = _asset(f"{VENDOR}/swagger-ui.css")
        bundle, bundle_hash = _asset(f"{VENDOR}/swagger-ui-bundle.js")
        preset, preset_hash = _asset(f"{VENDOR}/swagger-ui-standalone-preset.js")
        start, start_hash = _asset("swagger-start.js")
        return f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{title}</title>
    <link rel="icon" type="image/png" href="{ASSETS_URL}/{VENDOR}/favicon-32x32.png">
    <link rel="stylesheet" href="{css}" integrity="{css_hash}" crossorigin="anonymous">
    <script src="{bundle}" integrity="{bundle_hash}" crossorigin="anonymous"></script>
    <script src="{preset}" integrity="{preset_hash}" crossorigin="anonymous"></script>
    <script src="{start}" integrity="{start_hash}" crossorigin="anonymous"></script>
  </head>
  <body>
    <div id="swagger-container" data-openapi-url="{self.get_openapi_json_route(request)}"></div>
  </body>
</html>
""".encode()
