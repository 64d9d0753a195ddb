"""The one notion of "now": an injectable callable, so tests can move time without sleeping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC (naive datetimes never enter the database)."""
    return dt.datetime.now(dt.UTC)
