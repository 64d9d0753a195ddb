"""Jinja filters the pages use to show numbers and times the same way everywhere."""

from __future__ import annotations

import datetime as dt
from typing import Any

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(value: int | float | None) -> str:
    """1536 -> "1.5 KiB"; None -> "—" (unknown or unlimited is said by the caller)."""
    if value is None:
        return "—"
    size = float(value)
    sign = "-" if size < 0 else ""
    size = abs(size)
    for unit in UNITS:
        if size < 1024 or unit == UNITS[-1]:
            return f"{sign}{size:.0f} {unit}" if unit == "B" else f"{sign}{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f} %"


def when(value: dt.datetime | dt.date | str | None) -> str:
    """A UTC timestamp for people: "2026-11-28 14:05 UTC" (dates stay dates)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def iso(value: dt.datetime | dt.date | None) -> str:
    return "" if value is None else value.isoformat()


def register(engine: Any) -> None:
    """`TemplateConfig.engine_callback`: add the filters to Litestar's Jinja environment."""
    engine.engine.filters.update({"bytes": human_bytes, "percent": percent, "when": when, "iso": iso})
