"""One Google request budget for the whole installation, paced so no 1-second window exceeds it.

Google counts every batch part against a per-minute quota, and answers 429 as soon as a burst
goes over its per-second share. A per-process token bucket with a static share of the quota
either overruns (uncoordinated bursts) or idles (fewer shards than pool slots), so the budget is
kept in one place every task reaches: a row of `google_rate_budget` in PostgreSQL, locked for the
few microseconds a reservation takes (`SharedBudget`). `LocalBudget` is the same schedule kept in
memory, for one process that has no database at hand (e.g. one `about` call after sign-in).

The schedule (`WindowSchedule`) is a sliding-window log: each send of `n` parts is booked at a
time `s` no earlier than the previous booking, chosen so the parts booked in `(s - window, s]`
never exceed the budget. Bookings are monotone, so every window is checked when its last send is
booked: no 1-second window ever holds more than the budget. Batches are sized to what one window
allows (`parts_allowed`), never more, so nothing bursts past the budget.

The rate adapts for everyone at once: a rate-limit answer cuts the shared multiplier by 30 % (once
per window, so the 429s of one overrun count once), clean parts raise it additively back to 1.0
within 5 s of clean sending (steady recovery; halving with a 10 s climb cost a third of the
pace when a neighbour bursts now and then), and it never drops below `MIN_MULTIPLIER` (at least
one part per window, never starvation). Times are epoch seconds from an injectable clock (processes on one machine share
it; across machines NTP keeps them within milliseconds), sleep is injectable too.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from sqlalchemy import Engine

from driveguard.google.sql import load_sql

T = TypeVar("T")

DRIVE_BUDGET = "google_drive"
MIN_MULTIPLIER = 0.05
THROTTLE_FACTOR = 0.7
RECOVERY_SECONDS = 5.0
"""Clean parts worth this many seconds of the full budget take the multiplier from 0 back to 1."""
WINDOW_SECONDS = 1.04
"""Google's window is one second; 40 ms of margin absorb the jitter between a send's booked time and
its arrival: half for waking up late (beyond that a send gives up its slot, `LATE_SECONDS`), half for
the way there. The margin costs 4 % of the budget (it was 100 ms, 10 %, before sends gave up late slots
and were booked after their batch was built)."""
LATE_SECONDS = 0.02
"""A send that wakes up this much after its booked time (a loaded machine did not schedule it) gives
its slot up and books again: sent late, it would share a second with the sends booked after it."""
MAX_LEAD_SECONDS = 0.5
"""A rebooked send books at most this far ahead of now (the delay it saw, so its next wake-up is on time)."""
MAX_REBOOKINGS = 3
"""A send that woke up late this many times in a row goes anyway (no starvation on a loaded machine)."""


class RateLimiter(Protocol):
    """What the Drive client needs from a limiter (`SharedBudget`, `LocalBudget`, `TokenBucket`)."""

    def parts_allowed(self) -> int: ...

    def acquire(self, n: int = 1) -> float: ...

    def throttle(self) -> None: ...

    def recover(self, parts: int = 1) -> None: ...


@dataclass
class WindowSchedule:
    """The bookings of the last window and the shared rate multiplier (pure: no I/O, no clock)."""

    multiplier: float = 1.0
    last_throttle_at: float | None = None
    sent_at: list[float] = field(default_factory=list)
    sent_parts: list[int] = field(default_factory=list)

    @staticmethod
    def allowance(per_second: float, multiplier: float) -> int:
        """Parts one window may carry at this multiplier: at least one."""
        return max(1, math.floor(per_second * multiplier + 1e-9))

    def book(self, now: float, n: int, per_second: float, window: float = WINDOW_SECONDS) -> float:
        """Book `n` parts at the earliest time >= now that keeps every window within the budget.

        A send larger than one window's allowance (the multiplier dropped after it was sized) goes
        out alone in an otherwise empty window."""
        if n <= 0:
            raise ValueError("a booking needs at least one part")
        cap = self.allowance(per_second, self.multiplier)
        start = max(now, self.sent_at[-1]) if self.sent_at else now
        i = 0
        while i < len(self.sent_at) and self.sent_at[i] <= start - window:
            i += 1
        held = sum(self.sent_parts[i:])
        while i < len(self.sent_at) and held + n > cap:
            start = max(start, self.sent_at[i] + window)
            held -= self.sent_parts[i]
            i += 1
        self.sent_at.append(start)
        self.sent_parts.append(n)
        keep = next((j for j, t in enumerate(self.sent_at) if t > start - window), len(self.sent_at))
        del self.sent_at[:keep], self.sent_parts[:keep]
        return start

    def cancel(self, at: float, n: int) -> None:
        """Give up the booking of `n` parts at `at` (a late send): the bookings after it stay valid,
        since a window only holds fewer parts without it."""
        for i in range(len(self.sent_at) - 1, -1, -1):
            if self.sent_at[i] == at and self.sent_parts[i] == n:
                del self.sent_at[i], self.sent_parts[i]
                return

    def throttle(self, now: float, window: float = WINDOW_SECONDS) -> bool:
        """Cut the multiplier unless it was already cut within the last window."""
        if self.last_throttle_at is not None and now - self.last_throttle_at < window:
            return False
        self.multiplier = max(MIN_MULTIPLIER, self.multiplier * THROTTLE_FACTOR)
        self.last_throttle_at = now
        return True

    def recover(self, parts: int, per_second: float) -> None:
        """Clean parts give the rate back linearly (additive increase), up to 1.0."""
        step = parts / (per_second * RECOVERY_SECONDS)
        self.multiplier = min(1.0, self.multiplier + step)


@dataclass
class BudgetStats:
    acquired: int = 0
    waits: int = 0
    waited_seconds: float = 0.0
    throttles: int = 0
    rebookings: int = 0


class _Budget:
    """Booking, sleeping until the booked time, and the adaptive rate over some store."""

    def __init__(
        self,
        rate_per_minute: float,
        *,
        batch_size: int = 100,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        window: float = WINDOW_SECONDS,
        late: float = LATE_SECONDS,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        self.per_second = rate_per_minute / 60.0
        self.batch_size = batch_size
        self.clock = clock
        self.sleep = sleep
        self.window = window
        self.late = late
        self.stats = BudgetStats()

    def _with_schedule(self, change: Callable[[WindowSchedule], T]) -> T:
        raise NotImplementedError

    @property
    def multiplier(self) -> float:
        return self._with_schedule(lambda s: s.multiplier)

    def parts_allowed(self) -> int:
        """How many parts one batch may carry now: what one window allows, at most the batch size."""
        return min(self.batch_size, self._with_schedule(lambda s: s.allowance(self.per_second, s.multiplier)))

    def reserve(self, n: int, lead: float = 0.0) -> float:
        """Book `n` parts, at least `lead` seconds from now; returns the epoch second at which they may
        be sent. "Now" is read once the schedule is locked: waiting for the lock is not a late send."""
        return self._with_schedule(lambda s: s.book(self.clock() + lead, n, self.per_second, self.window))

    def acquire(self, n: int = 1) -> float:
        """Book `n` parts and sleep until their time; returns the seconds waited.

        Woken up more than `late` seconds after the booked time, the send gives its slot up and
        books again (at most MAX_REBOOKINGS times), so a late send never crowds the next window."""
        if n <= 0:
            return 0.0
        waited = lead = 0.0
        for attempt in range(MAX_REBOOKINGS + 1):
            at = self.reserve(n, lead)
            wait = at - self.clock()
            if wait > 0:
                self.sleep(wait)
                waited += wait
            late = self.clock() - at
            if attempt == MAX_REBOOKINGS or late <= self.late:
                break
            self._with_schedule(lambda s, at=at: s.cancel(at, n))
            self.stats.rebookings += 1
            lead = min(late, MAX_LEAD_SECONDS)  # the delay just seen (a slow commit, a busy CPU) is booked ahead
        self.stats.acquired += n
        if waited > 0:
            self.stats.waits += 1
            self.stats.waited_seconds += waited
        return waited

    def throttle(self) -> None:
        """Google said "slow down": cut the shared rate (once per window for everyone)."""
        now = self.clock()
        if self._with_schedule(lambda s: s.throttle(now, self.window)):
            self.stats.throttles += 1

    def recover(self, parts: int = 1) -> None:
        """`parts` came back without a rate-limit answer: give some rate back."""
        if parts > 0:
            self._with_schedule(lambda s: s.recover(parts, self.per_second) if s.multiplier < 1.0 else None)


class LocalBudget(_Budget):
    """The schedule in this process's memory, shared by its threads."""

    def __init__(self, rate_per_minute: float, **kwargs: object) -> None:
        super().__init__(rate_per_minute, **kwargs)  # type: ignore[arg-type]
        self._schedule = WindowSchedule()
        self._lock = threading.Lock()

    def _with_schedule(self, change: Callable[[WindowSchedule], T]) -> T:
        with self._lock:
            return change(self._schedule)


