"""The admin overview's short lists beyond "nearest to full": the fastest growing accounts and the
stale ones (active, no snapshot in two collection intervals). Both are pages of the account list
(`StorageReads.accounts`, served by the read model and its indexes); this module only decides what
"stale" means, from the collection cadence in force.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.storage.monitoring import effective_config
from driveguard.storage.reads import AccountRow, AccountsQuery, StorageReads

STALE_INTERVALS = 2


@dataclass(frozen=True)
class Highlights:
    fastest_growing: tuple[AccountRow, ...]
    """Accounts that grew over the last 7 days, fastest first."""
    stale: tuple[AccountRow, ...]
    """Active accounts not collected since `stale_before` (or never), oldest first."""
    stale_before: dt.datetime


class HighlightsService:
    def __init__(self, settings: Settings, engine: Engine, reads: StorageReads, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.engine = engine
        self.reads = reads
        self.clock = clock

    def stale_before(self) -> dt.datetime:
        every_hours = effective_config(self.settings, self.engine).collect_every_hours
        return self.clock() - dt.timedelta(hours=STALE_INTERVALS * every_hours)

    def highlights(self, *, limit: int = 10) -> Highlights:
        cutoff = self.stale_before()
        growing = self.reads.accounts(AccountsQuery(sort="growth_7d", direction="desc", limit=limit))
        stale = self.reads.accounts(
            AccountsQuery(sort="last_collected", direction="asc", status="active", collected_before=cutoff, limit=limit)
        )
        fastest = tuple(row for row in growing.items if (row.growth_7d_bytes or 0) > 0)
        return Highlights(fastest, stale.items, cutoff)
