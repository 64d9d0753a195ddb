"""The use cases of the Airflow pipelines: one short function per DAG task, callable without Airflow.

Each builds what it needs from a `Runtime`, calls one domain object or function (the logic lives
in `driveguard.storage` and `driveguard.identity`) and returns counts: the task's XCom and its
`pipeline_run` row. DAG files pass the data interval and the shard a mapped task got; settings and
`monitoring_config` are read when a task runs, never at import. Interval boundaries always come
from the caller (the DAG run's data interval), never from the wall clock.

`runtime()` builds the production runtime from the environment; tests and fault suites install
their own with `use_runtime` (a fake clock, an instant sleep, a scripted sender, ...).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from driveguard.clock import Clock, utcnow
from driveguard.config import Settings, load_settings
from driveguard.google.budget import SharedBudget
from driveguard.google.delegation import DelegationFailed
from driveguard.google.drive import DriveQuotaClient
from driveguard.identity import refresh
from driveguard.identity.tokens import TokenService
from driveguard.storage import backfill, runs
from driveguard.storage.alerts import AlertEvaluator
from driveguard.storage.backfill import BackfillNotConfigured, ReportsBackfill
from driveguard.storage.collection import (
    CollectionIncomplete,
    ShardCollector,
    check_shard,
    is_due,
    plan_collection,
    transient_gaps,
)
from driveguard.storage.interval import Interval, floor_interval
from driveguard.storage.monitoring import MonitoringConfig, effective_config
from driveguard.storage.notifications import AfterSend, Dispatcher, Sender, apprise_send
from driveguard.storage.read_model import refresh_latest
from driveguard.storage.retention import Retention
from driveguard.storage.runs import ShardsFailed, check_all_shards, sum_counts, try_task_id

__all__ = [
    "CLEANUP_STEPS",
    "BackfillNotConfigured",
    "CollectionIncomplete",
    "DelegationFailed",
    "Interval",
    "RefreshIncomplete",
    "Runtime",
    "ShardsFailed",
    "backfill_day",
    "check_all_shards",
    "check_quality",
    "check_refresh_pass",
    "check_shard",
    "cleanup_step",
    "collect_plan",
    "collect_shard",
    "dispatch_notifications",
    "enforce_quality",
    "evaluate_alerts",
    "finish_collect_try",
    "floor_interval",
    "not_ready_reschedule_at",
    "partial_reschedule_at",
    "record_run",
    "refresh_plan",
    "refresh_read_model",
    "refresh_shard",
    "runtime",
    "sum_counts",
    "summarize_collection",
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

DriveClientFactory = Callable[["Runtime"], DriveQuotaClient]


@dataclass(frozen=True)
class Runtime:
    """What a task works with: settings, the engine, time, and the seams tests replace by name."""

    settings: Settings
    engine: Engine
    clock: Clock = utcnow
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    """Epoch seconds for the shared Google budget (every process books against the same clock)."""
    drive_client_factory: DriveClientFactory | None = None
    """Builds the Drive batch client instead of `drive_client` (fault suites script Google's answers)."""
    notification_sender: Sender = apprise_send
    """Delivers one outbox message."""
    after_send: AfterSend | None = None
    """Runs between a send and its mark (tests stop the dispatcher there, like a killed process)."""

    def token_service(self) -> TokenService:
        return TokenService(self.settings, self.engine, clock=self.clock, sleep=self.sleep)

    def drive_client(self) -> DriveQuotaClient:
        """The batch client booking from the installation's one Google budget (in PostgreSQL): a
        shard running alone gets all of it, shards running together share it, a 429 slows all."""
        if self.drive_client_factory is not None:
            return self.drive_client_factory(self)
        limiter = SharedBudget(
            self.engine,
            self.settings.google.rate_limit_per_minute,
            batch_size=self.settings.pipelines.batch_size,
            clock=self.wall,
            sleep=self.sleep,
        )
        return DriveQuotaClient(self.settings, limiter=limiter, sleep=self.sleep, clock=self.monotonic)

    def monitoring(self) -> MonitoringConfig:
        """Thresholds and cadences as configured now (`monitoring_config` over settings)."""
        return effective_config(self.settings, self.engine)


RuntimeFactory = Callable[[], Runtime]
_installed: RuntimeFactory | None = None


def runtime() -> Runtime:
    """The runtime for this task: the installed one, else settings read from the environment now and
    the shared engine (which needs DATABASE_URL)."""
    if _installed is not None:
        return _installed()
    from driveguard.db.engine import get_engine
    from driveguard.google.discovery import with_discovered_endpoints

    settings = with_discovered_endpoints(load_settings())
    return Runtime(settings, get_engine(settings))


@contextlib.contextmanager
def use_runtime(factory: RuntimeFactory) -> Iterator[None]:
    """Tasks run within the block get `factory()` as their runtime (DAG runs in the test process)."""
    global _installed
    previous, _installed = _installed, factory
    try:
        yield
    finally:
        _installed = previous


def record_run(
    rt: Runtime,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    counts: Mapping[str, Any],
    interval: Interval | None = None,
) -> None:
    """Store the counts a task reported in `pipeline_run` (one row per dag, run and task)."""
    runs.record_run(
        rt.engine, dag_id=dag_id, run_id=run_id, task_id=task_id, counts=counts, at=rt.clock(), interval=interval
    )


# -- token refresh --------------------------------------------------------------------------


def refresh_plan(rt: Runtime, *, period: dt.timedelta) -> dict[str, Any]:
    """Shards of the accounts whose access token expires before the next run plus the margin."""
    horizon = rt.clock() + period + dt.timedelta(minutes=rt.monitoring().refresh_margin_minutes)
    return refresh.plan_refresh(rt.engine, horizon, rt.settings.pipelines.refresh_shard_size)


class RefreshIncomplete(Exception):
    """Some due accounts kept their old token after the token service's retries (Google failing):
    the pass is not green, and the next one asks again."""


def check_refresh_pass(counts: Mapping[str, Any]) -> None:
    """Fail a refresh pass that left accounts unrefreshed for transient reasons, after its counts were
    recorded (a dead grant is an outcome, `reauth_required`, not missed work)."""
    failed = int(counts.get("failed") or 0)
    if failed:
        raise RefreshIncomplete(f"{failed} account(s) could not be refreshed (token endpoint failing); see the logs")


def refresh_shard(rt: Runtime, shard: Mapping[str, Any]) -> dict[str, int]:
    """Refresh the shard's due accounts through the token service; counts per outcome."""
    with contextlib.closing(rt.token_service()) as service:
        return refresh.refresh_shard(
            rt.engine, service, shard, now=rt.clock(), threads=rt.settings.pipelines.refresh_threads
        )


# -- collection -----------------------------------------------------------------------------


def collect_plan(rt: Runtime, interval: Interval) -> dict[str, Any]:
    """Shards to collect for the interval (none when the configured cadence skips it)."""
    return plan_collection(
        rt.engine,
        interval,
        every_hours=rt.monitoring().collect_every_hours,
        shard_size=rt.settings.pipelines.collect_shard_size,
    )


def collect_shard(rt: Runtime, shard: Mapping[str, Any], *, recollect: bool = False) -> dict[str, Any]:
    """Collect one shard for the shard's interval; counts (collected, failed, batches, ...).

    The task then calls `check_shard`, which fails it on transient gaps, so Airflow retries the
    shard (the retry asks only for the accounts still missing).
    """
    interval = Interval.of(shard["interval_start"], shard["interval_end"])
    with contextlib.closing(rt.token_service()) as service:
        collector = ShardCollector(rt.settings, rt.engine, service, rt.drive_client(), clock=rt.clock)
        counts = collector.run(dict(shard), interval, only_missing=not recollect)
    counts["shard"] = shard.get("shard")
    return counts


def finish_collect_try(
    rt: Runtime,
    counts: Mapping[str, Any],
    *,
    dag_id: str,
    run_id: str,
    map_index: int | None,
    try_number: int,
    interval: Interval,
) -> dict[str, Any]:
    """End one try of a collect shard: a try with transient gaps records what it did in `pipeline_run`
    (Airflow keeps no result of a failed try), then fails through `check_shard` so Airflow retries it."""
    if transient_gaps(counts):
        record_run(
            rt,
            dag_id=dag_id,
            run_id=run_id,
            task_id=try_task_id(map_index, try_number),
            counts=counts,
            interval=interval,
        )
    check_shard(counts)
    return dict(counts)


def summarize_collection(
    rt: Runtime,
    *,
    dag_id: str,
    run_id: str,
    interval: Interval,
    results: Iterable[Mapping[str, Any] | None],
    shards: Iterable[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Every collect try's counts added up, plus how many of the accounts the plan (`shards`) knew have a
    snapshot and which do not."""
    through = None if shards is None else runs.planned_through(shards)
    return runs.summarize_collection(
        rt.engine, dag_id=dag_id, run_id=run_id, interval=interval, results=results, through=through
    )


def check_quality(
    rt: Runtime,
    interval: Interval,
    *,
    reasons: Mapping[str, str] | None = None,
    shards: Iterable[Mapping[str, Any]] | None = None,
) -> Any:
    """The gate's report (a `QualityReport`): row checks, quarantined rows, over-quota facts and
    completeness against COLLECT_COMPLETENESS_FLOOR_PERCENT (`reasons`: why an account is missing, by id)
    over the accounts the run's plan (`shards`) knew."""
    from driveguard.storage import quality  # great-expectations is slow to import

    due = is_due(interval, rt.monitoring().collect_every_hours)  # a skipped hour is not a gap
    through = None if shards is None else runs.planned_through(shards)
    return quality.validate_interval(
        rt.engine,
        interval,
        floor_percent=rt.settings.pipelines.collect_completeness_floor_percent,
        coverage=runs.coverage(rt.engine, interval, reasons, through=through) if due else None,
    )


def enforce_quality(report: Any) -> None:
    """Fail the quality task (QualityError, a readable report) when it quarantined rows or accounts are missing."""
    from driveguard.storage import quality

    quality.enforce(report)


def evaluate_alerts(rt: Runtime, interval: Interval) -> dict[str, int]:
    """Move the accounts' warning levels for the interval and write the outbox rows they cause; the rows
    the quality gate quarantines are skipped, everyone else is evaluated (over-quota accounts included)."""
    from driveguard.storage.quality import quarantined_rows

    quarantined = [row["account_id"] for row in quarantined_rows(rt.engine, interval)]
    return AlertEvaluator(rt.settings, rt.engine, clock=rt.clock).evaluate(interval, quarantined)


def refresh_read_model(rt: Runtime, interval: Interval) -> dict[str, int]:
    """Bring the overview's `storage_latest` up to the interval, whatever the quality gate said."""
    return refresh_latest(rt.engine, interval, now=rt.clock())


def grant_notices(rt: Runtime) -> dict[str, int]:
    """Open/close grant episodes from the accounts' state and queue their notices (before dispatching)."""
    from driveguard.storage.grant_notices import GrantNoticeService

    return GrantNoticeService(rt.settings, rt.engine, clock=rt.clock).sweep()


def dispatch_notifications(rt: Runtime) -> dict[str, int]:
    """Deliver the outbox rows that are due now."""
    dispatcher = Dispatcher(
        rt.settings,
        rt.engine,
        clock=rt.clock,
        sender=rt.notification_sender,
        after_send=rt.after_send,
        sleep=rt.sleep,
    )
    return dispatcher.run()


# -- backfill -------------------------------------------------------------------------------


def backfill_day(rt: Runtime, interval: Interval, *, credentials: Any = None) -> dict[str, Any]:
    """Store the interval's day of Admin Reports usage (see `driveguard.storage.backfill`), then
    fetch again the partial days whose retry time has come (counted as `swept_*`);
    `credentials`: the service account's, when BACKFILL_AUTH=service_account."""
    with contextlib.closing(rt.token_service()) as service:
        job = ReportsBackfill(
            rt.settings,
            rt.engine,
            service,
            clock=rt.clock,
            sleep=rt.sleep,
            monotonic=rt.monotonic,
            credentials=credentials,
        )
        counts = job.day(interval)
        return counts | job.sweep_partial_days(exclude=interval.start.date())


def partial_reschedule_at(rt: Runtime) -> dt.datetime:
    """When to fetch a day Google answered partially again."""
    retry_seconds = rt.settings.pipelines.backfill_partial_retry_seconds
    return backfill.partial_reschedule_at(rt.clock(), retry_seconds=retry_seconds)


def not_ready_reschedule_at(rt: Runtime, interval: Interval) -> dt.datetime | None:
    """When to look again for a day Google has no data for yet; None when it is too old to wait."""
    p = rt.settings.pipelines
    return backfill.not_ready_reschedule_at(
        rt.clock(), interval, retry_seconds=p.backfill_not_ready_retry_seconds, max_wait_days=p.backfill_max_wait_days
    )


# -- cleanup --------------------------------------------------------------------------------


def cleanup_step(rt: Runtime, step: str) -> dict[str, int]:
    """One upkeep step of `Retention` by name (a task per step)."""
    if step not in CLEANUP_STEPS:
        raise ValueError(f"unknown cleanup step {step!r}")
    retention = Retention(rt.settings, rt.engine, clock=rt.clock, token_service_factory=rt.token_service)
    result: dict[str, int] = getattr(retention, step)()
    return result
