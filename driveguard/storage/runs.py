"""What a pipeline run reports: counts per task in `pipeline_run` (read by the status endpoint),
the sum over mapped shard tasks, and the rule that a lost shard fails the run."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from driveguard.storage.interval import Interval
from driveguard.storage.sql import load_sql

NOT_SUMMED = frozenset({"shard", "first_id", "last_id"})
"""Labels of a shard, not amounts: adding them up would mean nothing."""


def sum_counts(results: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Add the shards' counts; `max_*` keys keep the maximum; missing results (failed shards) count as empty."""
    total: Counter[str] = Counter()
    maxima: dict[str, Any] = {}
    for result in results:
        for key, value in (result or {}).items():
            if key in NOT_SUMMED:
                continue
            if key.startswith("max_") and isinstance(value, int | float):
                maxima[key] = max(maxima.get(key, 0), value)
            elif isinstance(value, bool):
                continue
            elif isinstance(value, int | float):
                total[key] += value
    out: dict[str, Any] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in sorted(total.items())}
    out.update(maxima)
    return out


class ShardsFailed(Exception):
    """Some mapped shard tasks failed; the others' counts were recorded."""


def check_all_shards(shards: Sequence[Any], results: Sequence[Any]) -> None:
    """Fail the run when a shard task produced nothing, after the others' work was kept."""
    done = sum(1 for r in results if r is not None)
    if done < len(shards):
        raise ShardsFailed(f"{len(shards) - done} of {len(shards)} shard task(s) failed; see their logs")


def record_run(
    engine: Engine,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    counts: Mapping[str, Any],
    at: dt.datetime,
    interval: Interval | None = None,
) -> None:
    """Upsert the counts a task reported into `pipeline_run` (one row per dag, run and task)."""
    with engine.begin() as conn:
        conn.execute(
            load_sql("record_pipeline_run"),
            {
                "dag_id": dag_id,
                "task_id": task_id[:250],
                "run_id": run_id[:250],
                "start": interval.start if interval else None,
                "end": interval.end if interval else None,
                "counts": json.dumps(dict(counts), default=str),
                "now": at,
            },
        )


MAX_LISTED_GAPS = 1000
"""The summary lists at most this many missing accounts; `collection_gaps.sql` lists them all."""


def collect_tries(engine: Engine, *, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """The counts each collect try of the run recorded, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(load_sql("collect_try_counts"), {"dag_id": dag_id, "run_id": run_id}).mappings().all()
    return [dict(r["counts"] or {}) for r in rows]


def failure_reasons(tries: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Why each account failed, as its latest try said (tries oldest first)."""
    reasons: dict[str, str] = {}
    for counts in tries:
        reasons.update(counts.get("failures") or {})
    return reasons


def planned_through(shards: Iterable[Mapping[str, Any]]) -> str:
    """The highest account id a collection plan sharded (the nil UUID for an empty plan): accounts
    created after the plan are not this run's to cover."""
    return max((str(s["last_id"]) for s in shards), key=uuid.UUID, default=str(uuid.UUID(int=0)))


def coverage(
    engine: Engine, interval: Interval, reasons: Mapping[str, str] | None = None, *, through: str | None = None
) -> dict[str, Any]:
    """How many active accounts have a snapshot for the interval, and which ones do not, with the reason:
    what a collect try recorded, else the account's last token error, else that no try reached it.
    `through` (see `planned_through`) leaves out the accounts that signed in after the run's plan."""
    reasons = reasons or {}
    bounds = {"interval_start": interval.start, "planned_through": through}
    with engine.connect() as conn:
        totals = conn.execute(load_sql("collection_coverage"), bounds).mappings().one()
        gaps = conn.execute(load_sql("collection_gaps"), {**bounds, "limit": MAX_LISTED_GAPS}).mappings().all()
    active, covered = int(totals["active_accounts"]), int(totals["with_snapshot"])
    missing = [
        {
            "account_id": g["account_id"],
            "reason": reasons.get(g["account_id"])
            or (f"token: {g['last_refresh_error']}"[:200] if g["last_refresh_error"] else None)
            or "not attempted (its shard task never ran to the end)",
        }
        for g in gaps
    ]
    return {
        "active_accounts": active,
        "with_snapshot": covered,
        "missing": active - covered,
        "completeness_percent": round(100.0 * covered / active, 3) if active else 100.0,
        "missing_accounts": missing,
    }


def summarize_collection(
    engine: Engine,
    *,
    dag_id: str,
    run_id: str,
    interval: Interval,
    results: Iterable[Mapping[str, Any] | None],
    through: str | None = None,
) -> dict[str, Any]:
    """The interval's collection summary: the counts of every try added up, the failed ones (recorded in
    `pipeline_run`, since a failed try hands Airflow no result) beside the successful ones (`results`).
    A retry only collects what is still missing, so nothing is counted twice. Then the coverage."""
    failed = collect_tries(engine, dag_id=dag_id, run_id=run_id)
    succeeded = [dict(r) for r in results if r is not None]
    tries = [*failed, *succeeded]
    out = sum_counts(tries)
    out["tries"] = len(tries)
    out["failed_tries"] = len(failed)
    out.update(coverage(engine, interval, failure_reasons(tries), through=through))
    return out


def try_task_id(map_index: int | None, try_number: int) -> str:
    """The `pipeline_run` task id of a failed try of a collect shard task (`collect_try_counts.sql` matches it)."""
    return f"collect[{map_index if map_index is not None and map_index >= 0 else 0}]#try{try_number}"
