"""The data-quality gate on one interval's snapshots (great-expectations 1.x, ephemeral context).

Runs after collection and before alerts: a violation fails the task with a readable report,
and the alert evaluation downstream never runs on bad data. Checks:

- no nulls in the keys (account_id, interval_start, interval_end) nor in usage_bytes;
- one row per account in the interval;
- usage is never negative;
- usage never exceeds the limit, unless the account is unlimited (no limit).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from driveguard.storage.interval import Interval
from driveguard.storage.sql import load_sql

logger = logging.getLogger(__name__)

SUITE_NAME = "storage_snapshot_interval"
COLUMNS = ("account_id", "interval_start", "interval_end", "usage_bytes", "limit_bytes")


@dataclass
class QualityReport:
    interval_start: str
    rows: int
    success: bool
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["success"]]

    def text(self) -> str:
        lines = [
            f"Data quality of storage snapshots for interval {self.interval_start}: "
            f"{'PASSED' if self.success else 'FAILED'} ({self.rows} rows, {len(self.checks)} checks)"
        ]
        for check in self.checks:
            mark = "ok  " if check["success"] else "FAIL"
            detail = ""
            if not check["success"]:
                detail = f" - {check['unexpected_count']} unexpected"
                if check.get("examples"):
                    detail += f", e.g. {check['examples']}"
            lines.append(f"  [{mark}] {check['check']}{detail}")
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        return {
            "interval_start": self.interval_start,
            "rows": self.rows,
            "success": self.success,
            "failed_checks": [c["check"] for c in self.failures],
        }


class QualityError(Exception):
    """The interval's snapshots broke an expectation; the message is the readable report."""

    def __init__(self, report: QualityReport) -> None:
        self.report = report
        super().__init__(report.text())


def _expectations() -> list[tuple[str, Any]]:
    import great_expectations as gx

    e = gx.expectations
    return [
        ("account_id is never null", e.ExpectColumnValuesToNotBeNull(column="account_id")),
        ("interval_start is never null", e.ExpectColumnValuesToNotBeNull(column="interval_start")),
        ("interval_end is never null", e.ExpectColumnValuesToNotBeNull(column="interval_end")),
        ("usage_bytes is never null", e.ExpectColumnValuesToNotBeNull(column="usage_bytes")),
        ("one row per account", e.ExpectColumnValuesToBeUnique(column="account_id")),
        ("usage is not negative", e.ExpectColumnValuesToBeBetween(column="usage_bytes", min_value=0)),
        (
            "usage does not exceed the limit, unlimited accounts excepted (examples: limit, usage)",
            e.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="limit_bytes", column_B="usage_bytes", or_equal=True, ignore_row_if="either_value_is_missing"
            ),
        ),
    ]


def _plain(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_plain(v) for v in value) + ")"
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    return str(value)


def _context() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def load_frame(engine: Engine, interval: Interval) -> Any:
    import pandas as pd

    with engine.connect() as conn:
        rows = conn.execute(load_sql("snapshots_for_interval"), {"interval_start": interval.start}).mappings().all()
    frame = pd.DataFrame([{c: r[c] for c in COLUMNS} for r in rows], columns=list(COLUMNS))
    for column in ("usage_bytes", "limit_bytes"):
        frame[column] = frame[column].astype("Int64")
    return frame


def validate_frame(frame: Any, interval_start: str) -> QualityReport:
    """Run the suite on a DataFrame of snapshots (columns as in COLUMNS)."""
    import great_expectations as gx

    context = _context()
    asset = context.data_sources.add_pandas("driveguard").add_dataframe_asset(name="storage_snapshot")
    batch = asset.add_batch_definition_whole_dataframe("interval").get_batch(batch_parameters={"dataframe": frame})
    named = _expectations()
    suite = gx.ExpectationSuite(name=SUITE_NAME)
    for _, expectation in named:
        suite.add_expectation(expectation)
    result = batch.validate(suite, result_format="SUMMARY")
    by_type: dict[str, list[Any]] = {}
    for item in result.results:
        by_type.setdefault(item.expectation_config.type, []).append(item)
    checks: list[dict[str, Any]] = []
    for label, expectation in named:
        candidates = by_type.get(expectation.expectation_type, [])
        wanted = expectation.configuration.kwargs
        item = next(
            (r for r in candidates if all(r.expectation_config.kwargs.get(k) == v for k, v in wanted.items())),
            None,
        )
        if item is None:
            continue
        outcome = item.result or {}
        examples = [_plain(v) for v in (outcome.get("partial_unexpected_list") or [])[:3]]
        checks.append(
            {
                "check": label,
                "success": bool(item.success),
                "unexpected_count": int(outcome.get("unexpected_count") or 0),
                "examples": examples,
            }
        )
    return QualityReport(interval_start, len(frame), bool(result.success), checks)


def validate_interval(engine: Engine, interval: Interval) -> QualityReport:
    """Validate the interval's snapshots; raises QualityError (a readable report) on any violation."""
    report = validate_frame(load_frame(engine, interval), interval.start.isoformat())
    if not report.success:
        logger.error("%s", report.text())
        raise QualityError(report)
    logger.info("%s", report.text())
    return report
