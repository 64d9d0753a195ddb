"""RFC 9457 problem details for every error, so no input ever earns a bare 500 or a stack trace.

The one place where the domain's failures (`driveguard.errors`) become HTTP: the class decides the
status, the error's `code` the problem `type`. Routes that people open in a browser (sign-in)
mark themselves with an `ErrorPage` in their `opt`; a browser asking for HTML there gets a small
page instead of the problem document. The page routes (`api/pages/`) show every failure as a page
in their layout (`page_domain_error`, `page_http_error`), a page that needs a sign-in redirects to
it, and an unknown path outside `/api/` answers a browser with a 404 page (`not_found`). API paths
and clients that do not ask for HTML always get the problem.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException, ProblemDetailsPlugin
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_405_METHOD_NOT_ALLOWED,
    HTTP_500_INTERNAL_SERVER_ERROR,
)

from api.auth.cookies import CookiePolicy
from api.auth.pages import NO_STORE, page, wants_html
from api.page_headers import PAGE_HEADERS
from driveguard.errors import (
    Conflict,
    DriveguardError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Retryable,
    Unauthenticated,
    Unavailable,
    UpstreamFailed,
)

logger = logging.getLogger(__name__)
API_PREFIX = "/api/"
ERROR_TEMPLATE = "error.html"
"""The pages' error page (`api/pages/templates/`), in their layout."""
PROBLEM_TYPE_BASE = "https://driveguard.dev/problems/"
PROBLEM_JSON = "application/problem+json"
INVALID_REQUEST = "invalid-request"
"""The `code` of a request Litestar's own validation refused (a parameter or body of the wrong shape)."""
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="driveguard"'}

