"""Past days of storage from Admin Reports (`userUsageReport`) for a Workspace domain.

Acting as GOOGLE_WORKSPACE_ADMIN_EMAIL, either through the admin's own grant (signed in with the
Reports scope) or through a service account with domain-wide delegation (BACKFILL_AUTH), one day
is read completely before anything is written: Google publishes a day 2-3 days late, and a "not
yet available" page must leave the day untouched, never stored as zero. Rows are upserted per
account and day into the daily series (source `reports_usage`, granularity `daily`, keyed apart
from the hourly rows collection writes), so a rerun changes nothing.

A day Google answers with PARTIAL_DATA_AVAILABLE is stored for the users present and recorded as
`partial` in `backfill_day`; the task looks again later (BACKFILL_PARTIAL_RETRY_SECONDS) and a
complete answer upserts over the same rows. After BACKFILL_PARTIAL_MAX_ATTEMPTS fetches (or once
the day is older than BACKFILL_MAX_WAIT_DAYS) the day is `gave_up`: kept as it is, and said so.
Because a run that is killed (or a day whose own run ended) must not leave a day `partial` for
ever, every backfill run also sweeps the partial days whose retry time has come
(`sweep_partial_days`), whatever day it is for, and counts them (`swept_*`).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from driveguard.clock import Clock, utcnow
from driveguard.config import SCOPE_REPORTS_USAGE, Settings
from driveguard.google.delegation import DelegatedCredentials, delegated_access_token
from driveguard.google.drive import StorageQuota
from driveguard.google.ratelimit import TokenBucket
from driveguard.google.reports import DataNotYetAvailable, ReportsClient, UserUsage
from driveguard.identity.tokens import TokenService
from driveguard.storage.collection import SOURCE_REPORTS, SnapshotRow, ensure_daily_partition, upsert_snapshots
from driveguard.storage.interval import Interval
from driveguard.storage.sql import load_sql

SERIES = "daily"
DAY_PARTIAL, DAY_COMPLETE, DAY_GAVE_UP = "partial", "complete", "gave_up"
SWEEP_MAX_DAYS = 7
"""Partial days one run fetches again at most (oldest first); the next run takes the rest."""


class BackfillNotConfigured(Exception):
    """No Workspace admin (GOOGLE_WORKSPACE_ADMIN_EMAIL) signed in with the Reports scope."""


def workspace_admin(engine: Engine, email: str | None) -> uuid.UUID:
    """The admin's account id; BackfillNotConfigured says which of the three preconditions is missing."""
    if not email:
        raise BackfillNotConfigured("GOOGLE_WORKSPACE_ADMIN_EMAIL is not set: no Workspace domain to backfill")
    with engine.connect() as conn:
        row = conn.execute(load_sql("workspace_admin_account"), {"email": email}).first()
    if row is None:
        raise BackfillNotConfigured(f"the Workspace admin {email} has not signed in to Driveguard")
    if SCOPE_REPORTS_USAGE not in (row.granted_scopes or []):
        raise BackfillNotConfigured(f"the Workspace admin {email} has not granted {SCOPE_REPORTS_USAGE}")
    account_id: uuid.UUID = row.id
    return account_id


def not_ready_reschedule_at(
    now: dt.datetime, interval: Interval, *, retry_seconds: float, max_wait_days: float
) -> dt.datetime | None:
    """When to look again for a day Google has no data for yet; None when it is too old to wait for."""
    if now - interval.end > dt.timedelta(days=max_wait_days):
        return None
    return now + dt.timedelta(seconds=retry_seconds)


def partial_reschedule_at(now: dt.datetime, *, retry_seconds: float) -> dt.datetime:
    """When to fetch a partial day again."""
    return now + dt.timedelta(seconds=retry_seconds)


