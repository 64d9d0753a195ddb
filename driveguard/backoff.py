"""How long to wait before trying again: the one backoff policy of the whole product.

Capped exponential backoff with jitter. Retry `n` (0 for the first retry) waits a random point
between `(1 - jitter)` and all of `min(cap, base * 2**n)`; a server's Retry-After is a floor,
never beyond the cap. The Google token endpoint, Drive batches, Reports pages and the outbox's
next-attempt time all use it, each with its own base, cap and jitter. The random source is
injectable so tests can assert exact schedules; nothing here sleeps.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

FULL_JITTER = 1.0
"""Anywhere in [0, ceiling]: the shortest waits on average, for a person waiting on a sign-in."""
EQUAL_JITTER = 0.5
"""In [ceiling/2, ceiling]: always some breathing room, for background work hitting a quota."""


@dataclass(frozen=True)
class Backoff:
    base_seconds: float = 1.0
    cap_seconds: float = 60.0
    jitter: float = EQUAL_JITTER
    """The random share of each ceiling (0 = no jitter, 1 = full jitter)."""
    max_attempts: int = 4
    """Tries in all, the first one included."""
    rng: Callable[[], float] = random.random
    """Uniform in [0, 1); not a secret, only spread."""

    def delay(self, attempt: int, rng: Callable[[], float] | None = None, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0 = the first retry); `rng` overrides the
        policy's random source for this one call."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt))
        wait = ceiling * (1 - self.jitter) + ceiling * self.jitter * (rng or self.rng)()
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap_seconds))
        return wait