class SharedBudget(_Budget):
    """The schedule in one `google_rate_budget` row: every task, process and worker books from it."""

    def __init__(self, engine: Engine, rate_per_minute: float, *, name: str = DRIVE_BUDGET, **kwargs: object) -> None:
        super().__init__(rate_per_minute, **kwargs)  # type: ignore[arg-type]
        self.engine = engine
        self.name = name

    def _with_schedule(self, change: Callable[[WindowSchedule], T]) -> T:
        with self.engine.begin() as conn:
            conn.execute(load_sql("ensure_rate_budget"), {"name": self.name})
            row = conn.execute(load_sql("lock_rate_budget"), {"name": self.name}).one()
            schedule = WindowSchedule(
                multiplier=row.multiplier,
                last_throttle_at=row.last_throttle_at,
                sent_at=list(row.sent_at),
                sent_parts=list(row.sent_parts),
            )
            before = (schedule.multiplier, schedule.last_throttle_at, len(schedule.sent_at))
            result = change(schedule)
            if (schedule.multiplier, schedule.last_throttle_at, len(schedule.sent_at)) != before or (
                schedule.sent_at and schedule.sent_at != list(row.sent_at)
            ):
                conn.execute(
                    load_sql("update_rate_budget"),
                    {
                        "name": self.name,
                        "multiplier": schedule.multiplier,
                        "last_throttle_at": schedule.last_throttle_at,
                        "sent_at": schedule.sent_at,
                        "sent_parts": schedule.sent_parts,
                    },
                )
            return result
