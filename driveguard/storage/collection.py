"""One shard of accounts -> fresh tokens -> Drive batches -> snapshots upserted for the interval.

A shard is a keyset range of account ids (`first_id`..`last_id`), planned by `plan_shards`
so that a DAG can `expand` over a few hundred small dicts even at 100k accounts. Within a
shard, accounts go in chunks: tokens are made fresh by the token service first (a bounded
pool of COLLECT_TOKEN_THREADS threads, since refreshes wait on Google's token endpoint), then the
chunk's quotas come back through batches of at most 100 parts (rate limited, failed parts
retried alone), then one multi-row upsert writes the chunk. The stages overlap: the next chunk's
tokens and the last chunk's upsert (on a writer thread) happen while this chunk's batches wait for
the budget. A task that dies halfway keeps the chunks it wrote; its retry collects only the
accounts still missing for the interval.

A part Google answers 401 although its token looked valid here (Google expired or revoked it
early) causes one forced refresh (`get_access_token(reject=…)`) and the library's one re-send
with the new token; if the refresh finds the grant dead the account becomes `reauth_required`
and is counted as such, not as a transient gap.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.db.shards import keyset_shards, shard_size_for
from driveguard.google.drive import Deferred, DriveQuotaClient, StorageQuota
from driveguard.google.retry import Failure
from driveguard.identity.tokens import ReauthRequired, TokenService, TokenUnavailable, UnknownAccount
from driveguard.storage.interval import Interval
from driveguard.storage.sql import load_sql

logger = logging.getLogger(__name__)

SOURCE_DRIVE = "drive_about"
SOURCE_REPORTS = "reports_usage"
TOKEN_MIN_VALID_SECONDS = 300
"""Tokens handed to a batch stay valid this long: far beyond a chunk's collection time (seconds), and
no more than token_refresh guarantees between its runs, so collection rarely has to refresh itself."""


@dataclass(frozen=True)
class SnapshotRow:
    account_id: uuid.UUID
    quota: StorageQuota


def count_active(conn: Connection) -> int:
    return int(conn.execute(load_sql("count_collectable_accounts")).scalar_one())


def plan_shards(engine: Engine, configured_size: int) -> list[dict[str, Any]]:
    """Keyset shards over the active accounts (JSON-friendly dicts for XCom)."""
    with engine.connect() as conn:
        size = shard_size_for(count_active(conn), configured_size)
        return keyset_shards(conn, load_sql("collect_shards"), size)


def is_due(interval: Interval, every_hours: int) -> bool:
    """Whether the cadence `collect_every_hours` collects this interval (a skipped hour has no gaps)."""
    width_hours = (interval.end - interval.start).total_seconds() / 3600
    return not (every_hours > 1 and width_hours < every_hours and interval.start.hour % every_hours != 0)


def plan_collection(engine: Engine, interval: Interval, *, every_hours: int, shard_size: int) -> dict[str, Any]:
    """Shards to collect for the interval (none when the cadence `every_hours` skips its hour).

    The shards carry the interval (ISO strings), so each mapped task knows what it collects.
    """
    base = {"interval_start": interval.start.isoformat(), "interval_end": interval.end.isoformat()}
    if not is_due(interval, every_hours):
        return {**base, "shards": [], "skipped": f"collect_every_hours={every_hours}"}
    partition = ensure_partition(engine, interval.start)
    shards = plan_shards(engine, shard_size)
    for shard in shards:
        shard.update(base)
    return {**base, "shards": shards, "partition": partition, "skipped": None}


def ensure_partition(engine: Engine, at: dt.datetime) -> str:
    """The raw month and the daily year holding `at` exist (there is no default partition)."""
    with engine.begin() as conn:
        return str(conn.execute(load_sql("ensure_partition"), {"at": at}).scalar_one())


def ensure_daily_partition(engine: Engine, at: dt.datetime) -> str:
    """The daily year holding `at` exists: for writers of daily rows only (an old backfilled day
    must not bring back a raw month that retention dropped)."""
    with engine.begin() as conn:
        return str(conn.execute(load_sql("ensure_daily_partition"), {"at": at}).scalar_one())


def upsert_snapshots(
    conn: Connection,
    rows: Sequence[SnapshotRow],
    interval: Interval,
    *,
    collected_at: dt.datetime,
    source: str = SOURCE_DRIVE,
    granularity: str = "raw",
) -> Counter[str]:
    """One multi-row upsert into the `granularity` series; counts inserted, updated, unchanged and
    `kept_drive` rows (Reports figures held back where Drive's own daily row is)."""
    counts: Counter[str] = Counter()
    if not rows:
        return counts
    result = conn.execute(
        load_sql("upsert_snapshots"),
        {
            "interval_start": interval.start,
            "interval_end": interval.end,
            "collected_at": collected_at,
            "source": source,
            "granularity": granularity,
            "account_ids": [r.account_id for r in rows],
            "usage_bytes": [r.quota.usage for r in rows],
            "usage_in_drive_bytes": [r.quota.usage_in_drive for r in rows],
            "usage_in_trash_bytes": [r.quota.usage_in_trash for r in rows],
            "limit_bytes": [r.quota.limit for r in rows],
        },
    )
    for (outcome,) in result:
        counts[outcome] += 1
    counts["unchanged"] = len(rows) - counts["inserted"] - counts["updated"] - counts["kept_drive"]
    return counts


MAX_LISTED_FAILURES = 1000
"""A try lists at most this many failed account ids (with their reason) in its counts: enough to name
every gap of a bad hour without turning a `pipeline_run` row into megabytes."""


class CollectionIncomplete(Exception):
    """Some accounts of the shard still have no snapshot after every retry of transient errors."""


def transient_gaps(counts: Mapping[str, Any]) -> int:
    """Accounts a try left without a snapshot for reasons a retry can fix (Drive or token endpoint)."""
    return int(counts.get("failed_transient") or 0) + int(counts.get("token_unavailable") or 0)


def check_shard(counts: Mapping[str, Any]) -> None:
    """Raise (so Airflow retries the shard, which re-collects only missing accounts) on transient gaps.

    The caller records the try's counts first: a failed try's work is never lost from the summary."""
    missing = transient_gaps(counts)
    if missing:
        raise CollectionIncomplete(
            f"{missing} account(s) got no snapshot after retries (Drive or token endpoint): {counts.get('top_errors')}"
        )


def _list_failure(failures: dict[str, str], account_id: uuid.UUID, reason: str) -> None:
    """Name the account a try could not collect, and why (at most MAX_LISTED_FAILURES a try)."""
    if len(failures) < MAX_LISTED_FAILURES:
        failures[str(account_id)] = reason


def _chunks(items: Sequence[uuid.UUID], size: int, first: int) -> Iterable[Sequence[uuid.UUID]]:
    """`first` accounts, then twice as many each time up to `size`: the first batch leaves as soon as a
    batch's tokens are ready, and each next chunk's tokens are fetched while the one before is sent."""
    start, step = 0, max(1, min(first, size))
    while start < len(items):
        yield items[start : start + step]
        start, step = start + step, min(size, step * 2)


TokenOutcome = str | type[Exception]


class ShardCollector:
    """Collects one shard for one interval; `run` returns the counts the task reports."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        tokens: TokenService,
        client: DriveQuotaClient,
        *,
        clock: Clock = utcnow,
        chunk_size: int = 500,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.tokens = tokens
        self.client = client
        self.clock = clock
        self.chunk_size = max(1, chunk_size)

    def accounts(self, shard: dict[str, Any], interval: Interval, *, only_missing: bool) -> list[uuid.UUID]:
        with self.engine.connect() as conn:
            return list(
                conn.scalars(
                    load_sql("collect_shard_accounts"),
                    {
                        "first_id": uuid.UUID(shard["first_id"]),
                        "last_id": uuid.UUID(shard["last_id"]),
                        "interval_start": interval.start,
                        "only_missing": only_missing,
                    },
                )
            )

    def _token(self, account_id: uuid.UUID, reject: str | None = None) -> TokenOutcome:
        """A fresh token, or the exception class saying why there is none (never raises for those)."""
        try:
            return self.tokens.get_access_token(
                account_id, min_valid_seconds=TOKEN_MIN_VALID_SECONDS, reject=reject
            ).token
        except (ReauthRequired, TokenUnavailable, UnknownAccount) as exc:
            return type(exc)

    @staticmethod
    def _count_missing_token(
        counts: Counter[str], outcome: type[Exception], failures: dict[str, str], account_id: uuid.UUID
    ) -> None:
        if outcome is ReauthRequired:
            counts["reauth_required"] += 1
            _list_failure(failures, account_id, "reauth_required")
        elif outcome is TokenUnavailable:
            counts["token_unavailable"] += 1
            _list_failure(failures, account_id, "token_unavailable")
        else:
            counts["vanished"] += 1

    def run(self, shard: dict[str, Any], interval: Interval, *, only_missing: bool = True) -> dict[str, Any]:
        counts: Counter[str] = Counter()
        account_ids = self.accounts(shard, interval, only_missing=only_missing)
        counts["accounts"] = len(account_ids)
        errors: Counter[str] = Counter()
        failures: dict[str, str] = {}
        threads = max(1, min(self.settings.pipelines.collect_token_threads, self.chunk_size))
        chunks = list(_chunks(account_ids, self.chunk_size, first=self.client.batch_size))
        writes: list[Future[Counter[str]]] = []
        with (
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="collect-token") as pool,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="collect-write") as writer,
        ):
            # The next chunk's tokens are fetched, and the last chunk's rows written, while this
            # chunk's batches wait for the budget: the budget never idles between chunks.
            # Parts of one chunk waiting out a backoff go out with the next chunk's batches.
            upcoming = pool.map(self._token, chunks[0]) if chunks else iter(())
            carried: list[Deferred] = []
            for i, chunk in enumerate(chunks):
                outcomes = upcoming
                last = i + 1 == len(chunks)
                if not last:
                    upcoming = pool.map(self._token, chunks[i + 1])
                rows, carried = self._collect_chunk(chunk, outcomes, counts, errors, failures, carried, last=last)
                writes.append(writer.submit(self._write, rows, interval))
            for write in writes:
                counts.update(write.result())
        out: dict[str, Any] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in counts.items()}
        if errors:
            out["top_errors"] = dict(errors.most_common(5))
        if failures:
            out["failures"] = failures
        return out

    def _write(self, rows: Sequence[SnapshotRow], interval: Interval) -> Counter[str]:
        """One chunk's snapshots in one transaction (on the writer thread)."""
        with self.engine.begin() as conn:
            return upsert_snapshots(conn, rows, interval, collected_at=self.clock())

    def _collect_chunk(
        self,
        chunk: Sequence[uuid.UUID],
        outcomes: Iterable[TokenOutcome],
        counts: Counter[str],
        errors: Counter[str],
        failures: dict[str, str],
        carried: list[Deferred],
        *,
        last: bool,
    ) -> tuple[list[SnapshotRow], list[Deferred]]:
        """The chunk's quotas (and the `carried` parts') through batches; returns the rows to write and,
        unless it is the `last` chunk, the parts still waiting out a backoff (counts what failed)."""
        fresh: dict[uuid.UUID, str] = {}
        for account_id, outcome in zip(chunk, outcomes, strict=True):
            if isinstance(outcome, str):
                fresh[account_id] = outcome
            else:
                self._count_missing_token(counts, outcome, failures, account_id)
        # Accounts whose 401 part found no new token: why (grant dead, token endpoint failing, gone).
        unrenewed: dict[uuid.UUID, type[Exception]] = {}

        def renew(key: Any, rejected: str) -> str | None:
            outcome = self._token(key, reject=rejected)
            if isinstance(outcome, str):
                return outcome
            unrenewed[key] = outcome
            return None

        result = self.client.fetch(fresh, renew=renew, carried=carried, defer=not last)
        rows = [SnapshotRow(account_id, quota) for account_id, quota in result.quotas.items()]
        counts["collected"] += len(rows)
        for key, error in result.errors.items():
            if error.kind is Failure.AUTH and key in unrenewed:
                self._count_missing_token(counts, unrenewed[key], failures, key)
                continue
            counts["failed_transient" if error.kind.retryable else f"failed_{error.kind.value}"] += 1
            _list_failure(failures, key, f"drive {error.kind.value}: {error.describe()[:120]}")
            errors[error.describe()[:120]] += 1
        for key, value in result.stats.as_dict().items():
            if key == "max_parts":
                counts[key] = max(counts[key], value)
            elif key != "accounts":
                counts[key] += value
        return rows, result.deferred
