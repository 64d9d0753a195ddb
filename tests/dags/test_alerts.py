"""Quality gate, alert state machine and delivery: real SMTP and HTTP receivers, exactly once."""

from __future__ import annotations

import contextlib
import datetime as dt

from sqlalchemy import text
from support.airflow_harness import World, account, hour
from support.clock import FakeClock
from support.crash import SimulatedCrash
from support.outbox import insert_row, set_personal_targets

from driveguard.pipelines import Runtime, use_runtime
from driveguard.storage.notifications import Dispatcher, OutboxMessage

GIB = 1024**3


def set_usage(world: World, email: str, percent: float, limit: int = 10 * GIB) -> None:
    world.emu.patch_account(email, usage=int(limit * percent / 100), limit=limit)


def test_the_gate_quarantines_only_the_invalid_row_alerts_everyone_else_and_tells_ops(world: World):
    """Usage above the limit (a lapsed plan) is a fact and critical; a negative limit is a data error:
    only that row is held back, listed, and fails the run; the overview follows the interval anyway."""
    ids = world.seed(
        [
            account("over@example.com", usage=20 * GIB, limit=15 * GIB),  # usage above the limit
            account("full@example.com", usage=int(14.5 * GIB), limit=15 * GIB),  # critical
            account("bad@example.com", usage=1 * GIB, limit=15 * GIB),  # its row is broken below
            account("calm@example.com", usage=1 * GIB, limit=15 * GIB),
        ]
    )

    def break_a_row(_context: object) -> None:  # a genuinely invalid row, inserted behind collection's back
        with world.engine.begin() as conn:
            conn.execute(
                text("UPDATE storage_snapshot SET limit_bytes = -5 WHERE account_id = :id"),
                {"id": ids["bad@example.com"]},
            )

    result = world.harness.run("storage_collect", logical_date=hour(21, 10), before_each_try={"quality": break_a_row})

    assert result.state == "failed"  # quarantined rows are not green
    assert result.task_state("summarize") == "success"
    assert result.task_state("quality") == "failed"
    assert result.task_state("alerts") == "success"
    assert result.task_state("complete") == "success"
    assert world.scalar("SELECT count(*) FROM storage_snapshot") == 4
    gate = world.scalar(
        "SELECT counts FROM pipeline_run WHERE dag_id = 'storage_collect' AND task_id = 'quality'"
    )  # recorded before the task failed
    assert gate["quarantined_accounts"] == [{"account_id": str(ids["bad@example.com"]), "reason": "limit is negative"}]
    assert (gate["quarantined"], gate["over_quota"], gate["success"]) == (1, 1, False)
    assert gate["over_quota_accounts"] == [str(ids["over@example.com"])]
    assert (gate["active_accounts"], gate["with_snapshot"], gate["missing"]) == (4, 4, 0)
    assert gate["failed_checks"] == ["limit is not negative, unlimited accounts excepted"]
    # Everyone but the quarantined row was evaluated: the over-quota account got its critical alert.
    alerts = {
        (r["email"], r["kind"])
        for r in world.rows("SELECT a.email, l.kind FROM alert l JOIN google_account a ON a.id = l.account_id")
    }
    assert alerts == {("over@example.com", "critical"), ("full@example.com", "critical")}
    states = dict(
        (r["email"], r["level"])
        for r in world.rows("SELECT a.email, s.level FROM alert_state s JOIN google_account a ON a.id = s.account_id")
    )
    assert states == {"over@example.com": "critical", "full@example.com": "critical", "calm@example.com": "normal"}
    assert result.xcom("alerts")["quarantined_skipped"] == 1
    assert world.scalar("SELECT count(*) FROM notification_outbox") > 0
    # The gate holds back alerts on the bad row, not the overview: its read model shows what was measured.
    assert result.task_state("read_model") == "success"
    assert result.xcom("read_model") == {"accounts": 4, "refreshed": 4}
    latest = {
        r["account_id"]: (r["interval_start"], r["usage_bytes"], r["level"])
        for r in world.rows("SELECT account_id, interval_start, usage_bytes, level FROM storage_latest")
    }
    assert latest == {
        ids["over@example.com"]: (hour(21, 9), 20 * GIB, "critical"),
        ids["full@example.com"]: (hour(21, 9), int(14.5 * GIB), "critical"),
        ids["bad@example.com"]: (hour(21, 9), 1 * GIB, "normal"),  # no level moved on bad data
        ids["calm@example.com"]: (hour(21, 9), 1 * GIB, "normal"),
    }
    # The failure went to ops through the apprise provider's notifier, with a readable report.
    ops = [d for d in world.receivers["ops"].deliveries if "Data interval: 2026-11-21 09:00" in d.body]
    assert len(ops) == 1
    assert "storage_collect.quality" in ops[0].subject
    assert "limit is not negative" in ops[0].body and "FAIL" in ops[0].body
    assert f"quarantined {ids['bad@example.com']}: limit is negative" in ops[0].body


