"""`/` and `/me`: the start page and a signed-in person's own page (usage, history, forecast,
sessions, alert preferences, and the call to reconnect Google when the grant needs consent).

Thin over the services: each handler reads what it shows from them and renders a template; forms
post here (CSRF-checked by the pages router) and redirect back with a notice.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template

from api.auth.middleware import caller_of
from api.oauth.controller import REAUTH_URL
from api.pages.views import storage_views
from api.pages.web import SignInRequired, render, see_other, with_notice
from driveguard.audit import RequestContext
from driveguard.identity.caller import Caller
from driveguard.identity.service import IdentityService
from driveguard.storage.grant_notices import GrantNoticeService
from driveguard.storage.preferences import PreferencesInvalid, PreferencesService
from driveguard.storage.reads import StorageReads

Notice = Annotated[str | None, Parameter(query="notice", max_length=200, required=False)]
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


class RevokeSessionForm(msgspec.Struct):
    """(The form also carries `_csrf_token`, checked by the middleware before the handler runs.)"""

    target: Literal["session", "all_sessions"]
    session_id: uuid.UUID | None = None


def me_context(
    caller: Caller,
    identity: IdentityService,
    reads: StorageReads,
    preferences: PreferencesService,
    grant_notices: GrantNoticeService,
) -> dict[str, Any]:
    """Everything `/me` shows, from the services."""
    status = identity.status(caller)
    assert caller.account_id is not None  # a session always belongs to an account
    storage = reads.me(caller.account_id)
    meter, chart, outlook = storage_views(storage, "Your storage over the last 30 days")
    return {
        "caller": caller,
        "grant": status.grant,
        "sessions": status.sessions,
        "needs_consent": status.needs_consent,
        "reconnect_url": f"{REAUTH_URL}&next=/me",
        "storage": storage,
        "usage": storage.usage,
        "gauge": meter,
        "chart": chart,
        "forecast": outlook,
        "preferences": preferences.get(caller.account_id, caller),
        "pref_action": "/me/preferences",
        "grant_notices": [n for n in grant_notices.notices(caller.account_id, limit=5) if n.open],
    }


def signed_in_person(request: Request[Any, Any, Any]) -> Caller:
    """The person behind the session cookie; anyone else is sent to the start page to sign in."""
    caller = caller_of(request)
    if caller is None or caller.kind != "session":
        raise SignInRequired("/")
    return caller


class PersonPages(Controller):
    include_in_schema = False

    @get("/")
    async def home(self, request: Request[Any, Any, Any], notice: Notice = None) -> Template | Redirect:
        caller = caller_of(request)
        if caller is not None and caller.kind == "session":
            return see_other("/me")
        return render("home.html", notice=notice)

    @get("/me", sync_to_thread=True)
    def me(
        self,
        request: Request[Any, Any, Any],
        identity: IdentityService,
        reads: StorageReads,
        preferences: PreferencesService,
        grant_notices: GrantNoticeService,
        notice: Notice = None,
    ) -> Template:
        caller = signed_in_person(request)
        return render("me.html", **me_context(caller, identity, reads, preferences, grant_notices), notice=notice)

    @post("/me/preferences", sync_to_thread=True, status_code=303)
    def update_preferences(
        self,
        request: Request[Any, Any, Any],
        identity: IdentityService,
        reads: StorageReads,
        preferences: PreferencesService,
        grant_notices: GrantNoticeService,
        context: RequestContext,
        data: Annotated[dict[str, str], FORM],
    ) -> Redirect | Template:
        caller = signed_in_person(request)
        assert caller.account_id is not None
        try:
            preferences.update_from_form(caller.account_id, data, caller, context)
        except PreferencesInvalid as exc:
            page = me_context(caller, identity, reads, preferences, grant_notices)
            return render("me.html", status_code=400, **page, pref_errors=exc.errors, pref_form=data)
        return see_other(with_notice("/me", "Your alert preferences are saved."))

    @post("/me/sessions/revoke", sync_to_thread=True, status_code=303)
    def revoke_sessions(
        self,
        request: Request[Any, Any, Any],
        identity: IdentityService,
        context: RequestContext,
        data: Annotated[RevokeSessionForm, FORM],
    ) -> Redirect:
        caller = signed_in_person(request)
        if data.target == "session" and data.session_id is None:
            return see_other(with_notice("/me", "Choose a session to sign out."))
        revocation = identity.revoke(
            caller, context, target=data.target, confirm=True, session_id=data.session_id, account_id=caller.account_id
        )
        own_session = caller.session.session_id if caller.session else None
        if data.target == "all_sessions" or data.session_id == own_session:
            everywhere = data.target == "all_sessions"
            return see_other(
                with_notice("/", "You are signed out everywhere." if everywhere else "You are signed out.")
            )
        message = "That session is signed out." if revocation.changed else "That session had already ended."
        return see_other(with_notice("/me", message))
