"""Task bodies of the Airflow pipelines, callable without Airflow.

DAG files stay thin: they pass the data interval (start, end) and the shard a mapped task got,
and call one function here. Everything reads settings and `monitoring_config` when it runs,
never at import. Interval boundaries always come from the caller (the DAG run's data
interval), never from the wall clock.

A `Runtime` bundles settings, engine, clock and sleep; tests and fault suites install their
own with `use_runtime` (injectable clock, sleep and rate limiter hooks).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from driveguard.clock import Clock, utcnow
from driveguard.config import SCOPE_REPORTS_USAGE, Settings, load_settings
from driveguard.db.shards import keyset_shards, shard_size_for
from driveguard.identity.sql import load_sql as identity_sql
from driveguard.storage.collection import (
    SOURCE_REPORTS,
    Interval,
    ShardCollector,
    SnapshotRow,
    ensure_partition,
    plan_shards,
    upsert_snapshots,
)
from driveguard.storage.monitoring import effective_config

logger = logging.getLogger(__name__)

__all__ = [
    "BackfillNotConfigured",
    "CollectionIncomplete",
    "Interval",
    "Runtime",
    "ShardsFailed",
    "backfill_day",
    "check_all_shards",
    "check_quality",
    "check_shard",
    "cleanup_step",
    "collect_plan",
    "collect_shard",
    "dispatch_notifications",
    "evaluate_alerts",
    "floor_interval",
    "not_ready_reschedule_at",
    "record_run",
    "refresh_plan",
    "refresh_shard",
    "runtime",
    "sum_counts",
    "use_runtime",
]

CLEANUP_STEPS = (
    "delete_dead_sessions",
    "downsample_snapshots",
    "prune_outbox",
    "prune_audit",
    "ensure_partitions",
    "erase_requested_accounts",
)


NOT_SUMMED = frozenset({"shard", "first_id", "last_id"})


class BackfillNotConfigured(Exception):
    """No Workspace admin (GOOGLE_WORKSPACE_ADMIN_EMAIL) signed in with the Reports scope."""


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    clock: Clock = utcnow
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    hooks: dict[str, Any] = field(default_factory=dict)
    """Test seams: `drive_client` (factory), `dispatcher_sender`, `dispatcher_after_send`."""

    def token_service(self) -> Any:
        from driveguard.identity.tokens import TokenService

        return TokenService(self.settings, self.engine, clock=self.clock, sleep=self.sleep)


_factory: Callable[[], Runtime] | None = None


def runtime() -> Runtime:
    """The runtime for this task: settings read from the environment now, the shared engine."""
    if _factory is not None:
        return _factory()
    from driveguard.db.engine import get_engine

    settings = load_settings()
    return Runtime(settings, get_engine(settings))


@contextlib.contextmanager
def use_runtime(factory: Callable[[], Runtime]) -> Iterator[None]:
    global _factory
    previous, _factory = _factory, factory
    try:
        yield
    finally:
        _factory = previous


def floor_interval(moment: dt.datetime, step: dt.timedelta) -> Interval:
    """The last complete interval of width `step` (aligned on the UTC epoch) ending at or before `moment`.

    For manual runs without a data interval (Airflow 3 gives none without a logical date).
    """
    seconds = int(step.total_seconds())
    epoch = int(moment.astimezone(dt.UTC).timestamp())
    end = dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC)
    return Interval(end - step, end)


def sum_counts(results: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
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


def record_run(
    rt: Runtime,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    counts: Mapping[str, Any],
    interval: Interval | None = None,
) -> None:
    """Upsert the counts a task reported into `pipeline_run` (one row per dag, run and task)."""
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO pipeline_run (dag_id, task_id, run_id, interval_start, interval_end, counts, recorded_at) "
                "VALUES (:dag_id, :task_id, :run_id, :start, :end, CAST(:counts AS jsonb), :now) "
                "ON CONFLICT ON CONSTRAINT uq_pipeline_run_task DO UPDATE SET counts = EXCLUDED.counts, "
                "interval_start = EXCLUDED.interval_start, interval_end = EXCLUDED.interval_end, "
                "recorded_at = EXCLUDED.recorded_at"
            ),
            {
                "dag_id": dag_id,
                "task_id": task_id[:250],
                "run_id": run_id[:250],
                "start": interval.start if interval else None,
                "end": interval.end if interval else None,
                "counts": json.dumps(dict(counts), default=str),
                "now": rt.clock(),
            },
        )


# -- token refresh --------------------------------------------------------------------------


def refresh_plan(rt: Runtime, *, period: dt.timedelta) -> dict[str, Any]:
    """Shards of accounts whose access token expires before the next run plus the margin."""
    config = effective_config(rt.settings, rt.engine)
    horizon = rt.clock() + period + dt.timedelta(minutes=config.refresh_margin_minutes)
    with rt.engine.connect() as conn:
        due_total = conn.execute(
            text(
                "SELECT count(*) FROM google_account WHERE status = 'active' AND refresh_token_ciphertext IS NOT NULL "
                "AND erasure_requested_at IS NULL AND (access_token_expires_at IS NULL "
                "OR access_token_expires_at < :horizon)"
            ),
            {"horizon": horizon},
        ).scalar_one()
        size = shard_size_for(int(due_total), rt.settings.pipelines.refresh_shard_size)
        shards = keyset_shards(conn, identity_sql("refresh_due_shards"), size, horizon=horizon)
    for shard in shards:
        shard["horizon"] = horizon.isoformat()
    return {"due": int(due_total), "shard_size": size, "shards": shards, "horizon": horizon.isoformat()}


def refresh_shard(rt: Runtime, shard: Mapping[str, Any]) -> dict[str, int]:
    """Refresh every due account of the shard through the token service; counts per outcome."""
    horizon = dt.datetime.fromisoformat(shard["horizon"])
    with rt.engine.connect() as conn:
        ids = list(
            conn.scalars(
                identity_sql("refresh_shard_accounts"),
                {"first_id": uuid.UUID(shard["first_id"]), "last_id": uuid.UUID(shard["last_id"]), "horizon": horizon},
            )
        )
    counts: Counter[str] = Counter({"refreshed": 0, "skipped": 0, "failed": 0, "reauth_required": 0})
    service = rt.token_service()
    try:
        within = max(0, int((horizon - rt.clock()).total_seconds()))

        def one(account_id: uuid.UUID) -> str:
            try:
                return str(service.refresh_if_expiring(account_id, within_seconds=within).value)
            except Exception:  # one account's surprise must not sink the shard
                logger.exception("refresh of account %s raised", account_id)
                return "failed"

        with ThreadPoolExecutor(max_workers=rt.settings.pipelines.refresh_threads) as pool:
            counts.update(pool.map(one, ids))
    finally:
        service.close()
    return {"accounts": len(ids), **{k: counts[k] for k in ("refreshed", "skipped", "failed", "reauth_required")}}


# -- collection -----------------------------------------------------------------------------


def collect_plan(rt: Runtime, interval: Interval) -> dict[str, Any]:
    """Shards to collect for the interval (empty when the configured cadence skips it)."""
    config = effective_config(rt.settings, rt.engine)
    base = {"interval_start": interval.start.isoformat(), "interval_end": interval.end.isoformat()}
    every = config.collect_every_hours
    width_hours = (interval.end - interval.start).total_seconds() / 3600
    if every > 1 and width_hours < every and interval.start.hour % every != 0:
        return {**base, "shards": [], "skipped": f"collect_every_hours={every}"}
    partition = ensure_partition(rt.engine, interval.start)
    shards = plan_shards(rt.engine, rt.settings.pipelines.collect_shard_size)
    for shard in shards:
        shard.update(base)
    return {**base, "shards": shards, "partition": partition, "skipped": None}


def drive_client(rt: Runtime) -> Any:
    """The batch client with this task's share of the rate limit (limit / pool slots)."""
    if "drive_client" in rt.hooks:
        return rt.hooks["drive_client"](rt)
    from driveguard.google.drive import DriveQuotaClient
    from driveguard.google.ratelimit import TokenBucket

    share = rt.settings.google.rate_limit_per_minute / rt.settings.pipelines.google_pool_slots
    limiter = TokenBucket(share, sleep=rt.sleep, clock=rt.monotonic)
    return DriveQuotaClient(rt.settings, limiter=limiter, sleep=rt.sleep, clock=rt.monotonic)


