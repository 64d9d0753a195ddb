"""Keeping access tokens fresh ahead of use: which accounts are due (the SQL function
`refresh_due_accounts`, the one definition), cut into keyset shards for mapped tasks, and one
shard refreshed through the token service (which serialises refreshes per account)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine

from driveguard.db.shards import keyset_shards, shard_size_for
from driveguard.identity.sql import load_sql
from driveguard.identity.tokens import TokenService

logger = logging.getLogger(__name__)

OUTCOMES = ("refreshed", "skipped", "failed", "reauth_required")


def plan_refresh(engine: Engine, horizon: dt.datetime, configured_shard_size: int) -> dict[str, Any]:
    """Shards of the accounts due before `horizon`; each shard carries the horizon (ISO) for its task."""
    with engine.connect() as conn:
        due = int(conn.execute(load_sql("count_refresh_due"), {"horizon": horizon}).scalar_one())
        size = shard_size_for(due, configured_shard_size)
        shards = keyset_shards(conn, load_sql("refresh_due_shards"), size, horizon=horizon)
    for shard in shards:
        shard["horizon"] = horizon.isoformat()
    return {"due": due, "shard_size": size, "shards": shards, "horizon": horizon.isoformat()}


def due_in_shard(engine: Engine, shard: Mapping[str, Any]) -> list[uuid.UUID]:
    """The shard's accounts that are still due (another run may have refreshed some meanwhile)."""
    with engine.connect() as conn:
        return list(
            conn.scalars(
                load_sql("refresh_shard_accounts"),
                {
                    "first_id": uuid.UUID(shard["first_id"]),
                    "last_id": uuid.UUID(shard["last_id"]),
                    "horizon": dt.datetime.fromisoformat(shard["horizon"]),
                },
            )
        )


def refresh_shard(
    engine: Engine, service: TokenService, shard: Mapping[str, Any], *, now: dt.datetime, threads: int
) -> dict[str, int]:
    """Refresh every due account of the shard, `threads` at a time; counts per outcome."""
    ids = due_in_shard(engine, shard)
    within = max(0, int((dt.datetime.fromisoformat(shard["horizon"]) - now).total_seconds()))

    def one(account_id: uuid.UUID) -> str:
        try:
            return str(service.refresh_if_expiring(account_id, within_seconds=within).value)
        except Exception:  # one account's surprise must not sink the shard
            logger.exception("refresh of account %s raised", account_id)
            return "failed"

    counts: Counter[str] = Counter(dict.fromkeys(OUTCOMES, 0))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        counts.update(pool.map(one, ids))
    return {"accounts": len(ids), **{k: counts[k] for k in OUTCOMES}}
