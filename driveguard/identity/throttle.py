"""One throttle for everything an anonymous caller can repeat cheaply: admin password sign-ins,
Google sign-in starts (`GET /auth/login` writes a login state) and callbacks.

Attempts are counted in PostgreSQL before the work they ask for (verifying a password, writing a
login state), one upsert per bucket under the bucket's row lock, so parallel attempts cannot all
see the same count. Several buckets (per user name and address, per address, per user name) are
taken in one transaction in a fixed order: all or none. Past a bucket's free attempts each attempt
makes the next one wait, doubling up to a cap: the real admin behind an address an attacker
shares is delayed by at most the cap per attempt, never locked out for good. A refused attempt is
not counted and does not extend the wait.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import Engine

from driveguard.clock import Clock, utcnow
from driveguard.db.engine import transaction
from driveguard.identity.sql import load_sql

PRUNE_EVERY = dt.timedelta(minutes=10)
STALE_AFTER = dt.timedelta(hours=1)
"""Longer than every policy's window: a bucket this old holds nothing that still counts."""
UNKNOWN_ADDRESS = "unknown"
"""Requests without a known client address share one bucket."""


@dataclass(frozen=True)
class ThrottlePolicy:
    """`free` attempts per `window`; from then on a wait of `base_seconds` doubling up to `max_seconds`."""

    name: str
    free: int
    window: dt.timedelta
    base_seconds: float
    max_seconds: float

    def bucket(self, *parts: str | None) -> str:
        return ":".join([self.name, *((part or UNKNOWN_ADDRESS)[:180] for part in parts)])


ADMIN_PASSWORD_PAIR = ThrottlePolicy("admin-password", 10, dt.timedelta(minutes=15), 2.0, 60.0)
"""One admin user name from one address: 10 tries, then at most one a minute."""
ADMIN_PASSWORD_ADDRESS = ThrottlePolicy("admin-password-address", 50, dt.timedelta(minutes=15), 2.0, 60.0)
"""One address across user names (spraying names)."""
ADMIN_PASSWORD_ACCOUNT = ThrottlePolicy("admin-password-account", 100, dt.timedelta(minutes=15), 2.0, 60.0)
"""One user name across addresses (a distributed guess at one admin)."""
SIGNIN_START = ThrottlePolicy("signin-start", 30, dt.timedelta(minutes=10), 1.0, 30.0)
"""`GET /auth/login` per address: each writes a login state."""
SIGNIN_CALLBACK = ThrottlePolicy("signin-callback", 30, dt.timedelta(minutes=10), 1.0, 30.0)
"""Failed `GET /auth/callback` per address (a good callback gives its attempt back)."""


class Throttled(Exception):
    """The attempt was refused before any work; `retry_after` whole seconds until the next is allowed."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"throttled; retry after {retry_after} s")


class Throttle:
    """Take, forgive and clear attempts in the shared `request_throttle` table."""

    def __init__(self, engine: Engine, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock
        self._next_prune: dt.datetime | None = None

    def attempt(self, *slots: tuple[ThrottlePolicy, str]) -> None:
        """Count one attempt in every (policy, bucket), or raise Throttled and count nothing."""
        now = self.clock()
        self._prune(now)
        with transaction(self.engine) as db:
            for policy, bucket in sorted(slots, key=lambda slot: slot[1]):  # one lock order: no deadlock
                params = {
                    "bucket": bucket,
                    "now": now,
                    "window_start": now - policy.window,
                    "window_end": now + policy.window,
                    "window_seconds": policy.window.total_seconds(),
                    "free": policy.free,
                    "base_seconds": policy.base_seconds,
                    "max_seconds": policy.max_seconds,
                }
                if db.execute(load_sql("take_throttle_slot"), params).first() is None:
                    wait_until = db.execute(load_sql("throttle_wait_until"), {"bucket": bucket}).scalar_one()
                    # Raising rolls the transaction back: the buckets taken before this one are given back.
                    raise Throttled(max(1, math.ceil((wait_until - now).total_seconds())))

    def _prune(self, now: dt.datetime) -> None:
        """Every PRUNE_EVERY (per process), drop buckets nobody waits on any more, so names and
        addresses tried once do not pile up (an indexed delete; no other job needed)."""
        if self._next_prune is not None and self._next_prune > now >= self._next_prune - PRUNE_EVERY:
            return  # (a clock set back also prunes)
        self._next_prune = now + PRUNE_EVERY
        with transaction(self.engine) as db:
            db.execute(load_sql("delete_stale_throttle_buckets"), {"before": now - STALE_AFTER, "now": now})

    def forgive(self, bucket: str) -> None:
        """Give one counted attempt back (it turned out to be legitimate)."""
        with transaction(self.engine) as db:
            db.execute(load_sql("forgive_throttle_attempt"), {"bucket": bucket})

    def clear(self, bucket: str) -> None:
        """Forget a bucket entirely (its owner proved who they are)."""
        with transaction(self.engine) as db:
            db.execute(load_sql("clear_throttle_bucket"), {"bucket": bucket})
