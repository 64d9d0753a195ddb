"""A controllable clock for `clock=` parameters: starts at real time, moves only when told."""

from __future__ import annotations

import datetime as dt
import threading


class FakeClock:
    """Callable like `driveguard.clock.utcnow`; thread-safe so API threads and tests share it."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime.now(dt.UTC).replace(microsecond=0)
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0, **delta: float) -> dt.datetime:
        with self._lock:
            self._now += dt.timedelta(seconds=seconds, **delta)
            return self._now

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            self._now = when


class OffsetClock:
    """Real time plus an adjustable offset: time keeps flowing (HTTP timeouts, id_token iat stay sane)
    while tests jump ahead together with the emulator's own clock."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += dt.timedelta(seconds=seconds)


class FakeTime:
    """A monotonic clock and a `sleep` that only moves it: rate limiters and backoff run instantly
    while tests still see every pause they asked for."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class SharedFakeTime(FakeTime):
    """`FakeTime` for several threads at once: a sleep moves the one clock to the sleeper's wake-up
    time (never backwards), as real time would for threads sleeping side by side."""

    def __init__(self, start: float = 0.0) -> None:
        super().__init__()
        self.now = start
        self._lock = threading.Lock()
        self._read: dict[int, float] = {}

    def clock(self) -> float:
        with self._lock:
            self._read[threading.get_ident()] = self.now
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            wake = self._read.get(threading.get_ident(), self.now) + seconds
            self.now = max(self.now, wake)
