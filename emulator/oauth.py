"""OAuth 2.0 and OpenID Connect endpoints on Google's real paths.

Discovery, the authorization page (account chooser + consent), the token endpoint, revoke,
userinfo, the JWKS and profile pictures. Validation and error wording follow Google's.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from html import escape
from typing import Any
from urllib.parse import quote, unquote, urlencode

from litestar import Request, Response, get, post

from . import templates
from .errors import (
    NO_STORE,
    ApiResult,
    fault_api_result,
    fault_oauth_result,
    insufficient_scopes,
    invalid_credentials,
    json_result,
    login_required,
    oauth_error,
)
from .models import PendingAuth, ValidationError
from .service_accounts import JWT_BEARER
from .state import (
    USERINFO_EMAIL,
    USERINFO_PROFILE,
    OAuthFailure,
    normalize_scopes,
    picture_url,
    scope_string,
    valid_scope,
)
from .web import apply_faults, base_url, html_response, issuer_of, redirect, state_of, to_response

AUTH_PATH = "/o/oauth2/v2/auth"
DECISION_PATH = "/o/oauth2/v2/auth/decision"
PKCE_CHARS = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
PROMPTS = {"none", "consent", "select_account"}


@get("/.well-known/openid-configuration")
async def discovery(request: Request) -> Response[bytes]:
    base = base_url(request)
    doc = {
        "issuer": issuer_of(request),
        "authorization_endpoint": base + AUTH_PATH,
        "token_endpoint": base + "/token",
        "userinfo_endpoint": base + "/v1/userinfo",
        "revocation_endpoint": base + "/revoke",
        "jwks_uri": base + "/oauth2/v3/certs",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": [
            "aud",
            "email",
            "email_verified",
            "exp",
            "family_name",
            "given_name",
            "iat",
            "iss",
            "name",
            "picture",
            "sub",
        ],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": ["authorization_code", "refresh_token", JWT_BEARER],
    }
    state_of(request).stats.request("discovery", 200)
    return to_response(json_result(200, doc, "application/json; charset=utf-8", Cache_Control="public, max-age=3600"))


# ------------------------------------------------------------------------------ authorization
def _auth_error(request: Request, status: int, code: str, message: str, details: str = "") -> Response[bytes]:
    state_of(request).stats.request("auth", status)
    return html_response(status, templates.error_page(code, message, details))


def _with_query(uri: str, params: dict[str, str]) -> str:
    sep = "&" if "?" in uri else "?"
    return uri + sep + urlencode(params, quote_via=quote, safe=":/")


@get(AUTH_PATH)
async def authorize(request: Request) -> Response[bytes]:
    """Validate like Google, then show the account chooser and consent screen."""
    state = state_of(request)
    q = request.query_params
    client_id = q.get("client_id")
    login_hint = q.get("login_hint")
    fault = await apply_faults(state, "auth", login_hint, client_id)
    if fault is not None:
        return _auth_error(request, fault.status, f"Error {fault.status}", "Something went wrong. Try again later.")
    if not client_id:
        return _auth_error(request, 400, "Error 400: invalid_request", "Missing required parameter: client_id")
    client = state.clients.get(client_id)
    if client is None:
        return _auth_error(
            request, 400, "Error 401: invalid_client", "The OAuth client was not found.", f"client_id={client_id}"
        )
    redirect_uri = q.get("redirect_uri")
    if not redirect_uri:
        return _auth_error(request, 400, "Error 400: invalid_request", "Missing required parameter: redirect_uri")
    if redirect_uri not in client.redirect_uris:
        return _auth_error(
            request,
            400,
            "Error 400: redirect_uri_mismatch",
            "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. "
            "If you're the app developer, register the redirect URI in the Google Cloud Console.",
            f"redirect_uri={redirect_uri}",
        )
    problem = _validate_auth_params(q)
    if problem is not None:
        code, message = problem
        return _auth_error(request, 400, f"Error 400: {code}", message)
    scopes = normalize_scopes(q.get("scope", ""))
    pending_fields: dict[str, Any] = {
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scopes": scopes,
        "state": q.get("state"),
        "nonce": q.get("nonce"),
        "code_challenge": q.get("code_challenge"),
        "code_challenge_method": (q.get("code_challenge_method") or "plain") if q.get("code_challenge") else None,
        "access_type": q.get("access_type") or "online",
        "prompt": q.get("prompt") or "",
        "include_granted_scopes": (q.get("include_granted_scopes") or "").lower() == "true",
        "login_hint": login_hint.lower() if login_hint else None,
        "hd": q.get("hd"),
    }
    if "none" in pending_fields["prompt"].split():
        return _silent_authorize(request, pending_fields)
    pending = state.create_pending(**pending_fields)
    with state.lock:
        accounts = sorted(state.accounts.values(), key=lambda a: a.email)
    if pending.hd and pending.hd != "*":
        accounts = [a for a in accounts if a.domain == pending.hd.lower()]
    state.stats.request("auth", 200)
    html = templates.consent_page(
        request_id=pending.id,
        client_name=client.name,
        accounts=accounts,
        selected=pending.login_hint,
        scopes=scopes,
        decision_url=DECISION_PATH,
    )
    return html_response(200, html)


def _validate_auth_params(q: Any) -> tuple[str, str] | None:
    response_type = q.get("response_type")
    if not response_type:
        return "invalid_request", "Required parameter is missing: response_type"
    if response_type != "code":
        return "unsupported_response_type", f"Invalid response_type: {response_type}"
    raw_scope = q.get("scope")
    if not raw_scope or not raw_scope.split():
        return "invalid_request", "Missing required parameter: scope"
    scopes = normalize_scopes(raw_scope)
    invalid = [s for s in scopes if not valid_scope(s)]
    if invalid:
        valid = [s for s in scopes if valid_scope(s)]
        return "invalid_scope", (
            f"Some requested scopes were invalid. {{valid=[{', '.join(valid)}], invalid=[{', '.join(invalid)}]}}"
        )
    method = q.get("code_challenge_method")
    challenge = q.get("code_challenge")
    if method is not None and method not in ("plain", "S256"):
        return "invalid_request", f"Invalid code_challenge_method value: {method}"
    if method is not None and not challenge:
        return "invalid_request", "Missing code_challenge."
    if challenge and not PKCE_CHARS.match(challenge):
        return "invalid_request", "Invalid code_challenge value."
    access_type = q.get("access_type")
    if access_type not in (None, "", "online", "offline"):
        return "invalid_request", f"Invalid access_type: {access_type}"
    prompt = (q.get("prompt") or "").split()
    if any(p not in PROMPTS for p in prompt) or ("none" in prompt and len(prompt) > 1):
        return "invalid_request", f"Invalid prompt: {q.get('prompt')}"
    return None


def _silent_authorize(request: Request, fields: dict[str, Any]) -> Response[bytes]:
    """prompt=none: succeed only for a hinted account that already granted every scope."""
    state = state_of(request)
    email = fields["login_hint"]
    granted = state.granted_scopes(email, fields["client_id"]) if email else set()
    params = {"state": fields["state"]} if fields["state"] is not None else {}
    if not email or email not in state.accounts or not set(fields["scopes"]) <= granted:
        state.stats.request("auth", 302)
        return redirect(_with_query(fields["redirect_uri"], {"error": "interaction_required", **params}))
    pending = PendingAuth(id="silent", created=state.now(), **fields)
    return _approve(request, pending, email, prompt="none")


def _approve(request: Request, pending: PendingAuth, email: str, *, prompt: str) -> Response[bytes]:
    state = state_of(request)
    code = state.issue_code(pending, email)
    account = state.accounts[email]
    params: dict[str, str] = {}
    if pending.state is not None:
        params["state"] = pending.state
    params["code"] = code.code
    params["scope"] = scope_string(code.scopes)
    params["authuser"] = "0"
    if account.domain:
        params["hd"] = account.domain
    params["prompt"] = prompt
    state.stats.request("auth", 302)
    return redirect(_with_query(pending.redirect_uri, params))


@post(DECISION_PATH)
async def decide(request: Request) -> Response[bytes]:
    """The consent form's target: Allow mints a code, Deny returns access_denied."""
    state = state_of(request)
    form = await request.form()
    pending = state.take_pending(str(form.get("request_id") or ""))
    if pending is None:
        return _auth_error(
            request,
            400,
            "Error 400: invalid_request",
            "This sign-in request expired or was already used. Start again from the app.",
        )
    if form.get("decision") != "allow":
        params = {"error": "access_denied"}
        if pending.state is not None:
            params["state"] = pending.state
        state.stats.request("auth", 302)
        return redirect(_with_query(pending.redirect_uri, params))
    email = str(form.get("account") or "").strip().lower()
    new_email = str(form.get("new_account") or "").strip().lower()
    if new_email:
        # Demo convenience: signing in as an unknown address creates a fresh consumer account.
        email = new_email
        if email not in state.accounts:
            try:
                state.upsert_accounts(
                    [{"email": email, "domain": pending.hd if pending.hd not in (None, "*") else None}]
                )
            except ValidationError as exc:
                return _auth_error(request, 400, "Error 400: invalid_request", str(exc))
    account = state.accounts.get(email)
    if account is None or (pending.hd and pending.hd != "*" and account.domain != pending.hd.lower()):
        return _auth_error(request, 400, "Error 400: invalid_request", "Choose one of the listed accounts.")
    return _approve(request, pending, email, prompt="consent")


