"""Which Google failures are worth retrying, and how long to wait before the next try.

Google's guidance: retry 429, 403 `rateLimitExceeded`/`userRateLimitExceeded` and 5xx with
exponential backoff and jitter; never retry a 401 without a fresh token; everything else is
final. `Backoff` is pure (injectable RNG) so fault suites can assert exact schedules.
"""

from __future__ import annotations

import enum
import json
import random
from dataclasses import dataclass, field
from typing import Any

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
TRANSIENT_STATUSES = frozenset({408, 500, 502, 503, 504})


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
    if status == 429 or (status == 403 and reason in RATE_LIMIT_REASONS):
        return Failure.RATE_LIMITED
    if status in TRANSIENT_STATUSES or status >= 500:
        return Failure.TRANSIENT
    if status == 401:
        return Failure.AUTH
    return Failure.PERMANENT


def parse_retry_after(value: str | None) -> float | None:
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


@dataclass
class Backoff:
    """Capped exponential backoff with "equal jitter": a delay in [d/2, d], d = base * 2^(n-1)."""

    base_seconds: float = 1.0
    max_seconds: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1 = the first retry)."""
        ceiling = min(self.max_seconds, self.base_seconds * (2 ** max(0, attempt - 1)))
        wait = ceiling / 2 + self.rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_seconds))
        return wait
