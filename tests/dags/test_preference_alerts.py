"""Storage alerts honour each person's preferences (set through the preferences service, as the API
and the pages do): their own thresholds, alerts off (and on again), and their own sealed target,
delivered through the outbox next to the ops targets, exactly once."""

from __future__ import annotations

from support.airflow_harness import World, account, hour

from driveguard.identity.caller import Caller
from driveguard.storage.preferences import PreferencesService

GIB = 1024**3
ADMIN = Caller("admin", "admin", "user:ops", "bearer")


def test_own_thresholds_alerts_off_and_the_personal_target_are_honoured(world: World):
    limit = 10 * GIB
    ids = world.seed(
        [
            account("carol@example.com", usage=int(0.70 * limit), limit=limit),  # own warning 60: warns
            account("dave@example.com", usage=int(0.95 * limit), limit=limit),  # critical, alerts off
            account("erin@example.com", usage=int(0.85 * limit), limit=limit),  # own 90/95: stays normal
            account("frank@example.com", usage=int(0.85 * limit), limit=limit),  # globals (80/90): warns
        ]
    )
    carol_hook = world.receivers["http"].url("/carol")
    prefs = PreferencesService(world.settings, world.engine)
    prefs.update(ids["carol@example.com"], {"warning_threshold_percent": 60, "personal_target": carol_hook}, ADMIN)
    prefs.update(ids["dave@example.com"], {"alerts_enabled": False}, ADMIN)
    prefs.update(ids["erin@example.com"], {"warning_threshold_percent": 90, "critical_threshold_percent": 95}, ADMIN)

    collected = world.harness.run("storage_collect", logical_date=hour(22, 10))
    assert collected.state == "success", collected.tasks
    alerts = collected.xcom("alerts")
    assert (alerts["alert_warning"], alerts.get("alert_critical", 0), alerts["alerts_muted"]) == (2, 0, 1)
    assert (alerts["level_normal"], alerts["level_warning"], alerts["level_critical"]) == (1, 2, 1)
    levels = {
        r["email"]: r["level"]
        for r in world.rows("SELECT a.email, s.level FROM alert_state s JOIN google_account a ON a.id = s.account_id")
    }
    assert levels == {"carol@example.com": "warning", "dave@example.com": "critical",
                      "erin@example.com": "normal", "frank@example.com": "warning"}  # fmt: skip

    dispatched = world.harness.run("alert_dispatch")
    assert dispatched.xcom("dispatch")["sent"] == 5  # carol: her hook + 2 ops targets; frank: 2 ops targets
    assert world.harness.run("alert_dispatch").xcom("dispatch")["claimed"] == 0
    http = sorted((d.headers["path"], d.subject) for d in world.receivers["http"].unique())
    assert http == [
        ("/carol", "Google Drive storage warning: carol@example.com is at 70.0%"),
        ("/hooks/driveguard", "Google Drive storage warning: carol@example.com is at 70.0%"),
        ("/hooks/driveguard", "Google Drive storage warning: frank@example.com is at 85.0%"),
    ]
    carol = next(d for d in world.receivers["http"].unique() if d.headers["path"] == "/carol")
    assert "crossed the warning threshold of 60%" in carol.body
    assert sorted(d.subject for d in world.receivers["smtp"].unique()) == [
        "Google Drive storage warning: carol@example.com is at 70.0%",
        "Google Drive storage warning: frank@example.com is at 85.0%",
    ]
    assert sum(world.receivers["http"].raw_count_by_key().values()) == 3  # each sent once
    # The outbox keeps only the mask of carol's hook; the URL itself is sealed.
    targets = {r["target"] for r in world.rows("SELECT target FROM notification_outbox")}
    assert carol_hook not in targets and f"json://127.0.0.1:{world.receivers['http'].port}" in targets

    # dave switches alerts back on: the next interval tells him he is (still) critical, once.
    for receiver in world.receivers.values():
        receiver.clear()
    prefs.update(ids["dave@example.com"], {"alerts_enabled": True}, ADMIN)
    again = world.harness.run("storage_collect", logical_date=hour(22, 11))
    assert again.state == "success"
    assert again.xcom("alerts").get("alert_critical_repeat") == 1
    assert again.xcom("alerts").get("alert_warning", 0) == 0
    assert world.harness.run("alert_dispatch").xcom("dispatch")["sent"] == 2
    assert [d.subject for d in world.receivers["http"].unique()] == [
        "Still critical: dave@example.com's Google Drive storage is at 95.0%"
    ]
