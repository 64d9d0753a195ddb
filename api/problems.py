"""RFC 9457 problem details for every error, so no input ever earns a bare 500 or an HTML page."""

from __future__ import annotations

import logging

from litestar import Request, Response
from litestar.exceptions import ValidationException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException, ProblemDetailsPlugin
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_500_INTERNAL_SERVER_ERROR

logger = logging.getLogger(__name__)
PROBLEM_TYPE_BASE = "https://driveguard.dev/problems/"


def problem(status: int, title: str, detail: str | None = None, **extra: object) -> Response:
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(body, status_code=status, media_type="application/problem+json")


def _validation_to_problem(exc: ValidationException) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=HTTP_400_BAD_REQUEST,
        title="Invalid request",
        detail=exc.detail,
        extra={"errors": exc.extra} if exc.extra else None,
    )


def unexpected_error(request: Request, exc: Exception) -> Response:
    """Log the failure with its type only and answer a generic problem: no internals leak out."""
    logger.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error")


def problem_details_plugin() -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(
            enable_for_all_http_exceptions=True,
            exception_to_problem_detail_map={ValidationException: _validation_to_problem},
        )
    )
