"""Growth and forecasts on synthetic series whose answers are known in advance."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from driveguard.storage.trends import (
    Forecast,
    TrendOptions,
    UsagePoint,
    fit_trend,
    forecast,
    theil_sen_slope,
    threshold_bytes,
)

GIB = 1024**3
T0 = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
LIMIT = 100 * GIB


def hourly(days: float, start_bytes: float, per_day: float, *, start: dt.datetime = T0) -> list[UsagePoint]:
    hours = int(days * 24)
    return [UsagePoint(start + dt.timedelta(hours=h), round(start_bytes + per_day * h / 24)) for h in range(hours + 1)]


def outlook(points: list[UsagePoint], *, limit: int | None = LIMIT, now: dt.datetime | None = None, **kw) -> Forecast:
    newest = max(p.at for p in points) if points else T0
    return forecast(points, limit_bytes=limit, warning_percent=80, critical_percent=95, now=now or newest, **kw)


def test_linear_growth_gives_the_exact_rate_and_the_days_to_each_mark():
    points = hourly(10, 20 * GIB, 2 * GIB)  # 20 GiB -> 40 GiB over 10 days
    result = outlook(points)
    assert result.trend.status == "ok" and result.trend.reason is None
    assert result.trend.bytes_per_day == pytest.approx(2 * GIB, rel=1e-6)
    assert result.trend.bytes_per_week == pytest.approx(14 * GIB, rel=1e-6)
    # From 40 GiB at 2 GiB/day: 80 GiB in 20 days, 95 GiB in 27.5 days, 100 GiB in 30 days.
    newest = points[-1].at
    assert (result.warning.status, result.warning.days) == ("forecast", pytest.approx(20, abs=0.01))
    assert result.warning.date == (newest + dt.timedelta(days=20)).date()
    assert result.warning.threshold_bytes == 80 * GIB
    assert result.critical.days == pytest.approx(27.5, abs=0.01)
    assert result.full.days == pytest.approx(30, abs=0.01)
    assert result.full.date == dt.date(2026, 11, 10)


def test_days_count_from_now_when_the_newest_point_is_older():
    points = hourly(10, 20 * GIB, 2 * GIB)
    later = points[-1].at + dt.timedelta(days=5)
    assert outlook(points, now=later).warning.days == pytest.approx(15, abs=0.01)
    assert outlook(points, now=later + dt.timedelta(days=60)).warning.days == 0.0


def test_flat_usage_has_no_forecast():
    result = outlook(hourly(10, 30 * GIB, 0))
    assert (result.trend.status, result.trend.reason) == ("unknown", "flat")
    assert result.trend.bytes_per_day == 0
    assert {(e.status, e.reason) for e in result.etas} == {("unknown", "flat")}


def test_shrinking_usage_has_no_forecast():
    result = outlook(hourly(10, 60 * GIB, -1 * GIB))
    assert (result.trend.status, result.trend.reason) == ("unknown", "shrinking")
    assert result.trend.bytes_per_day == pytest.approx(-GIB, rel=1e-6)
    assert all(e.status == "unknown" and e.reason == "shrinking" for e in result.etas)


def test_a_step_jump_resets_the_trend_and_the_fit_starts_after_it():
    before = hourly(10, 10 * GIB, 1 * GIB)  # 10 -> 20 GiB
    jump_at = before[-1].at + dt.timedelta(hours=1)
    after = hourly(6, 45 * GIB, 3 * GIB, start=jump_at)  # +25 GiB at once, then 3 GiB/day
    result = outlook(before + after)
    assert result.trend.status == "ok"
    assert result.trend.level_shift_at == jump_at
    assert result.trend.fitted_from == jump_at
    assert result.trend.points == len(after)
    assert result.trend.bytes_per_day == pytest.approx(3 * GIB, rel=1e-6)
    # 63 GiB now at 3 GiB/day: 80 GiB in 17 / 3 days.
    assert result.warning.days == pytest.approx(17 / 3, abs=0.01)


def test_a_jump_with_too_little_history_after_it_is_unknown():
    before = hourly(10, 10 * GIB, 1 * GIB)
    jump_at = before[-1].at + dt.timedelta(hours=1)
    after = hourly(1, 45 * GIB, 3 * GIB, start=jump_at)  # one day after the jump: under the 2-day minimum
    result = outlook(before + after)
    assert (result.trend.status, result.trend.reason) == ("unknown", "level-shift")
    assert result.trend.level_shift_at == jump_at
    assert all(e.status == "unknown" and e.reason == "level-shift" for e in result.etas)


def test_a_clean_up_also_resets_the_trend():
    before = hourly(10, 50 * GIB, 1 * GIB)
    drop_at = before[-1].at + dt.timedelta(hours=1)
    after = hourly(5, 20 * GIB, 2 * GIB, start=drop_at)
    result = outlook(before + after)
    assert result.trend.level_shift_at == drop_at
    assert result.trend.bytes_per_day == pytest.approx(2 * GIB, rel=1e-6)


def test_a_single_spike_is_an_outlier_not_a_level_shift():
    points = hourly(10, 20 * GIB, 2 * GIB)
    spiked = points[100]
    points[100] = UsagePoint(spiked.at, spiked.used_bytes + 30 * GIB)
    result = outlook(points)
    assert result.trend.level_shift_at is None
    assert result.trend.points == len(points)
    assert result.trend.bytes_per_day == pytest.approx(2 * GIB, rel=0.01)


def test_gaps_and_downsampled_days_do_not_bend_the_rate():
    # Older history downsampled to one point a day, then hourly points with a three-day outage.
    daily = [UsagePoint(T0 + dt.timedelta(days=d), 10 * GIB + d * GIB) for d in range(14)]
    recent_start = T0 + dt.timedelta(days=14)
    recent = [
        p
        for p in hourly(7, 24 * GIB, 1 * GIB, start=recent_start)
        if not 48 <= (p.at - recent_start).total_seconds() / 3600 < 120
    ]
    result = outlook(daily + recent)
    assert result.trend.status == "ok" and result.trend.level_shift_at is None
    assert result.trend.bytes_per_day == pytest.approx(GIB, rel=1e-6)
    assert result.trend.points == len(daily) + len(recent)


def test_noisy_linear_growth_is_found_within_tolerance():
    rng = random.Random(13)  # noqa: S311 - synthetic noise, not security
    noise = 0.15 * GIB  # a day's growth is 0.5 GiB; each reading wobbles by up to 0.15 GiB
    points = [
        UsagePoint(p.at, round(p.used_bytes + rng.uniform(-noise, noise))) for p in hourly(21, 30 * GIB, 0.5 * GIB)
    ]
    # A few wild readings (a Drive hiccup) on top.
    for i in (50, 200, 333):
        points[i] = UsagePoint(points[i].at, points[i].used_bytes + 5 * GIB)
    result = outlook(points)
    assert result.trend.status == "ok" and result.trend.level_shift_at is None
    assert result.trend.bytes_per_day == pytest.approx(0.5 * GIB, rel=0.05)
    # 40.5 GiB now: 80 GiB in 79 days at 0.5 GiB a day.
    assert result.warning.days == pytest.approx(79, rel=0.06)


def test_unlimited_quota_has_growth_but_no_threshold_or_full():
    result = outlook(hourly(10, 500 * GIB, 4 * GIB), limit=None)
    assert result.trend.status == "ok"
    assert result.trend.bytes_per_day == pytest.approx(4 * GIB, rel=1e-6)
    for eta in result.etas:
        assert (eta.status, eta.reason, eta.threshold_bytes, eta.days, eta.date) == (
            "unknown", "unlimited", None, None, None,
        )  # fmt: skip


def test_thresholds_already_passed_are_reached_and_the_rest_forecast():
    points = hourly(10, 75 * GIB, 1 * GIB)  # 85 GiB now: past warning (80), before critical (95)
    result = outlook(points)
    assert (result.warning.status, result.warning.days, result.warning.date) == (
        "reached", 0.0, points[-1].at.date(),
    )  # fmt: skip
    assert result.critical.status == "forecast" and result.critical.days == pytest.approx(10, abs=0.01)
    assert result.full.days == pytest.approx(15, abs=0.01)


def test_reached_holds_even_when_the_trend_is_unknown():
    result = outlook(hourly(10, 97 * GIB, 0))  # flat at 97 %
    assert [e.status for e in result.etas] == ["reached", "reached", "unknown"]
    assert result.full.reason == "flat"


@pytest.mark.parametrize(
    ("points", "reason"),
    [
        ([], "no-data"),
        ([UsagePoint(T0, GIB), UsagePoint(T0 + dt.timedelta(days=3), 2 * GIB)], "too-few-points"),
        (hourly(1, 10 * GIB, 5 * GIB), "too-short-span"),  # 25 points, but one day
    ],
)
def test_too_little_history_is_unknown(points: list[UsagePoint], reason: str):
    result = outlook(points, now=T0 + dt.timedelta(days=5))
    assert (result.trend.status, result.trend.reason) == ("unknown", reason)
    assert all(e.status == "unknown" and e.reason == reason for e in result.etas)


def test_only_the_window_is_fitted():
    old = hourly(30, 10 * GIB, 0.1 * GIB)
    recent = hourly(10, old[-1].used_bytes + 1 * GIB / 24, 1 * GIB, start=old[-1].at + dt.timedelta(hours=1))
    result = outlook(old + recent, options=TrendOptions(window_days=10))
    assert result.trend.fitted_from == recent[0].at  # the older, slower month is outside the window
    assert result.trend.bytes_per_day == pytest.approx(GIB, rel=0.01)


def test_very_slow_growth_beyond_the_horizon_is_unknown():
    result = outlook(hourly(10, 10 * GIB, 20 * 1024 * 1024), options=TrendOptions(horizon_days=365))
    assert result.trend.status == "ok"
    assert {(e.status, e.reason) for e in result.etas} == {("unknown", "beyond-horizon")}


def test_long_series_subsample_pairs_and_stay_exact_on_a_line():
    xs = [float(i * 3600) for i in range(5000)]
    ys = [7.0 + 0.25 * x for x in xs]
    assert theil_sen_slope(xs, ys, pairs_per_point=16, full_up_to=200) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        theil_sen_slope([1.0, 1.0], [2.0, 3.0])


def test_the_threshold_is_the_first_byte_at_or_above_the_percentage():
    assert threshold_bytes(1000, 80) == 800
    assert threshold_bytes(1001, 80) == 801  # 800.8 rounds up
    assert fit_trend([UsagePoint(T0, 1)]).reason == "too-few-points"


def test_a_long_gap_is_not_a_jump():
    # Eleven days without data, then usage sits lower than the old pace predicts: a slower stretch
    # inside the gap, not a sudden change that could be dated.
    early = hourly(3, 10 * GIB, 2 * GIB)
    late = hourly(5, 20 * GIB, 2 * GIB, start=early[-1].at + dt.timedelta(days=11))
    result = outlook(early + late, options=TrendOptions(window_days=60))
    assert result.trend.level_shift_at is None
    assert result.trend.points == len(early) + len(late)
    assert result.trend.bytes_per_day == pytest.approx(2 * GIB, rel=0.01)
