"""storage_backfill tells a partial Reports day from a complete one, and its daily rows live beside
the hourly rows of collection (never on the same key)."""

from __future__ import annotations

import datetime as dt

import pytest
from support.airflow_harness import ADMIN_EMAIL, LOGIN_SCOPES, World, account
from support.clock import FakeClock

from driveguard import pipelines
from driveguard.config import SCOPE_REPORTS_USAGE
from driveguard.pipelines import Runtime, use_runtime
from driveguard.storage.interval import Interval

MIB = 1024**2
GIB = 1024**3
DOMAIN = "acme.example"
USERS = [f"u{i}@{DOMAIN}" for i in range(1, 10)]  # with the admin: 10 members; half of them is admin, u1-u4


def emulator_today(world: World) -> dt.date:
    return dt.date.fromisoformat(world.emu.call("GET", "/clock")["reports_today"])


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def usage_on(email: str, day: dt.date) -> int:
    base = 1000 if email == ADMIN_EMAIL else 1000 * int(email[1])
    return (base + day.day) * MIB


def seed_domain(world: World, day: dt.date) -> dict[str, object]:
    """Nine users and the admin, all signed in to Driveguard; Drive reports today's usage (2 GiB each),
    Reports the day's history (different figures, so the two series are told apart)."""
    members = [
        account(
            email,
            usage=2 * GIB,
            limit=30 * GIB,
            domain=DOMAIN,
            created="2020-01-01",
            is_admin=email == ADMIN_EMAIL,
            history={day.isoformat(): {"usage": usage_on(email, day), "usage_in_drive": MIB, "usage_in_gmail": 0}},
        )
        for email in [ADMIN_EMAIL, *USERS]
    ]
    ids = world.seed(members[1:])
    ids.update(world.seed(members[:1], scopes=[*LOGIN_SCOPES, SCOPE_REPORTS_USAGE]))
    return ids


def whole_day(day: dt.date) -> Interval:
    return Interval(day_start(day), day_start(day + dt.timedelta(days=1)))


def daily_rows(world: World, day: dt.date) -> dict[str, int]:
    rows = world.rows(
        "SELECT a.email, s.usage_bytes FROM storage_snapshot s JOIN google_account a ON a.id = s.account_id "
        "WHERE s.interval_start = :s AND s.granularity = 'daily'",
        s=day_start(day),
    )
    return {r["email"]: r["usage_bytes"] for r in rows}


def backfill_day_record(world: World, day: dt.date) -> dict[str, object]:
    [row] = world.rows(
        "SELECT status, attempts, reported_users, matched_accounts, warning FROM backfill_day WHERE day = :d", d=day
    )
    return dict(row)


def reschedules(run_id: str) -> int:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        tis = select(TaskInstance.id).where(TaskInstance.run_id == run_id)
        return session.scalar(select(func.count()).select_from(TaskReschedule).where(TaskReschedule.ti_id.in_(tis)))


