"""Google's error bodies, byte for byte where it matters, and the result type handlers share.

Two families exist: the Google API shape (`{"error": {"code", "message", "errors": […],
"status"}}`) used by Drive, Reports and userinfo, and the OAuth shape (`{"error",
"error_description"}`) used by the token and revoke endpoints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from .faults import FaultError

API_JSON = "application/json; charset=UTF-8"
OAUTH_JSON = "application/json; charset=utf-8"
NO_STORE = {
    "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate",
    "Pragma": "no-cache",
    "Expires": "Mon, 01 Jan 1990 00:00:00 GMT",
}
WWW_AUTH_INVALID = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass
class ApiResult:
    """A finished HTTP answer, independent of the web framework (batch parts reuse it)."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def reason(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return "Unknown"


def json_result(status: int, payload: Any, content_type: str = API_JSON, **headers: str) -> ApiResult:
    body = json.dumps(payload, indent=2).encode() + b"\n"
    hdrs = [("Content-Type", content_type), ("Vary", "Origin, X-Origin, Referer")]
    hdrs += [(name.replace("_", "-"), value) for name, value in headers.items()]
    return ApiResult(status, body, hdrs)


def api_error(
    code: int,
    message: str,
    reason: str,
    *,
    domain: str = "global",
    error_message: str | None = None,
    location: str | None = None,
    location_type: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The Google API error envelope."""
    item: dict[str, Any] = {"message": error_message or message, "domain": domain, "reason": reason}
    if location is not None:
        item["location"] = location
    if location_type is not None:
        item["locationType"] = location_type
    error: dict[str, Any] = {"code": code, "message": message, "errors": [item]}
    if code in STATUS_NAMES:
        error["status"] = STATUS_NAMES[code]
    if details:
        error["details"] = details
    return {"error": error}


def invalid_credentials() -> ApiResult:
    body = api_error(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
        "other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "authError",
        error_message="Invalid Credentials",
        location="Authorization",
        location_type="header",
    )
    return json_result(401, body, WWW_Authenticate=WWW_AUTH_INVALID)


def login_required() -> ApiResult:
    body = api_error(
        401,
        "Request is missing required authentication credential. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "required",
        error_message="Login Required.",
        location="Authorization",
        location_type="header",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "CREDENTIALS_MISSING",
                "domain": "googleapis.com",
            }
        ],
    )
    return json_result(401, body, WWW_Authenticate='Bearer realm="https://accounts.google.com/"')


def insufficient_scopes(service: str) -> ApiResult:
    body = api_error(
        403,
        "Request had insufficient authentication scopes.",
        "insufficientPermissions",
        error_message="Insufficient Permission",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                "domain": "googleapis.com",
                "metadata": {"service": service},
            }
        ],
    )
    return json_result(
        403,
        body,
        WWW_Authenticate='Bearer realm="https://accounts.google.com/", error="insufficient_scope"',
    )


def bad_request(message: str, reason: str = "invalid", **where: str) -> ApiResult:
    return json_result(400, api_error(400, message, reason, **where))


def not_found(message: str = "Not Found") -> ApiResult:
    return json_result(404, api_error(404, message, "notFound"))


DROPPED = 0
"""The status of an `ApiResult` that is no answer at all: `to_response` cuts the connection."""


def fault_api_result(error: FaultError) -> ApiResult:
    """A Google-API-shaped answer for an injected fault (Drive, Reports, userinfo, batch)."""
    if error.kind == "drop":
        return ApiResult(DROPPED, b"", [])
    if error.kind == "rate_limit":
        body = api_error(error.status, "Rate Limit Exceeded", "rateLimitExceeded", domain="usageLimits")
        return json_result(error.status, body, Retry_After=str(error.retry_after or 1))
    if error.kind == "user_rate_limit":
        body = api_error(403, "User Rate Limit Exceeded", "userRateLimitExceeded", domain="usageLimits")
        return json_result(403, body, Retry_After=str(error.retry_after or 1))
    if error.kind == "timeout":
        body = api_error(504, "Deadline expired before operation could complete.", "backendError")
        return json_result(504, body)
    message = "Service Unavailable" if error.status == 503 else "Backend Error"
    return json_result(error.status, api_error(error.status, message, "backendError"))


def oauth_error(status: int, error: str, description: str | None = None) -> ApiResult:
    payload: dict[str, str] = {"error": error}
    if description is not None:
        payload["error_description"] = description
    body = json.dumps(payload, indent=2).encode() + b"\n"
    return ApiResult(status, body, [("Content-Type", OAUTH_JSON), *NO_STORE.items()])


def fault_oauth_result(error: FaultError) -> ApiResult:
    """An OAuth-shaped answer for an injected fault on /token or /revoke."""
    if error.kind == "drop":
        return ApiResult(DROPPED, b"", [])
    if error.kind in ("rate_limit", "user_rate_limit"):
        result = oauth_error(429, "rate_limit_exceeded", "Rate Limit Exceeded")
        result.headers.append(("Retry-After", str(error.retry_after or 1)))
        return result
    if error.kind == "timeout":
        return oauth_error(504, "temporarily_unavailable", "Deadline expired before operation could complete.")
    if error.status == 503:
        return oauth_error(503, "temporarily_unavailable", "Service Unavailable")
    return oauth_error(error.status, "internal_failure", "Backend Error")
