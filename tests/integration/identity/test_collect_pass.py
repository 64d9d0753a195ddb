"""One shard collected without Airflow (part of the fast selection `make mutate` runs for
collection.py): every account of the shard gets its snapshot over several chunks, an account whose
grant Google revoked is counted and listed as needing re-consent, and a second try finds nothing
left to collect. Emulator over HTTP, real PostgreSQL (in this folder for the sign-in stack)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from support.signin import Stack

from driveguard.google.drive import DriveQuotaClient
from driveguard.storage.collection import ShardCollector, ensure_partition, plan_shards
from driveguard.storage.interval import floor_interval

EMAILS = ("alice@gmail.com", "bob@gmail.com", "carol@gmail.com")


def test_a_shard_is_collected_over_several_chunks_and_a_revoked_grant_is_listed(stack: Stack):
    alice, bob, carol = (stack.seed_account(email) for email in EMAILS)
    stack.emu.revoke_account("bob@gmail.com")
    interval = floor_interval(stack.clock() - dt.timedelta(hours=1), dt.timedelta(hours=1))
    ensure_partition(stack.engine, interval.start)
    [shard] = plan_shards(stack.engine, 100)
    service = stack.token_service()
    client = DriveQuotaClient(stack.settings, batch_size=1, sleep=stack.sleeps)
    try:
        collector = ShardCollector(stack.settings, stack.engine, service, client, clock=stack.clock, chunk_size=2)
        counts = collector.run(shard, interval)
        assert (counts["accounts"], counts["collected"], counts["inserted"], counts["reauth_required"]) == (3, 2, 2, 1)
        assert counts["failures"] == {str(bob): "reauth_required"}
        assert not counts.get("failed_transient") and not counts.get("token_unavailable")
        with stack.engine.connect() as conn:
            stored = set(
                conn.scalars(
                    text("SELECT account_id FROM storage_snapshot WHERE interval_start = :s"), {"s": interval.start}
                )
            )
        assert stored == {alice, carol}

        # The retry looks only at accounts still without a snapshot that can be collected: Bob's
        # account now waits for him to sign in again, so there is nothing left to do.
        assert collector.run(shard, interval) == {"accounts": 0}
    finally:
        service.close()