def test_partial_day_is_stored_marked_and_fetched_again_until_complete(world: World, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BACKFILL_PARTIAL_RETRY_SECONDS", "1")
    day = emulator_today(world) - dt.timedelta(days=4)
    seed_domain(world, day)
    world.emu.config(reports_partial_percent=50, reports_partial_dates=day.isoformat())
    world.emu.reset_stats()
    between_tries: list[dict[str, object]] = []

    def google_catches_up(context: object) -> None:
        if world.emu.stats()["requests"].get("reports", 0) >= 1:  # the first try got the partial day
            between_tries.append({"rows": daily_rows(world, day), "record": backfill_day_record(world, day)})
            world.emu.config(reports_partial_percent=0)
            # u1's figure for the day is corrected in the complete answer.
            world.emu.patch_account(
                "u1@acme.example", history={day.isoformat(): {"usage": 7777 * MIB, "usage_in_drive": MIB}}
            )

    result = world.harness.run(
        "storage_backfill",
        logical_date=day_start(day + dt.timedelta(days=1)),
        before_each_try={"backfill_day": google_catches_up},
    )

    assert result.state == "success", result.tasks
    # The first try stored the five users present, marked the day partial, and was rescheduled.
    [first] = between_tries
    assert first["rows"] == {e: usage_on(e, day) for e in [ADMIN_EMAIL, *USERS[:4]]}
    assert first["record"]["status"] == "partial" and first["record"]["attempts"] == 1
    assert (first["record"]["reported_users"], first["record"]["matched_accounts"]) == (5, 5)
    assert "Partial data" in str(first["record"]["warning"])
    assert reschedules(result.run_id) == 1
    assert world.emu.stats()["requests"]["reports"] == 2
    # The complete answer replaced the partial rows (one corrected) and added the rest: no duplicates.
    counts = result.xcom("backfill_day")
    assert counts["day_status"] == "complete" and counts["attempts"] == 2
    assert (counts["partial_days"], counts["completed_days"], counts["gave_up_days"]) == (0, 1, 0)
    assert (counts["reported_users"], counts["matched_accounts"]) == (10, 10)
    assert (counts["inserted"], counts["updated"], counts["unchanged"], counts["kept_drive"]) == (5, 1, 4, 0)
    expected = {e: usage_on(e, day) for e in [ADMIN_EMAIL, *USERS]} | {"u1@acme.example": 7777 * MIB}
    assert daily_rows(world, day) == expected
    assert world.scalar("SELECT count(*) FROM storage_snapshot") == 10
    record = backfill_day_record(world, day)
    assert (record["status"], record["attempts"], record["warning"]) == ("complete", 2, None)
    [stored] = world.rows("SELECT counts FROM pipeline_run WHERE dag_id = 'storage_backfill'")
    assert stored["counts"]["day_status"] == "complete" and stored["counts"]["completed_days"] == 1


def test_a_day_that_stays_partial_is_given_up_and_says_so(world: World, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BACKFILL_PARTIAL_RETRY_SECONDS", "1")
    monkeypatch.setenv("BACKFILL_PARTIAL_MAX_ATTEMPTS", "3")
    day = emulator_today(world) - dt.timedelta(days=4)
    seed_domain(world, day)
    world.emu.config(reports_partial_percent=50)
    world.emu.reset_stats()

    result = world.harness.run("storage_backfill", logical_date=day_start(day + dt.timedelta(days=1)))

    assert result.state == "success", result.tasks
    counts = result.xcom("backfill_day")
    assert counts["day_status"] == "gave_up" and counts["attempts"] == 3
    assert (counts["partial_days"], counts["completed_days"], counts["gave_up_days"]) == (0, 0, 1)
    assert (counts["reported_users"], counts["inserted"], counts["unchanged"]) == (5, 0, 5)
    assert reschedules(result.run_id) == 2
    assert world.emu.stats()["requests"]["reports"] == 3
    assert daily_rows(world, day) == {e: usage_on(e, day) for e in [ADMIN_EMAIL, *USERS[:4]]}
    assert backfill_day_record(world, day)["status"] == "gave_up"

    # Backfilling the day again later, once Google has it all, completes it (and only adds the rest).
    world.emu.config(reports_partial_percent=0)
    later = world.harness.run("storage_backfill", logical_date=day_start(day + dt.timedelta(days=1)))
    counts = later.xcom("backfill_day")
    assert (counts["day_status"], counts["attempts"], counts["completed_days"]) == ("complete", 4, 1)
    assert (counts["inserted"], counts["updated"], counts["unchanged"]) == (5, 0, 5)
    assert len(daily_rows(world, day)) == 10
    assert world.scalar("SELECT count(*) FROM storage_snapshot") == 10


def test_backfilled_day_and_the_hour_collected_at_its_midnight_are_two_rows(world: World):
    day = emulator_today(world) - dt.timedelta(days=3)
    ids = seed_domain(world, day)
    midnight = day_start(day)

    collected = world.harness.run("storage_collect", logical_date=midnight + dt.timedelta(hours=1))
    assert collected.state == "success", collected.tasks
    assert collected.xcom("summarize")["inserted"] == 10

    backfilled = world.harness.run("storage_backfill", logical_date=day_start(day + dt.timedelta(days=1)))
    assert backfilled.state == "success", backfilled.tasks
    counts = backfilled.xcom("backfill_day")
    # The case: before the series had their own keys this stored nothing and said "unchanged 10".
    assert (counts["series"], counts["inserted"], counts["updated"], counts["unchanged"]) == ("daily", 10, 0, 0)
    rows = world.rows(
        "SELECT a.email, s.granularity, s.source, s.usage_bytes, s.interval_end FROM storage_snapshot s "
        "JOIN google_account a ON a.id = s.account_id WHERE s.interval_start = :s",
        s=midnight,
    )
    assert len(rows) == 20
    by_series = {(r["email"], r["granularity"]): r for r in rows}
    for email in [ADMIN_EMAIL, *USERS]:
        raw, daily = by_series[(email, "raw")], by_series[(email, "daily")]
        assert (raw["source"], raw["usage_bytes"], raw["interval_end"]) == (
            "drive_about",
            2 * GIB,
            midnight + dt.timedelta(hours=1),
        )
        assert (daily["source"], daily["usage_bytes"], daily["interval_end"]) == (
            "reports_usage",
            usage_on(email, day),
            midnight + dt.timedelta(days=1),
        )

    # Readers of the hour see one row per account: a rerun of the collection finds nothing missing
    # and calls Google for nothing, the overview shows Drive's figure, not the backfilled one.
    world.emu.reset_stats()
    rerun = world.harness.run("storage_collect", logical_date=midnight + dt.timedelta(hours=1))
    assert rerun.state == "success", rerun.tasks
    assert rerun.xcom("summarize")["accounts"] == 0
    assert world.emu.stats()["batch"]["requests"] == 0
    latest = world.rows("SELECT account_id, interval_start, usage_bytes FROM storage_latest")
    assert len(latest) == 10
    assert {(r["interval_start"], r["usage_bytes"]) for r in latest} == {(midnight, 2 * GIB)}
    assert {r["account_id"] for r in latest} == set(ids.values())

    # And the other way round: a backfilled day first does not make collection skip that midnight.
    next_day = day + dt.timedelta(days=1)
    world.emu.config(reports_lag_days=0)
    first = world.harness.run("storage_backfill", logical_date=day_start(next_day + dt.timedelta(days=1)))
    assert first.xcom("backfill_day")["inserted"] == 10
    then = world.harness.run("storage_collect", logical_date=day_start(next_day) + dt.timedelta(hours=1))
    assert then.state == "success", then.tasks
    assert then.xcom("summarize")["inserted"] == 10
    assert world.scalar("SELECT count(*) FROM storage_snapshot WHERE interval_start = :s", s=day_start(next_day)) == 20


def test_a_partial_day_left_behind_by_a_killed_run_is_swept_by_a_later_run_once_due(world: World):
    """The run that stored a partial day died before its reschedule: a later run for any other day
    fetches the day again once BACKFILL_PARTIAL_RETRY_SECONDS have passed, and counts it."""
    day = emulator_today(world) - dt.timedelta(days=5)
    seed_domain(world, day)
    world.emu.config(reports_partial_percent=50, reports_partial_dates=day.isoformat())
    clock = FakeClock()
    rt = Runtime(world.settings, world.engine, clock=clock)
    first = pipelines.backfill_day(rt, whole_day(day))  # the first try; then the worker was killed
    assert (first["day_status"], first["attempts"], first["swept_days"]) == ("partial", 1, 0)
    world.emu.config(reports_partial_percent=0)  # Google has the whole day now

    with use_runtime(lambda: rt):
        early = world.harness.run("storage_backfill", logical_date=day_start(day + dt.timedelta(days=2)))
    assert early.state == "success", early.tasks
    assert early.xcom("backfill_day")["swept_days"] == 0  # its retry time has not come yet
    assert backfill_day_record(world, day)["status"] == "partial"

    clock.advance(world.settings.pipelines.backfill_partial_retry_seconds)
    world.emu.reset_stats()
    with use_runtime(lambda: rt):
        later = world.harness.run("storage_backfill", logical_date=day_start(day + dt.timedelta(days=3)))

    assert later.state == "success", later.tasks
    counts = later.xcom("backfill_day")
    assert counts["day_status"] == "complete"  # its own day
    assert (counts["swept_days"], counts["swept_completed_days"], counts["swept_partial_days"]) == (1, 1, 0)
    assert (counts["swept_gave_up_days"], counts["swept_inserted"], counts["swept_updated"]) == (0, 5, 0)
    assert world.emu.stats()["requests"]["reports"] == 2  # its own day and the swept one
    record = backfill_day_record(world, day)
    assert (record["status"], record["attempts"], record["reported_users"]) == ("complete", 2, 10)
    assert daily_rows(world, day) == {e: usage_on(e, day) for e in [ADMIN_EMAIL, *USERS]}
    [stored] = world.rows("SELECT counts FROM pipeline_run WHERE run_id = :r", r=later.run_id)
    assert stored["counts"]["swept_completed_days"] == 1


def test_a_partial_day_past_the_max_wait_is_given_up_by_age_by_its_own_run_and_by_the_sweep(world: World):
    """BACKFILL_MAX_WAIT_DAYS after a day ended, a partial answer gives the day up at once (no
    reschedule), well before BACKFILL_PARTIAL_MAX_ATTEMPTS fetches; the sweep applies the same rule."""
    p = world.settings.pipelines
    assert p.backfill_partial_max_attempts > 2  # so the age decides below, not the attempts
    day = emulator_today(world) - dt.timedelta(days=4)
    older = day - dt.timedelta(days=1)
    seed_domain(world, day)
    world.emu.config(reports_partial_percent=50)  # Google never gets further than half the users
    clock = FakeClock()
    rt = Runtime(world.settings, world.engine, clock=clock)
    assert pipelines.backfill_day(rt, whole_day(older))["day_status"] == "partial"  # then the run was killed

    clock.set(whole_day(day).end + dt.timedelta(days=p.backfill_max_wait_days, seconds=1))
    world.emu.reset_stats()
    with use_runtime(lambda: rt):
        result = world.harness.run("storage_backfill", logical_date=day_start(day + dt.timedelta(days=1)))

    assert result.state == "success", result.tasks
    assert reschedules(result.run_id) == 0
    counts = result.xcom("backfill_day")
    assert (counts["day_status"], counts["attempts"], counts["gave_up_days"], counts["partial_days"]) == (
        "gave_up",
        1,
        1,
        0,
    )
    assert (counts["swept_days"], counts["swept_gave_up_days"], counts["swept_partial_days"]) == (1, 1, 0)
    assert world.emu.stats()["requests"]["reports"] == 2
    assert backfill_day_record(world, day)["status"] == "gave_up"
    assert (backfill_day_record(world, older)["status"], backfill_day_record(world, older)["attempts"]) == (
        "gave_up",
        2,
    )
    # Given up means kept as it is: the users Google did report stay stored.
    assert daily_rows(world, day) == {e: usage_on(e, day) for e in [ADMIN_EMAIL, *USERS[:4]]}
