"""Admin SDK Reports userUsageReport.get through google-api-python-client."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from support.emulator_admin import RunningEmulator

REPORTS = "https://www.googleapis.com/auth/admin.reports.usage.readonly"
PARAMS = "accounts:used_quota_in_mb,accounts:drive_used_quota_in_mb,accounts:total_quota_in_mb"


def reports(emu: RunningEmulator, email: str = "erin@northwind.example", **grant: Any) -> Any:
    token = emu.grant(email, **grant)["access_token"]
    return build(
        "admin",
        "reports_v1",
        credentials=Credentials(token),
        client_options={"api_endpoint": emu.base_url},
        static_discovery=True,
    )


def report_day(emu: RunningEmulator, days_back: int) -> str:
    today = dt.date.fromisoformat(emu.admin.call("GET", "/clock")["reports_today"])
    return (today - dt.timedelta(days=days_back)).isoformat()


def test_all_users_paginated(emu: RunningEmulator) -> None:
    service = reports(emu)
    day = report_day(emu, 5)
    domain_users = {e: a for e, a in emu.admin.accounts().items() if a["domain"] == "northwind.example"}
    seen: dict[str, dict[str, str]] = {}
    pages = 0
    token = None
    while True:
        page = (
            service.userUsageReport()
            .get(userKey="all", date=day, parameters=PARAMS, maxResults=2, pageToken=token)
            .execute()
        )
        pages += 1
        assert page["kind"] == "admin#reports#usageReports"
        for report in page["usageReports"]:
            assert report["date"] == day and report["entity"]["type"] == "USER"
            seen[report["entity"]["userEmail"]] = {p["name"]: p["intValue"] for p in report["parameters"]}
        token = page.get("nextPageToken")
        if not token:
            break
    assert set(seen) == set(domain_users)
    assert pages == -(-len(domain_users) // 2)
    history = emu.admin.call("GET", "/accounts/frank@northwind.example")["history"][day]
    frank = seen["frank@northwind.example"]
    assert set(frank) == set(PARAMS.split(","))
    assert frank["accounts:used_quota_in_mb"] == str(history["usage"] // 2**20)
    assert frank["accounts:drive_used_quota_in_mb"] == str(history["usage_in_drive"] // 2**20)
    assert seen["dave@northwind.example"]["accounts:total_quota_in_mb"] == "-1", "unlimited"


def test_single_user_and_unknown_parameters_ignored(emu: RunningEmulator) -> None:
    page = (
        reports(emu)
        .userUsageReport()
        .get(
            userKey="dave@northwind.example",
            date=report_day(emu, 3),
            parameters="accounts:used_quota_in_mb,accounts:made_up_thing",
        )
        .execute()
    )
    [report] = page["usageReports"]
    assert report["entity"]["userEmail"] == "dave@northwind.example"
    assert [p["name"] for p in report["parameters"]] == ["accounts:used_quota_in_mb"]


def test_recent_date_is_a_data_not_available_warning(emu: RunningEmulator) -> None:
    page = reports(emu).userUsageReport().get(userKey="all", date=report_day(emu, 1), parameters=PARAMS).execute()
    assert "usageReports" not in page
    [warning] = page["warnings"]
    assert warning["code"] == "DATA_NOT_AVAILABLE"
    assert {"key": "application", "value": "accounts"} in warning["data"]


def test_recent_date_as_400_when_configured(emu: RunningEmulator) -> None:
    emu.admin.config(reports_not_ready="error")
    with pytest.raises(HttpError) as caught:
        reports(emu).userUsageReport().get(userKey="all", date=report_day(emu, 0)).execute()
    assert caught.value.resp.status == 400
    assert "is not yet available" in str(caught.value)
    assert report_day(emu, 2) in str(caught.value), "names the last available date"


def test_clock_advance_makes_a_day_available(emu: RunningEmulator) -> None:
    service = reports(emu)
    day = report_day(emu, 1)
    assert "usageReports" not in service.userUsageReport().get(userKey="all", date=day).execute()
    emu.admin.advance_clock(86400)  # a day later the old access token is long expired, too
    service = reports(emu)
    assert service.userUsageReport().get(userKey="all", date=day).execute()["usageReports"]


@pytest.mark.parametrize(
    ("email", "scopes", "reason"),
    [
        ("frank@northwind.example", [REPORTS], "forbidden"),
        ("alice@gmail.com", [REPORTS], "forbidden"),
        ("erin@northwind.example", ["openid"], "insufficientPermissions"),
    ],
)
def test_only_a_workspace_admin_with_the_scope_may_read(
    emu: RunningEmulator, email: str, scopes: list[str], reason: str
) -> None:
    service = reports(emu, email, scopes=scopes)
    with pytest.raises(HttpError) as caught:
        service.userUsageReport().get(userKey="all", date=report_day(emu, 5)).execute()
    assert caught.value.resp.status == 403
    # HttpError.error_details prefers the `details` list (ErrorInfo) when present, so read `errors`.
    assert json.loads(caught.value.content)["error"]["errors"][0]["reason"] == reason


def test_bad_max_results_and_page_token(emu: RunningEmulator) -> None:
    token = emu.grant("erin@northwind.example")["access_token"]
    url = emu.url(f"/admin/reports/v1/usage/users/all/dates/{report_day(emu, 5)}")
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(url, params={"maxResults": "1001"}, headers=headers).status_code == 400
    assert httpx.get(url, params={"pageToken": "garbage"}, headers=headers).status_code == 400
    assert httpx.get(url, params={"customerId": "C0other"}, headers=headers).status_code == 403
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_partial_day_carries_some_users_and_says_so_on_every_page(emu: RunningEmulator) -> None:
    service = reports(emu)
    day, other_day = report_day(emu, 4), report_day(emu, 5)
    domain = sorted(e for e, a in emu.admin.accounts().items() if a["domain"] == "northwind.example")
    emu.admin.config(reports_partial_percent=50, reports_partial_dates=day)
    seen: list[str] = []
    warnings: list[list[dict[str, Any]]] = []
    token = None
    while True:
        page = service.userUsageReport().get(userKey="all", date=day, maxResults=1, pageToken=token).execute()
        seen += [r["entity"]["userEmail"] for r in page.get("usageReports", [])]
        warnings.append(page["warnings"])
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == domain[: len(domain) * 50 // 100]
    assert {w["code"] for page_warnings in warnings for w in page_warnings} == {"PARTIAL_DATA_AVAILABLE"}
    assert len(warnings) == len(seen)
    # Another date is complete; once Google catches up, the same date is complete too.
    assert "warnings" not in service.userUsageReport().get(userKey="all", date=other_day).execute()
    emu.admin.config(reports_partial_percent=0)
    complete = service.userUsageReport().get(userKey="all", date=day).execute()
    assert "warnings" not in complete and len(complete["usageReports"]) == len(domain)
