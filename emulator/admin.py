"""The control surface under `/_emulator/`: accounts, grants, service accounts, clock, keys, faults,
stats, reset.

Tests and demos drive the emulator through these JSON routes. They are not Google's; they
answer only loopback callers unless `EMULATOR_ADMIN_TOKEN` is set, in which case every call
must carry it in `X-Emulator-Admin-Token` (from any address).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import secrets
import time
from typing import Any

from litestar import Request, Response, Router, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from . import service_accounts
from .models import ValidationError
from .state import USERINFO_EMAIL, USERINFO_PROFILE, EmulatorState, normalize_scopes
from .web import base_url, issuer_of, state_of

DEFAULT_GRANT_SCOPES = [
    "openid",
    USERINFO_EMAIL,
    USERINFO_PROFILE,
    "https://www.googleapis.com/auth/drive.metadata.readonly",
]
REPORTS_SCOPE = "https://www.googleapis.com/auth/admin.reports.usage.readonly"
ADMIN_HEADER = "x-emulator-admin-token"


def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    state: EmulatorState = connection.app.state.emulator
    expected = state.config.admin_token
    if expected:
        given = connection.headers.get(ADMIN_HEADER, "")
        if not secrets.compare_digest(given.encode(), expected.encode()):
            raise NotAuthorizedException(f"missing or wrong {ADMIN_HEADER} header")
        return
    host = connection.client.host if connection.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host in ("localhost", "testclient")
    if not loopback:
        raise PermissionDeniedException("the admin API answers loopback callers only (or set EMULATOR_ADMIN_TOKEN)")


def _json(status: int, payload: Any) -> Response[Any]:
    return Response(content=payload, status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response[Any]:
    return _json(status, {"error": message})


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValidationError(f"body is not valid JSON: {exc}") from exc


async def _object(request: Request) -> dict[str, Any]:
    body = await _body(request)
    if not isinstance(body, dict):
        raise ValidationError("body must be a JSON object")
    return body


def _validation_handler(_: Request, exc: ValidationError) -> Response[Any]:
    return _error(400, str(exc))


# ------------------------------------------------------------------------------ health, reset, config
@get("/health")
async def health(request: Request) -> Response[Any]:
    state = state_of(request)
    return _json(200, {"ok": True, "seed": state.seed_name, "accounts": len(state.accounts)})


@post("/reset")
async def reset(request: Request) -> Response[Any]:
    body = await _object(request)
    state = state_of(request)
    state.reset(body.get("seed"))
    return _json(200, {"ok": True, "seed": state.seed_name, "accounts": len(state.accounts)})


@get("/config")
async def get_config(request: Request) -> Response[Any]:
    return _json(200, state_of(request).config.to_dict())


@patch("/config")
async def patch_config(request: Request) -> Response[Any]:
    body = await _object(request)
    state = state_of(request)
    with state.lock:
        bad = state.config.update(body)
    if bad:
        return _error(400, f"unknown or invalid config key(s): {', '.join(bad)}")
    return _json(200, state.config.to_dict())


# ------------------------------------------------------------------------------ accounts
@get("/accounts")
async def list_accounts(request: Request) -> Response[Any]:
    state = state_of(request)
    domain = request.query_params.get("domain")
    history = request.query_params.get("history", "false").lower() == "true"
    with state.lock:
        accounts = [
            a.to_dict(with_history=history)
            for a in sorted(state.accounts.values(), key=lambda a: a.email)
            if domain is None or a.domain == domain
        ]
    return _json(200, {"accounts": accounts, "count": len(accounts)})


@post("/accounts")
async def upsert_accounts(request: Request) -> Response[Any]:
    body = await _body(request)
    if isinstance(body, dict) and "accounts" in body:
        body = body["accounts"]
    payloads = body if isinstance(body, list) else [body]
    accounts = state_of(request).upsert_accounts(payloads)
    return _json(200, {"count": len(accounts), "accounts": [a.to_dict(with_history=False) for a in accounts]})


@get("/accounts/{email:str}")
async def get_account(request: Request, email: str) -> Response[Any]:
    state = state_of(request)
    with state.lock:
        account = state.accounts.get(email.lower())
        if account is None:
            return _error(404, f"no account {email}")
        data = account.to_dict()
    data["grants"] = state.grants_summary(email)
    return _json(200, data)


@patch("/accounts/{email:str}")
async def patch_account(request: Request, email: str) -> Response[Any]:
    body = await _object(request)
    account = state_of(request).patch_account(email, body)
    if account is None:
        return _error(404, f"no account {email}")
    return _json(200, account.to_dict(with_history=False))


@delete("/accounts/{email:str}", status_code=200)
async def delete_account(request: Request, email: str) -> Response[Any]:
    if not state_of(request).delete_account(email):
        return _error(404, f"no account {email}")
    return _json(200, {"deleted": email.lower()})


def _grant_args(state: EmulatorState, email: str, body: dict[str, Any]) -> tuple[str | None, list[str], bool]:
    scopes = body.get("scopes")
    if scopes is None:
        account = state.accounts.get(email.lower())
        scopes = list(DEFAULT_GRANT_SCOPES)
        if account is not None and account.is_admin:
            scopes.append(REPORTS_SCOPE)
    if isinstance(scopes, str):
        scopes = scopes.split()
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ValidationError("scopes: must be a list of scope strings")
    return body.get("client_id"), normalize_scopes(scopes), bool(body.get("offline", True))


@post("/accounts/{email:str}/grant")
async def grant_account(request: Request, email: str) -> Response[Any]:
    body = await _object(request)
    state = state_of(request)
    client_id, scopes, offline = _grant_args(state, email, body)
    tokens = state.direct_grant(
        email,
        client_id,
        scopes,
        offline=offline,
        issuer=issuer_of(request),
        base=base_url(request),
        nonce=body.get("nonce"),
    )
    return _json(200, tokens)


@post("/grants")
async def bulk_grant(request: Request) -> Response[Any]:
    """Many grants in one call: {"emails": [...], "client_id"?, "scopes"?, "offline"?}."""
    body = await _object(request)
    emails = body.get("emails")
    if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
        raise ValidationError("emails: must be a list of emails")
    state = state_of(request)
    issuer, base = issuer_of(request), base_url(request)
    out = []
    for email in emails:
        client_id, scopes, offline = _grant_args(state, email, body)
        out.append(state.direct_grant(email, client_id, scopes, offline=offline, issuer=issuer, base=base))
    return _json(200, {"count": len(out), "grants": out})


@get("/grants")
async def list_grants(request: Request) -> Response[Any]:
    grants = state_of(request).grants_summary(request.query_params.get("email"))
    return _json(200, {"grants": grants, "count": len(grants)})


@post("/accounts/{email:str}/revoke")
async def revoke_account(request: Request, email: str) -> Response[Any]:
    body = await _object(request)
    state = state_of(request)
    if email.lower() not in state.accounts:
        return _error(404, f"no account {email}")
    revoked = state.revoke_account(email, body.get("client_id"))
    return _json(200, {"email": email.lower(), "grants_revoked": revoked})


@post("/tokens/expire")
async def expire_tokens(request: Request) -> Response[Any]:
    body = await _object(request)
    count = state_of(request).expire_tokens(body.get("email"), body.get("client_id"), body.get("kind", "access"))
    return _json(200, {"expired": count})


# ------------------------------------------------------------------------------ clock, clients, keys
def _clock(state: EmulatorState) -> dict[str, Any]:
    now = state.now()
    return {
        "now": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(),
        "epoch": now,
        "offset_seconds": state.clock_offset,
        "reports_today": state.reports_today().isoformat(),
    }


@get("/clock")
async def get_clock(request: Request) -> Response[Any]:
    return _json(200, _clock(state_of(request)))


@post("/clock")
async def set_clock(request: Request) -> Response[Any]:
    """{"offset_seconds": N} sets, {"advance_seconds": N} adds, {"now": ISO-8601 | epoch} pins."""
    body = await _object(request)
    state = state_of(request)
    try:
        return _set_clock(state, body)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(f"clock: {exc}") from exc


def _set_clock(state: EmulatorState, body: dict[str, Any]) -> Response[Any]:
    with state.lock:
        if "offset_seconds" in body:
            state.clock_offset = float(body["offset_seconds"])
        elif "advance_seconds" in body:
            state.clock_offset += float(body["advance_seconds"])
        elif "now" in body:
            value = body["now"]
            if isinstance(value, int | float):
                target = float(value)
            else:
                try:
                    parsed = dt.datetime.fromisoformat(str(value))
                except ValueError as exc:
                    raise ValidationError("now: ISO-8601 datetime or epoch seconds") from exc
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=dt.UTC)
                target = parsed.timestamp()
            state.clock_offset = target - time.time()
        else:
            raise ValidationError("give offset_seconds, advance_seconds or now")
        return _json(200, _clock(state))


@get("/clients")
async def list_clients(request: Request) -> Response[Any]:
    state = state_of(request)
    with state.lock:
        clients = [c.to_dict() for c in state.clients.values()]
    return _json(200, {"clients": clients})


@post("/clients")
async def upsert_clients(request: Request) -> Response[Any]:
    body = await _body(request)
    if isinstance(body, dict) and "clients" in body:
        body = body["clients"]
    payloads = body if isinstance(body, list) else [body]
    state = state_of(request)
    clients = []
    for payload in payloads:
        if not isinstance(payload, dict):
            raise ValidationError("each client must be an object")
        clients.append(state.upsert_client(payload).to_dict())
    return _json(200, {"clients": clients})


@get("/keys")
async def list_keys(request: Request) -> Response[Any]:
    state = state_of(request)
    with state.lock:
        jwks = state.keys.jwks(state.now())
        current = state.keys.current.kid
    return _json(200, {"current_kid": current, "published_kids": [k["kid"] for k in jwks["keys"]]})


@post("/keys/rotate")
async def rotate_keys(request: Request) -> Response[Any]:
    """{"overlap_seconds"?: N, "drop_old"?: bool}: a new key signs; old ones stay published N s."""
    body = await _object(request)
    state = state_of(request)
    overlap_value = body.get("overlap_seconds", state.config.key_overlap_seconds)
    if isinstance(overlap_value, bool) or not isinstance(overlap_value, int | float) or overlap_value < 0:
        raise ValidationError("overlap_seconds: a non-negative number")
    with state.lock:
        overlap = int(overlap_value)
        key = state.keys.rotate(state.now(), overlap, drop_old=bool(body.get("drop_old", False)))
        published = [k["kid"] for k in state.keys.jwks(state.now())["keys"]]
    return _json(200, {"current_kid": key.kid, "published_kids": published})


# ------------------------------------------------------------------------------ stats and faults
@get("/stats")
async def get_stats(request: Request) -> Response[Any]:
    state = state_of(request)
    with state.lock:
        return _json(200, state.stats.snapshot())


@post("/stats/reset")
async def reset_stats(request: Request) -> Response[Any]:
    state = state_of(request)
    with state.lock:
        state.stats.reset()
    return _json(200, {"ok": True})


@get("/faults")
async def get_faults(request: Request) -> Response[Any]:
    state = state_of(request)
    with state.lock:
        return _json(200, {"faults": state.faults.describe()})


@post("/faults")
async def set_faults(request: Request) -> Response[Any]:
    """One spec {"group": …, …} or a list of them; each replaces its group's spec."""
    body = await _body(request)
    specs = body if isinstance(body, list) else [body]
    state = state_of(request)
    with state.lock:
        for spec in specs:
            if not isinstance(spec, dict):
                raise ValidationError("each fault spec must be an object")
            state.faults.set(spec)
        return _json(200, {"faults": state.faults.describe()})


