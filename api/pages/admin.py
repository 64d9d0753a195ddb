"""`/admin`: the operators' pages. Sign-in, the overview, the account table and one account, the
pipelines with their controls.

Admins sign in on `/admin/login` with the existing ways to an admin JWT (a DRIVEGUARD_ADMIN_USERS
password, or a Google session whose email is in DRIVEGUARD_ADMIN_EMAILS); the token goes into an
HttpOnly, SameSite=Strict cookie that only these pages read, and lives as long as the token.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

import msgspec
from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template

from api.auth.cookies import CookiePolicy, cookie_value
from api.auth.middleware import caller_of
from api.pages.views import forecast_segment, history_chart, storage_views
from api.pages.web import SignInRequired, admin_cookie, admin_cookie_name, render, see_other, with_notice
from api.problems import status_for
from driveguard.airflow_api import PIPELINE_DAGS
from driveguard.audit import RequestContext
from driveguard.errors import DriveguardError, InvalidInput, Unauthenticated
from driveguard.identity.caller import Caller
from driveguard.identity.login import safe_next_path
from driveguard.identity.service import IdentityService
from driveguard.storage.grant_notices import GrantNoticeService
from driveguard.storage.highlights import HighlightsService
from driveguard.storage.monitoring_service import (
    BackfillOutcome,
    ControlCommand,
    ControlOutcome,
    MonitoringService,
    PauseOutcome,
)
from driveguard.storage.preferences import PreferencesInvalid, PreferencesService
from driveguard.storage.reads import (
    LEVELS,
    SORT_KEYS,
    STATUSES,
    AccountsQuery,
    Direction,
    SortKey,
    StorageReads,
)

Notice = Annotated[str | None, Parameter(query="notice", max_length=300, required=False)]
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
NEXT = Annotated[str | None, Parameter(query="next", max_length=512, required=False)]


class AdminLoginForm(msgspec.Struct):
    grant_type: Literal["password", "session"] = "password"
    username: Annotated[str, msgspec.Meta(max_length=64)] = ""
    password: Annotated[str, msgspec.Meta(max_length=1024)] = ""
    next: Annotated[str, msgspec.Meta(max_length=512)] = ""

    def __repr__(self) -> str:  # never show the password
        return f"AdminLoginForm(grant_type={self.grant_type!r}, username={self.username!r})"


class ControlForm(msgspec.Struct):
    action: Literal["pause", "resume", "trigger", "backfill"]
    dag_id: Annotated[str, msgspec.Meta(max_length=64)] = ""
    from_date: Annotated[str, msgspec.Meta(max_length=10)] = ""
    to_date: Annotated[str, msgspec.Meta(max_length=10)] = ""

    def command(self) -> ControlCommand:
        if self.dag_id and self.dag_id not in PIPELINE_DAGS:
            raise InvalidInput(f"Unknown pipeline {self.dag_id!r}.")

        def day(value: str, name: str) -> dt.date | None:
            if not value:
                return None
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise InvalidInput(f"{name} must be a date (YYYY-MM-DD).") from None

        return ControlCommand(
            action=self.action,
            dag_id=self.dag_id or None,
            from_date=day(self.from_date, "from_date"),
            to_date=day(self.to_date, "to_date"),
        )


def admin_of(request: Request[Any, Any, Any], identity: IdentityService, cookies: CookiePolicy) -> Caller:
    """The admin behind the admin cookie; without a valid one, off to the admin sign-in page."""
    token = cookie_value(request.scope, admin_cookie_name(cookies))
    if token:
        try:
            caller = identity.authenticate_bearer(token)
        except Unauthenticated:
            caller = None
        if caller is not None and caller.is_admin:
            return caller
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise SignInRequired(f"/admin/login?next={quote(target, safe='')}")


def account_context(
    admin: Caller,
    account_id: uuid.UUID,
    reads: StorageReads,
    preferences: PreferencesService,
    grant_notices: GrantNoticeService,
    days: int,
) -> dict[str, Any]:
    """Everything one account's admin page shows."""
    reads.check_access(admin, account_id)
    storage = reads.me(account_id)
    meter, chart, outlook = storage_views(storage, f"Storage of {storage.email} over the last 30 days")
    if days != 30:
        resolution = "hourly" if days <= 7 else "daily"
        to = reads.clock()
        history = reads.history(account_id, to - dt.timedelta(days=days), to, resolution)
        limit = storage.usage.limit_bytes if storage.usage else None
        t = storage.thresholds
        title = f"Storage of {storage.email} over the last {days} days"
        chart = history_chart(history, title, limit, t.warning_percent, t.critical_percent,
                              forecast_segment(storage.forecast, history, limit))  # fmt: skip
    return {
        "admin": admin,
        "storage": storage,
        "usage": storage.usage,
        "gauge": meter,
        "chart": chart,
        "forecast": outlook,
        "days": days,
        "alerts": reads.alerts(account_id, limit=25).items,
        "grant_notices": grant_notices.notices(account_id, limit=10),
        "preferences": preferences.get(account_id, admin),
        "pref_action": f"/admin/accounts/{account_id}/preferences",
        "section": "accounts",
    }


