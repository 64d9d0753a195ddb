"""Telling people (and ops) when Driveguard lost their Google grant, and when it has it back.

The token service marks an account `reauth_required` (identity/tokens.py) and a sign-in or refresh
marks it `active` again; identity knows nothing of notifications (imports go storage -> identity).
So the notices follow the accounts' state, not the events: `sweep` opens a `grant_episode` for each
account that needs re-consent and has none open, closes the open episode of each account that is
active again, and writes each edge's notices to the outbox in the same transaction.

Exactly once, as for storage alerts: at most one open episode per account (a partial unique
index), the idempotency key is `grant:<episode>:<edge>:<target hash>`, so a rerun, a concurrent
sweep or a retried task writes nothing new, and a crash before the commit leaves the state to be
seen again by the next sweep; after the commit the outbox delivers at least once, with the key.
A person who signs in again before the next sweep saw the grant die gets no notice at all (there
is nothing left to tell them). Storage alerts switched off do not silence these: they are about
access, not usage.

Who hears it: the person's own target if they set one, else their Google e-mail through the
deployment's first mail target (the ops `mailto://` URL with `to=` set to the person), plus the
ops targets storage alerts go to (APPRISE_URLS and the run-time `apprise_urls`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import Connection, Engine

from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.identity.vault import Vault
from driveguard.storage.alerts import add_outbox_row, outbox_columns, targets_for
from driveguard.storage.monitoring import effective_config
from driveguard.storage.sql import load_sql
from driveguard.storage.targets import open_personal

logger = logging.getLogger(__name__)

Edge = Literal["reauth", "recovered"]
MAIL_SCHEMES = ("mailto", "mailtos")


def reconsent_url(settings: Settings) -> str:
    """The API's sign-in, asking Google for consent again and coming back to the person's page."""
    return f"{settings.server.public_url}/auth/login?consent=true&next=/me"


def mail_target_for(ops_targets: Sequence[str], email: str) -> str | None:
    """The deployment's first mail target re-addressed to `email` (its server and sender kept), or None."""
    for target in ops_targets:
        parts = urlsplit(target)
        if parts.scheme.lower() not in MAIL_SCHEMES:
            continue
        kept = parse_qsl(parts.query, keep_blank_values=True)
        query = [(k, v) for k, v in kept if k.lower() not in {"to", "cc", "bcc"}]
        query.append(("to", email))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe="@"), ""))
    return None


def notice_key(episode_id: uuid.UUID, edge: Edge, target: str) -> str:
    return f"grant:{episode_id}:{edge}:{hashlib.sha256(target.encode()).hexdigest()[:24]}"


def compose(edge: Edge, email: str, reason: str | None, link: str, started_at: dt.datetime) -> tuple[str, str]:
    if edge == "reauth":
        title = f"Driveguard lost access to {email}'s Google Drive: please sign in again"
        body = (
            f"Google no longer accepts Driveguard's access for {email}"
            + (f" ({reason})" if reason else "")
            + ".\nStorage is not monitored until the account is connected again.\n"
            f"Reconnect Google: {link}\n"
        )
    else:
        title = f"Driveguard has access to {email}'s Google Drive again"
        body = (
            f"The Google grant of {email} works again; storage monitoring has resumed.\n"
            f"Access was lost at {started_at.isoformat()}.\n"
        )
    return title[:255], body


@dataclass(frozen=True)
class Delivery:
    edge: str
    target: str
    """Masked."""
    status: str
    attempts: int
    sent_at: dt.datetime | None
    last_error: str | None


@dataclass(frozen=True)
class GrantNotice:
    """One episode of a lost grant and how its notices went (for /me and /admin)."""

    episode_id: uuid.UUID
    account_id: uuid.UUID
    email: str
    account_status: str
    reason: str | None
    started_at: dt.datetime
    recovered_at: dt.datetime | None
    reconnect_url: str
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.recovered_at is None


class GrantNoticeService:
    """`sweep` (the alert_dispatch DAG, before it delivers) and `notices` (the pages' read)."""

    def __init__(self, settings: Settings, engine: Engine, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.vault = Vault(settings.security.encryption_keys)

    def sweep(self) -> dict[str, int]:
        """Open and close episodes from the accounts' state and queue their notices; counts by outcome."""
        counts: Counter[str] = Counter({"opened": 0, "recovered": 0, "outbox_rows": 0, "person_unreachable": 0})
        config = effective_config(self.settings, self.engine)
        ops = targets_for(self.settings, config)
        now = self.clock()
        with self.engine.begin() as conn:
            opened = conn.execute(load_sql("open_grant_episodes"), {"now": now}).mappings().all()
            closed = conn.execute(load_sql("close_grant_episodes"), {"now": now}).mappings().all()
            counts["opened"] += len(opened)
            counts["recovered"] += len(closed)
            outbox = outbox_columns()
            for edge, rows in (("reauth", opened), ("recovered", closed)):
                for row in rows:
                    self._queue(outbox, edge, row, ops, counts)  # type: ignore[arg-type]
            if outbox["ids"]:
                counts["outbox_rows"] += len(conn.execute(load_sql("insert_outbox"), {"now": now, **outbox}).all())
        return dict(counts)

    def _queue(
        self, outbox: dict[str, list[Any]], edge: Edge, row: Mapping[str, Any], ops: list[str], counts: Counter[str]
    ) -> None:
        person = open_personal(self.vault, row["notify_targets_ciphertext"], row["account_id"])
        if not person:
            mail = mail_target_for(ops, row["email"])
            person = [mail] if mail else []
        if not person:
            counts["person_unreachable"] += 1
            logger.warning("no target reaches account %s for its grant notice", row["account_id"])
        title, body = compose(edge, row["email"], row["reason"], reconsent_url(self.settings), row["started_at"])
        for target in dict.fromkeys([*person, *ops]):
            key = notice_key(row["episode_id"], edge, target)
            add_outbox_row(outbox, self.vault, key=key, target=target, title=title, body=body,
                           grant_episode_id=row["episode_id"])  # fmt: skip

    def notices(self, account_id: uuid.UUID | None = None, *, limit: int = 50) -> list[GrantNotice]:
        """Episodes (open first, then newest) of one account, or of all when `account_id` is None."""
        with self.engine.connect() as conn:
            episodes = (
                conn.execute(load_sql("grant_episodes"), {"account_id": account_id, "limit": max(1, min(limit, 500))})
                .mappings()
                .all()
            )
            deliveries = self._deliveries(conn, [e["episode_id"] for e in episodes])
        link = reconsent_url(self.settings)
        return [
            GrantNotice(
                episode_id=e["episode_id"],
                account_id=e["account_id"],
                email=e["email"],
                account_status=str(e["status"]),
                reason=e["reason"],
                started_at=e["started_at"],
                recovered_at=e["recovered_at"],
                reconnect_url=link,
                deliveries=deliveries.get(e["episode_id"], []),
            )
            for e in episodes
        ]

    @staticmethod
    def _deliveries(conn: Connection, episode_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Delivery]]:
        out: dict[uuid.UUID, list[Delivery]] = {}
        if not episode_ids:
            return out
        for r in conn.execute(load_sql("grant_notice_deliveries"), {"episode_ids": episode_ids}).mappings():
            out.setdefault(r["episode_id"], []).append(
                Delivery(r["edge"], r["target"], str(r["status"]), r["attempts"], r["sent_at"], r["last_error"])
            )
        return out
