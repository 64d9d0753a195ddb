"""`create_app()`: the Litestar application, built from settings so tests can make their own."""

from __future__ import annotations

from advanced_alchemy.extensions.litestar import (
    AlembicSyncConfig,
    SQLAlchemyPlugin,
    SQLAlchemySyncConfig,
    SyncSessionConfig,
)
from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from sqlalchemy import Engine

from api.auth.admin_token import AdminTokenController
from api.auth.controller import AuthController
from api.health.controller import HealthController
from api.oauth.controller import OAuthController
from api.problems import problem_details_plugin, unexpected_error
from api.security import AuthMiddleware, AuthServices
from api.storage.controller import StorageController, storage_dependencies
from driveguard import __version__
from driveguard.clock import Clock, utcnow
from driveguard.config import Settings, get_settings
from driveguard.db.engine import get_engine
from driveguard.db.migrate import MIGRATIONS_DIR


def create_app(settings: Settings | None = None, engine: Engine | None = None, *, clock: Clock = utcnow) -> Litestar:
    settings = settings or get_settings()
    engine = engine or get_engine(settings)
    auth = AuthServices.build(settings, engine, clock=clock)
    storage_deps, close_storage = storage_dependencies(settings)
    alchemy = SQLAlchemySyncConfig(
        engine_instance=engine,
        session_config=SyncSessionConfig(expire_on_commit=False),
        session_dependency_key="db_session",
        before_send_handler="autocommit",
        alembic_config=AlembicSyncConfig(script_location=str(MIGRATIONS_DIR)),
        create_all=False,
    )
    return Litestar(
        route_handlers=[HealthController, AuthController, AdminTokenController, OAuthController, StorageController],
        dependencies={
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "engine": Provide(lambda: engine, use_cache=True, sync_to_thread=False),
            **auth.dependencies(),
            **storage_deps,
        },
        middleware=[AuthMiddleware(auth)],
        on_shutdown=[auth.close, close_storage],
        plugins=[SQLAlchemyPlugin(config=alchemy), problem_details_plugin()],
        exception_handlers={Exception: unexpected_error},
        openapi_config=OpenAPIConfig(
            title="Driveguard API",
            version=__version__,
            path="/api/docs",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        debug=False,
    )
