"""The overview's totals and the account list's total come from pre-aggregates kept by triggers
(migration 0009). They must equal a recount after whatever writes the product makes, including
read model refreshes running at the same time (concurrent collect shards), erasures and grant
changes."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

from sqlalchemy import Engine, text
from support.storage_seed import set_level, write_snapshots

from driveguard.storage.interval import Interval
from driveguard.storage.overview import overview, recount
from driveguard.storage.read_model import refresh_latest
from driveguard.storage.sql import load_sql

GIB = 1024**3
NOW = dt.datetime(2031, 5, 10, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
ACCOUNTS = 240


def add_accounts(engine: Engine, count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO google_account (id, google_sub, email, status, created_at, updated_at)"
                " SELECT id, 'sub-' || id, 'u' || n || '@agg.example', 'active', :at, :at"
                " FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS t(id, n)"
            ),
            {"ids": ids, "at": NOW},
        )
    return ids


def status_counts(engine: Engine) -> tuple[dict[str, int], dict[str, int]]:
    """(from the pre-aggregate, from a recount) of accounts per grant status."""
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT status::text, sum(accounts) FROM account_status_totals GROUP BY 1")).all()
        counted = conn.execute(text("SELECT status::text, count(*) FROM google_account GROUP BY 1")).all()
    return {s: int(n) for s, n in kept if n}, {s: int(n) for s, n in counted}


def run_together(*jobs) -> None:  # type: ignore[no-untyped-def]
    """Start every job at once in its own thread; re-raise the first failure."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        try:
            job()
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors


def test_totals_equal_a_recount_after_concurrent_refreshes_erasures_and_grant_changes(clean_db: Engine):
    engine = clean_db
    ids = add_accounts(engine, ACCOUNTS)
    first, second = Interval(NOW - 2 * HOUR, NOW - HOUR), Interval(NOW - HOUR, NOW)
    write_snapshots(engine, first, [(a, (i + 1) * GIB, None if i % 9 == 0 else 300 * GIB) for i, a in enumerate(ids)])
    write_snapshots(engine, second, [(a, (i + 2) * GIB, None if i % 7 == 0 else 250 * GIB) for i, a in enumerate(ids)])
    for account in ids[::5]:
        set_level(engine, account, "critical", NOW)

    # Four refreshes of the same rows at once, in small chunks (many short transactions that
    # interleave), the older interval racing the newer one as shards of two runs would.
    run_together(
        *(
            (lambda interval=interval: refresh_latest(engine, interval, now=NOW, chunk_size=17))
            for interval in (first, second, first, second)
        )
    )
    assert overview(engine, limit=1).totals == recount(engine)
    assert recount(engine).accounts == ACCOUNTS

    # Levels move, accounts are erased (their read model rows go by cascade), and grants change
    # while another refresh rewrites the rows.
    for account in ids[::3]:
        set_level(engine, account, "warning", NOW)

    def erase() -> None:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM google_account WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids[:10]})

    def lose_grants() -> None:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE google_account SET status = 'reauth_required' WHERE id = ANY(CAST(:ids AS uuid[]))"),
                {"ids": ids[5:60]},
            )

    erase()  # alone: a refresh racing an erasure is the erasure's business (it holds the account)
    run_together(lambda: refresh_latest(engine, second, now=NOW + HOUR, chunk_size=13), lose_grants)

    totals = overview(engine, limit=1).totals
    assert totals == recount(engine)
    assert (totals.accounts, totals.warning) == (ACCOUNTS - 10, len([a for a in ids[10:] if ids.index(a) % 3 == 0]))
    kept, counted = status_counts(engine)
    assert kept == counted == {"active": ACCOUNTS - 60, "reauth_required": 50}
    # The monitoring status's counts read the same pre-aggregates.
    with engine.connect() as conn:
        by_status = dict(conn.execute(load_sql("accounts_by_status")).all())
        by_level = dict(conn.execute(load_sql("accounts_by_level")).all())
        levels = dict(conn.execute(text("SELECT level::text, count(*) FROM storage_latest GROUP BY 1")).all())
    assert by_status == counted and by_level == levels


def test_totals_start_from_nothing_and_follow_each_refresh(clean_db: Engine):
    engine = clean_db
    empty = overview(engine, limit=10)
    assert (empty.totals.accounts, empty.totals.usage_bytes, empty.accounts) == (0, 0, [])
    ids = add_accounts(engine, 3)
    interval = Interval(NOW - HOUR, NOW)
    write_snapshots(engine, interval, [(ids[0], 10 * GIB, 100 * GIB), (ids[1], 5 * GIB, None)])
    refresh_latest(engine, interval, now=NOW)
    totals = overview(engine, limit=10).totals
    assert (totals.accounts, totals.unlimited, totals.usage_bytes) == (2, 1, 15 * GIB)
    assert totals.latest_interval_end == NOW
    assert totals == recount(engine)
