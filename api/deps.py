"""What the controllers are given: the domain services (built once per app), the caller and the
request's audit context. Controllers declare them as parameters; nothing else is shared."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.di import Provide
from sqlalchemy import Engine

from api.auth.cookies import CookiePolicy
from api.auth.middleware import REQUEST_UNIT, caller_of
from driveguard.audit import RequestContext
from driveguard.clock import Clock
from driveguard.config import Settings
from driveguard.db.engine import RequestUnit
from driveguard.errors import Unauthenticated
from driveguard.identity.caller import Caller
from driveguard.identity.service import IdentityService
from driveguard.storage.grant_notices import GrantNoticeService
from driveguard.storage.highlights import HighlightsService
from driveguard.storage.monitoring_service import MonitoringService
from driveguard.storage.preferences import PreferencesService
from driveguard.storage.reads import StorageReads


def request_context(request: Request[Any, Any, Any]) -> RequestContext:
    """Who sent the request, for audit rows: the client address and user agent."""
    client = request.client
    return RequestContext.of(client.host if client else None, request.headers.get("user-agent"))


def signed_in_caller(request: Request[Any, Any, Any]) -> Caller:
    """The caller on a guarded route. The guard has already refused anonymous requests; should a
    route ever lose its guard, this still fails closed."""
    caller = caller_of(request)
    if caller is None:
        raise Unauthenticated("Sign in first.")
    return caller


def optional_caller(request: Request[Any, Any, Any]) -> Caller | None:
    return caller_of(request)


def request_unit(request: Request[Any, Any, Any]) -> RequestUnit | None:
    """The session lookup's open transaction, on routes that continue it (`opt={REQUEST_UNIT: True}`)."""
    unit = request.scope.get(REQUEST_UNIT)  # type: ignore[call-overload]
    return unit if isinstance(unit, RequestUnit) and unit.open else None


@dataclass
class Services:
    """The services of one application, and how to hand them to controllers."""

    settings: Settings
    engine: Engine
    identity: IdentityService
    monitoring: MonitoringService
    reads: StorageReads
    cookies: CookiePolicy
    preferences: PreferencesService
    grant_notices: GrantNoticeService
    highlights: HighlightsService

    @classmethod
    def build(cls, settings: Settings, engine: Engine, *, clock: Clock) -> Services:
        reads = StorageReads(settings, engine, clock=clock)
        return cls(
            settings=settings,
            engine=engine,
            identity=IdentityService(settings, engine, clock=clock),
            monitoring=MonitoringService.from_settings(settings, engine, clock=clock),
            reads=reads,
            cookies=CookiePolicy(secure=settings.security.session_cookie_secure, clock=clock),
            preferences=PreferencesService(settings, engine, clock=clock),
            grant_notices=GrantNoticeService(settings, engine, clock=clock),
            highlights=HighlightsService(settings, engine, reads, clock=clock),
        )

    def start(self) -> None:
        self.identity.start()

    def close(self) -> None:
        self.identity.close()
        self.monitoring.close()

    def dependencies(self) -> dict[str, Provide]:
        def constant(value: object) -> Provide:
            return Provide(lambda: value, use_cache=True, sync_to_thread=False)

        per_request: dict[str, Callable[..., Any]] = {
            "context": request_context,
            "caller": signed_in_caller,
            "maybe_caller": optional_caller,
            "unit": request_unit,
        }
        return {
            "settings": constant(self.settings),
            "engine": constant(self.engine),
            "identity": constant(self.identity),
            "monitoring": constant(self.monitoring),
            "reads": constant(self.reads),
            "cookie_policy": constant(self.cookies),
            "preferences": constant(self.preferences),
            "grant_notices": constant(self.grant_notices),
            "highlights": constant(self.highlights),
            **{name: Provide(provider, sync_to_thread=False) for name, provider in per_request.items()},
        }
