"""Storage rules the code must keep wherever it moves: an account whose Drive part failed gets no
snapshot (so the task's retry collects it), and Admin Reports history never overwrites what
Drive measured. The task bodies run directly (no DAG run) against real PostgreSQL and the
emulator, with injected time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, text
from support.airflow_harness import ADMIN_EMAIL, LOGIN_SCOPES, World, account
from support.clock import FakeClock, FakeTime
from support.emulator_admin import AdminClient

from driveguard import pipelines
from driveguard.config import SCOPE_REPORTS_USAGE, Settings
from driveguard.pipelines import CollectionIncomplete, Interval, Runtime

MIB = 1024**2
GIB = 1024**3


@pytest.fixture
def shop(clean_db: Engine, emu: AdminClient, dag_settings: Settings) -> World:
    """A clean database and an empty emulator; no Airflow (task bodies are called directly)."""
    emu.reset(seed="none")
    return World(dag_settings, clean_db, emu, harness=None, receivers={})  # type: ignore[arg-type]


@pytest.fixture
def rt(shop: World) -> Runtime:
    fake = FakeTime()
    return Runtime(shop.settings, shop.engine, clock=FakeClock(), sleep=fake.sleep, monotonic=fake.clock)


def collect(rt: Runtime, interval: Interval) -> dict[str, Any]:
    """What one storage_collect run's collect tasks do for the interval (all shards)."""
    plan = pipelines.collect_plan(rt, interval)
    return pipelines.sum_counts(pipelines.collect_shard(rt, shard) for shard in plan["shards"])


def snapshots(world: World, interval: Interval, granularity: str = "raw") -> dict[str, dict[str, Any]]:
    rows = world.rows(
        "SELECT a.email, s.usage_bytes, s.limit_bytes, s.interval_end, s.collected_at, s.source, s.granularity "
        "FROM storage_snapshot s JOIN google_account a ON a.id = s.account_id "
        "WHERE s.interval_start = :start AND s.granularity = :granularity",
        start=interval.start,
        granularity=granularity,
    )
    return {r["email"]: dict(r) for r in rows}


# -- a failed Drive part leaves a hole the retry fills -----------------------------------------


def test_an_account_whose_drive_part_failed_has_no_snapshot_and_the_retry_collects_it(shop: World, rt: Runtime):
    shop.seed(
        [
            account("ann@example.com", usage=3 * GIB, limit=15 * GIB),
            account("bea@example.com", usage=7 * GIB, limit=15 * GIB),
        ]
    )
    interval = Interval(dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC), dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC))
    # Google keeps failing bea's part (5xx on every attempt); ann's answers normally.
    shop.emu.faults({"group": "about", "fail_emails": ["bea@example.com"], "error_rate": 1.0, "error_rate_status": 503})

    first = collect(rt, interval)
    assert set(snapshots(shop, interval)) == {"ann@example.com"}  # no row at all for bea, not a zero
    assert (first["collected"], first["failed_transient"]) == (1, 1)
    with pytest.raises(CollectionIncomplete):  # the shard task fails, so Airflow retries it
        pipelines.check_shard(first)

    shop.emu.clear_faults()
    shop.emu.reset_stats()
    retry = collect(rt, interval)
    pipelines.check_shard(retry)
    assert (retry["accounts"], retry["collected"], retry["inserted"]) == (1, 1, 1)  # only the hole
    assert shop.emu.stats()["about_by_account"] == {"bea@example.com": 1}
    rows = snapshots(shop, interval)
    assert {email: (r["usage_bytes"], r["limit_bytes"]) for email, r in rows.items()} == {
        "ann@example.com": (3 * GIB, 15 * GIB),
        "bea@example.com": (7 * GIB, 15 * GIB),
    }


# -- Reports history never replaces a Drive measurement ---------------------------------------


def test_a_reports_backfill_keeps_the_drive_snapshot_of_the_same_interval(shop: World, rt: Runtime):
    domain = "acme.example"
    reports_today = dt.date.fromisoformat(shop.emu.call("GET", "/clock")["reports_today"])
    day = reports_today - dt.timedelta(days=3)  # published at Google
    history = {day.isoformat(): {"usage": 900 * MIB, "usage_in_drive": 800 * MIB, "usage_in_gmail": 100 * MIB}}

    def member(email: str, usage: int) -> dict[str, Any]:
        return account(email, usage=usage, limit=30 * GIB, domain=domain, created="2020-01-01", history=history)

    shop.seed([member(f"cleo@{domain}", 5 * GIB)])
    shop.seed(
        [account(ADMIN_EMAIL, usage=100 * MIB, limit=30 * GIB, domain=domain, is_admin=True, created="2020-01-01")],
        scopes=[*LOGIN_SCOPES, SCOPE_REPORTS_USAGE],
    )
    # Drive measured the first hour of the day, which starts where the day's Reports row starts.
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    hour = Interval(midnight, midnight + dt.timedelta(hours=1))
    assert collect(rt, hour)["inserted"] == 2
    measured = snapshots(shop, hour)
    assert measured[f"cleo@{domain}"]["usage_bytes"] == 5 * GIB
    # Dan signed in later: Drive never measured him for that day, Reports fills the hole.
    shop.seed([member(f"dan@{domain}", 2 * GIB)])

    counts = pipelines.backfill_day(rt, Interval(midnight, midnight + dt.timedelta(days=1)))

    # The hourly rows Drive measured stay exactly as they were; the day is its own (daily) series
    # beside them, for every account Reports knows: the two never share a key.
    after = snapshots(shop, hour)
    assert after[f"cleo@{domain}"] == measured[f"cleo@{domain}"]  # figures, interval, time and source kept
    assert after[ADMIN_EMAIL] == measured[ADMIN_EMAIL]
    assert f"dan@{domain}" not in after
    assert {(r["source"], r["granularity"]) for r in measured.values()} == {("drive_about", "raw")}
    daily = snapshots(shop, hour, granularity="daily")
    assert {e: (r["usage_bytes"], r["source"]) for e, r in daily.items() if e != ADMIN_EMAIL} == {
        f"cleo@{domain}": (900 * MIB, "reports_usage"),
        f"dan@{domain}": (900 * MIB, "reports_usage"),
    }
    assert counts["matched_accounts"] == 3 and counts["series"] == "daily"
    assert (counts["inserted"], counts["updated"], counts["unchanged"], counts["kept_drive"]) == (3, 0, 0, 0)

    # Where Drive's own daily figure is (retention's downsampling wrote it), Reports never replaces it.
    with shop.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE storage_snapshot SET source = 'drive_about', usage_bytes = :u "
                "WHERE granularity = 'daily' AND account_id = (SELECT id FROM google_account WHERE email = :e)"
            ),
            {"u": 5 * GIB, "e": f"cleo@{domain}"},
        )
    again = pipelines.backfill_day(rt, Interval(midnight, midnight + dt.timedelta(days=1)))
    assert (again["inserted"], again["updated"], again["unchanged"], again["kept_drive"]) == (0, 0, 2, 1)
    kept = snapshots(shop, hour, granularity="daily")[f"cleo@{domain}"]
    assert (kept["usage_bytes"], kept["source"]) == (5 * GIB, "drive_about")
