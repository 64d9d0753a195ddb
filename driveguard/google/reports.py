"""Admin SDK Reports `userUsageReport.get(userKey='all', date=…)`: a Workspace domain's daily usage.

Used to backfill history. Data for a date appears two to three days late; asking too early
answers either 200 with a `DATA_NOT_AVAILABLE` warning or a 400 saying data for later dates
"is not yet available". Both raise `DataNotYetAvailable` (try later), never zero usage.
A `PARTIAL_DATA_AVAILABLE` warning means some users are missing from the day: what is there is
real, the client yields it and sets `partial` (the caller stores it and asks again later).
Pages are followed with `pageToken`; 429/5xx are retried with backoff.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import google_auth_httplib2
import httplib2
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from driveguard.backoff import Backoff
from driveguard.config import Settings
from driveguard.google.drive import AccessTokenCredentials
from driveguard.google.ratelimit import TokenBucket
from driveguard.google.retry import GoogleError, api_backoff, google_error, transport_error

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
PARAMETERS = (
    "accounts:used_quota_in_mb",
    "accounts:drive_used_quota_in_mb",
    "accounts:gmail_used_quota_in_mb",
    "accounts:total_quota_in_mb",
)
NOT_AVAILABLE_CODES = frozenset({"DATA_NOT_AVAILABLE"})
PARTIAL_CODES = frozenset({"PARTIAL_DATA_AVAILABLE"})
_NOT_READY_PHRASES = ("not yet available", "is not available", "later than")


class DataNotYetAvailable(Exception):
    """Google has no usage data for this date yet: try again later (never store zero)."""

    def __init__(self, date: dt.date, detail: str) -> None:
        self.date = date
        super().__init__(f"usage data for {date.isoformat()} is not yet available: {detail[:200]}")


class ReportsError(Exception):
    def __init__(self, error: GoogleError) -> None:
        self.error = error
        super().__init__(error.describe())


@dataclass(frozen=True)
class UserUsage:
    """One user's storage on one day, in bytes (Google reports MiB)."""

    email: str
    date: dt.date
    usage_bytes: int
    usage_in_drive_bytes: int | None
    usage_in_gmail_bytes: int | None
    limit_bytes: int | None


def reports_service(settings: Settings, access_token: str, http: httplib2.Http | None = None) -> Any:
    transport = http or httplib2.Http(timeout=settings.google.request_timeout_seconds)
    return build(
        "admin",
        "reports_v1",
        static_discovery=True,
        cache_discovery=False,
        http=google_auth_httplib2.AuthorizedHttp(AccessTokenCredentials(access_token), http=transport),
        client_options={"api_endpoint": settings.google.endpoints.admin_api_url},
    )


def _mb(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    return int(value)


def parse_report(item: dict[str, Any], date: dt.date) -> UserUsage | None:
    """One `usageReport` entry; None when it carries no usable used-quota figure."""
    entity = item.get("entity") or {}
    email = str(entity.get("userEmail") or "").lower()
    params = {p.get("name"): p.get("intValue") for p in item.get("parameters") or [] if isinstance(p, dict)}
    used = _mb(params, "accounts:used_quota_in_mb")
    if not email or used is None or used < 0:
        return None
    total = _mb(params, "accounts:total_quota_in_mb")
    drive = _mb(params, "accounts:drive_used_quota_in_mb")
    gmail = _mb(params, "accounts:gmail_used_quota_in_mb")
    return UserUsage(
        email=email,
        date=date,
        usage_bytes=used * MIB,
        usage_in_drive_bytes=drive * MIB if drive is not None and drive >= 0 else None,
        usage_in_gmail_bytes=gmail * MIB if gmail is not None and gmail >= 0 else None,
        limit_bytes=total * MIB if total is not None and total > 0 else None,  # -1: unlimited
    )


class ReportsClient:
    def __init__(
        self,
        settings: Settings,
        access_token: str,
        *,
        limiter: TokenBucket | None = None,
        backoff: Backoff | None = None,
        max_attempts: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = 1000,
    ) -> None:
        self.service = reports_service(settings, access_token)
        self.limiter = limiter or TokenBucket(settings.google.rate_limit_per_minute, sleep=sleep)
        self.backoff = backoff or api_backoff(settings)
        self.max_attempts = max_attempts or self.backoff.max_attempts
        self.sleep = sleep
        self.page_size = max(1, min(1000, page_size))
        self.pages = 0
        self.partial: str | None = None
        """The PARTIAL_DATA_AVAILABLE message of the last `usage()` read, None when the day was complete."""

    def _page(self, date: dt.date, page_token: str | None) -> dict[str, Any]:
        request = self.service.userUsageReport().get(
            userKey="all",
            date=date.isoformat(),
            parameters=",".join(PARAMETERS),
            maxResults=self.page_size,
            pageToken=page_token,
        )
        attempt = 0
        while True:
            attempt += 1
            self.limiter.acquire(1)
            try:
                page: dict[str, Any] = request.execute()
                self.pages += 1
                return page
            except HttpError as exc:
                error = google_error(exc.resp.status, exc.content, exc.resp.get("retry-after"))
                if exc.resp.status == 400 and any(p in error.message.lower() for p in _NOT_READY_PHRASES):
                    raise DataNotYetAvailable(date, error.message) from None
            except (httplib2.HttpLib2Error, OSError) as exc:
                error = transport_error(exc)
            if not error.kind.retryable or attempt >= self.max_attempts:
                raise ReportsError(error)
            delay = self.backoff.delay(attempt - 1, retry_after=error.retry_after)
            logger.info("Reports page for %s failed (%s); retrying in %.1fs", date, error.describe(), delay)
            self.sleep(delay)

    def usage(self, date: dt.date) -> Iterator[UserUsage]:
        """Every user's usage on `date`, following pages; raises DataNotYetAvailable when early and
        sets `partial` when any page says some users are missing."""
        page_token: str | None = None
        self.partial = None
        while True:
            page = self._page(date, page_token)
            warnings = page.get("warnings") or []
            for warning in warnings:
                if isinstance(warning, dict) and warning.get("code") in NOT_AVAILABLE_CODES:
                    raise DataNotYetAvailable(date, str(warning.get("message") or warning.get("code")))
                if isinstance(warning, dict) and warning.get("code") in PARTIAL_CODES:
                    self.partial = str(warning.get("message") or warning.get("code"))[:500]
            for item in page.get("usageReports") or []:
                parsed = parse_report(item, date)
                if parsed is not None:
                    yield parsed
            page_token = page.get("nextPageToken")
            if not page_token:
                return
