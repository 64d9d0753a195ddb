"""Drive v3 `about.get(fields=storageQuota)` for one account, or for many through batches.

A batch carries at most 100 parts, each with its own account's credentials; the batch URL
comes from settings (never `service.new_batch_http_request()`, which ignores the configured
endpoint). Access tokens are made fresh by the token service *before* a batch is built; the
credentials handed to the library never refresh themselves, so one dead grant can never
abort a whole batch with `RefreshError`. A part Google answers 401 (a token it expired early)
asks the caller's `renew` for a new token, and the library's one re-send carries it. Parts that
come back rate limited (429, 403 `rateLimitExceeded`) or failing (5xx) are retried alone with
exponential backoff and jitter; a batch whose round trip fails as a whole retries all its parts.
Every part passes the limiter first, and batches are sized to what one second of the budget
allows (see `budget`).
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import logging
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import google.auth.credentials
import google_auth_httplib2
import httplib2
from googleapiclient.discovery import build
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest

from driveguard.backoff import Backoff
from driveguard.config import Settings
from driveguard.google.budget import LocalBudget, RateLimiter
from driveguard.google.retry import Failure, GoogleError, api_backoff, google_error, transport_error

logger = logging.getLogger(__name__)

MAX_BATCH_PARTS = 100
STALE_CONNECTION_ERRORS = (BrokenPipeError, http.client.RemoteDisconnected)
"""Writing to, or reading the first byte from, a kept-alive connection the server already closed:
the request was not received (a reset after it was received is a failed round trip, not this)."""
ABOUT_FIELDS = "storageQuota"


@dataclass(frozen=True)
class StorageQuota:
    """`about.storageQuota` in bytes; `limit` is None for unlimited storage."""

    usage: int
    limit: int | None
    usage_in_drive: int | None
    usage_in_trash: int | None

    @property
    def unlimited(self) -> bool:
        return self.limit is None


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)  # Google sends int64 as strings


def parse_storage_quota(payload: Mapping[str, Any]) -> StorageQuota:
    """Parse an `about` response; raises ValueError when `storageQuota.usage` is missing or bad."""
    quota = payload.get("storageQuota")
    if not isinstance(quota, Mapping) or quota.get("usage") in (None, ""):
        raise ValueError("response has no storageQuota.usage")
    usage = _int(quota.get("usage"))
    limit = _int(quota.get("limit"))
    if usage is None or usage < 0:
        raise ValueError("storageQuota.usage is negative")
    return StorageQuota(
        usage=usage,
        limit=limit if limit is not None and limit > 0 else None,
        usage_in_drive=_int(quota.get("usageInDrive")),
        usage_in_trash=_int(quota.get("usageInDriveTrash")),
    )


Renew = Callable[[Hashable, str], str | None]
"""(key, the token Google answered 401 to) -> a new token, or None when there is none to be had."""


class AccessTokenCredentials(google.auth.credentials.Credentials):
    """A bare access token that never refreshes itself: the token service owns refresh.

    Without an expiry google-auth treats it as valid, so the client library applies it to its
    batch part as is. On a 401 the library calls `refresh` and re-sends the part once: `on_401`
    (given the rejected token) may hand back a new token, which that one re-send then carries.
    """

    def __init__(self, token: str, on_401: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        self.token = token
        self.rejected = 0
        self._on_401 = on_401

    def refresh(self, request: Any) -> None:  # the library calls it before re-sending a 401 part
        self.rejected += 1
        if self._on_401 is not None:
            fresh = self._on_401(self.token)
            if fresh:
                self.token = fresh


@dataclass
class BatchStats:
    """What one `fetch` did on the wire (reported by the collect task)."""

    accounts: int = 0
    batches: int = 0
    http_round_trips: int = 0
    parts_sent: int = 0
    max_parts: int = 0
    retried_parts: int = 0
    rate_limited_parts: int = 0
    server_error_parts: int = 0
    auth_error_parts: int = 0
    auth_renewed_parts: int = 0
    failed_round_trips: int = 0
    backoff_seconds: float = 0.0
    limiter_wait_seconds: float = 0.0
    late_rebookings: int = 0
    stale_connection_resends: int = 0
    """Round trips sent again on a new connection: the kept-alive one was closed while the task waited."""
    """Sends that woke up late and booked again (a loaded machine; see `budget.LATE_SECONDS`)."""

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class _Item:
    key: Hashable
    token: str
    attempts: int = 0


Deferred = tuple[float, _Item]
"""A part waiting out its backoff: (due on the client's clock, the part), carried to the next `fetch`."""


@dataclass
class FetchResult:
    quotas: dict[Hashable, StorageQuota] = field(default_factory=dict)
    errors: dict[Hashable, GoogleError] = field(default_factory=dict)
    stats: BatchStats = field(default_factory=BatchStats)
    deferred: list[Deferred] = field(default_factory=list)
    """With `defer=True`: parts still waiting out a backoff, for the caller's next `fetch`."""


def drive_service(settings: Settings, http: httplib2.Http | None = None) -> Any:
    """The Drive v3 client from the bundled discovery document, aimed at the configured endpoint."""
    return build(
        "drive",
        "v3",
        static_discovery=True,
        cache_discovery=False,
        http=http or httplib2.Http(timeout=settings.google.request_timeout_seconds),
        client_options={"api_endpoint": settings.google.endpoints.drive_api_url},
    )


class DriveQuotaClient:
    """Fetches storage quotas for many accounts through batches, within the rate limit."""

    def __init__(
        self,
        settings: Settings,
        *,
        limiter: RateLimiter | None = None,
        backoff: Backoff | None = None,
        batch_size: int | None = None,
        max_attempts: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport_factory: Callable[[], httplib2.Http] | None = None,
    ) -> None:
        self.settings = settings
        self.batch_uri = settings.google.endpoints.drive_batch_url
        self.batch_size = min(MAX_BATCH_PARTS, batch_size or settings.pipelines.batch_size)
        self.backoff = backoff or api_backoff(settings)
        self.max_attempts = max_attempts or self.backoff.max_attempts
        self.sleep = sleep
        self.clock = clock
        self.limiter: RateLimiter = limiter or LocalBudget(
            settings.google.rate_limit_per_minute, batch_size=self.batch_size, sleep=sleep, clock=clock
        )
        timeout = settings.google.request_timeout_seconds
        self._transport_factory = transport_factory or (lambda: httplib2.Http(timeout=timeout))
        self._transport = self._transport_factory()
        self._service = drive_service(settings, self._transport)

    # -- one account -----------------------------------------------------------------------
    def about(self, access_token: str) -> StorageQuota:
        """One `about.get` with retries (used outside the pipelines, e.g. right after sign-in)."""
        result = self.fetch({"one": access_token})
        if "one" in result.quotas:
            return result.quotas["one"]
        raise DriveError(result.errors["one"])

    # -- many accounts ---------------------------------------------------------------------
    def fetch(
        self,
        tokens: Mapping[Hashable, str],
        *,
        renew: Renew | None = None,
        carried: list[Deferred] | None = None,
        defer: bool = False,
    ) -> FetchResult:
        """Quotas for every key in `tokens` (key -> fresh access token); failures per key.

        `renew` is asked for a new token when Google answers 401 to a part; the part is then re-sent
        once with it (a part whose token cannot be renewed, or that fails again, ends as AUTH).
        `carried`: parts an earlier `fetch` deferred (they end in this result). `defer=True` returns
        as soon as only parts waiting out a backoff are left (in `deferred`) instead of sleeping, so
        the caller's next accounts use the budget meanwhile.
        """
        result = FetchResult()
        result.stats.accounts = len(tokens)
        counter = itertools.count()
        queue: list[tuple[float, int, _Item]] = [(0.0, next(counter), _Item(k, t)) for k, t in tokens.items()]
        queue += [(due, next(counter), item) for due, item in carried or ()]
        heapq.heapify(queue)
        while queue:
            now = self.clock()
            if queue[0][0] > now and defer:
                result.deferred = [(due, item) for due, _, item in queue]
                break
            if queue[0][0] > now:
                pause = queue[0][0] - now
                result.stats.backoff_seconds += pause
                self.sleep(pause)
                continue
            ready: list[_Item] = []
            size = max(1, min(self.batch_size, self.limiter.parts_allowed()))  # what one window allows
            while queue and queue[0][0] <= now and len(ready) < size:
                ready.append(heapq.heappop(queue)[2])
            outcomes = self._send(ready, result.stats, renew)
            throttled = False
            clean = 0
            for item in ready:
                outcome = outcomes[item.key]
                item.attempts += 1
                if isinstance(outcome, StorageQuota):
                    result.quotas[item.key] = outcome
                    clean += 1
                    continue
                if outcome.kind is Failure.RATE_LIMITED:
                    throttled = True
                else:
                    clean += 1
                if outcome.kind.retryable and item.attempts < self.max_attempts:
                    result.stats.retried_parts += 1
                    due = self.clock() + self.backoff.delay(item.attempts - 1, retry_after=outcome.retry_after)
                    heapq.heappush(queue, (due, next(counter), item))
                else:
                    result.errors[item.key] = outcome
            if throttled:
                self.limiter.throttle()
            else:
                self.limiter.recover(clean)
        return result

    def _send(
        self, items: list[_Item], stats: BatchStats, renew: Renew | None = None
    ) -> dict[Hashable, StorageQuota | GoogleError]:
        outcomes: dict[Hashable, StorageQuota | GoogleError] = {}
        ids = {str(i): item.key for i, item in enumerate(items)}

        def on_part(request_id: str, response: Any, exception: Exception | None) -> None:
            key = ids[request_id]
            if exception is None:
                try:
                    outcomes[key] = parse_storage_quota(response)
                except (ValueError, TypeError) as exc:
                    outcomes[key] = GoogleError(200, "invalidResponse", str(exc), Failure.PERMANENT)
                return
            if isinstance(exception, HttpError):
                retry_after = exception.resp.get("retry-after") if exception.resp is not None else None
                outcomes[key] = google_error(exception.resp.status, exception.content, retry_after)
            else:
                outcomes[key] = transport_error(exception)

        def on_401(item: _Item) -> Callable[[str], str | None]:
            def renewed(rejected: str) -> str | None:
                if renew is None:
                    return None
                try:
                    fresh = renew(item.key, rejected)
                except Exception:  # raised inside batch.execute it would lose every part of the batch
                    logger.exception("renewing the token of a 401 part failed")
                    return None
                if fresh:
                    item.token = fresh  # a later retry of this part (429, 5xx) carries it too
                    stats.auth_renewed_parts += 1
                return fresh

            return renewed

        batch = BatchHttpRequest(callback=on_part, batch_uri=self.batch_uri)
        credentials: list[AccessTokenCredentials] = []
        for request_id, item in zip(ids, items, strict=True):
            request = self._service.about().get(fields=ABOUT_FIELDS)
            creds = AccessTokenCredentials(item.token, on_401(item))
            credentials.append(creds)
            request.http = google_auth_httplib2.AuthorizedHttp(creds, http=self._transport)
            batch.add(request, request_id=request_id)
        wire = _BookingTransport(self._transport, self.limiter, stats, first=len(items), credentials=credentials)
        stats.batches += 1
        stats.http_round_trips += 1
        stats.parts_sent += len(items)
        stats.max_parts = max(stats.max_parts, len(items))
        try:
            batch.execute(http=wire)
        except (HttpError, BatchError, httplib2.HttpLib2Error, OSError, ValueError) as exc:
            stats.failed_round_trips += 1
            if isinstance(exc, HttpError):
                error = google_error(exc.resp.status, exc.content, exc.resp.get("retry-after"))
                if not error.kind.retryable:
                    error = GoogleError(error.status, error.reason, error.message, Failure.TRANSIENT)
            else:
                error = transport_error(exc)
            logger.warning("Drive batch of %d parts failed as a whole: %s", len(items), error.describe())
            self._transport = self._transport_factory()  # a broken connection is not reused
            return {item.key: error for item in items}
        for item in items:
            outcome = outcomes.get(item.key)
            if outcome is None:
                outcomes[item.key] = GoogleError(0, "missingPart", "no response part", Failure.TRANSIENT)
            elif isinstance(outcome, GoogleError):
                if outcome.kind is Failure.RATE_LIMITED:
                    stats.rate_limited_parts += 1
                elif outcome.kind is Failure.TRANSIENT:
                    stats.server_error_parts += 1
        auth_errors = sum(c.rejected for c in credentials)
        if auth_errors:
            # The library re-sent the 401 parts once, in a second round trip, before calling back.
            stats.auth_error_parts += auth_errors
            stats.http_round_trips += 1
            stats.parts_sent += auth_errors
        return outcomes


class _BookingTransport:
    """The batch's transport, booking each round trip's parts right before they go on the wire.

    `batch.execute` spends tens of milliseconds (more on a loaded machine) building the multipart
    body after it is called; booked before that, the parts would arrive late by a varying amount
    and a late batch followed by a prompt one overruns a window. Booked here, they leave at their
    booked time. The library's second round trip re-sends the 401 parts (their new tokens), which
    Google counts too: that round trip books as many parts as were rejected.
    """

    def __init__(
        self,
        http: httplib2.Http,
        limiter: RateLimiter,
        stats: BatchStats,
        *,
        first: int,
        credentials: list[AccessTokenCredentials],
    ) -> None:
        self._http = http
        self._limiter = limiter
        self._stats = stats
        self._first = first
        self._credentials = credentials
        self._booked_resends = 0
        self._round_trips = 0

    def _parts(self) -> int:
        if self._round_trips == 0:
            return self._first
        rejected = sum(c.rejected for c in self._credentials)
        resends, self._booked_resends = rejected - self._booked_resends, rejected
        return max(1, resends)

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        parts = self._parts()
        self._round_trips += 1
        stats = getattr(self._limiter, "stats", None)
        rebooked = getattr(stats, "rebookings", 0)
        self._stats.limiter_wait_seconds += self._limiter.acquire(parts)
        self._stats.late_rebookings += getattr(stats, "rebookings", 0) - rebooked
        try:
            return self._http.request(uri, method=method, body=body, headers=headers, **kwargs)
        except STALE_CONNECTION_ERRORS:
            # The kept-alive connection had been closed by the other end while the task waited for the
            # budget (a server's idle timeout is seconds): the request never arrived, so it goes once
            # more, at once, on a new connection, instead of failing a whole batch into backoff.
            for connection in list(getattr(self._http, "connections", {}).values()):
                connection.close()
            getattr(self._http, "connections", {}).clear()
            self._stats.stale_connection_resends += 1
            return self._http.request(uri, method=method, body=body, headers=headers, **kwargs)


class DriveError(Exception):
    def __init__(self, error: GoogleError) -> None:
        self.error = error
        super().__init__(error.describe())
