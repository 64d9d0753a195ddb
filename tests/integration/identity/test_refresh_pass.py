"""One token-refresh pass without Airflow (the fast selection `make mutate` runs for refresh.py):
the plan counts and shards the accounts due before the horizon, each shard refreshes its due
accounts and counts every outcome, and a second pass finds nothing due. Emulator over HTTP, real
PostgreSQL."""

from __future__ import annotations

import datetime as dt

from support.signin import Stack

from driveguard.identity.refresh import OUTCOMES, due_in_shard, plan_refresh, refresh_shard

EMAILS = ("alice@gmail.com", "bob@gmail.com", "carol@gmail.com")


def test_a_pass_refreshes_every_due_account_once_and_counts_each_outcome(stack: Stack):
    accounts = [stack.seed_account(email) for email in EMAILS]
    horizon = stack.clock() + dt.timedelta(minutes=10)
    assert plan_refresh(stack.engine, horizon, 100)["due"] == 0  # fresh grants: nothing due yet

    stack.advance(3600 - 5 * 60)  # every token now expires within the next ten minutes
    stack.emu.revoke_account("bob@gmail.com")  # Bob removed the app's access at Google
    now = stack.clock()
    horizon = now + dt.timedelta(minutes=10)
    plan = plan_refresh(stack.engine, horizon, 1)  # one account per shard (below the minimum size)
    assert plan["due"] == 3 and plan["horizon"] == horizon.isoformat()
    shards = plan["shards"]
    assert all(shard["horizon"] == horizon.isoformat() for shard in shards)
    assert sorted(a for shard in shards for a in due_in_shard(stack.engine, shard)) == sorted(accounts)

    service = stack.token_service()
    try:
        totals = dict.fromkeys(("accounts", *OUTCOMES), 0)
        for shard in shards:
            for key, value in refresh_shard(stack.engine, service, shard, now=now, threads=2).items():
                totals[key] += value
        assert totals == {"accounts": 3, "refreshed": 2, "skipped": 0, "failed": 0, "reauth_required": 1}
        assert [stack.emu.refresh_grants(email) for email in EMAILS] == [1, 0, 1]

        # The refreshed tokens are no longer due; the account needing re-consent is not retried.
        again = plan_refresh(stack.engine, horizon, 100)
        assert again["due"] == 0 and again["shards"] == []
    finally:
        service.close()
