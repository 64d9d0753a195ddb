"""The warning-level state machine per account, and the outbox rows its transitions cause.

    normal --(>= warning)--> warning --(>= critical)--> critical
       ^                        |                          |
       +---(< warning - margin)-+--------------------------+   (a "resolved" notice)

- Hysteresis: a level is left downwards only below its threshold minus the margin, so usage
  wobbling around a threshold does not flap.
- critical -> warning (usage fell, but not back to normal) changes the state without a notice.
- An unresolved critical level repeats its alert every `critical_repeat_hours`.
- Unlimited accounts (no limit) are always normal and never alert.
- Thresholds: per-account (`monitoring_setting`) over global (`monitoring_config` over settings).

Evaluation works in chunks of accounts; each chunk's state changes, alerts and outbox rows
(one per alert and target, idempotency key = alert id + target hash) commit in ONE
transaction. An interval older than an account's last evaluated one is ignored, and alerts are
unique per (account, interval, kind): re-running an evaluation writes nothing new. Rows the
quality gate quarantined are skipped; every other row of the interval is evaluated. Time comes
from the interval (its end), never from the wall clock. The overview's read model is not
touched here: it has its own step (`read_model.py`), which runs even when the quality gate
holds the alerts back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import uuid_utils.compat as uuid_utils
from sqlalchemy import Connection, Engine

from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.db.models import AlertKind, WarningLevel
from driveguard.identity.vault import Vault
from driveguard.storage.interval import Interval
from driveguard.storage.monitoring import MonitoringConfig, check_apprise_url, effective_config
from driveguard.storage.sql import load_sql
from driveguard.storage.targets import mask_target, open_personal, seal_outbox_target

logger = logging.getLogger(__name__)

NIL_UUID = uuid.UUID(int=0)
LEVEL_RANK = {WarningLevel.NORMAL: 0, WarningLevel.WARNING: 1, WarningLevel.CRITICAL: 2}


@dataclass(frozen=True)
class Thresholds:
    warning: float
    critical: float
    margin: float

    @classmethod
    def for_account(cls, config: MonitoringConfig, warning: float | None, critical: float | None) -> Thresholds:
        w = warning if warning is not None else config.warning_threshold_percent
        c = critical if critical is not None else config.critical_threshold_percent
        if w >= c:  # a lone per-account value that crosses the global other one: use the globals
            w, c = config.warning_threshold_percent, config.critical_threshold_percent
        return cls(w, c, config.hysteresis_margin_percent)


def usage_percent(usage: int, limit: int | None) -> float | None:
    if limit is None or limit <= 0:
        return None
    return 100.0 * usage / limit


def next_level(current: WarningLevel, percent: float | None, t: Thresholds) -> WarningLevel:
    """The level after observing `percent`, with hysteresis on the way down."""
    if percent is None:
        return WarningLevel.NORMAL
    if percent >= t.critical:
        return WarningLevel.CRITICAL
    if current is WarningLevel.CRITICAL and percent >= t.critical - t.margin:
        return WarningLevel.CRITICAL
    if percent >= t.warning:
        return WarningLevel.WARNING
    if current in (WarningLevel.WARNING, WarningLevel.CRITICAL) and percent >= t.warning - t.margin:
        return WarningLevel.WARNING
    return WarningLevel.NORMAL


@dataclass(frozen=True)
class Decision:
    level: WarningLevel
    alert: AlertKind | None
    level_since: dt.datetime | None
    last_notified_at: dt.datetime | None


def decide(
    current: WarningLevel,
    percent: float | None,
    t: Thresholds,
    *,
    at: dt.datetime,
    level_since: dt.datetime | None,
    last_notified_at: dt.datetime | None,
    repeat_after: dt.timedelta,
) -> Decision:
    """The transition for one observation at time `at` (the interval's end)."""
    new = next_level(current, percent, t)
    since = level_since if new is current and level_since is not None else at
    kind: AlertKind | None = None
    if new is WarningLevel.CRITICAL and current is not WarningLevel.CRITICAL:
        kind = AlertKind.CRITICAL
    elif new is WarningLevel.WARNING and current is WarningLevel.NORMAL:
        kind = AlertKind.WARNING
    elif new is WarningLevel.NORMAL and current is not WarningLevel.NORMAL:
        kind = AlertKind.RESOLVED
    elif new is WarningLevel.CRITICAL and (last_notified_at is None or at - last_notified_at >= repeat_after):
        kind = AlertKind.CRITICAL_REPEAT
    return Decision(new, kind, since, at if kind is not None else last_notified_at)


def human_bytes(value: int | None) -> str:
    if value is None:
        return "unlimited"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"


def idempotency_key(alert_id: uuid.UUID, target: str) -> str:
    return f"{alert_id}:{hashlib.sha256(target.encode()).hexdigest()[:24]}"


def compose(
    kind: AlertKind, email: str, percent: float | None, usage: int, limit: int | None, t: Thresholds, interval: Interval
) -> tuple[str, str]:
    shown = f"{percent:.1f}%" if percent is not None else "n/a"
    titles = {
        AlertKind.WARNING: f"Google Drive storage warning: {email} is at {shown}",
        AlertKind.CRITICAL: f"Google Drive storage CRITICAL: {email} is at {shown}",
        AlertKind.CRITICAL_REPEAT: f"Still critical: {email}'s Google Drive storage is at {shown}",
        AlertKind.RESOLVED: f"Resolved: {email}'s Google Drive storage is back to normal ({shown})",
    }
    advice = {
        AlertKind.WARNING: f"Usage crossed the warning threshold of {t.warning:g}%.",
        AlertKind.CRITICAL: f"Usage crossed the critical threshold of {t.critical:g}%: "
        "the account will soon be unable to store files or receive mail.",
        AlertKind.CRITICAL_REPEAT: f"Usage is still above the critical threshold of {t.critical:g}%.",
        AlertKind.RESOLVED: f"Usage fell below {t.warning - t.margin:g}% (warning threshold minus margin).",
    }
    body = (
        f"{advice[kind]}\n"
        f"Account: {email}\n"
        f"Used: {human_bytes(usage)} of {human_bytes(limit)} ({shown})\n"
        f"Measured for the interval {interval.start.isoformat()} - {interval.end.isoformat()}\n"
    )
    return titles[kind][:255], body


def targets_for(settings: Settings, config: MonitoringConfig, account_targets: Sequence[str] = ()) -> list[str]:
    """APPRISE_URLS + configured targets + the account's own (opened from the vault), deduplicated,
    invalid ones dropped."""
    out: list[str] = []
    candidates = [*settings.monitoring.apprise_urls, *config.apprise_urls, *account_targets]
    for target in candidates:
        if check_apprise_url(target) is not None:
            logger.warning("ignoring an invalid notification target (%s)", check_apprise_url(target))  # never the URL
            continue
        target = target.strip()
        if target not in out:
            out.append(target)
    return out


def outbox_columns() -> dict[str, list[Any]]:
    """The parameter arrays of `insert_outbox.sql`, filled by `add_outbox_row`."""
    names = ("ids", "alert_ids", "grant_episode_ids", "keys", "targets", "target_ciphertexts", "titles", "bodies")
    return {k: [] for k in names}


def add_outbox_row(
    outbox: dict[str, list[Any]],
    vault: Vault,
    *,
    key: str,
    target: str,
    title: str,
    body: str,
    alert_id: uuid.UUID | None = None,
    grant_episode_id: uuid.UUID | None = None,
) -> None:
    """One message for `insert_outbox.sql`: the target sealed to the new row's id, only its mask in clear."""
    row_id = uuid.UUID(str(uuid_utils.uuid7()))
    outbox["ids"].append(row_id)
    outbox["alert_ids"].append(alert_id)
    outbox["grant_episode_ids"].append(grant_episode_id)
    outbox["keys"].append(key)
    outbox["targets"].append(mask_target(target))
    outbox["target_ciphertexts"].append(seal_outbox_target(vault, target, row_id))
    outbox["titles"].append(title)
    outbox["bodies"].append(f"{body}Idempotency-Key: {key}\n")


class AlertEvaluator:
    def __init__(self, settings: Settings, engine: Engine, *, clock: Clock = utcnow, chunk_size: int = 1000) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.chunk_size = max(1, chunk_size)
        self.vault = Vault(settings.security.encryption_keys)

    def evaluate(self, interval: Interval, quarantined: Sequence[uuid.UUID] = ()) -> dict[str, int]:
        """Evaluate every snapshot of the interval but the quarantined ones (rows that failed a quality
        check: their level is not moved on bad data); returns counts by outcome."""
        config = effective_config(self.settings, self.engine)
        counts: Counter[str] = Counter()
        skip = [uuid.UUID(str(a)) for a in quarantined]
        if skip:
            counts["quarantined_skipped"] = len(skip)
        after = NIL_UUID
        while True:
            with self.engine.begin() as conn:
                conn.execute(load_sql("lock_alert_evaluation"))
                rows = (
                    conn.execute(
                        load_sql("alert_inputs"),
                        {
                            "interval_start": interval.start,
                            "after": after,
                            "limit": self.chunk_size,
                            "quarantined": skip,
                        },
                    )
                    .mappings()
                    .all()
                )
                if not rows:
                    break
                counts.update(self._chunk(conn, rows, interval, config))
                after = rows[-1]["account_id"]
            if len(rows) < self.chunk_size:
                break
        return {k: counts[k] for k in sorted(counts)}

    def _chunk(
        self, conn: Connection, rows: Sequence[Mapping[str, Any]], interval: Interval, config: MonitoringConfig
    ) -> Counter[str]:
        counts: Counter[str] = Counter()
        now = self.clock()
        repeat = dt.timedelta(hours=config.critical_repeat_hours)
        state: dict[str, list[Any]] = {k: [] for k in ("ids", "levels", "pcts", "since", "notified")}
        alerts: list[dict[str, Any]] = []
        for row in rows:
            counts["evaluated"] += 1
            evaluated = row["evaluated_interval_start"]
            if evaluated is not None and evaluated >= interval.start:
                counts["already_evaluated"] += 1
                continue
            current = WarningLevel(row["current_level"]) if row["current_level"] else WarningLevel.NORMAL
            t = Thresholds.for_account(config, row["warning_threshold_percent"], row["critical_threshold_percent"])
            percent = usage_percent(row["usage_bytes"], row["limit_bytes"])
            decision = decide(
                current,
                percent,
                t,
                at=interval.end,
                level_since=row["level_since"],
                last_notified_at=row["last_notified_at"],
                repeat_after=repeat,
            )
            notify = decision.alert is not None and config.alerts_enabled and row["alerts_enabled"]
            state["ids"].append(row["account_id"])
            state["levels"].append(decision.level.value)
            state["pcts"].append(percent)
            state["since"].append(decision.level_since)
            state["notified"].append(decision.last_notified_at if notify else row["last_notified_at"])
            counts[f"level_{decision.level.value}"] += 1
            if decision.level is not current:
                counts["transitions"] += 1
            if decision.alert is not None and not notify:
                counts["alerts_muted"] += 1
            if notify:
                assert decision.alert is not None
                alerts.append(
                    {
                        "id": uuid_utils.uuid7(),
                        "row": row,
                        "kind": decision.alert,
                        "percent": percent,
                        "thresholds": t,
                    }
                )
        if state["ids"]:
            moved = conn.execute(
                load_sql("upsert_alert_state"),
                {
                    "now": now,
                    "account_ids": state["ids"],
                    "levels": state["levels"],
                    "usage_percents": state["pcts"],
                    "evaluated": [interval.start] * len(state["ids"]),
                    "level_since": state["since"],
                    "last_notified": state["notified"],
                },
            ).all()
            moved_ids = {r[0] for r in moved}
            alerts = [a for a in alerts if a["row"]["account_id"] in moved_ids]
        if alerts:
            self._write_alerts(conn, alerts, interval, config, now, counts)
        return counts

    def _write_alerts(
        self,
        conn: Connection,
        alerts: list[dict[str, Any]],
        interval: Interval,
        config: MonitoringConfig,
        now: dt.datetime,
        counts: Counter[str],
    ) -> None:
        created = conn.execute(
            load_sql("insert_alerts"),
            {
                "now": now,
                "interval_start": interval.start,
                "ids": [a["id"] for a in alerts],
                "account_ids": [a["row"]["account_id"] for a in alerts],
                "kinds": [a["kind"].value for a in alerts],
                "usage_percents": [a["percent"] for a in alerts],
                "usage_bytes": [a["row"]["usage_bytes"] for a in alerts],
                "limit_bytes": [a["row"]["limit_bytes"] for a in alerts],
            },
        ).all()
        created_ids = {r[0] for r in created}
        outbox = outbox_columns()
        for alert in alerts:
            if alert["id"] not in created_ids:
                continue
            row = alert["row"]
            counts[f"alert_{alert['kind'].value}"] += 1
            title, body = compose(
                alert["kind"],
                row["email"],
                alert["percent"],
                row["usage_bytes"],
                row["limit_bytes"],
                alert["thresholds"],
                interval,
            )
            own = open_personal(self.vault, row["notify_targets_ciphertext"], row["account_id"])
            for target in targets_for(self.settings, config, own):
                key = idempotency_key(alert["id"], target)
                add_outbox_row(outbox, self.vault, key=key, target=target, title=title, body=body, alert_id=alert["id"])
        if outbox["ids"]:
            written = conn.execute(load_sql("insert_outbox"), {"now": now, **outbox}).all()
            counts["outbox_rows"] += len(written)