def collect_shard(rt: Runtime, shard: Mapping[str, Any], *, recollect: bool = False) -> dict[str, Any]:
    """Collect one shard for the shard's interval; returns counts (collected, failed, batches, …)."""
    interval = Interval.of(shard["interval_start"], shard["interval_end"])
    service = rt.token_service()
    try:
        collector = ShardCollector(rt.settings, rt.engine, service, drive_client(rt), clock=rt.clock)
        counts = collector.run(dict(shard), interval, only_missing=not recollect)
    finally:
        service.close()
    counts["shard"] = shard.get("shard")
    return counts


class CollectionIncomplete(Exception):
    """Some accounts of the shard still have no snapshot after every retry of transient errors."""


def check_shard(counts: Mapping[str, Any]) -> None:
    """Raise (so Airflow retries the shard, which re-collects only missing accounts) on transient gaps."""
    missing = int(counts.get("failed_transient") or 0) + int(counts.get("token_unavailable") or 0)
    if missing:
        raise CollectionIncomplete(
            f"{missing} account(s) got no snapshot after retries (Drive or token endpoint): {counts.get('top_errors')}"
        )


class ShardsFailed(Exception):
    """Some mapped shard tasks failed; the others' counts were recorded."""


def check_all_shards(shards: list[Any], results: list[Any]) -> None:
    done = sum(1 for r in results if r is not None)
    if done < len(shards):
        raise ShardsFailed(f"{len(shards) - done} of {len(shards)} shard task(s) failed; see their logs")


