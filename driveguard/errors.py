"""The domain's failures, one tree: services raise these, and the HTTP door maps them in one place.

Each error carries a stable `code` (machines, tests, the problem `type`), a short `title` and a
human `detail`; never an HTTP status. The kind of failure is the class: the API turns
`NotFound` into 404, `Unavailable` into 503 with Retry-After, and so on.
"""

from __future__ import annotations

from typing import ClassVar


class DriveguardError(Exception):
    """Base of every failure a caller can be told about (the `detail` is safe to show)."""

    default_code: ClassVar[str] = "error"
    default_title: ClassVar[str] = "Error"

    def __init__(self, detail: str, *, code: str | None = None, title: str | None = None) -> None:
        self.detail = detail
        self.code = code or self.default_code
        self.title = title or self.default_title
        super().__init__(f"{self.code}: {detail}")


class InvalidInput(DriveguardError):
    """The request itself is wrong; the caller must change it."""

    default_code = "invalid-input"
    default_title = "Invalid request"


class Unauthenticated(DriveguardError):
    """No valid credentials: sign in, or send a valid token."""

    default_code = "unauthenticated"
    default_title = "Unauthorized"


class Forbidden(DriveguardError):
    """The caller is known but may not do this."""

    default_code = "forbidden"
    default_title = "Forbidden"


class NotFound(DriveguardError):
    default_code = "not-found"
    default_title = "Not found"


class Conflict(DriveguardError):
    """The request clashes with the current state (e.g. that run already exists)."""

    default_code = "conflict"
    default_title = "Conflict"


class Retryable(DriveguardError):
    """A failure that may pass; `retry_after` (seconds), when known, says when trying again makes sense."""

    def __init__(
        self, detail: str, *, retry_after: int | None = None, code: str | None = None, title: str | None = None
    ) -> None:
        super().__init__(detail, code=code, title=title)
        self.retry_after = retry_after


class RateLimited(Retryable):
    default_code = "throttled"
    default_title = "Too many requests"


class Unavailable(Retryable):
    """A dependency (Google, Airflow) is not answering; nothing changed."""

    default_code = "unavailable"
    default_title = "Service unavailable"


class UpstreamFailed(DriveguardError):
    """A dependency answered, but with a failure Driveguard cannot turn into a result."""

    default_code = "upstream-error"
    default_title = "Error"
