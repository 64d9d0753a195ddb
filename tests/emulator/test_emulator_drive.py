"""Drive v3 `about.get` through google-api-python-client, and its errors on the wire."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from support.emulator_admin import RunningEmulator


def drive(emu: RunningEmulator, token: str) -> Any:
    return build(
        "drive",
        "v3",
        credentials=Credentials(token),
        client_options={"api_endpoint": emu.url("/drive/v3/")},
        static_discovery=True,
    )


def test_about_returns_int64_strings_and_the_user(emu: RunningEmulator) -> None:
    tokens = emu.grant("bob@gmail.com")
    about = drive(emu, str(tokens["access_token"])).about().get(fields="storageQuota,user").execute()
    account = emu.admin.accounts()["bob@gmail.com"]
    quota = about["storageQuota"]
    assert quota == {
        "limit": str(account["limit"]),
        "usage": str(account["usage"]),
        "usageInDrive": str(account["usage_in_drive"]),
        "usageInDriveTrash": str(account["usage_in_drive_trash"]),
    }
    assert about["user"]["kind"] == "drive#user" and about["user"]["me"] is True
    assert about["user"]["emailAddress"] == "bob@gmail.com"
    assert about["user"]["permissionId"] == account["permission_id"]
    assert set(about) == {"storageQuota", "user"}


def test_unlimited_account_has_no_limit(emu: RunningEmulator) -> None:
    service = drive(emu, str(emu.grant("dave@northwind.example")["access_token"]))
    quota = service.about().get(fields="storageQuota").execute()["storageQuota"]
    assert "limit" not in quota
    assert int(quota["usage"]) == emu.admin.accounts()["dave@northwind.example"]["usage"]


@pytest.mark.parametrize(
    ("fields", "keys"),
    [
        ("storageQuota(limit,usage)", {"storageQuota": {"limit", "usage"}}),
        ("storageQuota/usage,kind", {"storageQuota": {"usage"}, "kind": None}),
        ("user(emailAddress)", {"user": {"emailAddress"}}),
        ("*", {"kind": None, "user": None, "storageQuota": None, "maxUploadSize": None}),
    ],
)
def test_fields_selection(emu: RunningEmulator, fields: str, keys: dict[str, set[str] | None]) -> None:
    about = drive(emu, str(emu.grant("alice@gmail.com")["access_token"])).about().get(fields=fields).execute()
    assert set(keys) <= set(about)
    if fields != "*":
        assert set(about) == set(keys)
    for name, sub in keys.items():
        if sub is not None:
            assert set(about[name]) == sub


def test_fields_is_required(emu: RunningEmulator) -> None:
    service = drive(emu, str(emu.grant("alice@gmail.com")["access_token"]))
    with pytest.raises(HttpError) as caught:
        service.about().get().execute()
    assert caught.value.resp.status == 400
    assert caught.value.error_details[0]["reason"] == "required"
    assert "'fields' parameter is required" in str(caught.value)


def test_unknown_field_is_rejected(emu: RunningEmulator) -> None:
    token = emu.grant("alice@gmail.com")["access_token"]
    response = httpx.get(
        emu.url("/drive/v3/about"), params={"fields": "nonsense"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["errors"][0]["reason"] == "invalidParameter"


def test_bad_token_is_401_invalid_credentials_in_googles_shape(emu: RunningEmulator) -> None:
    response = httpx.get(
        emu.url("/drive/v3/about?fields=storageQuota"), headers={"Authorization": "Bearer ya29.not-a-token"}
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    error = response.json()["error"]
    assert error["code"] == 401 and error["status"] == "UNAUTHENTICATED"
    assert error["message"].startswith("Request had invalid authentication credentials.")
    assert error["errors"] == [
        {
            "message": "Invalid Credentials",
            "domain": "global",
            "reason": "authError",
            "location": "Authorization",
            "locationType": "header",
        }
    ]


def test_library_refreshes_once_on_401_and_retries(emu: RunningEmulator) -> None:
    """AuthorizedHttp answers a 401 by refreshing and re-sending: one refresh, then success."""
    tokens = emu.grant("carol@gmail.com")
    emu.admin.expire_tokens("carol@gmail.com")
    creds = Credentials(
        str(tokens["access_token"]),
        refresh_token=str(tokens["refresh_token"]),
        token_uri=emu.url("/token"),
        client_id=emu.client_id,
        client_secret=emu.client_secret,
    )
    service = build(
        "drive", "v3", credentials=creds, client_options={"api_endpoint": emu.url("/drive/v3/")}, static_discovery=True
    )
    assert service.about().get(fields="user").execute()["user"]["emailAddress"] == "carol@gmail.com"
    stats = emu.admin.stats()
    assert stats["refresh_by_account"] == {"carol@gmail.com": 1}
    assert stats["statuses"]["about"] == {"401": 1, "200": 1}


def test_token_only_credentials_turn_a_401_into_refresh_error(emu: RunningEmulator) -> None:
    """Without refresh fields the library cannot recover from 401: it raises RefreshError, not HttpError."""
    tokens = emu.grant("carol@gmail.com")
    emu.admin.expire_tokens("carol@gmail.com")
    with pytest.raises(RefreshError):
        drive(emu, str(tokens["access_token"])).about().get(fields="user").execute()


def test_scope_without_drive_is_403_insufficient_permissions(emu: RunningEmulator) -> None:
    token = emu.grant("alice@gmail.com", scopes=["openid", "email"])["access_token"]
    response = httpx.get(emu.url("/drive/v3/about?fields=user"), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    body = response.json()["error"]
    assert body["errors"][0]["reason"] == "insufficientPermissions"
    assert body["message"] == "Request had insufficient authentication scopes."


def test_usage_changes_show_up_immediately(emu: RunningEmulator) -> None:
    service = drive(emu, str(emu.grant("alice@gmail.com")["access_token"]))
    before = int(service.about().get(fields="storageQuota").execute()["storageQuota"]["usage"])
    emu.admin.patch_account("alice@gmail.com", usage=before + 1024**3)
    after = service.about().get(fields="storageQuota").execute()["storageQuota"]
    assert int(after["usage"]) == before + 1024**3
    emu.admin.patch_account("alice@gmail.com", limit=None)
    assert "limit" not in service.about().get(fields="storageQuota").execute()["storageQuota"]


def test_json_is_pretty_and_numbers_are_strings_on_the_wire(emu: RunningEmulator) -> None:
    token = emu.grant("erin@northwind.example")["access_token"]
    response = httpx.get(emu.url("/drive/v3/about?fields=storageQuota"), headers={"Authorization": f"Bearer {token}"})
    quota = json.loads(response.text)["storageQuota"]
    assert all(isinstance(value, str) for value in quota.values())