@delete("/faults", status_code=200)
async def clear_faults(request: Request) -> Response[Any]:
    state = state_of(request)
    with state.lock:
        state.faults.clear(request.query_params.get("group"))
        return _json(200, {"faults": state.faults.describe()})


# ------------------------------------------------------------------------------ service accounts
@get("/service-accounts")
async def list_service_accounts(request: Request) -> Response[Any]:
    state = state_of(request)
    with state.lock:
        accounts = [a.to_dict() for a in sorted(state.service_accounts.values(), key=lambda a: a.email)]
    return _json(200, {"service_accounts": accounts})


@post("/service-accounts")
async def create_service_account(request: Request) -> Response[Any]:
    """A new service account and its keyfile JSON (token_uri = this emulator's /token);
    `delegated_scopes` is the domain-wide delegation an admin gave its client id (default none)."""
    body = await _object(request)
    state = state_of(request)
    account, keyfile = service_accounts.create(body, base_url(request))
    with state.lock:
        if account.email in state.service_accounts:
            return _error(409, f"service account {account.email} exists")
        state.service_accounts[account.email] = account
    return _json(200, {**account.to_dict(), "keyfile": keyfile})


@patch("/service-accounts/{email:str}")
async def patch_service_account(request: Request, email: str) -> Response[Any]:
    """Grant or withhold domain-wide delegation: `delegated_scopes` (replace), `grant`, `withhold`."""
    body = await _object(request)
    state = state_of(request)
    with state.lock:
        account = state.service_accounts.get(email.lower())
        if account is None:
            return _error(404, f"no service account {email}")
        service_accounts.set_delegation(account, body)
        return _json(200, account.to_dict())


admin_router = Router(
    path="/_emulator",
    guards=[admin_guard],
    exception_handlers={ValidationError: _validation_handler},
    route_handlers=[
        health,
        reset,
        get_config,
        patch_config,
        list_accounts,
        upsert_accounts,
        get_account,
        patch_account,
        delete_account,
        grant_account,
        bulk_grant,
        list_grants,
        revoke_account,
        expire_tokens,
        get_clock,
        set_clock,
        list_clients,
        upsert_clients,
        list_keys,
        rotate_keys,
        get_stats,
        reset_stats,
        get_faults,
        set_faults,
        clear_faults,
        list_service_accounts,
        create_service_account,
        patch_service_account,
    ],
)
