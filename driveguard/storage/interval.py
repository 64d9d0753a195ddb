"""The data interval a pipeline run works on: always handed in by the caller (the DAG run's data
interval), never read from the wall clock, so a rerun of an interval means the same hour or day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("interval bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("interval end must be after its start")

    @classmethod
    def of(cls, start: dt.datetime | str, end: dt.datetime | str) -> Interval:
        """From datetimes or ISO strings (as they travel through XCom), normalised to UTC."""

        def parse(value: dt.datetime | str) -> dt.datetime:
            moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
            return moment.astimezone(dt.UTC)

        return cls(parse(start), parse(end))


def floor_interval(moment: dt.datetime, step: dt.timedelta) -> Interval:
    """The last complete interval of width `step` (aligned on the UTC epoch) ending at or before `moment`.

    For manual runs without a data interval (Airflow 3 gives none without a logical date).
    """
    seconds = int(step.total_seconds())
    epoch = int(moment.astimezone(dt.UTC).timestamp())
    end = dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC)
    return Interval(end - step, end)