STATUS_OF: dict[type[DriveguardError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    RateLimited: 429,
    UpstreamFailed: 502,
    Unavailable: 503,
}


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem document (`application/problem+json`), as every error is answered."""

    type: str
    title: str
    status: int
    detail: str | None = None
    code: str | None = None
    """Stable and machine-readable; the last segment of `type`."""
    retry: str | None = None
    """Where to start again (sign-in routes)."""
    errors: list[dict[str, Any]] | None = None
    """Which input was wrong (request validation)."""


@dataclass(frozen=True)
class ErrorPage:
    """`opt={"error_page": ErrorPage(...)}`: failures of this route answer browsers with a page linking
    to `retry`, and (with `clear_login_cookie`) end the half-done sign-in in that browser."""

    retry: str
    link_text: str
    clear_login_cookie: bool = False


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    cookies: list[Cookie] | None = None,
    **extra: Any,
) -> Response[Problem]:
    """The one way to answer a problem: `type` from `code` (else about:blank), never cached."""
    body = Problem(
        type=f"{PROBLEM_TYPE_BASE}{code}" if code else "about:blank",
        title=title,
        status=status,
        detail=detail,
        code=code,
        **extra,
    )
    return Response(
        body, status_code=status, media_type=PROBLEM_JSON, headers={**NO_STORE, **(headers or {})}, cookies=cookies
    )


def status_for(error: DriveguardError) -> int:
    """The HTTP status of a domain failure: the nearest class in `STATUS_OF` (500 for none)."""
    for kind in type(error).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]  # type: ignore[index]
    return HTTP_500_INTERNAL_SERVER_ERROR


def domain_error(request: Request[Any, Any, Any], exc: DriveguardError) -> Response[Any]:
    """Every `DriveguardError`, from any service or guard, becomes a problem (or an error page) here."""
    status = status_for(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers.update(WWW_AUTHENTICATE)
    if isinstance(exc, Retryable) and exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    error_page = request.route_handler.opt.get("error_page") if "route_handler" in request.scope else None
    if not isinstance(error_page, ErrorPage):
        fields = getattr(exc, "errors", None)  # e.g. PreferencesInvalid: which field, and why
        extra = {"errors": [{"field": k, "message": v} for k, v in fields.items()]} if isinstance(fields, dict) else {}
        return problem_response(status, exc.title, exc.detail, code=exc.code, headers=headers, **extra)
    cookies = [CookiePolicy.of(request.app).clear_login_cookie()] if error_page.clear_login_cookie else []
    if wants_html(request):
        link = (error_page.retry, error_page.link_text)
        return page(exc.title, exc.detail, status=status, link=link, cookies=cookies, headers=headers)
    return problem_response(
        status, exc.title, exc.detail, code=exc.code, headers=headers, cookies=cookies, retry=error_page.retry
    )


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """Log the failure with its type only and answer a generic problem: no internals leak out."""
    logger.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return problem_response(HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error")


# -- errors as pages (the page routes, and unknown paths a browser asks for) --------------------


def error_page(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Template:
    """The pages' error page with their security headers (CSP: this origin only)."""
    context = {"title": title, "detail": detail}
    return Template(
        template_name=ERROR_TEMPLATE, context=context, status_code=status, headers={**PAGE_HEADERS, **(headers or {})}
    )


def sign_in_location(request: Request[Any, Any, Any]) -> str:
    """Where a page that needs a sign-in sends the browser: the admin sign-in (back here after it)
    for `/admin…`, the start page for a person's pages."""
    path = request.url.path
    if path == "/admin" or path.startswith("/admin/"):
        target = path + (f"?{request.url.query}" if request.url.query else "")
        return f"/admin/login?next={quote(target, safe='')}"
    return "/"


def page_domain_error(request: Request[Any, Any, Any], exc: DriveguardError) -> Response[Any]:
    """A domain failure on a page route: a missing or expired sign-in goes to the sign-in page, any
    other failure is the page of the status `status_for` decides (never a JSON document)."""
    status = status_for(exc)
    if status == 401:
        return Redirect(sign_in_location(request), status_code=303, headers={"Cache-Control": "no-store"})
    return error_page(status, exc.title, exc.detail)


def page_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own errors on a page route (a bad query parameter, a failed CSRF check) as a page."""
    if isinstance(exc, ValidationException):
        return error_page(400, "Invalid request", _without_query(exc.detail))
    if exc.status_code == 401:
        return Redirect(sign_in_location(request), status_code=303, headers={"Cache-Control": "no-store"})
    if exc.status_code == 403:
        detail = "The form's security token did not match. Reload the page and try again."
        return error_page(403, "Form expired", detail)
    if exc.status_code == HTTP_404_NOT_FOUND:
        return error_page(404, "Page not found", "There is no page at this address.")
    if exc.status_code == HTTP_405_METHOD_NOT_ALLOWED:  # e.g. reloading the address a form posted to
        detail = "This address only takes a form." if request.method == "GET" else "This page takes no form."
        return error_page(405, "Not a page", f"{detail} Go back and try again.", exc.headers)
    return error_page(exc.status_code, "Error", str(exc.detail), exc.headers)


def not_found(request: Request[Any, Any, Any], exc: NotFoundException | MethodNotAllowedException) -> Response[Any]:
    """An unknown path (or a method a path does not take): a browser asking for HTML outside `/api/`
    gets a page in the pages' layout; API paths and every other client get the problem, as for
    any HTTP error."""
    path = request.url.path
    if not (path == API_PREFIX.rstrip("/") or path.startswith(API_PREFIX)) and wants_html(request):
        return page_http_error(request, exc)
    return _http_to_problem(exc).to_response(request)


def _http_to_problem(exc: HTTPException) -> ProblemDetailsException:
    """What the problem details plugin answers for any other HTTP error: the status's phrase as the
    title, Litestar's message (e.g. why the body could not be read) as the detail."""
    title = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if exc.detail and exc.detail != title else None
    extra = exc.extra if isinstance(exc.extra, dict) else None
    return ProblemDetailsException(
        status_code=exc.status_code, title=title, detail=detail, type_="about:blank", extra=extra, headers=exc.headers
    )


QUOTED_VALUE = re.compile(r"\s*'.*'")
"""A value the decoder quotes in its message (`Invalid enum value 'x'`): never sent back."""


def _without_query(detail: str) -> str:
    """Litestar's "Validation failed for GET /path?query" without the query (codes, state, tokens)."""
    return str(detail).split("?", 1)[0]


def _without_values(error: Any) -> Any:
    """One validation error as sent back: which field, where, and why, never the value itself
    (it may be a code, a token or a password)."""
    if not isinstance(error, dict):
        return {"message": "Invalid value"}
    kept = {key: error[key] for key in ("key", "source") if key in error}
    return {**kept, "message": QUOTED_VALUE.sub("", str(error.get("message", "Invalid value")))}


def _validation_to_problem(exc: ValidationException) -> ProblemDetailsException:
    """Litestar's validation failure as a 400 problem. Its detail quotes the request's URL with the
    query (`Validation failed for GET /auth/callback?code=...`): the query is cut off, and each
    error keeps its field and reason but not the value."""
    detail = _without_query(exc.detail) if exc.detail else None
    errors = exc.extra if isinstance(exc.extra, list) else [exc.extra] if exc.extra else []
    code = str(getattr(exc, "code", INVALID_REQUEST))  # e.g. `unstorable-text` (api/request_input.py)
    return ProblemDetailsException(
        status_code=HTTP_400_BAD_REQUEST,
        title="Invalid request",
        detail=detail,
        type_=f"{PROBLEM_TYPE_BASE}{code}",
        extra={"code": code, **({"errors": [_without_values(error) for error in errors]} if errors else {})},
    )


def problem_details_plugin() -> ProblemDetailsPlugin:
    """Litestar's own HTTP errors (validation, 404, 405, ...) as problems too (`not_found`, registered
    with the app's handlers, makes the 404 a page for browsers outside `/api/`)."""
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(
            enable_for_all_http_exceptions=True,
            exception_to_problem_detail_map={
                HTTPException: _http_to_problem,
                ValidationException: _validation_to_problem,
            },
        )
    )
