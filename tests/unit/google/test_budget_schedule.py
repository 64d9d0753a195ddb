"""The one-budget schedule: no one-second window over the budget, batches sized to it, one adaptive rate."""

from __future__ import annotations

import bisect

import pytest
from support.clock import FakeTime

from driveguard.google.budget import WINDOW_SECONDS, LocalBudget, WindowSchedule


def max_in_any_second(bookings: list[tuple[float, int]], window: float = 1.0) -> int:
    """The most parts sent within any `window` seconds (every window ending at a send is checked)."""
    times = [t for t, _ in bookings]
    best = 0
    for j, (t, _) in enumerate(bookings):
        first = bisect.bisect_right(times, t - window)
        best = max(best, sum(n for _, n in bookings[first : j + 1]))
    return best


def test_a_lone_client_gets_the_whole_budget_in_batches_of_one_seconds_worth():
    t = FakeTime()
    budget = LocalBudget(3000, batch_size=100, clock=t.clock, sleep=t.sleep)  # 50 parts a second
    assert budget.parts_allowed() == 50, "a 100-part batch would burst past the budget: it is cut to 50"
    sends = []
    for _ in range(20):
        budget.acquire(budget.parts_allowed())
        sends.append((t.now, 50))
    assert [round(s, 2) for s, _ in sends[:3]] == [0.0, round(WINDOW_SECONDS, 2), round(2 * WINDOW_SECONDS, 2)]
    assert t.now == pytest.approx(19 * WINDOW_SECONDS)  # 1000 parts: 50 per window, no idle window
    assert max_in_any_second(sends) == 50


def test_small_sends_fill_the_window_then_wait_for_its_oldest_to_leave():
    schedule = WindowSchedule()
    times = [schedule.book(0.0, 10, per_second=50) for _ in range(6)]
    assert times == [0.0, 0.0, 0.0, 0.0, 0.0, pytest.approx(WINDOW_SECONDS)]
    # 10 parts sit in the window at 1.03, so 45 more wait until those leave too.
    assert schedule.book(0.5, 45, per_second=50) == pytest.approx(2 * WINDOW_SECONDS)
    assert schedule.book(0.5, 5, per_second=50) == pytest.approx(2 * WINDOW_SECONDS), "5 still fit beside the 45"


def test_interleaved_clients_never_exceed_the_budget_in_any_second():
    schedule = WindowSchedule()
    sizes = [7, 50, 3, 25, 25, 1, 49, 50, 12, 38, 20, 30] * 10
    now, sends = 0.0, []
    for i, n in enumerate(sizes):
        now += 0.013 * (i % 5)  # clients arrive at scattered times, often before the previous send is due
        at = schedule.book(now, n, per_second=50)
        assert not sends or at >= sends[-1][0], "bookings are monotone"
        sends.append((at, n))
    assert max_in_any_second(sends) == 50


def test_a_rate_limit_cuts_the_rate_once_per_window_recovers_linearly_and_never_starves():
    schedule = WindowSchedule()
    assert schedule.throttle(10.0) is True and schedule.multiplier == 0.7
    assert schedule.throttle(10.5) is False and schedule.multiplier == 0.7, "one overrun's 429s count once"
    assert schedule.allowance(50, schedule.multiplier) == 35
    schedule.recover(50, per_second=50)  # one second's worth of clean parts: +0.2 (back in 5 s)
    assert schedule.multiplier == pytest.approx(0.9)
    schedule.recover(10_000, per_second=50)
    assert schedule.multiplier == 1.0
    for k in range(20):
        schedule.throttle(100.0 + 2 * k)
    assert schedule.multiplier == 0.05 and schedule.allowance(50, schedule.multiplier) == 2
    assert schedule.allowance(10, 0.05) == 1, "at least one part per window"


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="rate_per_minute must be positive"):
        LocalBudget(0)
    with pytest.raises(ValueError, match="at least one part"):
        WindowSchedule().book(0.0, 0, per_second=50)