class ReportsBackfill:
    """Stores one day of the domain's usage report for every account Driveguard knows."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        tokens: TokenService,
        *,
        clock: Clock = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        credentials: DelegatedCredentials | None = None,
    ) -> None:
        """`credentials`: a service account's (BACKFILL_AUTH=service_account), used with domain-wide
        delegation as the Workspace admin; None uses the admin's own grant through `tokens`."""
        self.settings = settings
        self.engine = engine
        self.tokens = tokens
        self.credentials = credentials
        self.clock = clock
        self.sleep = sleep
        self.monotonic = monotonic

    def day(self, interval: Interval) -> dict[str, Any]:
        """Raises DataNotYetAvailable when Google has no data for the day yet (retry later, never
        zero) and BackfillNotConfigured without a signed-in Workspace admin."""
        token = self._access_token()
        day = interval.start.date()
        limiter = TokenBucket(self.settings.google.rate_limit_per_minute, sleep=self.sleep, clock=self.monotonic)
        client = ReportsClient(self.settings, token, limiter=limiter, sleep=self.sleep)
        usages = list(client.usage(day))  # all pages first: a late "not available" writes nothing
        rows = self._rows(usages)
        ensure_daily_partition(self.engine, interval.start)
        now = self.clock()
        p = self.settings.pipelines
        with self.engine.begin() as conn:  # the rows and the day's status commit together
            written = upsert_snapshots(
                conn, rows, interval, collected_at=now, source=SOURCE_REPORTS, granularity=SERIES
            )
            status, attempts = conn.execute(
                load_sql("record_backfill_day"),
                {
                    "day": day,
                    "partial": client.partial is not None,
                    "max_attempts": p.backfill_partial_max_attempts,
                    "too_old": now - interval.end > dt.timedelta(days=p.backfill_max_wait_days),
                    "reported_users": len(usages),
                    "matched_accounts": len(rows),
                    "warning": client.partial,
                    "now": now,
                },
            ).one()
        return {
            "date": day.isoformat(),
            "auth": "service_account" if self.credentials is not None else "oauth",
            "series": SERIES,
            "day_status": status,
            "attempts": attempts,
            "partial_days": int(status == DAY_PARTIAL),
            "completed_days": int(status == DAY_COMPLETE),
            "gave_up_days": int(status == DAY_GAVE_UP),
            "reported_users": len(usages),
            "matched_accounts": len(rows),
            "unknown_users": len(usages) - len(rows),
            "pages": client.pages,
            "inserted": written["inserted"],
            "updated": written["updated"],
            "unchanged": written["unchanged"],
            "kept_drive": written["kept_drive"],
        }

    def sweep_partial_days(self, *, exclude: dt.date) -> dict[str, int]:
        """Fetch again the partial days (other than `exclude`, the run's own) whose retry time has come
        (BACKFILL_PARTIAL_RETRY_SECONDS after their last fetch): the run that stored them may have been
        killed before its reschedule. Each fetch is `day()`'s, so a day completes, stays partial or is
        given up (attempts or age) by the same rule."""
        now = self.clock()
        due = now - dt.timedelta(seconds=self.settings.pipelines.backfill_partial_retry_seconds)
        with self.engine.begin() as conn:
            days = [
                row.day
                for row in conn.execute(
                    load_sql("claim_partial_backfill_days"),
                    {"now": now, "due": due, "exclude": exclude, "limit": SWEEP_MAX_DAYS},
                )
            ]
        counts = dict.fromkeys(
            ("swept_days", "swept_completed_days", "swept_partial_days", "swept_gave_up_days", "swept_not_ready_days",
             "swept_inserted", "swept_updated"), 0,
        )  # fmt: skip
        for day in sorted(days):
            start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            counts["swept_days"] += 1
            try:
                fetched = self.day(Interval(start, start + dt.timedelta(days=1)))
            except DataNotYetAvailable:  # Google took the day back: due again one retry period on
                counts["swept_not_ready_days"] += 1
                continue
            counts["swept_completed_days"] += fetched["completed_days"]
            counts["swept_partial_days"] += fetched["partial_days"]
            counts["swept_gave_up_days"] += fetched["gave_up_days"]
            counts["swept_inserted"] += fetched["inserted"]
            counts["swept_updated"] += fetched["updated"]
        return counts

    def _access_token(self) -> str:
        """The admin's Reports token: through the service account's delegation, or the admin's grant."""
        email = self.settings.google.workspace_admin_email
        if self.credentials is not None:
            if not email:
                raise BackfillNotConfigured("GOOGLE_WORKSPACE_ADMIN_EMAIL is not set: no admin to act as")
            return delegated_access_token(
                self.credentials,
                subject=email,
                scopes=[SCOPE_REPORTS_USAGE],
                timeout=self.settings.google.request_timeout_seconds,
            )
        admin_id = workspace_admin(self.engine, email)
        return self.tokens.get_access_token(admin_id).token

    def _rows(self, usages: list[UserUsage]) -> list[SnapshotRow]:
        """Snapshot rows for the reported users Driveguard knows; the others are only counted."""
        emails = sorted({u.email for u in usages})
        with self.engine.connect() as conn:
            known = {row.email: row.id for row in conn.execute(load_sql("reported_accounts"), {"emails": emails})}
        return [
            SnapshotRow(
                known[u.email],
                StorageQuota(
                    usage=u.usage_bytes, limit=u.limit_bytes, usage_in_drive=u.usage_in_drive_bytes, usage_in_trash=None
                ),
            )
            for u in usages
            if u.email in known
        ]
