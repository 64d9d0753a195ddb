"""`create_app()`: the Litestar application, built from settings so tests can make their own."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.middleware import DefineMiddleware
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from api.auth.admin_token import AdminTokenController
from api.auth.controller import AuthController
from api.auth.middleware import CallerMiddleware
from api.deps import Services
from api.health.controller import HealthController
from api.oauth.controller import OAuthController
from api.openapi import StrictStructSchemaPlugin, openapi_config
from api.pages import pages_routers, template_config
from api.problems import domain_error, not_found, problem_details_plugin, unexpected_error
from api.request_input import CheckedRequest, reject_unstorable_parameters
from api.security_headers import add_security_headers, trust_proxies
from api.storage.controller import StorageController
from api.storage.preferences import PreferencesController
from api.storage.reads import StorageReadsController
from driveguard.clock import Clock, utcnow
from driveguard.config import Settings, get_settings, insecure_cookie_warning
from driveguard.db.engine import get_engine
from driveguard.errors import DriveguardError, Unavailable
from driveguard.google.discovery import with_discovered_endpoints

logger = logging.getLogger(__name__)


def database_error(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Any]:
    """A pooled connection the server dropped (a PostgreSQL restart) fails its request with a 503
    to retry: the pool does no pre-ping round trip per checkout, and SQLAlchemy has already
    invalidated the pool, so the next request connects afresh. Anything else is a 500."""
    if exc.connection_invalidated:
        return domain_error(request, Unavailable("The database connection was reset; try again.", retry_after=1))
    return unexpected_error(request, exc)


def create_app(settings: Settings | None = None, engine: Engine | None = None, *, clock: Clock = utcnow) -> Litestar:
    settings = with_discovered_endpoints(settings or get_settings())  # fails closed (ConfigError)
    if warning := insecure_cookie_warning(settings):
        logger.warning(warning)
    engine = engine or get_engine(settings, pre_ping=False)  # see make_engine: the errors path handles drops
    services = Services.build(settings, engine, clock=clock)
    app = Litestar(
        route_handlers=[
            HealthController,
            AuthController,
            AdminTokenController,
            OAuthController,
            StorageController,
            StorageReadsController,
            PreferencesController,
            *pages_routers(settings, services.cookies),
        ],
        template_config=template_config(),
        dependencies=services.dependencies(),
        middleware=[DefineMiddleware(CallerMiddleware, identity=services.identity, cookies=services.cookies)],
        state=State({"cookies": services.cookies, "read_audit": services.identity.read_audit}),
        on_startup=[services.start],
        on_shutdown=[services.close],
        request_class=CheckedRequest,
        before_request=reject_unstorable_parameters,
        plugins=[problem_details_plugin(), StrictStructSchemaPlugin()],
        exception_handlers={
            DriveguardError: domain_error,
            DBAPIError: database_error,
            NotFoundException: not_found,
            MethodNotAllowedException: not_found,
            Exception: unexpected_error,
        },
        openapi_config=openapi_config(services.cookies.session_cookie),
        before_send=[add_security_headers],
        debug=False,
    )
    trust_proxies(app, settings.server.trusted_proxies)
    return app
