"""Fault injection: latency, timeouts, rate limits and 5xx errors per endpoint group.

Two kinds of project rate limit: `rate_limit_rps` (a token bucket, `rate_limit_burst` banked) and
`rate_budget_per_second` (Google's way: at most that many requests in any one-second window,
each batch part counted, 429 `rateLimitExceeded` above it).

`drop_connections: N` drops the connection of the group's next N requests before any answer (the
client sees the peer close mid-response, as after a network cut or a load balancer reset); the
request is not processed.

The product must survive Google being slow, throttling and failing; these faults let tests
and demos make the emulator do each of those on purpose, deterministically (seeded RNG,
token buckets driven by the emulator clock).
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .models import ValidationError

GROUPS = ("token", "revoke", "userinfo", "about", "batch", "reports", "auth", "*")
ERROR_STATUSES = (500, 502, 503, 504)
DROPPABLE_GROUPS = ("token", "revoke", "userinfo", "batch", "reports")
"""Groups whose requests are whole HTTP exchanges (a batch part or the consent page cannot drop)."""


@dataclass
class TokenBucket:
    """Classic token bucket: `rate` tokens a second, at most `capacity` banked."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float) -> float | None:
        """Take one token; return None on success, else seconds until one is available."""
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = max(self.updated, now)
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate


@dataclass
class FaultError:
    """The failure a request should get instead of its normal answer."""

    kind: str
    """`rate_limit`, `user_rate_limit`, `backend`, `timeout` or `drop` (no answer, connection cut)."""
    status: int
    retry_after: int | None = None


@dataclass
class FaultDecision:
    delay: float = 0.0
    timeout: float | None = None
    error: FaultError | None = None


