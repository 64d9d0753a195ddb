"""Drive batch: google-api-python-client's BatchHttpRequest against `/batch/drive/v3`."""

from __future__ import annotations

from typing import Any

import google_auth_httplib2
import pytest
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest
from support.emulator_admin import RunningEmulator, raw_batch, split_parts

DRIVE_METADATA = "https://www.googleapis.com/auth/drive.metadata.readonly"


def user_credentials(emu: RunningEmulator, tokens: dict[str, Any]) -> Credentials:
    return Credentials(
        tokens["access_token"],
        refresh_token=tokens.get("refresh_token"),
        token_uri=emu.url("/token"),
        client_id=emu.client_id,
        client_secret=emu.client_secret,
    )


def run_batch(emu: RunningEmulator, creds_by_email: dict[str, Credentials]) -> dict[str, tuple[Any, Any]]:
    """One about.get per account, each with its own credentials, in one batch."""
    service = build(
        "drive",
        "v3",
        credentials=next(iter(creds_by_email.values())),
        client_options={"api_endpoint": emu.url("/drive/v3/")},
        static_discovery=True,
    )
    results: dict[str, tuple[Any, Any]] = {}
    batch = BatchHttpRequest(batch_uri=emu.url("/batch/drive/v3"))
    for email, creds in creds_by_email.items():
        request = service.about().get(fields="storageQuota,user")
        request.http = google_auth_httplib2.AuthorizedHttp(creds)

        def callback(request_id: str, response: Any, exception: Any, email: str = email) -> None:
            results[email] = (response, exception)

        batch.add(request, callback=callback, request_id=email)
    batch.execute()
    return results


def make_accounts(emu: RunningEmulator, count: int) -> list[str]:
    emails = [f"user{i:03d}@batch.example" for i in range(count)]
    emu.admin.upsert_accounts(
        [{"email": e, "usage": 1_000_000 * (i + 1), "usage_in_drive": 1000 * (i + 1)} for i, e in enumerate(emails)]
    )
    return emails


def test_one_hundred_users_each_get_their_own_quota(emu: RunningEmulator) -> None:
    emails = make_accounts(emu, 100)
    grants = emu.admin.grants(emails, client_id=emu.client_id, scopes=[DRIVE_METADATA])
    creds = {g["email"]: user_credentials(emu, g) for g in grants}
    results = run_batch(emu, creds)
    accounts = emu.admin.accounts()
    assert len(results) == 100
    for email, (response, exception) in results.items():
        assert exception is None
        assert response["user"]["emailAddress"] == email
        assert response["storageQuota"]["usage"] == str(accounts[email]["usage"])
        assert response["storageQuota"]["limit"] == str(accounts[email]["limit"])
    stats = emu.admin.stats()
    assert stats["batch"] == {"requests": 1, "parts": 100, "max_parts": 100, "overflow_parts": 0}
    assert stats["requests"]["about"] == 100 and stats["requests"]["batch"] == 1


def test_an_expired_part_is_refreshed_and_resent_alone(emu: RunningEmulator) -> None:
    emails = ["alice@gmail.com", "bob@gmail.com", "carol@gmail.com"]
    creds = {e: user_credentials(emu, emu.grant(e)) for e in emails}
    emu.admin.expire_tokens("bob@gmail.com")
    results = run_batch(emu, creds)
    assert all(exc is None for _, exc in results.values())
    assert results["bob@gmail.com"][0]["user"]["emailAddress"] == "bob@gmail.com"
    stats = emu.admin.stats()
    assert stats["refresh_by_account"] == {"bob@gmail.com": 1}
    assert stats["batch"]["requests"] == 2 and stats["batch"]["parts"] == 4


def test_a_revoked_part_makes_the_library_raise_before_any_callback(emu: RunningEmulator) -> None:
    """The trap: the library refreshes 401 parts itself; a dead grant raises out of execute()."""
    emails = ["alice@gmail.com", "bob@gmail.com"]
    creds = {e: user_credentials(emu, emu.grant(e)) for e in emails}
    emu.admin.revoke("bob@gmail.com")
    with pytest.raises(RefreshError, match="invalid_grant"):
        run_batch(emu, creds)


