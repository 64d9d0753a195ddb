"""What a pipeline run reports: counts per task in `pipeline_run` (read by the status endpoint),
the sum over mapped shard tasks, and the rule that a lost shard fails the run."""

from __future__ import annotations

import datetime as dt
import json
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