# ------------------------------------------------------------------------------ token endpoint
async def _read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """HTTP Basic (form-urlencoded id and secret, RFC 6749 2.3.1) wins over the form body."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
    return form.get("client_id"), form.get("client_secret")


@post("/token")
async def token(request: Request) -> Response[bytes]:
    state = state_of(request)
    form = await _read_form(request)
    client_id, secret = _client_credentials(request, form)
    grant_type = form.get("grant_type")
    email = state.code_owner(form.get("code")) or state.refresh_owner(form.get("refresh_token"))
    fault = await apply_faults(state, "token", email, client_id)
    if fault is not None:
        result = fault_oauth_result(fault)
        state.stats.request("token", result.status)
        return to_response(result)
    issuer, base = issuer_of(request), base_url(request)
    try:
        if not grant_type:
            raise OAuthFailure(400, "invalid_request", "Missing required parameter: grant_type")
        if grant_type == JWT_BEARER:  # a service account signs for itself: no client secret
            body = state.jwt_bearer(form.get("assertion"), base + "/token")
        elif grant_type == "authorization_code":
            client = state.authenticate_client(client_id, secret)
            body = state.exchange_code(
                client, form.get("code"), form.get("redirect_uri"), form.get("code_verifier"), issuer, base
            )
        elif grant_type == "refresh_token":
            client = state.authenticate_client(client_id, secret)
            body = state.refresh(client, form.get("refresh_token"), form.get("scope"), issuer, base)
        else:
            state.authenticate_client(client_id, secret)
            raise OAuthFailure(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    except OAuthFailure as failure:
        with state.lock:
            state.stats.grant_errors[f"{grant_type or 'none'}:{failure.error}"] += 1
            state.stats.request("token", failure.status)
        await _hold_late_answer(state, email)
        return to_response(oauth_error(failure.status, failure.error, failure.description))
    state.stats.request("token", 200)
    await _hold_late_answer(state, email)
    payload = json.dumps(body, indent=2).encode() + b"\n"
    return to_response(
        ApiResult(200, payload, [("Content-Type", "application/json; charset=utf-8"), *NO_STORE.items()])
    )


async def _hold_late_answer(state: Any, email: str | None) -> None:
    """The `late_answer` fault: the work is done (a refresh token may be rotated) but the answer comes late."""
    seconds = state.late_answer("token", email)
    if seconds:
        await asyncio.sleep(seconds)


@post("/revoke")
async def revoke(request: Request) -> Response[bytes]:
    state = state_of(request)
    form = await _read_form(request)
    token_value = form.get("token") or request.query_params.get("token")
    email = state.refresh_owner(token_value)
    if email is None and token_value:
        with state.lock:
            access = state.access_tokens.get(token_value)
            email = access.email if access else None
    fault = await apply_faults(state, "revoke", email, None)
    if fault is not None:
        result = fault_oauth_result(fault)
    elif state.revoke_token(token_value):
        result = ApiResult(200, b"", [("Content-Type", "application/json; charset=utf-8"), *NO_STORE.items()])
    else:
        result = oauth_error(400, "invalid_token", "Token expired or revoked")
    state.stats.request("revoke", result.status)
    return to_response(result)


# ------------------------------------------------------------------------------ userinfo, JWKS
@get(["/v1/userinfo", "/oauth2/v3/userinfo"])
async def userinfo(request: Request) -> Response[bytes]:
    return await _userinfo(request)


@post(["/v1/userinfo", "/oauth2/v3/userinfo"])
async def userinfo_post(request: Request) -> Response[bytes]:
    return await _userinfo(request)


async def _userinfo(request: Request) -> Response[bytes]:
    state = state_of(request)
    resolved = state.bearer(request.headers.get("authorization"))
    email = project = None
    if not isinstance(resolved, str):
        email, project = resolved[1].email, resolved[0].client_id
    fault = await apply_faults(state, "userinfo", email, project, errors=not isinstance(resolved, str))
    if fault is not None:
        result = fault_api_result(fault)
    elif resolved == "missing":
        result = login_required()
    elif isinstance(resolved, str):
        result = invalid_credentials()
    else:
        record, account = resolved
        scopes = record.scopes
        if not ({"openid", USERINFO_EMAIL, USERINFO_PROFILE} & scopes):
            result = insufficient_scopes("openidconnect.googleapis.com")
        else:
            info: dict[str, Any] = {"sub": account.sub}
            if USERINFO_PROFILE in scopes:
                info.update(
                    name=account.name,
                    given_name=account.given_name,
                    family_name=account.family_name,
                    picture=picture_url(account, base_url(request)),
                )
            if USERINFO_EMAIL in scopes:
                info.update(email=account.email, email_verified=account.email_verified)
            if USERINFO_PROFILE in scopes:
                info["locale"] = account.locale
            if account.domain:
                info["hd"] = account.domain
            result = json_result(200, info, Cache_Control="no-cache, no-store, max-age=0, must-revalidate")
    state.stats.request("userinfo", result.status)
    return to_response(result)


@get("/oauth2/v3/certs")
async def certs(request: Request) -> Response[bytes]:
    state = state_of(request)
    with state.lock:
        jwks = state.keys.jwks(state.now())
    state.stats.request("certs", 200)
    max_age = state.config.certs_max_age
    result = json_result(200, jwks, Cache_Control=f"public, max-age={max_age}, must-revalidate, no-transform")
    return to_response(result)


_AVATAR_COLOURS = ("#1a73e8", "#d93025", "#188038", "#e37400", "#a142f4", "#007b83")


@get("/a/{ident:str}")
async def avatar(request: Request, ident: str) -> Response[bytes]:
    """Profile pictures, so offline demos render something where Google's photo would be."""
    state = state_of(request)
    sub = ident.split("=", 1)[0]
    with state.lock:
        account = next((a for a in state.accounts.values() if a.sub == sub), None)
    letter = (account.given_name[:1] if account else "?").upper() or "?"
    colour = _AVATAR_COLOURS[int(sub) % len(_AVATAR_COLOURS)] if sub.isdigit() else _AVATAR_COLOURS[0]
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
        f'<circle cx="48" cy="48" r="48" fill="{colour}"/>'
        '<text x="48" y="62" font-family="Arial,sans-serif" font-size="44" fill="#fff" '
        f'text-anchor="middle">{escape(letter)}</text></svg>'
    )
    return Response(
        content=svg.encode(),
        status_code=200,
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )
