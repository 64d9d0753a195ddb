"""Admin SDK Reports `userUsageReport.get`: daily storage usage for a Workspace domain.

Data lags: dates within the configured lag answer "not yet available" (a 200 warning or a
400, selectable), which the product must treat as "try later", never as zero usage. A day can
also be published partially (`reports_partial_percent`): only some users, and a
PARTIAL_DATA_AVAILABLE warning on every page.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

from litestar import Request, Response, get

from .errors import (
    ApiResult,
    api_error,
    bad_request,
    fault_api_result,
    insufficient_scopes,
    invalid_credentials,
    json_result,
    login_required,
)
from .models import MIB, Account
from .state import EmulatorState
from .web import apply_faults, state_of, to_response

REPORTS_SCOPE = "https://www.googleapis.com/auth/admin.reports.usage.readonly"
PARAMETERS = (
    "accounts:drive_used_quota_in_mb",
    "accounts:gmail_used_quota_in_mb",
    "accounts:total_quota_in_mb",
    "accounts:used_quota_in_mb",
    "accounts:used_quota_in_percentage",
)
FORBIDDEN = "Caller does not have access to the customers reporting data."


def customer_id(domain: str) -> str:
    """A stable Google-looking customer id (C0…) per Workspace domain."""
    digest = hashlib.sha256(domain.encode()).hexdigest()
    return "C0" + format(int(digest[:12], 16), "x")[:7]


def _parameters(account: Account, day: dt.date, wanted: list[str]) -> list[dict[str, str]] | None:
    usage = account.usage_on(day)
    if usage is None:
        return None
    total = -1 if account.limit is None else account.limit // MIB
    used_mb = usage.usage // MIB
    values = {
        "accounts:drive_used_quota_in_mb": usage.usage_in_drive // MIB,
        "accounts:gmail_used_quota_in_mb": usage.usage_in_gmail // MIB,
        "accounts:total_quota_in_mb": total,
        "accounts:used_quota_in_mb": used_mb,
        "accounts:used_quota_in_percentage": 0 if total <= 0 else round(100 * used_mb / total),
    }
    return [{"name": name, "intValue": str(values[name])} for name in PARAMETERS if name in wanted]


def _page_token(day: str, user_key: str, offset: int) -> str:
    raw = json.dumps({"d": day, "u": user_key, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_page_token(token: str, day: str, user_key: str) -> int | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("d") != day or data.get("u") != user_key:
        return None
    offset = data.get("o")
    return offset if isinstance(offset, int) and offset >= 0 else None


def _not_ready(state: EmulatorState, day: dt.date) -> ApiResult | None:
    last = state.reports_today() - dt.timedelta(days=state.config.reports_lag_days)
    if day <= last:
        return None
    message = f"Data for dates later than {last.isoformat()} is not yet available. Please check back later"
    if state.config.reports_not_ready == "error":
        return bad_request(message, "invalid")
    body = {
        "kind": "admin#reports#usageReports",
        "etag": _etag(day.isoformat(), "not-ready"),
        "warnings": [
            {
                "code": "DATA_NOT_AVAILABLE",
                "message": f'Sorry, data for date {day.isoformat()} for application "accounts" is not available.',
                "data": [{"key": "application", "value": "accounts"}],
            }
        ],
    }
    return json_result(200, body)


def _partial_share(state: EmulatorState, day: dt.date) -> int:
    """The percentage of the domain's users a partial day carries; 0 when the day is complete."""
    percent = state.config.reports_partial_percent
    dates = {d.strip() for d in state.config.reports_partial_dates.split(",") if d.strip()}
    if percent <= 0 or (dates and day.isoformat() not in dates):
        return 0
    return percent


def _partial_warning(day: dt.date) -> dict[str, Any]:
    return {
        "code": "PARTIAL_DATA_AVAILABLE",
        "message": f'Partial data is available for date {day.isoformat()} for application "accounts".',
        "data": [{"key": "application", "value": "accounts"}],
    }


def _etag(*parts: str) -> str:
    return '"' + hashlib.sha1("|".join(parts).encode(), usedforsecurity=False).hexdigest() + '"'