def test_levels_rise_and_resolve_with_hysteresis_and_each_alert_reaches_each_target_once(world: World):
    receivers = world.receivers
    ids = world.seed(
        [
            account("carol@example.com", usage=5 * GIB, limit=10 * GIB),
            account("dave@example.com", usage=5000 * GIB, limit=None),  # unlimited: never alerts
        ]
    )
    own_target = receivers["http"].url("/carol")
    with world.engine.begin() as conn:
        set_personal_targets(conn, world.settings, ids["carol@example.com"], [own_target])

    def collect(at_hour: int, percent: float) -> dict:
        set_usage(world, "carol@example.com", percent)
        result = world.harness.run("storage_collect", logical_date=hour(22, at_hour))
        assert result.state == "success", result.tasks
        return result.xcom("alerts")

    def dispatch() -> dict:
        result = world.harness.run("alert_dispatch")
        assert result.state == "success"
        return result.xcom("dispatch")

    assert collect(10, 50).get("alert_warning", 0) == 0
    assert collect(11, 85)["alert_warning"] == 1
    assert dispatch()["sent"] == 3  # APPRISE_URLS (mail + webhook) and carol's own webhook
    assert collect(12, 95)["alert_critical"] == 1
    assert dispatch()["sent"] == 3
    # 88.5 % is below critical (90) but within the 2-point margin: still critical, no new alert.
    held = collect(13, 88.5)
    assert held["level_critical"] == 1 and held.get("transitions", 0) == 0
    assert dispatch()["claimed"] == 0
    assert collect(14, 50)["alert_resolved"] == 1
    assert dispatch()["sent"] == 3

    kinds = [r["kind"] for r in world.rows("SELECT kind FROM alert ORDER BY interval_start")]
    assert kinds == ["warning", "critical", "resolved"]
    assert world.scalar("SELECT count(*) FROM alert WHERE account_id = :id", id=ids["dave@example.com"]) == 0
    state = world.rows("SELECT level FROM alert_state WHERE account_id = :id", id=ids["carol@example.com"])
    assert state == [{"level": "normal"}]
    outbox = world.rows("SELECT status, attempts FROM notification_outbox")
    assert len(outbox) == 9 and {(r["status"], r["attempts"]) for r in outbox} == {("sent", 1)}

    mail = receivers["smtp"]
    assert list(mail.raw_count_by_key().values()) == [1, 1, 1]
    subjects = [d.subject for d in mail.deliveries]
    assert "warning" in subjects[0] and "CRITICAL" in subjects[1] and "Resolved" in subjects[2]
    assert all("carol@example.com" in s for s in subjects)
    web = receivers["http"]
    assert list(web.raw_count_by_key().values()) == [1] * 6
    assert sorted(d.headers["path"] for d in web.deliveries) == ["/carol"] * 3 + ["/hooks/driveguard"] * 3
    for delivery in [*mail.deliveries, *web.deliveries]:
        assert delivery.key is not None and f"Idempotency-Key: {delivery.key}" in delivery.body
    # The overview read model follows the latest interval.
    latest = world.rows(
        "SELECT level, round(usage_percent) AS pct FROM storage_latest WHERE account_id = :id",
        id=ids["carol@example.com"],
    )
    assert latest == [{"level": "normal", "pct": 50}]


