"""Cleanup and erasure. Every step is idempotent, works in bounded chunks, and returns how many
rows it touched (the cleanup DAG reports each count as task output and in `pipeline_run`).

- dead sessions (expired, idle or revoked longer ago than SESSION_RETENTION_DAYS) and expired
  one-time sign-in states;
- raw snapshots older than SNAPSHOT_RAW_RETENTION_DAYS (or `raw_retention_days` in
  monitoring_config) become one daily row per account and UTC day (an upsert of the daily rows);
  a raw month wholly past retention is then dropped as a partition, the boundary month's old raw
  rows are deleted in the upsert's transaction, one per chunk of accounts;
- delivered outbox rows and old audit rows past their retention;
- the snapshot partitions of the coming months (raw months and daily years);
- GDPR erasure: for each account with `erasure_requested_at`, revoke the Google grant (through
  the token service), anonymise the audit rows about it, keep one anonymised audit row of the
  erasure, and delete the account (everything else cascades).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, TextClause
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from driveguard import audit
from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.identity.sql import load_sql as identity_sql
from driveguard.identity.tokens import TokenService, TokenUnavailable, UnknownAccount
from driveguard.storage.monitoring import effective_config
from driveguard.storage.sql import load_sql

logger = logging.getLogger(__name__)

NIL_UUID = uuid.UUID(int=0)
RAW_SUBTREE = "storage_snapshot_raw"
LOCK_NOT_AVAILABLE = "55P03"
ERASURE_ACTION = "account_erased"


def _day_floor(moment: dt.datetime) -> dt.datetime:
    moment = moment.astimezone(dt.UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _month_start(moment: dt.datetime, months_ahead: int = 0) -> dt.datetime:
    index = moment.year * 12 + (moment.month - 1) + months_ahead
    return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=dt.UTC)


class Retention:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Clock = utcnow,
        token_service_factory: Callable[[], TokenService] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.chunk = settings.pipelines.retention_chunk_size
        self._token_service_factory = token_service_factory or (lambda: TokenService(settings, engine, clock=clock))

    def _delete_in_chunks(self, statement: TextClause, **params: Any) -> int:
        total = 0
        while True:
            with self.engine.begin() as conn:
                deleted = conn.execute(statement, {**params, "limit": self.chunk}).rowcount
            total += int(deleted or 0)
            if not deleted or deleted < self.chunk:
                return total

    # -- steps -----------------------------------------------------------------------------
    def delete_dead_sessions(self) -> dict[str, int]:
        now = self.clock()
        cutoff = now - dt.timedelta(days=self.settings.pipelines.session_retention_days)
        idle = dt.timedelta(minutes=self.settings.security.session_idle_timeout_minutes)
        sessions = self._delete_in_chunks(
            identity_sql("delete_dead_sessions"), cutoff=cutoff, idle_cutoff=cutoff - idle
        )
        states = self._delete_in_chunks(identity_sql("delete_expired_login_states"), cutoff=now - dt.timedelta(days=1))
        return {"sessions_deleted": sessions, "login_states_deleted": states}

    def downsample_snapshots(self) -> dict[str, int]:
        """Raw rows past retention become daily rows. A raw month wholly past the window is
        downsampled (committed chunk by chunk; the upsert is idempotent) and then dropped as a whole
        partition, never deleted row by row: a crash between the two leaves the raw rows in place
        and the next run upserts the same daily rows again before it drops. The boundary month
        (partly inside the window) goes as before: upsert and delete per chunk, one transaction each.
        """
        config = effective_config(self.settings, self.engine)
        cutoff = _day_floor(self.clock() - dt.timedelta(days=config.raw_retention_days))
        counts = {"daily_rows_upserted": 0, "raw_rows_deleted": 0, "chunks": 0,
                  "raw_partitions_dropped": 0, "raw_partitions_busy": 0}  # fmt: skip
        with self.engine.connect() as conn:
            months = conn.execute(load_sql("snapshot_partitions"), {"parent": RAW_SUBTREE}).all()
        for month in months:
            if month.range_start >= cutoff:
                break
            whole = month.range_end <= cutoff
            self._ensure_daily_years(month.range_start, min(month.range_end, cutoff))
            upper = month.range_end if whole else cutoff
            self._downsample_range(month.range_start, upper, delete_raw=not whole, counts=counts)
            if whole and (outcome := self._drop_partition(month.name)):
                counts[outcome] += 1
        return counts

    def _ensure_daily_years(self, start: dt.datetime, end: dt.datetime) -> None:
        """The daily partitions (years) that [start, end) downsamples into."""
        last = (end - dt.timedelta(microseconds=1)).astimezone(dt.UTC)
        with self.engine.begin() as conn:
            for year in range(start.astimezone(dt.UTC).year, last.year + 1):
                conn.execute(load_sql("ensure_daily_partition"), {"at": dt.datetime(year, 1, 1, tzinfo=dt.UTC)})

    def _downsample_range(
        self, start: dt.datetime, end: dt.datetime, *, delete_raw: bool, counts: dict[str, int]
    ) -> None:
        after = NIL_UUID
        while True:
            with self.engine.connect() as conn:
                ids = list(conn.scalars(load_sql("account_id_chunk"), {"after": after, "limit": self.chunk}))
            if not ids:
                return
            after = ids[-1]
            with self.engine.begin() as conn:
                params = {"account_ids": ids, "from": start, "cutoff": end}
                written = len(conn.execute(load_sql("downsample_daily"), params).all())
                if written:
                    if delete_raw:
                        counts["raw_rows_deleted"] += int(
                            conn.execute(load_sql("delete_downsampled_raw"), params).rowcount or 0
                        )
                    counts["daily_rows_upserted"] += written
                    counts["chunks"] += 1
            if len(ids) < self.chunk:
                return

    def _drop_partition(self, name: str) -> str | None:
        """Drop a downsampled raw month: the count it adds to (`raw_partitions_busy` when history
        reads held it past the lock timeout: it stays, whole and downsampled, for the next run),
        or None when it was gone already."""
        try:
            with self.engine.begin() as conn:
                dropped = conn.execute(load_sql("drop_snapshot_partition"), {"name": name}).scalar_one()
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            logger.warning("raw snapshot partition %s is busy; the next cleanup run drops it", name)
            return "raw_partitions_busy"
        return "raw_partitions_dropped" if dropped else None

    def prune_outbox(self) -> dict[str, int]:
        cutoff = self.clock() - dt.timedelta(days=self.settings.pipelines.outbox_retention_days)
        return {"outbox_rows_deleted": self._delete_in_chunks(load_sql("prune_sent_outbox"), cutoff=cutoff)}

    def prune_audit(self) -> dict[str, int]:
        cutoff = self.clock() - dt.timedelta(days=self.settings.pipelines.audit_retention_days)
        return {"audit_rows_deleted": self._delete_in_chunks(load_sql("prune_audit"), cutoff=cutoff)}

    def ensure_partitions(self) -> dict[str, int]:
        now = self.clock()
        months = self.settings.pipelines.partition_months_ahead + 1
        with self.engine.begin() as conn:
            before = conn.execute(load_sql("count_snapshot_partitions")).scalar_one()
            for ahead in range(months):
                conn.execute(load_sql("ensure_partition"), {"at": _month_start(now, ahead)})
            created = conn.execute(load_sql("count_snapshot_partitions")).scalar_one() - before
        return {"partitions_created": created, "months_covered": months}

    def erase_requested_accounts(self) -> dict[str, int]:
        counts = {"accounts_erased": 0, "grants_revoked": 0, "audit_rows_anonymised": 0, "erasures_deferred": 0}
        with self.engine.connect() as conn:
            pending = conn.execute(load_sql("erasure_requests")).all()
        if not pending:
            return counts
        tokens = self._token_service_factory()
        try:
            for account_id, email, requested_at in pending:
                try:
                    if tokens.revoke_grant(account_id, actor="system:erasure", end_sessions=True):
                        counts["grants_revoked"] += 1
                except UnknownAccount:
                    continue
                except TokenUnavailable as exc:
                    # Google did not confirm the revocation: keep the request for the next run.
                    logger.warning("erasure of account %s deferred: %s", account_id, exc.reason)
                    counts["erasures_deferred"] += 1
                    continue
                with self.engine.begin() as conn:
                    anonymised = conn.execute(
                        load_sql("anonymise_audit"), {"account_id": account_id, "email": email}
                    ).all()
                    counts["audit_rows_anonymised"] += len(anonymised)
                    deleted = conn.execute(load_sql("delete_erased_account"), {"id": account_id}).rowcount
                    if deleted:
                        reference = hashlib.sha256(account_id.bytes).hexdigest()[:16]
                        with Session(bind=conn) as db:
                            audit.record(
                                db,
                                action=ERASURE_ACTION,
                                actor="system:erasure",
                                subject=None,
                                details={"erased_ref": reference, "requested_at": requested_at},
                            )
                            db.flush()
                        counts["accounts_erased"] += 1
        finally:
            tokens.close()
        return counts
