"""Shapes the pages show, made from the services' results: the gauge, the history chart with its
threshold lines and forecast segment, and the forecast in words."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from api.pages.charts import Chart, Gauge, gauge, usage_chart
from api.pages.formatting import human_bytes
from driveguard.storage.reads import AccountStorage, History
from driveguard.storage.trends import Eta, Forecast

FORECAST_DAYS = 30.0
"""How far ahead the chart draws the forecast (less when the account fills up sooner)."""


@dataclass(frozen=True)
class EtaView:
    name: str
    percent: float
    text: str
    date: dt.date | None


@dataclass(frozen=True)
class ForecastView:
    known: bool
    per_day: str
    per_week: str
    reason: str | None
    etas: tuple[EtaView, ...]


REASONS = {
    "no-data": "no storage snapshots yet",
    "too-few-points": "too few snapshots yet",
    "too-short-span": "the history is still too short",
    "level-shift": "usage jumped recently; the trend starts again from the jump",
    "flat": "usage is flat",
    "shrinking": "usage is shrinking",
    "unlimited": "the storage is unlimited",
    "beyond-horizon": "not within ten years at this rate",
}


def reason_text(reason: str | None) -> str | None:
    """A trend's or forecast's machine reason, in words (unknown codes are shown as they are)."""
    return None if reason is None else REASONS.get(reason, reason.replace("-", " "))


def eta_text(eta: Eta) -> str:
    if eta.status == "reached":
        return "reached"
    if eta.status == "forecast" and eta.days is not None and eta.date is not None:
        days = f"{eta.days:.0f} day{'s' if round(eta.days) != 1 else ''}" if eta.days >= 1 else "less than a day"
        return f"in about {days}, around {eta.date.isoformat()}"
    return f"unknown: {reason_text(eta.reason)}" if eta.reason else "unknown"


def forecast_view(outlook: Forecast) -> ForecastView:
    trend = outlook.trend
    known = trend.status == "ok" and trend.bytes_per_day is not None
    return ForecastView(
        known=known,
        per_day=f"{human_bytes(trend.bytes_per_day)} a day" if known else "unknown",
        per_week=f"{human_bytes(trend.bytes_per_week)} a week" if known and trend.bytes_per_week is not None else "",
        reason=reason_text(trend.reason),
        etas=tuple(EtaView(e.name, e.percent, eta_text(e), e.date) for e in outlook.etas),
    )


def forecast_segment(outlook: Forecast, history: History, limit_bytes: int | None) -> list[tuple[dt.datetime, float]]:
    """The dashed part of the chart: from the newest point at the fitted rate, up to full or 30 days."""
    trend = outlook.trend
    if trend.status != "ok" or not trend.bytes_per_day or trend.bytes_per_day <= 0 or not history.points:
        return []
    last = history.points[-1]
    days = FORECAST_DAYS
    if limit_bytes:
        days = min(days, max(0.0, (limit_bytes - last.used_bytes) / trend.bytes_per_day))
    if days <= 0:
        return []
    return [(last.at + dt.timedelta(days=days), last.used_bytes + trend.bytes_per_day * days)]


def storage_views(storage: AccountStorage, title: str) -> tuple[Gauge | None, Chart, ForecastView]:
    usage = storage.usage
    thresholds = storage.thresholds
    meter = (
        gauge(usage.percent, usage.level, thresholds.warning_percent, thresholds.critical_percent)
        if usage is not None
        else None
    )
    limit = usage.limit_bytes if usage is not None else None
    chart = history_chart(storage.history, title, limit, thresholds.warning_percent, thresholds.critical_percent,
                          forecast_segment(storage.forecast, storage.history, limit))  # fmt: skip
    return meter, chart, forecast_view(storage.forecast)


def history_chart(
    history: History,
    title: str,
    limit_bytes: int | None,
    warning: float,
    critical: float,
    forecast: list[tuple[dt.datetime, float]] | None = None,
) -> Chart:
    limit = limit_bytes
    if limit is None and history.points:
        limit = history.points[-1].limit_bytes
    return usage_chart(
        [(p.at, p.used_bytes) for p in history.points],
        title=title,
        limit_bytes=limit,
        warning_percent=warning,
        critical_percent=critical,
        forecast=forecast or (),
    )