@dataclass
class FaultSpec:
    group: str
    latency_ms: float = 0
    jitter_ms: float = 0
    timeout: float | None = None
    timeout_remaining: int | None = None
    """`timeout_count`: only that many requests time out (None: every one)."""
    rate_limit_rps: float | None = None
    rate_limit_burst: float | None = None
    rate_limit_status: int = 429
    user_rate_limit_rps: float | None = None
    user_rate_limit_burst: float | None = None
    rate_budget_per_second: int | None = None
    """At most this many requests per project in any one-second window (a one-second burst, no more)."""
    error_burst_status: int = 503
    error_burst_remaining: int = 0
    error_rate: float = 0.0
    error_rate_status: int = 503
    drop_remaining: int = 0
    fail_emails: frozenset[str] | None = None
    late_answer_ms: float = 0
    """Do the work, then hold the answer this long: the client may time out after the server acted."""
    late_answer_remaining: int | None = None
    """How many requests get the late answer (None: every one)."""
    seed: int = 0
    rng: random.Random = field(default_factory=random.Random)
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    windows: dict[str, deque[float]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> FaultSpec:
        group = payload.get("group")
        if group not in GROUPS:
            raise ValidationError(f"group: must be one of {', '.join(GROUPS)}")
        known = {
            "group",
            "latency_ms",
            "jitter_ms",
            "timeout",
            "timeout_count",
            "rate_limit_rps",
            "rate_limit_burst",
            "rate_limit_status",
            "user_rate_limit_rps",
            "user_rate_limit_burst",
            "rate_budget_per_second",
            "error_burst",
            "error_rate",
            "error_rate_status",
            "drop_connections",
            "fail_emails",
            "late_answer",
            "seed",
        }
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ValidationError(f"unknown fault option(s): {', '.join(unknown)}")
        spec = cls(group=group, raw=dict(payload))
        spec.latency_ms = _number(payload, "latency_ms", 0, 0, 600_000)
        spec.jitter_ms = _number(payload, "jitter_ms", 0, 0, 600_000)
        if payload.get("timeout") is not None:
            spec.timeout = _number(payload, "timeout", 0, 0, 3600)
            if payload.get("timeout_count") is not None:
                spec.timeout_remaining = int(_number(payload, "timeout_count", 0, 0, 1_000_000))
        if payload.get("rate_limit_rps") is not None:
            spec.rate_limit_rps = _number(payload, "rate_limit_rps", 0, 0.001, 1_000_000)
            spec.rate_limit_burst = _number(payload, "rate_limit_burst", max(1.0, spec.rate_limit_rps), 1, 1e9)
        spec.rate_limit_status = int(_number(payload, "rate_limit_status", 429, 403, 429))
        if spec.rate_limit_status not in (403, 429):
            raise ValidationError("rate_limit_status: must be 403 or 429")
        if payload.get("user_rate_limit_rps") is not None:
            spec.user_rate_limit_rps = _number(payload, "user_rate_limit_rps", 0, 0.001, 1_000_000)
            spec.user_rate_limit_burst = _number(
                payload, "user_rate_limit_burst", max(1.0, spec.user_rate_limit_rps), 0, 1e9
            )
        if payload.get("rate_budget_per_second") is not None:
            budget = _number(payload, "rate_budget_per_second", 1, 1, 1_000_000)
            if budget != int(budget):
                raise ValidationError("rate_budget_per_second: must be a whole number")
            spec.rate_budget_per_second = int(budget)
        burst = payload.get("error_burst")
        if burst is not None:
            if not isinstance(burst, dict):
                raise ValidationError("error_burst: must be {status, count}")
            spec.error_burst_status = _status(burst.get("status", 503), "error_burst.status")
            spec.error_burst_remaining = int(_number(burst, "count", 1, 0, 1_000_000))
        spec.drop_remaining = int(_number(payload, "drop_connections", 0, 0, 1_000_000))
        if spec.drop_remaining and group not in DROPPABLE_GROUPS:
            raise ValidationError(f"drop_connections: only for {', '.join(DROPPABLE_GROUPS)} (whole HTTP requests)")
        spec.error_rate = _number(payload, "error_rate", 0.0, 0.0, 1.0)
        spec.error_rate_status = _status(payload.get("error_rate_status", 503), "error_rate_status")
        emails = payload.get("fail_emails")
        if emails is not None:
            if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
                raise ValidationError("fail_emails: must be a list of emails")
            spec.fail_emails = frozenset(e.lower() for e in emails)
        late = payload.get("late_answer")
        if late is not None:
            if not isinstance(late, dict):
                raise ValidationError("late_answer: must be {ms, count}")
            spec.late_answer_ms = _number(late, "ms", 0, 0, 600_000)
            if late.get("count") is not None:
                spec.late_answer_remaining = int(_number(late, "count", 1, 0, 1_000_000))
        spec.seed = int(_number(payload, "seed", 0, -(2**63), 2**63))
        spec.rng = random.Random(spec.seed)  # noqa: S311 - seeded on purpose: faults must be reproducible
        return spec

    def take_late_answer(self, email: str | None) -> float:
        """Seconds to hold this (already processed) answer; counts down `late_answer.count`."""
        if not self.late_answer_ms or self.late_answer_remaining == 0:
            return 0.0
        if self.fail_emails is not None and (email is None or email.lower() not in self.fail_emails):
            return 0.0
        if self.late_answer_remaining is not None:
            self.late_answer_remaining -= 1
        return self.late_answer_ms / 1000

    def describe(self) -> dict[str, Any]:
        data = dict(self.raw)
        if "error_burst" in data:
            data["error_burst"] = {"status": self.error_burst_status, "count": self.error_burst_remaining}
        if self.timeout_remaining is not None:
            data["timeout_count"] = self.timeout_remaining
        if "drop_connections" in data:
            data["drop_connections"] = self.drop_remaining
        return data

    def _bucket(self, key: str, rate: float, capacity: float, now: float) -> TokenBucket:
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = TokenBucket(rate, max(1.0, capacity), capacity, now)  # burst 0: starts empty
        return bucket

    def _within_window(self, key: str, now: float) -> bool:
        """Admit one request if the project's last second holds fewer than the budget (admitted ones count)."""
        log = self.windows.setdefault(key, deque())
        while log and log[0] <= now - 1.0:
            log.popleft()
        if len(log) >= (self.rate_budget_per_second or 0):
            return False
        log.append(now)
        return True

    def apply(
        self, decision: FaultDecision, email: str | None, project: str | None, now: float, *, errors: bool = True
    ) -> None:
        if self.fail_emails is not None and (email is None or email.lower() not in self.fail_emails):
            return
        decision.delay += self.latency_ms / 1000
        if self.jitter_ms:
            decision.delay += self.rng.uniform(0, self.jitter_ms) / 1000
        if self.timeout is not None and self.timeout_remaining != 0:
            if self.timeout_remaining is not None:
                self.timeout_remaining -= 1
            decision.timeout = max(decision.timeout or 0.0, self.timeout)
            return  # a request that times out uses up no burst, drop or budget
        if decision.error is not None or not errors:
            return
        if self.drop_remaining > 0:
            self.drop_remaining -= 1
            decision.error = FaultError("drop", 0)
            return
        if self.error_burst_remaining > 0:
            self.error_burst_remaining -= 1
            decision.error = FaultError("backend", self.error_burst_status)
            return
        if self.error_rate and self.rng.random() < self.error_rate:
            decision.error = FaultError("backend", self.error_rate_status)
            return
        if self.user_rate_limit_rps and email is not None:
            bucket = self._bucket(
                f"user:{project}:{email}",
                self.user_rate_limit_rps,
                self.user_rate_limit_burst if self.user_rate_limit_burst is not None else 1,
                now,
            )
            wait = bucket.take(now)
            if wait is not None:
                decision.error = FaultError("user_rate_limit", 403, max(1, math.ceil(wait)))
                return
        if self.rate_budget_per_second and not self._within_window(f"project:{project}", now):
            decision.error = FaultError("rate_limit", self.rate_limit_status, 1)
            return
        if self.rate_limit_rps:
            bucket = self._bucket(f"project:{project}", self.rate_limit_rps, self.rate_limit_burst or 1, now)
            wait = bucket.take(now)
            if wait is not None:
                decision.error = FaultError("rate_limit", self.rate_limit_status, max(1, math.ceil(wait)))


class FaultRegistry:
    """The active fault specs by group; callers hold the state lock."""

    def __init__(self) -> None:
        self.specs: dict[str, FaultSpec] = {}

    def set(self, payload: dict[str, Any]) -> FaultSpec:
        spec = FaultSpec.parse(payload)
        self.specs[spec.group] = spec
        return spec

    def clear(self, group: str | None = None) -> None:
        if group is None:
            self.specs.clear()
        else:
            self.specs.pop(group, None)

    def describe(self) -> dict[str, Any]:
        return {group: spec.describe() for group, spec in sorted(self.specs.items())}

    def late_answer(self, group: str, email: str | None) -> float:
        """Seconds to hold an answer the server already acted on (the group's spec and `*`)."""
        return sum(spec.take_late_answer(email) for key in (group, "*") if (spec := self.specs.get(key)))

    def evaluate(
        self, group: str, email: str | None, project: str | None, now: float, *, errors: bool = True
    ) -> FaultDecision:
        """Combine the group's spec and the `*` spec; `errors=False` applies only delays."""
        decision = FaultDecision()
        for key in (group, "*"):
            spec = self.specs.get(key)
            if spec is not None:
                spec.apply(decision, email, project, now, errors=errors)
        return decision


def _number(payload: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = payload.get(name, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{name}: must be a number")
    if not low <= value <= high:
        raise ValidationError(f"{name}: must be between {low} and {high}")
    return float(value)


def _status(value: Any, name: str) -> int:
    if value not in ERROR_STATUSES:
        raise ValidationError(f"{name}: must be one of {ERROR_STATUSES}")
    return int(value)
