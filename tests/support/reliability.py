"""What every fault scenario checks afterwards, and the suite's running totals.

A scenario injects faults (the emulator, PostgreSQL restarts, killed processes), runs the real
DAGs, then asks `Ledger.check_*`: every account has exactly one snapshot per interval with the
figures the emulator served, every outbox message reached each of its targets exactly once, no
account is wrongly `reauth_required` or left row-locked. Each check adds what it counted to the
totals that `tests/reliability/conftest.py` prints at the end of the run.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError


@dataclass
class Ledger:
    scenarios: int = 0
    faults: int = 0
    rows_checked: int = 0
    losses: int = 0
    duplicates: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"reliability: scenarios run {self.scenarios}, faults injected {self.faults}, "
            f"rows checked {self.rows_checked}, losses {self.losses}, duplicates {self.duplicates}"
        )

    def faults_from(self, emulator_stats: dict[str, Any]) -> int:
        """Count the faults the emulator injected (errors, rate limits, drops, timeouts) into the totals."""
        injected = sum(emulator_stats.get("faults_injected", {}).values())
        self.faults += injected
        return injected

    def check_snapshots(self, engine: Engine, interval_start: dt.datetime, served: dict[str, tuple[Any, Any]]) -> None:
        """Exactly one `raw` snapshot per account for the interval, with the (usage, limit) the emulator
        served; nothing for anyone else. Asserts losses 0 and duplicates 0."""
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT a.email, s.usage_bytes, s.limit_bytes FROM storage_snapshot s "
                    "JOIN google_account a ON a.id = s.account_id "
                    "WHERE s.interval_start = :start AND s.granularity = 'raw'"
                ),
                {"start": interval_start},
            ).all()
        per_account = Counter(email for email, _, _ in rows)
        figures = {email: (usage, limit) for email, usage, limit in rows}
        lost = sorted(e for e in served if per_account[e] == 0 or figures.get(e) != served[e])
        duplicated = sorted(e for e, n in per_account.items() if n > 1)
        strangers = sorted(set(per_account) - set(served))
        self.rows_checked += len(rows)
        self.losses += len(lost)
        self.duplicates += len(duplicated) + len(strangers)
        assert not lost, f"snapshots lost or wrong for {interval_start}: {lost[:10]}"
        assert not duplicated and not strangers, f"duplicated {duplicated[:10]}, unexpected {strangers[:10]}"
        assert len(rows) == len(served)

    def check_accounts(self, engine: Engine, *, reauth_required: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """Only the accounts whose grant really died are `reauth_required`; every other one is active,
        and no account row is still locked by a refresh (a `FOR UPDATE NOWAIT` gets every row)."""
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT email, status FROM google_account ORDER BY email")).all()
            try:
                locked_free = conn.execute(
                    text("SELECT count(*) FROM (SELECT id FROM google_account FOR UPDATE NOWAIT) t")
                )
                free = int(locked_free.scalar_one())
            except OperationalError:
                free = -1
        self.rows_checked += len(rows)
        dead = {email for email, status in rows if status == "reauth_required"}
        others = {email: status for email, status in rows if email not in reauth_required and status != "active"}
        assert dead == set(reauth_required), f"reauth_required: {sorted(dead)}, expected {sorted(reauth_required)}"
        assert not others, f"accounts not active: {others}"
        assert free == len(rows), "an account row is still locked"

    def check_deliveries(self, engine: Engine, receivers: dict[str, Any]) -> int:
        """Every outbox row is `sent` and reached its target exactly once (raw deliveries, not deduplicated
        by key): no alert lost, none sent twice to one target. Returns the number of messages."""
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT idempotency_key, status FROM notification_outbox")).all()
        raw: Counter[str | None] = Counter()
        for name in ("smtp", "http"):
            raw.update(receivers[name].raw_count_by_key())
        keys = {key for key, _ in rows}
        lost = sorted(key for key, status in rows if status != "sent" or raw[key] == 0)
        twice = sorted(key for key, n in raw.items() if n > 1)
        unknown = sorted(str(key) for key in raw if key not in keys)
        self.rows_checked += len(rows)
        self.losses += len(lost)
        self.duplicates += len(twice)
        assert not lost, f"alerts not delivered: {lost}"
        assert not twice, f"alerts delivered twice: {twice}"
        assert not unknown, f"deliveries without an outbox row: {unknown}"
        return len(rows)


LEDGER = Ledger()
