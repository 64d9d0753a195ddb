"""GDPR erasure: a user (or an admin) asks through the API; the cleanup step revokes the Google grant
and deletes the account with its sessions and history, keeping only an anonymised audit row."""

from __future__ import annotations

from sqlalchemy import select, text
from support.emulator import sign_in
from support.signin import Stack

from driveguard.db.engine import transaction
from driveguard.db.models import AuditLog, GoogleAccount, UserSession
from driveguard.storage.retention import Retention


def test_user_asks_for_erasure_and_cleanup_erases_everything(stack: Stack):
    assert sign_in(stack.browser, stack.url, "alice@gmail.com").status_code in (302, 303)
    account = stack.account("alice@gmail.com")
    assert live_tokens_at_google(stack, "alice@gmail.com") > 0
    with stack.engine.begin() as conn:
        conn.execute(text("SELECT ensure_storage_snapshot_partition('2026-11-01T00:00Z')"))
        conn.execute(
            text(
                "INSERT INTO storage_snapshot (account_id, interval_start, interval_end, usage_bytes)"
                " VALUES (:id, '2026-11-01T00:00Z', '2026-11-01T01:00Z', 42)"
            ),
            {"id": account.id},
        )

    with stack.api(stack.session_token()) as api:
        unconfirmed = api.post("/api/oauth/erasure", json={"confirm": False})
        assert unconfirmed.status_code == 400
        assert unconfirmed.headers["content-type"].startswith("application/problem+json")
        someone_else = api.post(
            "/api/oauth/erasure", json={"confirm": True, "account_id": str(stack.seed_account("bob@gmail.com"))}
        )
        assert someone_else.status_code == 403
        first = api.post("/api/oauth/erasure", json={"confirm": True})
        again = api.post("/api/oauth/erasure", json={"confirm": True})
    assert first.status_code == 202 and first.json()["changed"] is True
    assert again.status_code == 202 and again.json()["changed"] is False
    assert again.json()["erasure_requested_at"] == first.json()["erasure_requested_at"]
    assert "erasure_requested" in stack.audit_actions()

    counts = Retention(stack.settings, stack.engine, clock=stack.clock).erase_requested_accounts()

    assert counts["accounts_erased"] == 1 and counts["grants_revoked"] == 1
    with transaction(stack.engine) as db:
        assert db.scalar(select(GoogleAccount).where(GoogleAccount.email == "alice@gmail.com")) is None
        assert db.scalars(select(UserSession).where(UserSession.account_id == account.id)).all() == []
        leftovers = db.execute(text("SELECT count(*) FROM storage_snapshot WHERE account_id = :id"), {"id": account.id})
        assert leftovers.scalar() == 0
        assert all("alice@gmail.com" not in (row.subject or "") for row in db.scalars(select(AuditLog)))
        # bob was not touched
        assert db.scalar(select(GoogleAccount).where(GoogleAccount.email == "bob@gmail.com")) is not None
    # The grant is dead at Google: no live access or refresh token is left for alice.
    assert live_tokens_at_google(stack, "alice@gmail.com") == 0


def live_tokens_at_google(stack: Stack, email: str) -> int:
    grants = stack.emu.call("GET", f"/grants?email={email}")["grants"]
    return sum(g["refresh_tokens"] + g["live_access_tokens"] for g in grants)
