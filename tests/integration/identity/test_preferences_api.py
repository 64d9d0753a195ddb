"""Alert preferences over real HTTP: a signed-in person sets their own, an admin anyone's; every bad
value is a precise 400 problem naming the field; a personal apprise target is sealed at rest and
never answered, logged or audited in clear. (Here because it needs the sign-in stack.)"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from support.emulator import sign_in
from support.signin import Stack

from driveguard.identity.vault import Vault
from driveguard.storage.targets import open_personal

ME = "/api/storage/me/preferences"
SECRET_TARGET = "mailto://alice:smtp-password-never-shown@example.com"


def signed_in(stack: Stack, email: str = "alice@gmail.com") -> uuid.UUID:
    assert sign_in(stack.browser, stack.url, email).status_code == 303
    return stack.account(email).id


def test_a_person_reads_and_changes_their_own_preferences_and_the_target_stays_sealed(stack: Stack):
    account_id = signed_in(stack)
    with stack.api(stack.session_token()) as me:
        first = me.get(ME)
        assert first.status_code == 200, first.text
        assert first.json() == {
            "account_id": str(account_id),
            "email": "alice@gmail.com",
            "alerts_enabled": True,
            "warning_threshold_percent": None,
            "critical_threshold_percent": None,
            "effective_warning_threshold_percent": stack.settings.monitoring.warning_threshold_percent,
            "effective_critical_threshold_percent": stack.settings.monitoring.critical_threshold_percent,
            "personal_target": None,
            "updated_at": None,
        }
        changed = me.put(
            ME,
            json={
                "warning_threshold_percent": 70,
                "critical_threshold_percent": 85.5,
                "personal_target": SECRET_TARGET,
            },
        )
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert (body["warning_threshold_percent"], body["critical_threshold_percent"]) == (70.0, 85.5)
        assert (body["effective_warning_threshold_percent"], body["effective_critical_threshold_percent"]) == (70, 85.5)
        assert body["personal_target"] == "mailto://a***@example.com"
        assert body["alerts_enabled"] is True
        # Only what is sent changes: switching alerts off keeps the thresholds and the target.
        off = me.put(ME, json={"alerts_enabled": False}).json()
        assert (off["alerts_enabled"], off["warning_threshold_percent"], off["personal_target"]) == (
            False,
            70.0,
            "mailto://a***@example.com",
        )
        again = me.get(ME)
        assert again.json() == off
        assert "smtp-password" not in again.text and "alice:" not in again.text
        # null returns a threshold to the global one; "" removes the target.
        reset = me.put(ME, json={"warning_threshold_percent": None, "personal_target": ""}).json()
        assert reset["warning_threshold_percent"] is None
        assert reset["effective_warning_threshold_percent"] == stack.settings.monitoring.warning_threshold_percent
        assert reset["personal_target"] is None
        assert me.put(ME, json={"personal_target": SECRET_TARGET}).status_code == 200

    with stack.engine.connect() as conn:
        row = conn.execute(
            text("SELECT notify_targets_ciphertext FROM monitoring_setting WHERE account_id = :id"), {"id": account_id}
        ).one()
        audit = conn.execute(text("SELECT details::text FROM audit_log WHERE action = 'preferences_changed'")).all()
    assert SECRET_TARGET.encode() not in bytes(row[0]) and b"smtp-password" not in bytes(row[0])
    assert open_personal(Vault(stack.settings.security.encryption_keys), row[0], account_id) == [SECRET_TARGET]
    assert len(audit) == 4  # one per change
    assert all("smtp-password" not in details for (details,) in audit)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"warning_threshold_percent": 0}, "warning_threshold_percent", "must be greater than 0 and at most 100"),
        ({"warning_threshold_percent": -5}, "warning_threshold_percent", "must be greater than 0 and at most 100"),
        ({"critical_threshold_percent": 100.5}, "critical_threshold_percent", "must be greater than 0 and at most 100"),
        ({"warning_threshold_percent": 90, "critical_threshold_percent": 80}, "warning_threshold_percent",
         "must be below the critical threshold (80)"),
        ({"warning_threshold_percent": 95}, "warning_threshold_percent", "must be below the critical threshold (90)"),
        ({"critical_threshold_percent": 50}, "critical_threshold_percent", "must be above the warning threshold (80)"),
        ({"warning_threshold_percent": 1}, "warning_threshold_percent", "must be above the hysteresis margin"),
        ({"personal_target": "ftp://files.example.com/x"}, "personal_target", "'ftp' is not an accepted apprise"),
        ({"personal_target": "mailto://"}, "personal_target", "needs a host"),
        ({"personal_target": "json://"}, "personal_target", "needs a host"),
        ({"personal_target": "slack://x"}, "personal_target", "apprise cannot build a notifier from this URL"),
        ({"personal_target": "x" * 2001}, "personal_target", "is too long"),
    ],
)  # fmt: skip
def test_each_bad_value_is_a_400_problem_naming_the_field(stack: Stack, change: dict, field: str, message: str):
    account_id = signed_in(stack)
    with stack.api(stack.session_token()) as me:
        answer = me.put(ME, json=change)
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        problem = answer.json()
        assert problem["code"] == "invalid-preferences"
        assert problem["type"].endswith("/invalid-preferences")
        assert [e["field"] for e in problem["errors"]] == [field]
        assert message in problem["errors"][0]["message"]
        assert me.get(ME).json()["updated_at"] is None  # nothing was stored
    with stack.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM monitoring_setting WHERE account_id = :id"),
                            {"id": account_id}).scalar() == 0  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"warning_threshold_percent": True},
        {"critical_threshold_percent": 10**400},
        {"alerts_enabled": "yes"},
        {"personal_target": 7},
        {"surprise": 1},
        [],
    ],
)
def test_malformed_bodies_are_400_problems_never_500(stack: Stack, body: object):
    signed_in(stack)
    with stack.api(stack.session_token()) as me:
        answer = me.put(ME, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_an_admin_sets_any_accounts_preferences_a_person_only_their_own(stack: Stack):
    alice = signed_in(stack, "alice@gmail.com")
    with stack.api(stack.session_token()) as me:
        other = me.put(f"/api/storage/accounts/{alice}/preferences", json={"alerts_enabled": False})
        assert other.status_code == 403
        assert other.json()["code"] == "admin-required"
    with stack.api(stack.admin_token()) as admin:
        path = f"/api/storage/accounts/{alice}/preferences"
        changed = admin.put(path, json={"alerts_enabled": False, "personal_target": "json://hooks.example.com/t0k3n"})
        assert changed.status_code == 200, changed.text
        assert changed.json()["alerts_enabled"] is False
        assert changed.json()["personal_target"] == "json://hooks.example.com"
        assert admin.get(path).json() == changed.json()
        missing = admin.get(f"/api/storage/accounts/{uuid.uuid4()}/preferences")
        assert missing.status_code == 404
        assert missing.json()["code"] == "account-not-found"
        assert (
            admin.put(f"/api/storage/accounts/{uuid.uuid4()}/preferences", json={"alerts_enabled": True}).status_code
            == 404
        )
        bad = admin.put(path, json={"critical_threshold_percent": 0})
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "critical_threshold_percent"
        # The admin token belongs to no Google account: "me" is a clear 404, not someone else's.
        assert admin.get(ME).status_code == 404
    with stack.api(stack.session_token()) as me:
        assert me.get(ME).json()["alerts_enabled"] is False  # the person sees what the admin set
        assert me.get("/api/storage/me/grant-notices").json() == []
    with stack.engine.connect() as conn:
        actors = (
            conn.execute(text("SELECT actor FROM audit_log WHERE action = 'preferences_changed' ORDER BY id"))
            .scalars()
            .all()
        )
    assert actors == ["user:ops"]  # the admin, not the account


def test_the_openapi_document_types_the_preference_routes(stack: Stack):
    with stack.api() as anonymous:
        schema = anonymous.get("/api/docs/openapi.json").json()
    put = schema["paths"]["/api/storage/me/preferences"]["put"]
    assert {"200", "400", "401"} <= set(put["responses"])
    body_ref = put["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][body_ref]["properties"]) == {
        "warning_threshold_percent", "critical_threshold_percent", "alerts_enabled", "personal_target",
    }  # fmt: skip
    assert "/api/storage/accounts/{account_id}/preferences" in schema["paths"]
    assert "/api/storage/grant-notices" in schema["paths"]
