"""A client-side token bucket so Driveguard stays under Google's per-minute quota.

Every request counts, including each part of a batch (Google bills batch parts one by one).
`acquire(n)` waits until the bucket holds `min(n, capacity)` tokens and then takes all `n`,
letting the balance go negative: a 100-part batch goes out at once and the following ones
wait for the debt to be repaid, so the long-run rate never exceeds `rate_per_minute`.

The rate adapts (AIMD): `throttle()` after a batch that drew rate-limit answers cuts the rate,
`recover()` after a clean batch gives some of it back, never above the configured ceiling.
Clock and sleep are injectable so fault suites run without real waiting.

This bucket is per process and lets a whole batch burst out; the pipelines use the installation's
one shared budget instead (`driveguard.google.budget`), which paces every part within each
one-second window.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LimiterStats:
    acquired: int = 0
    waits: int = 0
    waited_seconds: float = 0.0
    throttles: int = 0


@dataclass
class TokenBucket:
    rate_per_minute: float
    capacity: float | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    min_rate_per_minute: float | None = None
    throttle_factor: float = 0.7
    recover_fraction: float = 0.05
    stats: LimiterStats = field(default_factory=LimiterStats)

    def __post_init__(self) -> None:
        if self.rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        self.ceiling = float(self.rate_per_minute)
        self.rate = self.ceiling / 60.0  # tokens per second
        if self.capacity is None:
            # One second of budget, at least one token and at most one full batch.
            self.capacity = max(1.0, min(100.0, self.rate))
        self.floor = (self.min_rate_per_minute or max(1.0, self.ceiling / 20)) / 60.0
        self.tokens = float(self.capacity)
        self.updated = self.clock()
        self._lock = threading.Lock()

    @property
    def current_rate_per_minute(self) -> float:
        return self.rate * 60.0

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(float(self.capacity or 1), self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def acquire(self, n: int = 1) -> float:
        """Block until `n` requests may be sent; returns the seconds spent waiting."""
        if n <= 0:
            return 0.0
        waited = 0.0
        need = min(float(n), float(self.capacity or 1))
        while True:
            with self._lock:
                now = self.clock()
                self._refill(now)
                if self.tokens + 1e-9 >= need:  # tolerate float dust, or a wait could round to zero
                    self.tokens -= n
                    self.stats.acquired += n
                    if waited:
                        self.stats.waits += 1
                        self.stats.waited_seconds += waited
                    return waited
                wait = max((need - self.tokens) / self.rate, 1e-6)
            self.sleep(wait)
            waited += wait

    def throttle(self) -> None:
        """Google said "slow down": cut the rate (multiplicative decrease) and drop banked tokens."""
        with self._lock:
            self.rate = max(self.floor, self.rate * self.throttle_factor)
            self.tokens = min(self.tokens, 0.0)
            self.stats.throttles += 1

    def parts_allowed(self) -> int:
        """No sizing: a whole batch goes out once enough of it is banked (see `budget` for pacing)."""
        return 100

    def recover(self, parts: int = 1) -> None:
        """A clean batch: give back a little of the rate (additive increase) up to the ceiling."""
        with self._lock:
            self.rate = min(self.ceiling / 60.0, self.rate + self.ceiling / 60.0 * self.recover_fraction)
