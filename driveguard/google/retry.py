"""Which Google failures are worth retrying: the one classification the OAuth endpoints, Drive
and Reports share (how long to wait is `driveguard.backoff`).

Google's guidance: retry 429, 403 `rateLimitExceeded`/`userRateLimitExceeded`, 408 and 5xx with
exponential backoff and jitter; never retry a 401 without a fresh token; everything else is final.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from driveguard.backoff import Backoff
from driveguard.config import Settings

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})


class Failure(enum.StrEnum):
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    AUTH = "auth"
    PERMANENT = "permanent"

    @property
    def retryable(self) -> bool:
        return self in (Failure.RATE_LIMITED, Failure.TRANSIENT)


@dataclass(frozen=True)
class GoogleError:
    """One failed call (or batch part): HTTP status, Google's reason and a short message."""

    status: int
    reason: str | None
    message: str
    kind: Failure
    retry_after: float | None = None

    def describe(self) -> str:
        reason = f" {self.reason}" if self.reason else ""
        return f"HTTP {self.status}{reason}: {self.message}"[:300]


def api_backoff(settings: Settings) -> Backoff:
    """Drive's and Reports' retry policy, from GOOGLE_BACKOFF_* and GOOGLE_MAX_ATTEMPTS."""
    p = settings.pipelines
    return Backoff(p.google_backoff_base_seconds, p.google_backoff_max_seconds, max_attempts=p.google_max_attempts)


def error_details(content: bytes | str | None) -> tuple[str | None, str]:
    """Google's `errors[0].reason` and `message` from an error body (any shape tolerated)."""
    if not content:
        return None, ""
    try:
        payload: Any = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        return None, text.strip()[:200]
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        errors = error.get("errors") or []
        reason = errors[0].get("reason") if errors and isinstance(errors[0], dict) else None
        return reason, str(error.get("message") or "")[:200]
    if isinstance(error, str):
        return error, str(payload.get("error_description") or "")[:200]
    return None, ""


def classify(status: int, reason: str | None) -> Failure:
    """What an HTTP status (and Google's `reason`) means for a retry."""
    if status == 429 or (status == 403 and reason in RATE_LIMIT_REASONS):
        return Failure.RATE_LIMITED
    if status == 408 or status >= 500:
        return Failure.TRANSIENT
    if status == 401:
        return Failure.AUTH
    return Failure.PERMANENT


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not something Google sends)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def google_error(status: int, content: bytes | str | None, retry_after: str | None = None) -> GoogleError:
    reason, message = error_details(content)
    return GoogleError(status, reason, message, classify(status, reason), parse_retry_after(retry_after))


def transport_error(exc: BaseException) -> GoogleError:
    """A timeout, reset connection or unparsable batch: the whole round trip is worth retrying."""
    return GoogleError(0, type(exc).__name__, str(exc)[:200], Failure.TRANSIENT)
