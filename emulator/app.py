"""`create_app`: the emulator as one Litestar ASGI application on one origin."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State

from .admin import admin_router
from .batch import batch
from .drive import about
from .oauth import authorize, avatar, certs, decide, discovery, revoke, token, userinfo, userinfo_post
from .reports import user_usage
from .state import EmulatorState


def create_app(state: EmulatorState | None = None) -> Litestar:
    """Build the app around `state` (a fresh demo-seeded one by default)."""
    emulator = state or EmulatorState()
    return Litestar(
        route_handlers=[
            discovery,
            authorize,
            decide,
            token,
            revoke,
            userinfo,
            userinfo_post,
            certs,
            avatar,
            about,
            batch,
            user_usage,
            admin_router,
        ],
        state=State({"emulator": emulator}),
        openapi_config=None,
        debug=False,
    )
