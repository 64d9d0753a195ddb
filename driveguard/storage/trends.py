"""Growth and forecast from one account's usage history. Pure: no database, no clock.

Growth is a robust slope (Theil-Sen: the median of the slopes between pairs of points) over a
recent window, so gaps, days downsampled to one row and single outliers do not bend it the way a
two-point difference would. Long windows subsample the pairs (each point against `pairs_per_point`
partners spread over the rest of the window), which keeps the fit O(n·k).

A sudden jump (a large upload or a clean-up) is a level shift, not a trend: the fit starts after
the last one. The forecast says "unknown", with a reason code, when the data cannot support it:

- `no-data`, `too-few-points`, `too-short-span`: not enough history in the window;
- `level-shift`: a jump reset the trend and too little history follows it;
- `flat`, `shrinking`: usage is not growing, so no threshold will be reached;
- `unlimited`: the account has no quota, so there is no threshold and no "full";
- `beyond-horizon`: growing, but so slowly that the date is further out than `horizon_days`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Literal

TrendStatus = Literal["ok", "unknown"]
EtaStatus = Literal["reached", "forecast", "unknown"]
DAY_SECONDS = 86_400.0


@dataclass(frozen=True)
class UsagePoint:
    """One measurement: used bytes at a time (a raw snapshot or a bucket's closing value)."""

    at: dt.datetime
    used_bytes: int


@dataclass(frozen=True)
class TrendOptions:
    """How much history a forecast needs and what counts as growth; defaults suit hourly collection."""

    window_days: float = 28.0
    """Only points this close to the newest one are fitted."""
    min_points: int = 4
    min_span_days: float = 2.0
    flat_bytes_per_day: float = 1024 * 1024
    """Growth at or below this (1 MiB a day) is flat: nothing would fill up in any useful time."""
    jump_fraction: float = 0.02
    """A step between two points is a level shift only if it is also this share of the quota (or, with no
    quota, of the largest usage seen) …"""
    jump_scale: float = 8.0
    """… and this many robust standard deviations away from the steps the trend explains."""
    pairs_per_point: int = 24
    """Above `full_pairs_up_to` points, each point is paired with this many partners (O(n·k))."""
    full_pairs_up_to: int = 200
    horizon_days: float = 3650.0


@dataclass(frozen=True)
class Trend:
    """The fitted growth. `status` is `unknown` (with `reason`) when the history cannot support a slope."""

    status: TrendStatus
    reason: str | None
    bytes_per_day: int | None
    """Whole bytes, like every byte count (the fit itself keeps its precision)."""
    bytes_per_week: int | None
    points: int
    """Points the slope was fitted on (after any level shift, within the window)."""
    fitted_from: dt.datetime | None
    fitted_to: dt.datetime | None
    level_shift_at: dt.datetime | None
    """When the last jump that reset the trend happened (the fit starts there), if any."""
    fitted_bytes: int | None
    """The fitted usage at `fitted_to` (the line's value at the newest point)."""
    rate: float | None = None
    """The unrounded bytes per second the marks are projected with."""


@dataclass(frozen=True)
class Eta:
    """When usage reaches one mark: `reached` already, a `forecast` (days from now and the date), or `unknown`."""

    name: Literal["warning", "critical", "full"]
    percent: float
    threshold_bytes: int | None
    """None when the account has no quota."""
    status: EtaStatus
    days: float | None
    date: dt.date | None
    reason: str | None


@dataclass(frozen=True)
class Forecast:
    """Growth and the time to each threshold and to full, as of `now`."""

    trend: Trend
    warning: Eta
    critical: Eta
    full: Eta

    @property
    def etas(self) -> tuple[Eta, Eta, Eta]:
        return (self.warning, self.critical, self.full)


def _seconds(points: Sequence[UsagePoint]) -> list[float]:
    origin = points[0].at
    return [(p.at - origin).total_seconds() for p in points]


def _clean(points: Sequence[UsagePoint]) -> list[UsagePoint]:
    """Sorted by time; one point per instant (the last given wins)."""
    by_time: dict[dt.datetime, UsagePoint] = {}
    for point in points:
        by_time[point.at] = point
    return [by_time[at] for at in sorted(by_time)]


def theil_sen_slope(
    xs: Sequence[float], ys: Sequence[float], *, pairs_per_point: int = 24, full_up_to: int = 200
) -> float:
    """Median of pairwise slopes (y per x unit). Up to `full_up_to` points every pair counts; beyond
    that each point meets `pairs_per_point` partners spread evenly over the later points, so the cost
    is O(n·k) and the choice is deterministic. Needs two distinct x values."""
    n = len(xs)
    slopes: list[float] = []
    if n <= full_up_to:
        for i in range(n):
            for j in range(i + 1, n):
                if xs[j] != xs[i]:
                    slopes.append((ys[j] - ys[i]) / (xs[j] - xs[i]))
    else:
        k = max(1, pairs_per_point)
        for i in range(n - 1):
            rest = n - 1 - i
            step = max(1.0, rest / k)
            seen = -1
            m = 1.0
            while m <= rest:
                j = i + round(m)
                if j != seen and j < n and xs[j] != xs[i]:
                    slopes.append((ys[j] - ys[i]) / (xs[j] - xs[i]))
                    seen = j
                m += step
    if not slopes:
        raise ValueError("need at least two points at different times")
    return float(median(slopes))


def _last_level_shift(xs: list[float], ys: list[float], reference: float, options: TrendOptions) -> int | None:
    """Index of the first point after the last jump, or None. A jump is a short step (at most a day, or
    twice the usual spacing) far outside what the trend and the noise explain; a spike (a jump straight
    back) is an outlier, not a shift."""
    if len(xs) < 3:
        return None
    steps = [(ys[i] - ys[i - 1], xs[i] - xs[i - 1]) for i in range(1, len(xs))]
    rate = median(dy / dx for dy, dx in steps if dx > 0)
    residuals = [dy - rate * dx for dy, dx in steps]
    spread = 1.4826 * median(abs(r) for r in residuals)
    floor = max(options.jump_fraction * reference, 1.0)
    bar = max(floor, options.jump_scale * spread)
    # Across a long gap a change cannot be told from a different pace: only short steps can jump.
    longest = max(DAY_SECONDS, 2 * median(dx for _, dx in steps))
    jumps = [i for i, r in enumerate(residuals) if abs(r) > bar and steps[i][1] <= longest]
    for position in reversed(range(len(jumps))):
        i = jumps[position]
        after = jumps[position + 1] if position + 1 < len(jumps) else None
        before = jumps[position - 1] if position > 0 else None
        is_spike = any(
            other is not None
            and abs(other - i) == 1
            and residuals[other] * residuals[i] < 0
            and abs(residuals[other] + residuals[i]) <= bar
            for other in (after, before)
        )
        if not is_spike:
            return i + 1  # residual i is the step from point i to point i + 1
    return None


def _unknown_trend(reason: str, points: int, shift: dt.datetime | None = None) -> Trend:
    return Trend("unknown", reason, None, None, points, None, None, shift, None)


def fit_trend(
    points: Sequence[UsagePoint], *, limit_bytes: int | None = None, options: TrendOptions = TrendOptions()
) -> Trend:
    """The robust growth over the window ending at the newest point, after the last level shift."""
    series = _clean(points)
    if not series:
        return _unknown_trend("no-data", 0)
    newest = series[-1].at
    series = [p for p in series if (newest - p.at).total_seconds() <= options.window_days * DAY_SECONDS]
    xs, ys = _seconds(series), [float(p.used_bytes) for p in series]
    reference = float(limit_bytes) if limit_bytes else max(ys)
    shift_at: dt.datetime | None = None
    start = _last_level_shift(xs, ys, reference, options)
    if start is not None:
        shift_at = series[start].at
        series, xs, ys = series[start:], xs[start:], ys[start:]
    span_days = (xs[-1] - xs[0]) / DAY_SECONDS if xs else 0.0
    if len(series) < options.min_points or span_days < options.min_span_days:
        if shift_at is not None:
            reason = "level-shift"
        else:
            reason = "too-few-points" if len(series) < options.min_points else "too-short-span"
        return _unknown_trend(reason, len(series), shift_at)
    per_second = theil_sen_slope(xs, ys, pairs_per_point=options.pairs_per_point, full_up_to=options.full_pairs_up_to)
    intercept = median(y - per_second * x for x, y in zip(xs, ys, strict=True))
    per_day = per_second * DAY_SECONDS
    fitted = intercept + per_second * xs[-1]
    reason: str | None = None
    status: TrendStatus = "ok"
    if per_day < -options.flat_bytes_per_day:
        status, reason = "unknown", "shrinking"
    elif per_day <= options.flat_bytes_per_day:
        status, reason = "unknown", "flat"
    return Trend(
        status,
        reason,
        round(per_day),
        round(per_day * 7),
        len(series),
        series[0].at,
        series[-1].at,
        shift_at,
        round(fitted),
        per_second,
    )


def threshold_bytes(limit_bytes: int, percent: float) -> int:
    """The smallest byte count at or above `percent` of the quota."""
    return math.ceil(limit_bytes * percent / 100.0)


def _eta(
    name: Literal["warning", "critical", "full"],
    percent: float,
    *,
    used_bytes: int | None,
    as_of: dt.datetime | None,
    limit_bytes: int | None,
    trend: Trend,
    now: dt.datetime,
    options: TrendOptions,
) -> Eta:
    if trend.reason == "no-data":
        return Eta(name, percent, None, "unknown", None, None, "no-data")
    if limit_bytes is None or limit_bytes <= 0:
        return Eta(name, percent, None, "unknown", None, None, "unlimited")
    mark = threshold_bytes(limit_bytes, percent)
    if used_bytes is not None and used_bytes >= mark:
        return Eta(name, percent, mark, "reached", 0.0, now.date(), None)
    if trend.status != "ok":
        return Eta(name, percent, mark, "unknown", None, None, trend.reason)
    assert trend.rate is not None and trend.fitted_bytes is not None and trend.fitted_to is not None
    base = trend.fitted_bytes if used_bytes is None else used_bytes
    start = trend.fitted_to if used_bytes is None or as_of is None else as_of
    at_mark = start + dt.timedelta(seconds=max(0.0, (mark - base) / trend.rate))
    days = max(0.0, (at_mark - now).total_seconds() / DAY_SECONDS)
    if days > options.horizon_days:
        return Eta(name, percent, mark, "unknown", None, None, "beyond-horizon")
    return Eta(name, percent, mark, "forecast", round(days, 2), (now + dt.timedelta(days=days)).date(), None)


def forecast(
    points: Sequence[UsagePoint],
    *,
    limit_bytes: int | None,
    warning_percent: float,
    critical_percent: float,
    now: dt.datetime,
    used_bytes: int | None = None,
    options: TrendOptions = TrendOptions(),
) -> Forecast:
    """Trend plus days (and dates) until the warning and critical thresholds and until full.

    `used_bytes` is the usage now (defaults to the newest point's); a threshold already at or below
    it is `reached`. The time to a mark runs from the newest point at the fitted rate, then is
    counted from `now` (stale data shortens it, never below zero)."""
    trend = fit_trend(points, limit_bytes=limit_bytes, options=options)
    if used_bytes is None and points:
        used_bytes = max(points, key=lambda p: p.at).used_bytes
    return project(
        trend,
        limit_bytes=limit_bytes,
        warning_percent=warning_percent,
        critical_percent=critical_percent,
        now=now,
        used_bytes=used_bytes,
        options=options,
    )


def project(
    trend: Trend,
    *,
    limit_bytes: int | None,
    warning_percent: float,
    critical_percent: float,
    now: dt.datetime,
    used_bytes: int | None,
    as_of: dt.datetime | None = None,
    options: TrendOptions = TrendOptions(),
) -> Forecast:
    """The marks of an already fitted trend as of `now` (a fit can be reused until new data arrives).

    `used_bytes` was measured at `as_of` (default: the newest fitted point); the marks are projected
    from there at the fitted rate."""
    common = {
        "used_bytes": used_bytes,
        "as_of": as_of,
        "limit_bytes": limit_bytes,
        "trend": trend,
        "now": now,
        "options": options,
    }
    return Forecast(
        trend=trend,
        warning=_eta("warning", warning_percent, **common),  # type: ignore[arg-type]
        critical=_eta("critical", critical_percent, **common),  # type: ignore[arg-type]
        full=_eta("full", 100.0, **common),  # type: ignore[arg-type]
    )