def choice(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    """A filter's value: empty means any; anything else must be one of `allowed`."""
    if not value:
        return None
    if value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}")
    return value


def listing_url(sort: str, direction: str, filters: dict[str, Any], cursor: str | None = None) -> str:
    params = {"sort": sort, "direction": direction, **{k: v for k, v in filters.items() if v not in ("", None, 0)}}
    if cursor:
        params["cursor"] = cursor
    return "/admin/accounts?" + urlencode(params)


def sort_links(sort: str, direction: str, filters: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Per sortable column: the link that sorts by it (toggling the direction when it is the current
    one) and its `aria-sort` value."""
    links: dict[str, dict[str, str]] = {}
    for key in SORT_KEYS:
        current = key == sort
        default = "asc" if key in ("email", "last_collected") else "desc"
        flipped = "asc" if direction == "desc" else "desc"
        links[key] = {
            "href": listing_url(key, flipped if current else default, filters),
            "aria": ("ascending" if direction == "asc" else "descending") if current else "none",
        }
    return links


def airflow_links(monitoring: MonitoringService) -> dict[str, str]:
    """Where each pipeline lives in the Airflow UI (served by the same Airflow API server)."""
    base = monitoring.settings.airflow.api_url.rstrip("/")
    return {dag_id: f"{base}/dags/{quote(dag_id)}" for dag_id in PIPELINE_DAGS}


class AdminAuthPages(Controller):
    path = "/admin"
    include_in_schema = False

    @get("/login")
    async def login_form(
        self, request: Request[Any, Any, Any], next_path: NEXT = None, notice: Notice = None
    ) -> Template:
        caller = caller_of(request)
        google_email = caller.subject if caller is not None and caller.kind == "session" else None
        return render(
            "admin/login.html", next=safe_next_path(next_path) or "/admin", google_email=google_email, notice=notice
        )

    @post("/login", sync_to_thread=True, status_code=303)
    def login(
        self,
        request: Request[Any, Any, Any],
        identity: IdentityService,
        cookie_policy: CookiePolicy,
        context: RequestContext,
        data: Annotated[AdminLoginForm, FORM],
    ) -> Redirect | Template:
        next_path = safe_next_path(data.next) if data.next.startswith("/admin") else None
        try:
            issued = identity.issue_admin_token(
                grant_type=data.grant_type,
                username=data.username or None,
                password=data.password or None,
                caller=caller_of(request),
                context=context,
            )
        except DriveguardError as exc:
            caller = caller_of(request)
            return render(
                "admin/login.html",
                status_code=status_for(exc),
                next=next_path or "/admin",
                google_email=caller.subject if caller is not None and caller.kind == "session" else None,
                error=exc.detail,
                username=data.username,
            )
        cookie = admin_cookie(cookie_policy, issued.token, issued.expires_in)
        return see_other(next_path or "/admin", cookies=[cookie])

    @post("/logout", status_code=303)
    async def logout(self, cookie_policy: CookiePolicy) -> Redirect:
        return see_other(
            with_notice("/admin/login", "Signed out of the admin pages."), [admin_cookie(cookie_policy, "", 0)]
        )


class AdminPages(Controller):
    path = "/admin"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def overview(
        self,
        request: Request[Any, Any, Any],
        identity: IdentityService,
        monitoring: MonitoringService,
        reads: StorageReads,
        highlights: HighlightsService,
        grant_notices: GrantNoticeService,
        cookie_policy: CookiePolicy,
        notice: Notice = None,
    ) -> Template:
        admin = admin_of(request, identity, cookie_policy)
        totals = monitoring.overview(level=None, limit=1, offset=0).totals
        fullest = reads.accounts(AccountsQuery(sort="usage_percent", direction="desc", limit=10))
        lists = highlights.highlights(limit=10)
        reconsent = reads.accounts(AccountsQuery(sort="email", direction="asc", status="reauth_required", limit=50))
        open_notices = {n.account_id: n for n in grant_notices.notices(limit=200) if n.open}
        return render(
            "admin/overview.html",
            admin=admin,
            notice=notice,
            totals=totals,
            fullest=fullest.items,
            fastest=lists.fastest_growing,
            stale=lists.stale,
            stale_before=lists.stale_before,
            reconsent=reconsent.items,
            reconsent_more=reconsent.next_cursor is not None,
            open_notices=open_notices,
            section="overview",
        )

    @get("/accounts", sync_to_thread=True)
    def accounts(
        self,
        request: Request[Any, Any, Any],
        identity: IdentityService,
        reads: StorageReads,
        highlights: HighlightsService,
        cookie_policy: CookiePolicy,
        sort: Annotated[SortKey, Parameter(required=False)] = "usage_percent",
        direction: Annotated[Direction, Parameter(required=False)] = "desc",
        level: Annotated[str | None, Parameter(max_length=32, required=False)] = None,
        status: Annotated[str | None, Parameter(max_length=32, required=False)] = None,
        q: Annotated[str | None, Parameter(max_length=320, required=False)] = None,
        limit: Annotated[int, Parameter(ge=1, le=200, required=False)] = 25,
        cursor: Annotated[str | None, Parameter(max_length=1024, required=False)] = None,
        stale: Annotated[bool, Parameter(required=False)] = False,
    ) -> Template:
        admin = admin_of(request, identity, cookie_policy)
        # The filter form sends "" for "any".
        level, status = choice(level, LEVELS, "level"), choice(status, STATUSES, "status")
        query = AccountsQuery(
            sort=sort,
            direction=direction,
            level=level,  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
            search=q or None,
            limit=limit,
            cursor=cursor,
            collected_before=highlights.stale_before() if stale else None,
        )
        page = reads.accounts(query)
        filters = {"level": level or "", "status": status or "", "q": q or "", "limit": limit, "stale": int(stale)}
        return render(
            "admin/accounts.html",
            admin=admin,
            page=page,
            filters=filters,
            sort_links=sort_links(sort, direction, filters),
            next_link=listing_url(sort, direction, filters, page.next_cursor) if page.next_cursor else None,
            first_link=listing_url(sort, direction, filters) if cursor else None,
            levels=LEVELS,
            statuses=STATUSES,
            section="accounts",
        )

    @get("/accounts/{account_id:uuid}", sync_to_thread=True)
    def account(
        self,
        request: Request[Any, Any, Any],
        account_id: uuid.UUID,
        identity: IdentityService,
        reads: StorageReads,
        preferences: PreferencesService,
        grant_notices: GrantNoticeService,
        cookie_policy: CookiePolicy,
        days: Annotated[Literal[7, 30, 90, 365], Parameter(required=False)] = 30,
        notice: Notice = None,
    ) -> Template:
        admin = admin_of(request, identity, cookie_policy)
        page = account_context(admin, account_id, reads, preferences, grant_notices, days)
        return render("admin/account.html", **page, notice=notice)

    @post("/accounts/{account_id:uuid}/preferences", sync_to_thread=True, status_code=303)
    def account_preferences(
        self,
        request: Request[Any, Any, Any],
        account_id: uuid.UUID,
        identity: IdentityService,
        reads: StorageReads,
        preferences: PreferencesService,
        grant_notices: GrantNoticeService,
        cookie_policy: CookiePolicy,
        context: RequestContext,
        data: Annotated[dict[str, str], FORM],
    ) -> Redirect | Template:
        admin = admin_of(request, identity, cookie_policy)
        reads.check_access(admin, account_id)
        try:
            preferences.update_from_form(account_id, data, admin, context)
        except PreferencesInvalid as exc:
            page = account_context(admin, account_id, reads, preferences, grant_notices, 30)
            return render("admin/account.html", status_code=400, **page, pref_errors=exc.errors, pref_form=data)
        return see_other(with_notice(f"/admin/accounts/{account_id}", "Preferences saved."))

    @get("/pipelines", sync_to_thread=True)
    def pipelines(
        self,
        request: Request[Any, Any, Any],
        identity: IdentityService,
        monitoring: MonitoringService,
        cookie_policy: CookiePolicy,
        notice: Notice = None,
    ) -> Template:
        admin = admin_of(request, identity, cookie_policy)
        status = monitoring.status()
        today = monitoring.clock().date()
        return render(
            "admin/pipelines.html",
            admin=admin,
            notice=notice,
            status=status,
            dags=PIPELINE_DAGS,
            links=airflow_links(monitoring),
            yesterday=today - dt.timedelta(days=1),
            week_ago=today - dt.timedelta(days=7),
            section="pipelines",
        )

    @post("/pipelines/control", sync_to_thread=True, status_code=303)
    def control(
        self,
        request: Request[Any, Any, Any],
        identity: IdentityService,
        monitoring: MonitoringService,
        cookie_policy: CookiePolicy,
        context: RequestContext,
        data: Annotated[ControlForm, FORM],
    ) -> Redirect:
        admin = admin_of(request, identity, cookie_policy)
        try:
            outcome = monitoring.control(admin.subject, context, data.command())
        except DriveguardError as exc:
            return see_other(with_notice("/admin/pipelines", f"{exc.title}: {exc.detail}"))
        return see_other(with_notice("/admin/pipelines", describe(outcome)))


def describe(outcome: ControlOutcome) -> str:
    """One sentence for the notice after a control: what Airflow did."""
    if isinstance(outcome, PauseOutcome):
        states = ", ".join(f"{d} {'paused' if p else 'running'}" for d, p in outcome.is_paused.items())
        return f"Done: {states}."
    if isinstance(outcome, BackfillOutcome):
        return f"Backfill of {outcome.dag_id} from {outcome.from_date} to {outcome.to_date} started."
    return f"Run {outcome.dag_run_id} of {outcome.dag_id} queued."