def test_crash_between_send_and_mark_redelivers_with_the_same_key_and_failures_stay_visible(world: World):
    receivers = world.receivers
    ids = world.seed([account("erin@example.com", usage=int(9.6 * GIB), limit=10 * GIB)])
    with world.engine.begin() as conn:
        set_personal_targets(conn, world.settings, ids["erin@example.com"], ["json://127.0.0.1:9/closed"])
    # The tasks of this test and the dispatcher that dies read one fake clock: the lease runs out
    # when the test moves the clock, not after a wall-clock wait.
    clock = FakeClock()
    with use_runtime(lambda: Runtime(world.settings, world.engine, clock=clock)):
        assert world.harness.run("storage_collect", logical_date=hour(23, 10)).state == "success"
        assert world.scalar("SELECT count(*) FROM notification_outbox WHERE status = 'pending'") == 3

        # A dispatcher dies right after the first successful send, before marking it sent.
        crashed: list[OutboxMessage] = []

        def die_after_first_send(message: OutboxMessage, ok: bool) -> None:
            if ok and not crashed:
                crashed.append(message)
                raise SimulatedCrash

        with contextlib.suppress(SimulatedCrash):
            Dispatcher(world.settings, world.engine, clock=clock, after_send=die_after_first_send).run()
        assert len(crashed) == 1
        victim = crashed[0]
        status = world.scalar("SELECT status FROM notification_outbox WHERE id = :id", id=victim.id)
        assert status == "sending"

        # Every row the dead dispatcher had claimed is left alone while its lease runs.
        assert world.harness.run("alert_dispatch").xcom("dispatch")["claimed"] == 0

        clock.advance(2.2)  # NOTIFY_LEASE_SECONDS=2: the crashed dispatcher is presumed dead
        second = world.harness.run("alert_dispatch").xcom("dispatch")
        assert (second["claimed"], second["reclaimed"], second["sent"], second["failed"]) == (3, 3, 2, 1)
        row = world.rows("SELECT status, attempts FROM notification_outbox WHERE id = :id", id=victim.id)
        assert row == [{"status": "sent", "attempts": 2}]
        failed = world.rows(
            "SELECT status, attempts, last_error, next_attempt_at > now() AS later FROM notification_outbox "
            "WHERE target = 'json://127.0.0.1:9'"  # the masked form: scheme and host
        )
        assert failed[0]["status"] == "failed" and failed[0]["attempts"] == 2 and failed[0]["later"]
        assert failed[0]["last_error"]

        # At least once: the crashed message reached its receiver twice, with the same key, so a
        # receiver deduplicating on the key shows it once; every other message arrived once.
        raw = receivers["smtp"].raw_count_by_key() + receivers["http"].raw_count_by_key()
        assert raw[victim.idempotency_key] == 2
        assert sorted(raw.values()) == [1, 2]
        assert len(receivers["smtp"].unique()) == 1 and len(receivers["http"].unique()) == 1

        # Sent rows are never sent again; the failed one waits for its backoff.
        third = world.harness.run("alert_dispatch").xcom("dispatch")
        assert third["claimed"] == 0


def test_a_dispatcher_running_out_of_lease_hands_unsent_rows_back(world: World):
    clock = FakeClock(dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC))
    with world.engine.begin() as conn:
        for n in range(3):
            insert_row(conn, world.settings, key=f"key-{n}", at=clock() - dt.timedelta(minutes=1))
    sent: list[str] = []

    def slow_sender(message: OutboxMessage) -> tuple[bool, str | None]:
        sent.append(message.idempotency_key)
        clock.advance(1.0)  # each send takes half of the 2 s lease
        return True, None

    dispatcher = Dispatcher(world.settings, world.engine, clock=clock, sender=slow_sender)
    counts = dispatcher.run()
    # Two sends used 2 s of the 2 s lease: the third row went back and was sent in a fresh claim.
    assert counts["released"] == 1 and counts["sent"] == 3 and sorted(sent) == ["key-0", "key-1", "key-2"]
    rows = world.rows("SELECT status, attempts FROM notification_outbox ORDER BY idempotency_key")
    assert rows == [{"status": "sent", "attempts": 1}] * 3