def usage_report(state: EmulatorState, admin: Account, user_key: str, date: str, q: dict[str, str]) -> ApiResult:
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        return bad_request(
            f"Invalid value '{date}'. Values must match the following regular expression: "
            "'(\\d){4}-(\\d){2}-(\\d){2}'",
            location="date",
            location_type="parameter",
        )
    raw_max = q.get("maxResults") or "1000"
    if not raw_max.isdigit() or not 1 <= int(raw_max) <= 1000:
        return bad_request(
            f"Invalid value '{raw_max}'. Values must be within the range: [1, 1000]",
            location="maxResults",
            location_type="parameter",
        )
    max_results = int(raw_max)
    domain = admin.domain or ""
    wanted_customer = q.get("customerId")
    if wanted_customer and wanted_customer not in ("my_customer", customer_id(domain)):
        return json_result(403, api_error(403, FORBIDDEN, "forbidden"))
    not_ready = _not_ready(state, day)
    if not_ready is not None:
        return not_ready
    with state.lock:
        members = sorted((a for a in state.accounts.values() if a.domain == domain), key=lambda a: a.email)
    partial = _partial_share(state, day)
    if partial:  # the first share of the users (by email) is there, the rest is not yet
        members = members[: len(members) * partial // 100]
    if user_key != "all":
        key = user_key.lower()
        members = [a for a in members if a.email == key or a.sub == user_key]
        if not members:
            return json_result(404, api_error(404, "Resource Not Found: userKey", "notFound"))
    offset = 0
    if q.get("pageToken"):
        parsed = _read_page_token(q["pageToken"], date, user_key)
        if parsed is None:
            return bad_request("Invalid value for pageToken.", location="pageToken", location_type="parameter")
        offset = parsed
    requested = [p.strip() for p in (q.get("parameters") or "").split(",") if p.strip()]
    # Google ignores parameters it does not know; none requested means all of them.
    wanted = [p for p in requested if p in PARAMETERS] if requested else list(PARAMETERS)
    reports: list[dict[str, Any]] = []
    index = offset
    while index < len(members) and len(reports) < max_results:
        account = members[index]
        index += 1
        params = _parameters(account, day, wanted)
        if params is None:
            continue
        reports.append(
            {
                "kind": "admin#reports#usageReport",
                "date": date,
                "etag": _etag(date, account.email),
                "entity": {
                    "type": "USER",
                    "customerId": customer_id(domain),
                    "userEmail": account.email,
                    "profileId": account.sub,
                },
                "parameters": params,
            }
        )
    body: dict[str, Any] = {"kind": "admin#reports#usageReports", "etag": _etag(date, user_key, str(offset))}
    if reports:
        body["usageReports"] = reports
    if partial:
        body["warnings"] = [_partial_warning(day)]
    if index < len(members):
        body["nextPageToken"] = _page_token(date, user_key, index)
    return json_result(200, body)


@get("/admin/reports/v1/usage/users/{user_key:str}/dates/{date:str}")
async def user_usage(request: Request, user_key: str, date: str) -> Response[bytes]:
    state = state_of(request)
    resolved = state.bearer(request.headers.get("authorization"))
    email = project = None
    if not isinstance(resolved, str):
        email, project = resolved[1].email, resolved[0].client_id
    fault = await apply_faults(state, "reports", email, project, errors=not isinstance(resolved, str))
    result: ApiResult
    if fault is not None:
        result = fault_api_result(fault)
    elif resolved == "missing":
        result = login_required()
    elif isinstance(resolved, str):
        result = invalid_credentials()
    elif REPORTS_SCOPE not in resolved[0].scopes:
        result = insufficient_scopes("admin.googleapis.com")
    elif not (resolved[1].is_admin and resolved[1].domain):
        result = json_result(403, api_error(403, FORBIDDEN, "forbidden"))
    else:
        query = {k: v for k, v in request.query_params.items()}
        result = usage_report(state, resolved[1], user_key, date, query)
    state.stats.request("reports", result.status)
    return to_response(result)
