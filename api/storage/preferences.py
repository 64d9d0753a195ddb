"""A person's alert preferences and grant notices over HTTP: `/api/storage/me/...` for the signed-in
person, `/api/storage/accounts/{account_id}/...` and `/api/storage/grant-notices` for admins.

Thin over `PreferencesService` and `GrantNoticeService`: the body is typed here (msgspec, in the
OpenAPI schema), the rules (ranges, warning < critical, an apprise URL apprise accepts) are the
service's, and a personal target is only ever answered masked.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from litestar import Controller, get, put
from litestar.params import Parameter

from api.openapi import ADMIN, USER, with_problems
from driveguard.audit import RequestContext
from driveguard.errors import NotFound
from driveguard.identity.caller import Caller
from driveguard.storage.grant_notices import GrantNoticeService
from driveguard.storage.preferences import PreferencesService


class PreferencesUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields sent change. A threshold of null returns to the global one; `personal_target`
    null or "" removes it. Rules: 0 < warning < critical <= 100 (an unset side counts as the global
    value), warning above the hysteresis margin; the target an apprise URL Driveguard accepts."""

    warning_threshold_percent: float | msgspec.UnsetType | None = msgspec.UNSET
    critical_threshold_percent: float | msgspec.UnsetType | None = msgspec.UNSET
    alerts_enabled: bool | msgspec.UnsetType = msgspec.UNSET
    personal_target: str | msgspec.UnsetType | None = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        return {f: v for f in self.__struct_fields__ if (v := getattr(self, f)) is not msgspec.UNSET}


class PreferencesView(msgspec.Struct):
    account_id: uuid.UUID
    email: str
    alerts_enabled: bool
    warning_threshold_percent: float | None
    """The account's own value; null: the global one applies."""
    critical_threshold_percent: float | None
    effective_warning_threshold_percent: float
    effective_critical_threshold_percent: float
    personal_target: str | None
    """Masked: scheme, a hint of the user and the host (e.g. mailto://a***@example.com)."""
    updated_at: dt.datetime | None


class DeliveryView(msgspec.Struct):
    edge: str
    """reauth or recovered."""
    target: str
    """Masked."""
    status: str
    attempts: int
    sent_at: dt.datetime | None
    last_error: str | None


class GrantNoticeView(msgspec.Struct):
    episode_id: uuid.UUID
    account_id: uuid.UUID
    email: str
    account_status: str
    reason: str | None
    started_at: dt.datetime
    recovered_at: dt.datetime | None
    open: bool
    reconnect_url: str
    deliveries: list[DeliveryView]


def _own(caller: Caller) -> uuid.UUID:
    if caller.account_id is None:
        raise NotFound(
            "This admin token belongs to no Google account: use /api/storage/accounts/{account_id}/preferences.",
            code="no-own-account",
        )
    return caller.account_id


def _view(prefs: Any) -> PreferencesView:
    return msgspec.convert(prefs, PreferencesView, from_attributes=True)


def _notices(notices: list[Any]) -> list[GrantNoticeView]:
    return [
        GrantNoticeView(
            episode_id=n.episode_id, account_id=n.account_id, email=n.email, account_status=n.account_status,
            reason=n.reason, started_at=n.started_at, recovered_at=n.recovered_at, open=n.open,
            reconnect_url=n.reconnect_url,
            deliveries=msgspec.convert(n.deliveries, list[DeliveryView], from_attributes=True),
        )
        for n in notices
    ]  # fmt: skip


class PreferencesController(Controller):
    path = "/api/storage"
    tags = ["preferences"]

    @get("/me/preferences", sync_to_thread=True, summary="Your alert preferences", **with_problems(USER, 404))
    def my_preferences(self, preferences: PreferencesService, caller: Caller) -> PreferencesView:
        return _view(preferences.get(_own(caller), caller))

    @put(
        "/me/preferences",
        sync_to_thread=True,
        summary="Change your thresholds, alerts on/off, your own apprise target",
        **with_problems(USER, 400, 404),
    )
    def put_my_preferences(
        self, preferences: PreferencesService, caller: Caller, context: RequestContext, data: PreferencesUpdate
    ) -> PreferencesView:
        return _view(preferences.update(_own(caller), data.changes(), caller, context))

    @get(
        "/accounts/{account_id:uuid}/preferences",
        sync_to_thread=True,
        summary="An account's alert preferences",
        **with_problems(ADMIN, 400, 404),
    )
    def account_preferences(
        self, preferences: PreferencesService, caller: Caller, account_id: uuid.UUID
    ) -> PreferencesView:
        return _view(preferences.get(account_id, caller))

    @put(
        "/accounts/{account_id:uuid}/preferences",
        sync_to_thread=True,
        summary="Change an account's alert preferences",
        **with_problems(ADMIN, 400, 404),
    )
    def put_account_preferences(
        self,
        preferences: PreferencesService,
        caller: Caller,
        context: RequestContext,
        account_id: uuid.UUID,
        data: PreferencesUpdate,
    ) -> PreferencesView:
        return _view(preferences.update(account_id, data.changes(), caller, context))

    @get(
        "/me/grant-notices",
        sync_to_thread=True,
        summary="When Driveguard lost (and regained) your Google grant, and who was told",
        **with_problems(USER, 400, 404),
    )
    def my_grant_notices(
        self, grant_notices: GrantNoticeService, caller: Caller, limit: int = Parameter(default=20, ge=1, le=200)
    ) -> list[GrantNoticeView]:
        return _notices(grant_notices.notices(_own(caller), limit=limit))

    @get(
        "/grant-notices",
        sync_to_thread=True,
        summary="Lost Google grants of every account (open first) and their notices",
        **with_problems(ADMIN, 400),
    )
    def grant_notices_list(
        self,
        grant_notices: GrantNoticeService,
        account_id: uuid.UUID | None = Parameter(default=None, description="Only this account"),
        limit: int = Parameter(default=50, ge=1, le=500),
    ) -> list[GrantNoticeView]:
        return _notices(grant_notices.notices(account_id, limit=limit))
