"""storage_backfill: Admin Reports history, once per account and day; "not yet available" waits."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from support.airflow_harness import ADMIN_EMAIL, LOGIN_SCOPES, World, account
from support.clock import FakeClock

from driveguard.config import SCOPE_REPORTS_USAGE
from driveguard.google.reports import DataNotYetAvailable, ReportsClient
from driveguard.pipelines import Runtime, use_runtime

MIB = 1024**2
GIB = 1024**3
DOMAIN = "acme.example"


def emulator_today(world: World) -> dt.date:
    return dt.date.fromisoformat(world.emu.call("GET", "/clock")["reports_today"])


def seed_domain(world: World, days: list[dt.date]) -> dict[str, object]:
    users = {f"u{i}@{DOMAIN}": 1000 * i for i in (1, 2, 3)}
    members = [
        account(
            email,
            usage=base * MIB,
            limit=30 * GIB,
            domain=DOMAIN,
            created="2020-01-01",
            history={
                d.isoformat(): {"usage": (base + n) * MIB, "usage_in_drive": base * MIB, "usage_in_gmail": n * MIB}
                for n, d in enumerate(days)
            },
        )
        for email, base in users.items()
    ]
    admin = account(ADMIN_EMAIL, usage=100 * MIB, limit=30 * GIB, domain=DOMAIN, is_admin=True, created="2020-01-01")
    ghost = account(f"ghost@{DOMAIN}", usage=5 * MIB, domain=DOMAIN, created="2020-01-01")  # never signed in
    world.emu.upsert_accounts([ghost])
    ids = world.seed(members)
    ids.update(world.seed([admin], scopes=[*LOGIN_SCOPES, SCOPE_REPORTS_USAGE]))
    return ids


def next_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def test_backfills_three_days_once_per_account_and_waits_for_late_data(world: World):
    today = emulator_today(world)
    days = [today - dt.timedelta(days=n) for n in (5, 4, 3)]
    ids = seed_domain(world, days)

    for day in days:
        result = world.harness.run("storage_backfill", logical_date=next_midnight(day))
        assert result.state == "success", result.tasks
        counts = result.xcom("backfill_day")
        assert counts["date"] == day.isoformat()
        assert (counts["reported_users"], counts["matched_accounts"], counts["unknown_users"]) == (5, 4, 1)
        assert counts["inserted"] == 4

    rows = world.rows(
        "SELECT a.email, s.interval_start, s.interval_end, s.usage_bytes, s.usage_in_drive_bytes, s.limit_bytes, "
        "s.source, s.granularity FROM storage_snapshot s JOIN google_account a ON a.id = s.account_id"
    )
    assert len(rows) == 4 * 3
    assert len({(r["email"], r["interval_start"]) for r in rows}) == 12
    assert {(r["source"], r["granularity"]) for r in rows} == {("reports_usage", "daily")}
    for row in rows:
        day = row["interval_start"].date()
        assert row["interval_start"] == next_midnight(day) - dt.timedelta(days=1)
        assert row["interval_end"] == next_midnight(day)
        assert row["limit_bytes"] == 30 * GIB
        if row["email"] != ADMIN_EMAIL:
            base = 1000 * int(row["email"][1])
            assert row["usage_bytes"] == (base + days.index(day)) * MIB
            assert row["usage_in_drive_bytes"] == base * MIB

    # Backfilling a day again changes nothing.
    again = world.harness.run("storage_backfill", logical_date=next_midnight(days[1]))
    counts = again.xcom("backfill_day")
    assert (counts["inserted"], counts["updated"], counts["unchanged"]) == (0, 0, 4)
    assert world.scalar("SELECT count(*) FROM storage_snapshot") == 12

    # Yesterday (Pacific) is not published yet: the task is rescheduled, nothing (no zero) is stored,
    # and once Google publishes the day, the rescheduled try stores the real figures. The product reads
    # a fake clock; Google publishes right before the rescheduled try (no watcher thread, no sleeps).
    late_day = today - dt.timedelta(days=1)
    late_start = next_midnight(late_day) - dt.timedelta(days=1)
    world.emu.reset_stats()
    seen_before_publishing: list[int] = []
    clock = FakeClock()

    def publish_before_the_rescheduled_try(context: object) -> None:
        if world.emu.stats()["requests"].get("reports", 0) >= 1:  # the first try was refused
            seen_before_publishing.append(
                world.scalar("SELECT count(*) FROM storage_snapshot WHERE interval_start = :s", s=late_start)
            )
            world.emu.config(reports_lag_days=0)

    with use_runtime(lambda: Runtime(world.settings, world.engine, clock=clock)):
        late = world.harness.run(
            "storage_backfill",
            logical_date=next_midnight(late_day),
            before_each_try={"backfill_day": publish_before_the_rescheduled_try},
        )

    assert late.state == "success", late.tasks
    assert seen_before_publishing == [0]
    assert world.emu.stats()["requests"]["reports"] == 2  # refused once, then answered
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        late_tis = select(TaskInstance.id).where(TaskInstance.run_id == late.run_id)
        reschedules = session.scalar(
            select(func.count()).select_from(TaskReschedule).where(TaskReschedule.ti_id.in_(late_tis))
        )
        again_at = session.scalar(select(TaskReschedule.reschedule_date).where(TaskReschedule.ti_id.in_(late_tis)))
    assert reschedules == 1
    # The product's clock decides when to look again: BACKFILL_NOT_READY_RETRY_SECONDS=1 after its "now".
    assert again_at == clock() + dt.timedelta(seconds=1)
    stored = world.rows("SELECT usage_bytes FROM storage_snapshot WHERE interval_start = :s", s=late_start)
    assert len(stored) == 4 and all(r["usage_bytes"] > 0 for r in stored)
    assert world.scalar("SELECT count(*) FROM google_account WHERE id = :id", id=ids[ADMIN_EMAIL]) == 1


def test_not_yet_available_as_a_400_is_also_try_later(world: World):
    today = emulator_today(world)
    seed_domain(world, [today - dt.timedelta(days=3)])
    world.emu.config(reports_not_ready="error")
    from driveguard.identity.tokens import TokenService

    service = TokenService(world.settings, world.engine)
    admin_id = world.scalar("SELECT id FROM google_account WHERE email = :e", e=ADMIN_EMAIL)
    token = service.get_access_token(admin_id).token
    service.close()
    client = ReportsClient(world.settings, token, sleep=lambda _: None)
    with pytest.raises(DataNotYetAvailable):
        list(client.usage(today))
    assert len(list(client.usage(today - dt.timedelta(days=3)))) == 5


def test_documented_backfill_command_plans_one_run_per_day(world: World):
    # The DAG is in Airflow's database once a run happened (dag.test syncs the DAG folder).
    world.harness.run("storage_backfill", logical_date=next_midnight(emulator_today(world) - dt.timedelta(days=9)))
    command = [
        sys.executable, "-m", "airflow", "backfill", "create", "--dag-id", "storage_backfill",
        "--from-date", "2026-10-01", "--to-date", "2026-10-03", "--dry-run",
    ]  # fmt: skip
    out = subprocess.run(command, env=world.harness.env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    planned = [line for line in out.stdout.splitlines() if line.startswith("| 2026-10-0")]
    assert len(planned) == 3, out.stdout