def check_quality(rt: Runtime, interval: Interval) -> dict[str, Any]:
    """The great-expectations gate; raises QualityError with a readable report on any violation."""
    from driveguard.storage.quality import validate_interval

    return validate_interval(rt.engine, interval).summary()


def evaluate_alerts(rt: Runtime, interval: Interval) -> dict[str, int]:
    from driveguard.storage.alerts import AlertEvaluator

    return AlertEvaluator(rt.settings, rt.engine, clock=rt.clock).evaluate(interval)


def dispatch_notifications(rt: Runtime) -> dict[str, int]:
    from driveguard.storage.notifications import Dispatcher, apprise_send

    dispatcher = Dispatcher(
        rt.settings,
        rt.engine,
        clock=rt.clock,
        sender=rt.hooks.get("dispatcher_sender", apprise_send),
        after_send=rt.hooks.get("dispatcher_after_send"),
    )
    return dispatcher.run()


# -- backfill -------------------------------------------------------------------------------


def _admin_account(rt: Runtime) -> uuid.UUID:
    email = rt.settings.google.workspace_admin_email
    if not email:
        raise BackfillNotConfigured("GOOGLE_WORKSPACE_ADMIN_EMAIL is not set: no Workspace domain to backfill")
    with rt.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT id, granted_scopes FROM google_account WHERE lower(email) = lower(:email) "
                "AND status = 'active' ORDER BY last_login_at DESC NULLS LAST LIMIT 1"
            ),
            {"email": email},
        ).first()
    if row is None:
        raise BackfillNotConfigured(f"the Workspace admin {email} has not signed in to Driveguard")
    if SCOPE_REPORTS_USAGE not in (row.granted_scopes or []):
        raise BackfillNotConfigured(f"the Workspace admin {email} has not granted {SCOPE_REPORTS_USAGE}")
    return row.id


def backfill_day(rt: Runtime, interval: Interval) -> dict[str, Any]:
    """Store one day of Admin Reports usage for every known account of the domain.

    Raises DataNotYetAvailable when Google has no data for the day yet (retry later, never
    zero) and BackfillNotConfigured without a signed-in Workspace admin.
    """
    from driveguard.google.drive import StorageQuota
    from driveguard.google.ratelimit import TokenBucket
    from driveguard.google.reports import ReportsClient

    admin_id = _admin_account(rt)
    service = rt.token_service()
    try:
        token = service.get_access_token(admin_id).token
    finally:
        service.close()
    day = interval.start.date()
    limiter = TokenBucket(rt.settings.google.rate_limit_per_minute, sleep=rt.sleep, clock=rt.monotonic)
    client = ReportsClient(rt.settings, token, limiter=limiter, sleep=rt.sleep)
    usages = list(client.usage(day))  # all pages first: a late "not available" writes nothing
    emails = sorted({u.email for u in usages})
    with rt.engine.connect() as conn:
        known = dict(
            conn.execute(
                text(
                    "SELECT lower(email), id FROM google_account WHERE lower(email) = ANY(CAST(:emails AS text[])) "
                    "AND status <> 'revoked' AND erasure_requested_at IS NULL"
                ),
                {"emails": emails},
            ).all()
        )
    rows = [
        SnapshotRow(
            known[u.email],
            StorageQuota(
                usage=u.usage_bytes, limit=u.limit_bytes, usage_in_drive=u.usage_in_drive_bytes, usage_in_trash=None
            ),
        )
        for u in usages
        if u.email in known
    ]
    ensure_partition(rt.engine, interval.start)
    with rt.engine.begin() as conn:
        written = upsert_snapshots(
            conn, rows, interval, collected_at=rt.clock(), source=SOURCE_REPORTS, granularity="daily"
        )
    return {
        "date": day.isoformat(),
        "reported_users": len(usages),
        "matched_accounts": len(rows),
        "unknown_users": len(usages) - len(rows),
        "pages": client.pages,
        "inserted": written["inserted"],
        "updated": written["updated"],
        "unchanged": written["unchanged"],
    }


def not_ready_reschedule_at(rt: Runtime, interval: Interval) -> dt.datetime | None:
    """When to look again for a day Google has no data for yet; None when it is too old to wait."""
    now = rt.clock()
    if now - interval.end > dt.timedelta(days=rt.settings.pipelines.backfill_max_wait_days):
        return None
    return now + dt.timedelta(seconds=rt.settings.pipelines.backfill_not_ready_retry_seconds)


# -- cleanup --------------------------------------------------------------------------------


def cleanup_step(rt: Runtime, step: str) -> dict[str, int]:
    from driveguard.storage.retention import Retention

    if step not in CLEANUP_STEPS:
        raise ValueError(f"unknown cleanup step {step!r}")
    retention = Retention(rt.settings, rt.engine, clock=rt.clock, token_service_factory=rt.token_service)
    result: dict[str, int] = getattr(retention, step)()
    return result
