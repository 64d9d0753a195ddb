"""The gate's verdict and the gap bookkeeping, without a database: what the report says and decides."""

from __future__ import annotations

import datetime as dt

from driveguard.storage.collection import is_due, transient_gaps
from driveguard.storage.interval import Interval
from driveguard.storage.quality import QualityReport
from driveguard.storage.runs import failure_reasons, sum_counts, try_task_id


def report(**fields: object) -> QualityReport:
    base: dict[str, object] = {"interval_start": "2026-11-20T09:00:00+00:00", "rows": 3, "success": True}
    base.update(fields)
    return QualityReport(**base)  # type: ignore[arg-type]


def coverage(active: int, covered: int, missing: list[dict[str, str]] | None = None) -> dict[str, object]:
    return {
        "active_accounts": active,
        "with_snapshot": covered,
        "missing": active - covered,
        "completeness_percent": round(100.0 * covered / active, 3),
        "missing_accounts": missing or [],
    }


def test_an_over_quota_account_alone_keeps_the_interval_green():
    gate = report(over_quota=["a1"], coverage=coverage(3, 3))
    assert gate.green
    assert gate.summary()["over_quota"] == 1 and gate.summary()["success"] is True


def test_a_quarantined_row_or_a_gap_below_the_floor_is_not_green_and_the_text_names_them():
    quarantined = report(success=False, quarantined=[{"account_id": "a2", "reason": "limit is negative"}])
    assert not quarantined.green
    assert "quarantined a2: limit is negative (not alerted)" in quarantined.text()

    gap = [{"account_id": "a3", "reason": "drive forbidden: HTTP 403"}]
    short = report(coverage=coverage(200, 199, gap), floor_percent=100.0)
    assert not short.green and short.summary()["failed_checks"] == ["completeness"]
    assert "[FAIL] completeness: 199 of 200 active accounts have a snapshot (99.5%, floor 100%)" in short.text()
    assert "missing a3: drive forbidden: HTTP 403" in short.text()
    assert report(coverage=coverage(200, 199, gap), floor_percent=99.5).green  # a floor the user lowered


def test_the_latest_try_says_why_an_account_failed_and_tries_add_up_without_double_counting():
    first = {"accounts": 1000, "collected": 999, "failed_transient": 1, "failures": {"a9": "drive server: HTTP 503"}}
    retry = {"accounts": 1, "collected": 1}
    assert transient_gaps(first) == 1 and transient_gaps(retry) == 0
    assert failure_reasons([{"failures": {"a9": "old"}}, first, retry]) == {"a9": "drive server: HTTP 503"}
    assert sum_counts([first, retry])["collected"] == 1000
    assert try_task_id(3, 2) == "collect[3]#try2" and try_task_id(-1, 1) == "collect[0]#try1"


def test_an_hour_the_cadence_skips_is_not_a_gap():
    at = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
    odd_hour = Interval(at, at + dt.timedelta(hours=1))
    assert not is_due(odd_hour, 2) and is_due(odd_hour, 1) and is_due(odd_hour, 3)
    assert report(coverage={}).green  # no coverage measured for a skipped hour: nothing to miss
