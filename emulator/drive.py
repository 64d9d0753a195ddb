"""Drive API v3 `about.get`: the storage quota the product watches.

`about_call` is framework-free so the batch endpoint runs exactly the same code for each
inner part: same auth, same faults, same stats, same answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request, Response, get

from .errors import (
    ApiResult,
    bad_request,
    fault_api_result,
    insufficient_scopes,
    invalid_credentials,
    json_result,
    login_required,
)
from .models import Account
from .state import EmulatorState, picture_url
from .web import apply_faults, base_url, state_of, to_response

DRIVE_SCOPES = frozenset(
    "https://www.googleapis.com/auth/" + s
    for s in (
        "drive",
        "drive.appdata",
        "drive.file",
        "drive.metadata",
        "drive.metadata.readonly",
        "drive.photos.readonly",
        "drive.readonly",
    )
)
# Every property of the real About resource; selecting one we do not model is not an error.
ABOUT_FIELDS = frozenset(
    {
        "appInstalled",
        "canCreateDrives",
        "canCreateTeamDrives",
        "driveThemes",
        "exportFormats",
        "folderColorPalette",
        "importFormats",
        "kind",
        "maxImportSizes",
        "maxUploadSize",
        "storageQuota",
        "teamDriveThemes",
        "user",
    }
)
MAX_UPLOAD_SIZE = "5242880000000"


class FieldMaskError(ValueError):
    """A `fields` value that does not parse or names an unknown field."""


Mask = dict[str, "Mask"]


def parse_fields(text: str) -> Mask:
    """Parse Google's partial-response syntax: `a,b(c,d),e/f`; an empty subtree means all."""
    pos = 0

    def parse_list() -> Mask:
        nonlocal pos
        mask: Mask = {}
        while True:
            start = pos
            while pos < len(text) and text[pos] not in ",()":
                pos += 1
            path = text[start:pos].strip()
            if not path:
                raise FieldMaskError(text)
            sub: Mask = {}
            if pos < len(text) and text[pos] == "(":
                pos += 1
                sub = parse_list()
                if pos >= len(text) or text[pos] != ")":
                    raise FieldMaskError(text)
                pos += 1
            node = mask
            names = [n.strip() for n in path.split("/")]
            if any(not n for n in names):
                raise FieldMaskError(text)
            for name in names[:-1]:
                node = node.setdefault(name, {})
            last = names[-1]
            if last in node and node[last] and sub:
                node[last].update(sub)
            else:
                node[last] = {} if (last in node and not node[last]) else sub
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            return mask

    result = parse_list()
    if pos != len(text):
        raise FieldMaskError(text)
    return result


def apply_mask(data: dict[str, Any], mask: Mask) -> dict[str, Any]:
    if "*" in mask:
        return data
    out: dict[str, Any] = {}
    for name, sub in mask.items():
        if name not in data:
            continue
        value = data[name]
        out[name] = apply_mask(value, sub) if sub and isinstance(value, dict) else value
    return out


def about_resource(account: Account, base: str) -> dict[str, Any]:
    quota: dict[str, str] = {}
    if account.limit is not None:
        quota["limit"] = str(account.limit)
    quota["usage"] = str(account.usage)
    quota["usageInDrive"] = str(account.usage_in_drive)
    quota["usageInDriveTrash"] = str(account.usage_in_drive_trash)
    return {
        "kind": "drive#about",
        "user": {
            "kind": "drive#user",
            "displayName": account.name,
            "photoLink": picture_url(account, base),
            "me": True,
            "permissionId": account.permission_id,
            "emailAddress": account.email,
        },
        "storageQuota": quota,
        "maxUploadSize": MAX_UPLOAD_SIZE,
        "appInstalled": False,
        "canCreateDrives": account.domain is not None,
        "canCreateTeamDrives": account.domain is not None,
    }


async def about_call(
    state: EmulatorState, authorization: str | None, params: Mapping[str, str], base: str, at: float | None = None
) -> ApiResult:
    """One `about.get`, wherever it came from (direct or a batch part)."""
    resolved = state.bearer(authorization)
    authed = not isinstance(resolved, str)
    email = project = None
    if not isinstance(resolved, str):
        email, project = resolved[1].email, resolved[0].client_id
    fault = await apply_faults(state, "about", email, project, errors=authed, at=at)
    result: ApiResult
    if fault is not None:
        result = fault_api_result(fault)
    elif resolved == "missing":
        result = login_required()
    elif isinstance(resolved, str):
        result = invalid_credentials()
    else:
        result = _about_answer(resolved[0].scopes, resolved[1], params, base)
    with state.lock:
        state.stats.request("about", result.status)
        if email is not None:
            state.stats.about_by_account[email] += 1
    return result


def _about_answer(scopes: frozenset[str], account: Account, params: Mapping[str, str], base: str) -> ApiResult:
    fields = params.get("fields")
    if not fields:
        return bad_request(
            "The 'fields' parameter is required for this method.",
            "required",
            location="fields",
            location_type="parameter",
        )
    try:
        mask = parse_fields(fields)
    except FieldMaskError:
        return bad_request(
            f"Invalid field selection {fields}", "invalidParameter", location="fields", location_type="parameter"
        )
    unknown = [name for name in mask if name != "*" and name not in ABOUT_FIELDS]
    if unknown:
        return bad_request(
            f"Invalid field selection {unknown[0]}", "invalidParameter", location="fields", location_type="parameter"
        )
    if not (scopes & DRIVE_SCOPES):
        return insufficient_scopes("drive.googleapis.com")
    return json_result(200, apply_mask(about_resource(account, base), mask))


@get("/drive/v3/about")
async def about(request: Request) -> Response[bytes]:
    state = state_of(request)
    params = {k: v for k, v in request.query_params.items()}
    result = await about_call(state, request.headers.get("authorization"), params, base_url(request))
    return to_response(result)
