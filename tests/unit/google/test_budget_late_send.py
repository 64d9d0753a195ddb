"""A send that wakes up late gives its slot up: sent late it would share a second with the next send."""

from __future__ import annotations

import itertools

import pytest
from support.clock import FakeTime

from driveguard.google.budget import LATE_SECONDS, MAX_REBOOKINGS, WINDOW_SECONDS, LocalBudget


class LateWaker(FakeTime):
    """A sleep that oversleeps by `late` seconds the first `times` times (a loaded machine)."""

    def __init__(self, late: float, times: int) -> None:
        super().__init__()
        self.late, self.times = late, times

    def sleep(self, seconds: float) -> None:
        extra = self.late if self.times > 0 else 0.0
        self.times -= 1
        super().sleep(seconds + extra)


def test_a_send_woken_late_books_again_and_every_send_still_keeps_a_window_to_itself():
    t = LateWaker(late=0.2, times=1)
    budget = LocalBudget(3000, batch_size=50, clock=t.clock, sleep=t.sleep)  # 50 parts a second
    sent = []
    for _ in range(3):
        budget.acquire(50)
        sent.append(t.now)
    assert budget.stats.rebookings == 1
    # The second send woke up 0.2 s late: it went at its new booking instead, and the third one a
    # whole window after it, where sent at its first booking it would have arrived 0.84 s before the third.
    assert all(b - a >= WINDOW_SECONDS - 1e-9 for a, b in itertools.pairwise(sent))
    assert sent[1] == pytest.approx(WINDOW_SECONDS + 0.2 + 0.2), "booked again, the seen delay ahead of now"


def test_a_send_that_keeps_waking_late_goes_anyway_and_a_prompt_one_never_books_again():
    t = LateWaker(late=LATE_SECONDS * 2, times=100)
    budget = LocalBudget(3000, batch_size=50, clock=t.clock, sleep=t.sleep)
    budget.acquire(50)  # nothing booked before it: sent at once, no sleep, not late
    assert budget.stats.rebookings == 0
    budget.acquire(50)
    assert budget.stats.rebookings == MAX_REBOOKINGS, "no starvation: it gives up at most MAX_REBOOKINGS slots"
    assert budget.stats.acquired == 100
