"""Charts as server-rendered inline SVG: the geometry is computed here, the markup is a template macro.

Why SVG from the server rather than a JavaScript chart library: the chart is there without
JavaScript (the pages must read without it), nothing is vendored or loaded, it passes a CSP of
`default-src 'self'` with no inline script or style (SVG presentation attributes are not styles),
and a screen reader gets a title, a description and the numbers as a table next to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from api.pages.formatting import human_bytes

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 16, 36


@dataclass(frozen=True)
class Line:
    """A horizontal reference line (warning, critical, full) at `y`."""

    y: float
    label: str
    kind: str
    label_y: float = 0.0
    """Where its label sits (just above the line, pushed apart from the others so none overlap)."""


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    points: str = ""
    """The usage line: SVG `points` ("x,y x,y …")."""
    dots: tuple[tuple[float, float], ...] = ()
    forecast: str = ""
    lines: tuple[Line, ...] = ()
    x_ticks: tuple[Tick, ...] = ()
    y_ticks: tuple[Tick, ...] = ()
    empty: bool = True
    rows: list[tuple[dt.datetime, int]] = field(default_factory=list)
    """The plotted values, for the table that goes with the chart."""


def _nice_step(top: float, count: int = 4) -> float:
    """A round tick step in bytes (1, 2 or 5 times a power of ten of the binary unit that fits)."""
    unit = 1.0
    while top / unit >= 1024:
        unit *= 1024
    raw = top / unit / count
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500):
        if step >= raw:
            return step * unit
    return raw * unit


LABEL_GAP = 12.0


def _spread_labels(lines: list[Line]) -> list[Line]:
    """Labels 4 px above their lines, top to bottom, each at least LABEL_GAP below the previous one."""
    placed: list[Line] = []
    previous: float | None = None
    for line in sorted(lines, key=lambda item: item.y):
        label_y = line.y - 4
        if previous is not None and label_y < previous + LABEL_GAP:
            label_y = previous + LABEL_GAP
        placed.append(Line(line.y, line.label, line.kind, round(label_y, 1)))
        previous = label_y
    return placed


def usage_chart(
    series: Sequence[tuple[dt.datetime, int]],
    *,
    title: str,
    limit_bytes: int | None,
    warning_percent: float | None,
    critical_percent: float | None,
    forecast: Sequence[tuple[dt.datetime, float]] = (),
) -> Chart:
    """Usage over time with the warning, critical and full lines, and an optional forecast segment."""
    series = sorted(series)
    if not series:
        return Chart(title=title, description="No storage snapshots yet.")
    values = [v for _, v in series] + [v for _, v in forecast]
    top_value = max(values)
    if limit_bytes:
        top_value = max(top_value, limit_bytes)
    top_value = max(top_value * 1.05, 1.0)
    times = [t for t, _ in series] + [t for t, _ in forecast]
    start, end = min(times), max(times)
    span = max((end - start).total_seconds(), 3600.0)
    left, right, top, bottom = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM

    def x(t: dt.datetime) -> float:
        return round(left + (t - start).total_seconds() / span * (right - left), 1)

    def y(v: float) -> float:
        return round(bottom - v / top_value * (bottom - top), 1)

    dots = tuple((x(t), y(v)) for t, v in series)
    lines: list[Line] = []
    if limit_bytes:
        for percent, label, kind in (
            (warning_percent, "warning", "warning"),
            (critical_percent, "critical", "critical"),
            (100.0, "full", "full"),
        ):
            if percent is not None:
                lines.append(Line(y(limit_bytes * percent / 100), f"{label} {percent:g} %", kind))
        lines = _spread_labels(lines)
    step = _nice_step(top_value)
    y_ticks = tuple(Tick(y(k * step), human_bytes(k * step)) for k in range(int(top_value // step) + 1))
    history_days = max(1, round((series[-1][0] - series[0][0]).total_seconds() / 86400))
    x_ticks = tuple(
        Tick(
            x(start + dt.timedelta(seconds=span * k / 4)),
            (start + dt.timedelta(seconds=span * k / 4)).strftime("%b %d"),
        )
        for k in range(5)
    )
    last_t, last_v = series[-1]
    description = (
        f"{len(series)} points over {history_days} day{'s' if history_days != 1 else ''}, "
        f"from {human_bytes(series[0][1])} to {human_bytes(last_v)}"
        + (f" of {human_bytes(limit_bytes)}" if limit_bytes else " (unlimited)")
        + (f". The dashed line is the forecast, up to {forecast[-1][0]:%b %d}." if forecast else ".")
    )
    forecast_points = ""
    if forecast:
        forecast_points = " ".join(f"{x(t)},{y(v)}" for t, v in [(last_t, last_v), *forecast])
    return Chart(
        title=title,
        description=description,
        points=" ".join(f"{px},{py}" for px, py in dots),
        dots=dots if len(dots) <= 60 else (),
        forecast=forecast_points,
        lines=tuple(lines),
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        empty=False,
        rows=list(series),
    )


@dataclass(frozen=True)
class Gauge:
    """A horizontal bar: how full, with the warning and critical marks (x in a 0..300 box)."""

    percent: float | None
    level: str
    fill: float
    warning_x: float | None
    critical_x: float | None
    label: str


GAUGE_WIDTH = 300


def gauge(percent: float | None, level: str, warning: float | None, critical: float | None) -> Gauge:
    if percent is None:
        return Gauge(None, level, 0, None, None, "Unlimited storage")
    shown = min(max(percent, 0.0), 100.0)

    def at(p: float | None) -> float | None:
        return None if p is None else round(p / 100 * GAUGE_WIDTH, 1)

    return Gauge(
        percent, level, round(shown / 100 * GAUGE_WIDTH, 1), at(warning), at(critical), f"{percent:.1f} % used"
    )
