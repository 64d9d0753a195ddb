"""Glue between the framework-free handlers and Litestar: state lookup, URLs, faults, responses."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response

from .errors import DROPPED, ApiResult
from .faults import FaultError
from .state import EmulatorState


def state_of(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def base_url(request: Request) -> str:
    """The origin the client used to reach us: Google's hosts all collapse onto it."""
    return str(request.base_url).rstrip("/")


def issuer_of(request: Request) -> str:
    return state_of(request).config.issuer or base_url(request)


async def apply_faults(
    state: EmulatorState,
    group: str,
    email: str | None,
    project: str | None,
    *,
    errors: bool = True,
    at: float | None = None,
) -> FaultError | None:
    """Sleep for injected latency / timeouts and return the injected error, if any."""
    decision = state.evaluate_faults(group, email, project, errors=errors, at=at)
    if decision.delay > 0:
        await asyncio.sleep(decision.delay)
    if decision.timeout is not None:
        await asyncio.sleep(decision.timeout)
        with state.lock:
            state.stats.fault(group, "timeout")
        return FaultError("timeout", 504)
    return decision.error


class _CutConnection:
    """An ASGI response that promises a body and sends none: the server closes the connection, and
    the client sees the peer hang up mid-response (a dropped connection)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1024")]})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class DroppedConnection(Response[bytes]):
    def __init__(self) -> None:
        super().__init__(content=b"", status_code=200)

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        return _CutConnection()


def to_response(result: ApiResult) -> Response[bytes]:
    if result.status == DROPPED:
        return DroppedConnection()
    headers: dict[str, str] = {}
    media_type = None
    for name, value in result.headers:
        if name.lower() == "content-type":
            media_type = value
        elif name in headers:
            headers[name] += ", " + value
        else:
            headers[name] = value
    return Response(
        content=result.body,
        status_code=result.status,
        headers=headers,
        media_type=media_type or "application/octet-stream",
    )


def html_response(status: int, html: str, **headers: str) -> Response[bytes]:
    hdrs = {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "X-Frame-Options": "DENY"}
    hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
    return Response(content=html.encode(), status_code=status, headers=hdrs, media_type="text/html; charset=utf-8")


def redirect(location: str) -> Response[bytes]:
    return Response(
        content=b"",
        status_code=302,
        headers={"Location": location, "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"},
        media_type="text/html; charset=utf-8",
    )
