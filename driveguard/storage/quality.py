"""The data-quality gate on one interval's snapshots (great-expectations 1.x, ephemeral context).

Runs after collection and before alerts. It holds back only what is wrong:

- row checks (no nulls in the keys nor in usage_bytes, one row per account, usage and limit not
  negative): the rows that fail one are quarantined (`quarantined_snapshots.sql`), alerts skip
  exactly them and evaluate the rest of the interval;
- completeness: the share of active accounts with a snapshot must reach
  COLLECT_COMPLETENESS_FLOOR_PERCENT; the missing ones are listed with their reason.

Usage above the limit is a fact, not a data error (Google reports it for accounts whose plan
lapsed): it is counted (`over_quota`) and alerted as critical. A report that quarantined rows or
fell below the floor is not green: the task fails with the readable report after recording it.
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
MAX_LISTED = 1000
"""Ids listed in a summary per kind; the SQL files list them all."""
COLUMNS = ("account_id", "interval_start", "interval_end", "usage_bytes", "limit_bytes")


@dataclass
class QualityReport:
    interval_start: str
    rows: int
    success: bool
    """Every row check passed (the great-expectations suite)."""
    checks: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)
    over_quota: list[str] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)
    floor_percent: float = 100.0

    @property
    def complete(self) -> bool:
        return float(self.coverage.get("completeness_percent", 100.0)) >= self.floor_percent

    @property
    def green(self) -> bool:
        """Nothing quarantined and enough accounts collected: the run may be green."""
        return self.success and not self.quarantined and self.complete

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["success"]]

    def text(self) -> str:
        lines = [
            f"Data quality of storage snapshots for interval {self.interval_start}: "
            f"{'PASSED' if self.green else 'FAILED'} ({self.rows} rows, {len(self.checks)} checks)"
        ]
        if self.coverage:
            c = self.coverage
            mark = "ok  " if self.complete else "FAIL"
            lines.append(
                f"  [{mark}] completeness: {c['with_snapshot']} of {c['active_accounts']} active accounts have a "
                f"snapshot ({c['completeness_percent']}%, floor {self.floor_percent:g}%)"
            )
            for gap in c.get("missing_accounts", [])[:10]:
                lines.append(f"         missing {gap['account_id']}: {gap['reason']}")
        for row in self.quarantined[:10]:
            lines.append(f"  quarantined {row['account_id']}: {row['reason']} (not alerted)")
        if self.over_quota:
            lines.append(f"  note: {len(self.over_quota)} account(s) over their quota (alerted as critical)")
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
            "success": self.green,
            "failed_checks": [c["check"] for c in self.failures] + ([] if self.complete else ["completeness"]),
            "quarantined": len(self.quarantined),
            "quarantined_accounts": self.quarantined[:MAX_LISTED],
            "over_quota": len(self.over_quota),
            "over_quota_accounts": self.over_quota[:MAX_LISTED],
            "completeness_floor_percent": self.floor_percent,
            **self.coverage,
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
            "limit is not negative, unlimited accounts excepted",
            e.ExpectColumnValuesToBeBetween(column="limit_bytes", min_value=0),
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


def quarantined_rows(engine: Engine, interval: Interval) -> list[dict[str, str]]:
    """The interval's rows that fail a row check, with the reason: alerts skip exactly these."""
    with engine.connect() as conn:
        rows = conn.execute(load_sql("quarantined_snapshots"), {"interval_start": interval.start}).mappings().all()
    return [{"account_id": str(r["account_id"]), "reason": r["reason"]} for r in rows]


def validate_interval(
    engine: Engine, interval: Interval, *, floor_percent: float = 100.0, coverage: dict[str, Any] | None = None
) -> QualityReport:
    """Check the interval's snapshots and completeness; the report says what is quarantined and missing.

    It does not raise: the caller records the report first, then `enforce` fails the task."""
    frame = load_frame(engine, interval)
    report = validate_frame(frame, interval.start.isoformat())
    report.quarantined = quarantined_rows(engine, interval)
    limited = frame["limit_bytes"].notna() & (frame["limit_bytes"] >= 0)
    over = frame[limited & (frame["usage_bytes"] > frame["limit_bytes"])]
    report.over_quota = [str(v) for v in over["account_id"]]
    report.coverage = dict(coverage or {})
    report.floor_percent = floor_percent
    (logger.info if report.green else logger.error)("%s", report.text())
    return report


def enforce(report: QualityReport) -> None:
    """Fail (with the readable report, which goes to ops) when rows were quarantined or accounts are missing."""
    if not report.green:
        raise QualityError(report)
