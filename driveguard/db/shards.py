"""Keyset shards: contiguous ranges of account ids (`first_id`..`last_id`) that a mapped Airflow task
works through, planned by a SQL statement that numbers the rows and cuts them every `shard_size`."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Connection, TextClause

MAX_SHARDS = 1000
"""Stay well under Airflow's max_map_length (1024) whatever the number of accounts."""


def shard_size_for(total: int, configured: int) -> int:
    """The configured shard size, grown when needed so there are never more than MAX_SHARDS shards."""
    return max(1, configured, math.ceil(total / MAX_SHARDS))


def keyset_shards(conn: Connection, statement: TextClause, shard_size: int, **params: Any) -> list[dict[str, Any]]:
    """The shards as JSON-friendly dicts (XCom carries them to the mapped tasks)."""
    rows = conn.execute(statement, {"shard_size": shard_size, **params}).mappings().all()
    return [
        {
            "shard": int(r["shard"]),
            "first_id": str(r["first_id"]),
            "last_id": str(r["last_id"]),
            "accounts": r["accounts"],
        }
        for r in rows
    ]