def test_parts_fail_alone_through_the_library(emu: RunningEmulator) -> None:
    emails = ["alice@gmail.com", "bob@gmail.com", "carol@gmail.com", "dave@northwind.example"]
    creds = {e: user_credentials(emu, emu.grant(e)) for e in emails}
    emu.admin.faults({"group": "about", "error_rate": 1.0, "error_rate_status": 503, "fail_emails": ["bob@gmail.com"]})
    results = run_batch(emu, creds)
    response, error = results["bob@gmail.com"]
    assert response is None and isinstance(error, HttpError)
    assert error.resp.status == 503 and error.error_details[0]["reason"] == "backendError"
    for email in set(emails) - {"bob@gmail.com"}:
        assert results[email][1] is None and results[email][0]["user"]["emailAddress"] == email


def test_wire_format_401_for_one_user_429_for_another(emu: RunningEmulator) -> None:
    good = str(emu.grant("alice@gmail.com")["access_token"])
    revoked = str(emu.grant("bob@gmail.com")["access_token"])
    limited = str(emu.grant("carol@gmail.com")["access_token"])
    emu.admin.revoke("bob@gmail.com")
    emu.admin.faults(
        {"group": "about", "fail_emails": ["carol@gmail.com"], "rate_limit_rps": 0.01, "rate_limit_burst": 1}
    )
    response = raw_batch(emu, [good, revoked, limited, limited])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=")
    parts = split_parts(response)
    assert [(cid, status) for cid, status, _ in parts] == [
        ("response-item0", 200),
        ("response-item1", 401),
        ("response-item2", 200),
        ("response-item3", 429),
    ]
    assert '"reason": "authError"' in parts[1][2]
    assert '"reason": "rateLimitExceeded"' in parts[3][2] and "Retry-After:" in parts[3][2]
    assert emu.admin.stats()["rate_limited"] == {"about": 1}


def test_unknown_inner_path_is_404_for_that_part(emu: RunningEmulator) -> None:
    token = str(emu.grant("alice@gmail.com")["access_token"])
    parts = split_parts(raw_batch(emu, [token], path="/drive/v3/files"))
    assert parts[0][1] == 404


def test_the_101st_part_fails_alone_by_default(emu: RunningEmulator) -> None:
    creds = user_credentials(emu, emu.grant("alice@gmail.com"))
    service = build(
        "drive", "v3", credentials=creds, client_options={"api_endpoint": emu.url("/drive/v3/")}, static_discovery=True
    )
    outcomes: dict[str, Any] = {}
    batch = BatchHttpRequest(
        batch_uri=emu.url("/batch/drive/v3"), callback=lambda rid, resp, exc: outcomes.__setitem__(rid, exc)
    )
    for _ in range(101):
        batch.add(service.about().get(fields="storageQuota"))
    batch.execute()
    failures = {rid: exc for rid, exc in outcomes.items() if exc is not None}
    assert list(failures) == ["101"]
    assert failures["101"].resp.status == 403 and failures["101"].error_details[0]["reason"] == "forbidden"
    assert emu.admin.stats()["batch"]["overflow_parts"] == 1


def test_reject_mode_refuses_the_whole_oversized_batch(emu: RunningEmulator) -> None:
    emu.admin.config(batch_overflow="reject")
    token = str(emu.grant("alice@gmail.com")["access_token"])
    response = raw_batch(emu, [token] * 101)
    assert response.status_code == 400
    assert response.json()["error"]["errors"][0]["reason"] == "batchSizeTooLarge"
    assert emu.admin.stats()["requests"].get("about", 0) == 0


def test_whole_batch_fault(emu: RunningEmulator) -> None:
    token = str(emu.grant("alice@gmail.com")["access_token"])
    emu.admin.faults({"group": "batch", "error_burst": {"status": 500, "count": 1}})
    first = raw_batch(emu, [token])
    assert first.status_code == 500 and first.json()["error"]["errors"][0]["reason"] == "backendError"
    assert raw_batch(emu, [token]).status_code == 200
