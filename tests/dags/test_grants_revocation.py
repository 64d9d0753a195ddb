"""A person revokes Driveguard at Google (issue 15 item 2): the next storage_collect run notices it
(Drive 401 -> one forced refresh -> invalid_grant -> `reauth_required`) and `/api/oauth/status` stops
calling the token valid. Real Airflow task runs, the API over HTTP, the emulator with refresh-token
rotation, reuse detection and 60 s access tokens switched on. (Lives beside the DAG suite's harness.)"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from support.airflow_harness import World, account, hour
from support.servers import serve_asgi

from api.app import create_app
from driveguard.audit import SYSTEM
from driveguard.config import load_settings
from driveguard.db.engine import transaction
from driveguard.identity.sessions import SessionService

GIB = 1024**3
STAYS, LEAVES = "ann@example.com", "bea@example.com"


def grant_status(world: World, account_id: uuid.UUID) -> dict[str, Any]:
    """What the account's owner reads at `/api/oauth/status` (a session issued for them)."""
    settings = load_settings(world.harness.env, env_file="/dev/null")
    with transaction(world.engine) as db:
        token = SessionService(settings).issue(db, account_id, context=SYSTEM).token
    with serve_asgi(create_app(settings, world.engine)) as url:
        answer = httpx.get(f"{url}/api/oauth/status", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_grant_revoked_at_google_is_noticed_by_the_next_collection_and_shown(world: World):
    world.emu.config(rotate_refresh_tokens=True, refresh_reuse_revokes_grant=True)
    ids = world.seed([account(STAYS, usage=3 * GIB), account(LEAVES, usage=7 * GIB)])
    world.emu.config(access_token_ttl=60)  # every token refreshed from now on lives 60 s (the seeded ones an hour,
    # so a slow machine cannot turn the run into expiries instead of the revocation under test)
    world.emu.revoke(LEAVES)  # bea removes Driveguard in her Google account settings
    before = grant_status(world, ids[LEAVES])["account"]
    assert before["status"] == "active" and before["access_token_valid"] is True  # nobody told Driveguard yet
    world.emu.reset_stats()

    run = world.harness.run("storage_collect", logical_date=hour(20, 10))

    assert run.state == "success", run.tasks  # a dead grant is not a failed run
    stats = world.emu.stats()
    assert stats["refresh_errors_by_account"] == {LEAVES: 1}  # exactly one forced refresh, refused
    assert stats["grant_errors"] == {"refresh_token:invalid_grant": 1}
    assert stats["about_by_account"].get(STAYS) == 1
    assert world.scalar("SELECT status FROM google_account WHERE id = :id", id=ids[LEAVES]) == "reauth_required"
    assert world.scalar("SELECT status FROM google_account WHERE id = :id", id=ids[STAYS]) == "active"
    collected = world.rows("SELECT account_id FROM storage_snapshot")
    assert [row["account_id"] for row in collected] == [ids[STAYS]]  # no row (not a zero) for bea

    after = grant_status(world, ids[LEAVES])
    assert after["account"]["status"] == "reauth_required"
    assert after["account"]["access_token_valid"] is False
    assert after["reauth_url"]
