"""`/api/storage/me`, the account list, an account's history and alerts: thin over
`driveguard.storage.reads.StorageReads` (which decides who may read what and does the work)."""

from __future__ import annotations

import uuid

import msgspec
from litestar import Controller, get
from litestar.params import Parameter

from api.auth.middleware import REQUEST_UNIT
from api.openapi import ADMIN, USER, with_problems
from api.storage.schemas import (
    AccountsResponse,
    AccountStatus,
    AlertsResponse,
    Direction,
    HistoryResponse,
    Level,
    MyStorageResponse,
    Resolution,
    SortKey,
)
from driveguard.db.engine import RequestUnit
from driveguard.identity.caller import Caller
from driveguard.storage.reads import MAX_PAGE, MAX_SEARCH_CHARS, AccountsQuery, StorageReads, parse_instant


class StorageReadsController(Controller):
    path = "/api/storage"
    tags = ["storage"]

    @get(
        "/me",
        sync_to_thread=True,
        summary="Your own storage: usage now, the last 30 days, trend and forecast",
        opt={REQUEST_UNIT: True},
        **with_problems(USER, 404),
    )
    def get_me(self, reads: StorageReads, caller: Caller, unit: RequestUnit | None) -> MyStorageResponse:
        # One transaction per request: the session lookup's, continued and committed here.
        storage = reads.me(reads.own_account(caller), unit=unit)
        return msgspec.convert(storage, MyStorageResponse, from_attributes=True)

    @get(
        "/accounts",
        sync_to_thread=True,
        summary="Accounts with their latest usage: sorted, filtered, keyset-paginated",
        **with_problems(ADMIN, 400),
    )
    def get_accounts(
        self,
        reads: StorageReads,
        sort: SortKey = Parameter(default="usage_percent", description="The order of the list"),
        direction: Direction = Parameter(default="desc"),
        level: Level | None = Parameter(default=None, description="Only accounts at this warning level"),
        status: AccountStatus | None = Parameter(default=None, description="Only accounts in this grant state"),
        search: str | None = Parameter(
            default=None, max_length=MAX_SEARCH_CHARS, description="Part of the email (case-insensitive)"
        ),
        limit: int = Parameter(default=50, ge=1, le=MAX_PAGE),
        cursor: str | None = Parameter(
            default=None, max_length=2000, description="`next_cursor` of the previous page (same sort)"
        ),
        collected_before: str | None = Parameter(
            default=None, description="Only accounts not collected since (stale) or never: a date or ISO 8601"
        ),
    ) -> AccountsResponse:
        stale = parse_instant(collected_before, "collected_before")
        query = AccountsQuery(sort, direction, level, status, search or None, limit, cursor, stale)
        return msgspec.convert(reads.accounts(query), AccountsResponse, from_attributes=True)

    @get(
        "/accounts/{account_id:uuid}/history",
        sync_to_thread=True,
        summary="One account's usage over time (raw, hourly or daily): your own, or any as admin",
        **with_problems(USER, 400, 403, 404),
    )
    def get_history(
        self,
        reads: StorageReads,
        caller: Caller,
        account_id: uuid.UUID,
        from_: str | None = Parameter(
            query="from", default=None, description="Start, inclusive: YYYY-MM-DD or ISO 8601 (UTC if no zone)"
        ),
        to: str | None = Parameter(default=None, description="End, exclusive (default: now)"),
        resolution: Resolution = Parameter(default="daily"),
    ) -> HistoryResponse:
        start, end = parse_instant(from_, "from"), parse_instant(to, "to")
        reads.check_access(caller, account_id)
        history = reads.history(account_id, start, end, resolution)
        return msgspec.convert(history, HistoryResponse, from_attributes=True)

    @get(
        "/accounts/{account_id:uuid}/alerts",
        sync_to_thread=True,
        summary="One account's alerts, newest first, with their delivery state: your own, or any as admin",
        **with_problems(USER, 400, 403, 404),
    )
    def get_alerts(
        self,
        reads: StorageReads,
        caller: Caller,
        account_id: uuid.UUID,
        limit: int = Parameter(default=50, ge=1, le=MAX_PAGE),
        cursor: str | None = Parameter(default=None, max_length=2000),
    ) -> AlertsResponse:
        reads.check_access(caller, account_id)
        return msgspec.convert(
            reads.alerts(account_id, limit=limit, cursor=cursor), AlertsResponse, from_attributes=True
        )
