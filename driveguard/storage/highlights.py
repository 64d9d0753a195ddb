"""The admin overview's short lists beyond "nearest to full": the fastest growing accounts and the
stale ones (no snapshot in two collection intervals). Both read the pre-aggregated read model
(`storage_latest`, one row per account), never the snapshot history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.storage.monitoring import effective_config
from driveguard.storage.reads import AccountRow, _account_row
from driveguard.storage.sql import load_sql

STALE_INTERVALS = 2


@dataclass(frozen=True)
class Highlights:
    fastest_growing: tuple[AccountRow, ...]
    stale: tuple[AccountRow, ...]
    stale_before: dt.datetime
    """Accounts whose newest snapshot is older than this count as stale."""


class HighlightsService:
    def __init__(self, settings: Settings, engine: Engine, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock

    def highlights(self, *, limit: int = 10) -> Highlights:
        with self.engine.connect() as conn:
            every = effective_config(self.settings, conn).collect_every_hours
            cutoff = self.clock() - dt.timedelta(hours=STALE_INTERVALS * every)
            fastest = conn.execute(load_sql("accounts_fastest_growing"), {"limit": limit}).mappings()
            fastest_rows = tuple(_account_row(dict(row)) for row in fastest)
            stale = conn.execute(load_sql("accounts_stale"), {"cutoff": cutoff, "limit": limit}).mappings()
            stale_rows = tuple(_account_row(dict(row)) for row in stale)
        return Highlights(fastest_rows, stale_rows, cutoff)
